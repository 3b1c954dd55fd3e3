"""The ``roster`` command: a Flask CLI group bound to the app. Commands call the services.

Each command prints only the value asked for on stdout; diagnostics go to stderr. Listing the
commands (``roster --help``) builds no app and imports no service: the commands are the
group's own, and what they need is imported when they run.
"""

from __future__ import annotations

import importlib
import os
import sys
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import click
from flask import Flask, current_app
from flask.cli import FlaskGroup, with_appcontext

if TYPE_CHECKING:
    from webapp.services.errors import DomainError


def _create_app() -> Flask:
    from webapp import create_app

    return create_app()


class RosterGroup(FlaskGroup):
    """A FlaskGroup whose command list needs no app and no extension's CLI.

    Roster's commands are added to the group itself (and to ``app.cli``, for Flask's test
    runner). Of the commands installed extensions offer, only Flask-Migrate's ``db`` is kept,
    imported when used: listing would otherwise import Alembic.
    """

    LAZY: dict[str, tuple[str, str]] = {
        "db": ("flask_migrate.cli:db", "Perform database migrations (Flask-Migrate)."),
    }

    def _load_plugin_commands(self) -> None:
        self._loaded_plugin_commands = True

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*self.commands, *self.LAZY})

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
        if name in self.LAZY and name not in self.commands:
            module, _, attribute = self.LAZY[name][0].partition(":")
            self.add_command(getattr(importlib.import_module(module), attribute), name)
        return super().get_command(ctx, name)

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        rows = []
        for name in self.list_commands(ctx):
            if name in self.commands:
                rows.append((name, self.commands[name].get_short_help_str(limit=60)))
            else:
                rows.append((name, self.LAZY[name][1]))
        if rows:
            with formatter.section("Commands"):
                formatter.write_dl(rows)


@click.group(cls=RosterGroup, create_app=_create_app)
def cli() -> None:
    """Roster: organization access control."""


def _fail(error: DomainError) -> None:
    click.echo(f"Error: {error.message}", err=True)
    sys.exit(1)


@click.command("init-db")
@with_appcontext
def init_db() -> None:
    """Create or upgrade the database schema (migrations to head)."""
    from flask_migrate import upgrade

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
    from webapp.models import Via
    from webapp.services import users
    from webapp.services.errors import DomainError

    password = sys.stdin.readline().rstrip("\r\n") if password_stdin else None
    try:
        user = users.create_user(email, name, password, via=Via.CLI)
    except DomainError as error:
        _fail(error)
    click.echo(user.id)


def _set_active(email: str, is_active: bool) -> None:
    from webapp.models import Via
    from webapp.services import users
    from webapp.services.errors import DomainError

    user = _user_or_fail(email)
    try:
        users.set_user_active(user.id, is_active, via=Via.CLI)
    except DomainError as error:
        _fail(error)


@users_group.command("deactivate")
@click.argument("email")
@with_appcontext
def users_deactivate(email: str) -> None:
    """Deactivate an account: it cannot sign in, its sessions and tokens stop working.

    Refused while the user is the last active owner of an organization.
    """
    _set_active(email, False)


@users_group.command("activate")
@click.argument("email")
@with_appcontext
def users_activate(email: str) -> None:
    """Activate a deactivated account again."""
    _set_active(email, True)


def _user_or_fail(email: str) -> Any:
    from webapp.services import users

    user = users.get_user_by_email(email)
    if user is None:
        click.echo(f"Error: no user with the email {email!r}.", err=True)
        sys.exit(1)
    return user


@click.group("tokens")
def tokens_group() -> None:
    """Manage personal API tokens."""


@tokens_group.command("create")
@click.argument("email")
@click.option("--name", default="CLI token", show_default=True, help="What the token is for.")
@with_appcontext
def tokens_create(email: str, name: str) -> None:
    """Create an API token for a user and print it (it is shown only this once)."""
    from webapp.models import Via
    from webapp.services import tokens
    from webapp.services.errors import DomainError

    user = _user_or_fail(email)
    try:
        _, text = tokens.create_token(user, name, via=Via.CLI)
    except DomainError as error:
        _fail(error)
    click.echo(text)


@click.group("changes")
def changes_group() -> None:
    """Undo changes of members (change sets, DESIGN §9)."""


@changes_group.command("revert")
@click.argument("organization_id", type=int)
@click.argument("change_id")
@click.option("--as", "actor_email", required=True, help="Who reverts: an OWNER or ADMIN.")
@with_appcontext
def changes_revert(organization_id: int, change_id: str, actor_email: str) -> None:
    """Revert a change set of an organization and print the revert's own change id.

    CHANGE_ID is an event's change_id (the events API, the activity log's CSV). The rules are
    the API's: refused, naming the user ids, when a member it touched has changed since.
    """
    from webapp.models import Via
    from webapp.services import changes
    from webapp.services.errors import DomainError

    actor = _user_or_fail(actor_email)
    try:
        done = changes.revert_change(actor, organization_id, change_id, via=Via.CLI)
    except DomainError as error:
        if error.user_ids:
            error.message += " User ids: " + ", ".join(map(str, error.user_ids))
        _fail(error)
    click.echo(done.change_id)


@click.command("demo")
@click.option("--members", default=1500, show_default=True, help="Size of the large org.")
@with_appcontext
def demo(members: int) -> None:
    """Fill an empty database with demo users and organizations; print how to sign in."""
    from webapp.services import demo as demo_service

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
    from flask import current_app

    from webapp import mail

    click.echo(mail.describe(current_app) + ".", err=True)


@click.command("serve")
@click.option(
    "--bind",
    envvar="ROSTER_BIND",
    default="127.0.0.1:8000",
    show_default=True,
    help="Address to listen on (ROSTER_BIND).",
)
@click.option(
    "--workers",
    type=click.IntRange(min=0),
    envvar="ROSTER_WORKERS",
    help="Worker processes (ROSTER_WORKERS; 0 or unset: the default). Default: 2 x CPUs + 1 "
    "with ROSTER_REDIS_URL, else 1; more than 1 needs ROSTER_REDIS_URL.",
)
@click.option(
    "--threads",
    type=click.IntRange(min=1),
    envvar="ROSTER_THREADS",
    default=8,
    show_default=True,
    help="Threads per worker (ROSTER_THREADS): requests one worker serves at once.",
)
def serve(bind: str, workers: int | None, threads: int) -> None:
    """Serve Roster with gunicorn (production settings).

    Refuses several workers without Redis: failure limits kept in memory are counted per
    process, so N workers would allow N times the limit. Each worker serves with threads, so a
    slow client holds a thread, not the process. Says on stderr how many workers and threads
    run, where the rate limits are kept and how many proxies are trusted.
    """
    os.environ.setdefault("ROSTER_ENV", "production")

    from webapp import create_app, mail, serving
    from webapp.config import ConfigError, signup_policy

    try:
        application = create_app()
    except ConfigError as error:
        click.echo(f"Error: {error}", err=True)
        sys.exit(1)

    storage = application.config["RATELIMIT_STORAGE_URI"]
    shared = urlsplit(storage).scheme != "memory"
    if not workers:
        workers = _cpus() * 2 + 1 if shared else 1
        if not shared:
            click.echo(
                "One worker: without ROSTER_REDIS_URL the failure limits are counted in this "
                "process's memory, so more workers would each count on their own.",
                err=True,
            )
    elif workers > 1 and not shared:
        click.echo(
            f"Error: {workers} workers without ROSTER_REDIS_URL would each count failed sign-ins "
            f"on their own, allowing {workers} times the limit. Set ROSTER_REDIS_URL to share "
            "the limits, or use one worker (--workers 1).",
            err=True,
        )
        sys.exit(1)

    proxies = application.config["ROSTER_TRUSTED_PROXIES"]
    click.echo(
        "Rate limits: "
        + (
            f"in Redis at {_redacted(storage)}, shared by every worker and server."
            if shared
            else "in this process's memory (set ROSTER_REDIS_URL to share them)."
        ),
        err=True,
    )
    click.echo(
        f"Trusted proxies: {proxies}; X-Forwarded-* headers are read from the last {proxies} "
        "hop(s) only."
        if proxies
        else "Trusted proxies: none; X-Forwarded-* headers are ignored and the client address is "
        "the connecting peer's (set ROSTER_TRUSTED_PROXIES=N behind N reverse proxies).",
        err=True,
    )
    host = bind.rpartition(":")[0].strip("[]")
    if not proxies and host in ("127.0.0.1", "localhost", "::1"):
        click.echo(
            "Note: bound to loopback with no trusted proxy. If a reverse proxy on this host "
            "forwards to Roster, set ROSTER_TRUSTED_PROXIES=1: otherwise every client has the "
            "proxy's address, and shares its per-address limits.",
            err=True,
        )
    click.echo(mail.describe(application) + ".", err=True)
    policy, domains = signup_policy(application.config["ROSTER_SIGNUP"])
    click.echo(
        "Sign-up: "
        + {
            "open": "open to anyone, with a verified address (ROSTER_SIGNUP=open).",
            "invite": "only through an invitation link (ROSTER_SIGNUP=invite).",
            "domains": f"open to addresses at {', '.join(domains)} (ROSTER_SIGNUP=domains:...).",
        }[policy],
        err=True,
    )
    click.echo(f"Links in mails start with {application.config['ROSTER_BASE_URL']}.", err=True)
    click.echo(
        f"Serving Roster on http://{bind} with {workers} worker{'s' if workers > 1 else ''} "
        f"of {threads} thread{'s' if threads > 1 else ''}.",
        err=True,
    )
    serving.Server(application, serving.gunicorn_options(bind, workers, threads)).run()


def _cpus() -> int:
    """The CPUs this process may run on (a container's share, not the host's count)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def _redacted(url: str) -> str:
    """The URL without its password, for a log line."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    host = parts.netloc.rpartition("@")[2]
    return parts._replace(netloc=f"{parts.username or ''}:***@{host}").geturl()


# Roster's commands belong to the group itself, so that listing them needs no app; ``serve``
# builds its own app, in production mode.
APP_COMMANDS = (init_db, users_group, tokens_group, changes_group, demo)
for _command in (*APP_COMMANDS, serve):
    cli.add_command(_command)


def init_app(app: Flask) -> None:
    # On app.cli too: Flask's test runner (app.test_cli_runner) invokes app.cli.
    for command in APP_COMMANDS:
        app.cli.add_command(command)
