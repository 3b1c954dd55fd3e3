"""The ``roster`` command: a Flask CLI group bound to the app. Commands call the services.

Each command prints only the value asked for on stdout; diagnostics go to stderr.
"""

from __future__ import annotations

import os
import sys
from typing import Any

import click
from flask import Flask, current_app
from flask.cli import FlaskGroup, with_appcontext
from flask_migrate import upgrade

from webapp.models import Via
from webapp.services import demo as demo_service
from webapp.services import tokens, users
from webapp.services.errors import DomainError


def _create_app() -> Flask:
    from webapp import create_app

    return create_app()


@click.group(cls=FlaskGroup, create_app=_create_app)
def cli() -> None:
    """Roster: organization access control."""


def _fail(error: DomainError) -> None:
    click.echo(f"Error: {error.message}", err=True)
    sys.exit(1)


@click.command("init-db")
@with_appcontext
def init_db() -> None:
    """Create or upgrade the database schema (migrations to head)."""
    upgrade(directory=current_app.extensions["migrate"].directory)
    click.echo("Database is at the latest schema.", err=True)


@click.group("users")
def users_group() -> None:
    """Manage users."""


@users_group.command("create")
@click.argument("email")
@click.option("--name", required=True, help="The person's name.")
@click.option("--password-stdin", is_flag=True, help="Read the password from standard input.")
@with_appcontext
def users_create(email: str, name: str, password_stdin: bool) -> None:
    """Create a user and print its id."""
    password = sys.stdin.readline().rstrip("\r\n") if password_stdin else None
    try:
        user = users.create_user(email, name, password, via=Via.CLI)
    except DomainError as error:
        _fail(error)
    click.echo(user.id)


@click.group("tokens")
def tokens_group() -> None:
    """Manage personal API tokens."""


@tokens_group.command("create")
@click.argument("email")
@click.option("--name", default="CLI token", show_default=True, help="What the token is for.")
@with_appcontext
def tokens_create(email: str, name: str) -> None:
    """Create an API token for a user and print it (it is shown only this once)."""
    user = users.get_user_by_email(email)
    if user is None:
        click.echo(f"Error: no user with the email {email!r}.", err=True)
        sys.exit(1)
    try:
        _, text = tokens.create_token(user, name, via=Via.CLI)
    except DomainError as error:
        _fail(error)
    click.echo(text)


@click.command("demo")
@click.option("--members", default=1500, show_default=True, help="Size of the large org.")
@with_appcontext
def demo(members: int) -> None:
    """Fill an empty database with demo users and organizations; print how to sign in."""
    created = demo_service.fill_demo_data(large_org_members=members)
    click.echo(
        "Demo data created." if created else "The database has data already; left as it is.",
        err=True,
    )
    if demo_service.demo_users_exist():
        click.echo(
            "Sign in at http://127.0.0.1:5000/login with one of (password "
            f"{demo_service.DEMO_PASSWORD!r}):",
            err=True,
        )
        for email, role in demo_service.DEMO_SIGN_INS:
            click.echo(f"  {email:<28} {role}", err=True)


@click.command("serve")
@click.option("--bind", default=lambda: os.environ.get("ROSTER_BIND", "127.0.0.1:8000"))
@click.option("--workers", type=int, default=lambda: int(os.environ.get("ROSTER_WORKERS", "0")))
def serve(bind: str, workers: int) -> None:
    """Serve Roster with gunicorn (production settings)."""
    from gunicorn.app.base import BaseApplication

    os.environ.setdefault("ROSTER_ENV", "production")
    host = bind.rpartition(":")[0].strip("[]")
    if host in ("127.0.0.1", "localhost", "::1"):
        # Bound to loopback, so a reverse proxy on this host is in front: trust its one hop of
        # X-Forwarded-For, or every client would share the proxy's address (and its limits).
        os.environ.setdefault("ROSTER_TRUSTED_PROXIES", "1")
    workers = workers or (os.cpu_count() or 1) * 2 + 1

    from webapp import create_app

    application = create_app()

    class Server(BaseApplication):  # type: ignore[misc]
        def load_config(self) -> None:
            options: dict[str, Any] = {
                "bind": bind,
                "workers": workers,
                "accesslog": "-",
                "timeout": 30,
                "forwarded_allow_ips": "127.0.0.1",
            }
            for key, value in options.items():
                self.cfg.set(key, value)

        def load(self) -> Flask:
            return application

    click.echo(f"Serving Roster on http://{bind} with {workers} workers", err=True)
    Server().run()


# Needs no app loaded first: it builds its own in production mode.
cli.add_command(serve)


def init_app(app: Flask) -> None:
    for command in (init_db, users_group, tokens_group, demo):
        app.cli.add_command(command)
