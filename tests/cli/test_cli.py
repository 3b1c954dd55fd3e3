"""The ``roster`` command: stdout carries only the value asked for."""

from __future__ import annotations

from sqlalchemy import func, select

from webapp.cli import cli
from webapp.extensions import db
from webapp.models import Membership, Organization, Role, User
from webapp.services import demo, tokens, users


def test_users_create_prints_only_the_id(runner):
    result = runner.invoke(args=["users", "create", "Ada@Example.com", "--name", "Ada"])
    assert result.exit_code == 0, result.output
    user = db.session.scalar(select(User).where(User.email == "ada@example.com"))
    assert result.stdout == f"{user.id}\n"
    assert user.password_hash is None


def test_users_create_reads_the_password_from_stdin(runner, password):
    result = runner.invoke(
        args=["users", "create", "bo@example.com", "--name", "Bo", "--password-stdin"],
        input=f"{password}\n",
    )
    assert result.exit_code == 0, result.output
    assert users.authenticate("bo@example.com", password).id == int(result.stdout)


def test_users_create_explains_a_refusal_on_stderr(runner, make_user):
    make_user(email="taken@example.com")
    result = runner.invoke(args=["users", "create", "taken@example.com", "--name", "Again"])
    assert result.exit_code == 1
    assert result.stdout == ""
    assert "already exists" in result.stderr


def test_tokens_create_prints_only_a_working_token(runner, make_user):
    user = make_user()
    result = runner.invoke(args=["tokens", "create", user.email, "--name", "ci"])
    assert result.exit_code == 0, result.output
    text = result.stdout.strip()
    assert result.stdout == f"{text}\n"
    assert tokens.authenticate_token(text).id == user.id


def test_tokens_create_for_an_unknown_user_fails(runner):
    result = runner.invoke(args=["tokens", "create", "nobody@example.com"])
    assert result.exit_code == 1 and result.stdout == ""


def test_demo_fills_an_empty_database_once(runner, password):
    result = runner.invoke(args=["demo", "--members", "1000"])
    assert result.exit_code == 0, result.output
    assert result.stdout == ""
    assert "owner@example.com" in result.stderr and demo.DEMO_PASSWORD in result.stderr
    sizes = dict(
        db.session.execute(select(Organization.organization_name, Organization.member_count)).all()
    )
    assert sizes["Acme Corporation"] >= 1000 and len(sizes) >= 3
    roles = set(db.session.scalars(select(Membership.role).distinct()))
    assert roles == set(Role)
    assert db.session.scalar(select(func.count()).where(Membership.is_active.is_(False))) > 0
    users.authenticate("owner@example.com", demo.DEMO_PASSWORD)
    again = runner.invoke(args=["demo"])
    assert again.exit_code == 0 and "left as it is" in again.stderr
    assert db.session.scalar(select(func.count()).select_from(Organization)) == len(sizes)


def test_init_db_upgrades_to_head(runner):
    result = runner.invoke(args=["init-db"])
    assert result.exit_code == 0, result.output
    assert result.stdout == ""


def test_the_console_script_is_a_flask_group():
    from flask.cli import FlaskGroup

    assert isinstance(cli, FlaskGroup)
    assert {"serve", "run"} <= set(cli.commands)
