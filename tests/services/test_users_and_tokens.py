"""Accounts and API tokens: argon2id, uniform sign-in failures, token lifecycle."""

from __future__ import annotations

from datetime import timedelta

import pytest
from argon2 import PasswordHasher, profiles
from sqlalchemy import select

from webapp.extensions import db
from webapp.models import ApiToken, User, Via, utcnow
from webapp.services import tokens, users
from webapp.services.errors import AuthenticationFailed, EmailTaken, InvalidInput, NotFound


def test_passwords_are_stored_as_argon2id(make_user, password):
    user = make_user()
    assert user.password_hash.startswith("$argon2id$")
    assert password not in user.password_hash


def test_sign_in_rehashes_when_parameters_change(make_user, monkeypatch, password):
    user = make_user()
    old_hash = user.password_hash
    stronger = PasswordHasher.from_parameters(profiles.RFC_9106_LOW_MEMORY)
    monkeypatch.setattr(users, "password_hasher", stronger)
    users.authenticate(user.email, password)
    db.session.refresh(user)
    assert user.password_hash != old_hash
    assert not stronger.check_needs_rehash(user.password_hash)
    users.authenticate(user.email, password)  # and the new hash verifies


@pytest.mark.parametrize("case", ["unknown-email", "wrong-password", "no-password", "deactivated"])
def test_sign_in_failures_all_look_the_same(make_user, case, password):
    user = make_user(email="known@example.com")
    email = "known@example.com"
    if case == "unknown-email":
        email = "nobody@example.com"
    elif case == "wrong-password":
        password = "wrong password!"
    elif case == "no-password":
        users.create_user("cli@example.com", "Cli", None, via=Via.CLI)
        email = "cli@example.com"
    else:
        users.set_user_active(user.id, False, via=Via.CLI)
    with pytest.raises(AuthenticationFailed) as error:
        users.authenticate(email, password)
    assert error.value.message == "The email or password is not correct."


def test_emails_are_unique_whatever_their_case(make_user, password):
    make_user(email="Ada@Example.com")
    with pytest.raises(EmailTaken):
        users.create_user("ada@example.COM", "Other Ada", password, via=Via.WEB)
    assert users.authenticate("ADA@example.com", password).email == "ada@example.com"


@pytest.mark.parametrize(
    ("email", "name", "password", "field"),
    [
        ("not-an-email", "Ann", "a good long password", "email"),
        ("ann@example.com", "   ", "a good long password", "name"),
        ("ann@example.com", "Ann\x00", "a good long password", "name"),
        ("ann@example.com", "A" * 101, "a good long password", "name"),
        ("ann@example.com", "Ann", "short", "password"),
    ],
)
def test_bad_sign_up_values_name_their_field(app, email, name, password, field):
    with pytest.raises(InvalidInput) as error:
        users.create_user(email, name, password, via=Via.WEB)
    assert error.value.errors[0].field == field
    assert db.session.scalar(select(User.id)) is None


def test_token_is_shown_once_stored_as_hash_and_authenticates(make_user):
    user = make_user()
    token, text = tokens.create_token(user, "ci", via=Via.CLI)
    row = db.session.get(ApiToken, token.id)
    assert text.startswith("rst_") and len(text) > 40
    assert text not in (row.token_hash, row.prefix) and row.prefix in text
    assert tokens.authenticate_token(text).id == user.id
    # What was written, not what this session remembers.
    used = db.session.scalar(select(ApiToken.last_used_at).where(ApiToken.id == token.id))
    assert used is not None


@pytest.mark.parametrize(
    "mangle",
    [
        lambda t: t[:-1] + ("A" if t[-1] != "A" else "B"),  # right prefix, wrong secret
        lambda t: "rst_000000000000_" + t.split("_", 2)[2],  # unknown prefix
        lambda t: t.replace("rst_", "xyz_"),
        lambda t: "",
        lambda t: t + "x" * 200,
    ],
    ids=["wrong-secret", "unknown-prefix", "wrong-scheme", "empty", "too-long"],
)
def test_wrong_tokens_are_refused(make_user, mangle):
    user = make_user()
    _, text = tokens.create_token(user, "ci", via=Via.CLI)
    assert tokens.authenticate_token(mangle(text)) is None


def test_revoked_expired_and_deactivated_tokens_stop_working(make_user):
    user = make_user()
    revoked, revoked_text = tokens.create_token(user, "a", via=Via.CLI)
    expiring, expiring_text = tokens.create_token(
        user, "b", expires_at=utcnow() + timedelta(hours=1), via=Via.CLI
    )
    tokens.revoke_token(user, revoked.id, via=Via.WEB)
    assert tokens.authenticate_token(revoked_text) is None
    assert tokens.authenticate_token(expiring_text) is not None
    db.session.get(ApiToken, expiring.id).expires_at = utcnow() - timedelta(seconds=1)
    db.session.commit()
    assert tokens.authenticate_token(expiring_text) is None
    _, live_text = tokens.create_token(user, "c", via=Via.CLI)
    users.set_user_active(user.id, False, via=Via.CLI)
    assert tokens.authenticate_token(live_text) is None


def test_nobody_revokes_another_users_token(make_user):
    owner, other = make_user(), make_user()
    token, text = tokens.create_token(owner, "mine", via=Via.CLI)
    with pytest.raises(NotFound):
        tokens.revoke_token(other, token.id, via=Via.WEB)
    assert tokens.authenticate_token(text).id == owner.id


def test_tokens_list_newest_first(make_user):
    user = make_user()
    first, _ = tokens.create_token(user, "first", via=Via.CLI)
    second, _ = tokens.create_token(user, "second", via=Via.CLI)
    assert [t.id for t in tokens.list_tokens(user)] == [second.id, first.id]
