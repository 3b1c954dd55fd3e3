"""My account (DESIGN §8) below the pages: password reset links."""

from __future__ import annotations

import time

import pytest
from itsdangerous import TimestampSigner
from sqlalchemy import select, update

from webapp.extensions import db
from webapp.models import AuditEvent, User, Via
from webapp.services import users
from webapp.services.errors import InvalidInput, InvalidLink

NEW_PASSWORD = "a new password, long enough"


def _made_at(monkeypatch, seconds_ago: int, user: User) -> str:
    """A reset token for ``user`` as if made ``seconds_ago`` seconds ago."""
    with monkeypatch.context() as patched:
        patched.setattr(
            TimestampSigner, "get_timestamp", lambda self: int(time.time()) - seconds_ago
        )
        return users.password_reset_token(user)


def _fresh(user: User) -> User:
    return db.session.get(User, user.id, populate_existing=True)


# -- password reset ---------------------------------------------------------------------------


def test_a_reset_link_names_its_account_and_sets_the_password(make_user, password):
    user = make_user()
    token = users.password_reset_token(user)
    assert users.read_reset_link(token).id == user.id
    users.reset_password(token, NEW_PASSWORD, via=Via.WEB)
    assert users.authenticate(user.email, NEW_PASSWORD).id == user.id
    with pytest.raises(Exception, match="not correct"):
        users.authenticate(user.email, password)


def test_a_reset_link_works_once(make_user):
    user = make_user()
    token = users.password_reset_token(user)
    users.reset_password(token, NEW_PASSWORD, via=Via.WEB)
    with pytest.raises(InvalidLink):
        users.read_reset_link(token)
    with pytest.raises(InvalidLink):
        users.reset_password(token, "yet another password", via=Via.WEB)
    assert users.authenticate(user.email, NEW_PASSWORD).id == user.id


def test_a_reset_link_lasts_one_hour(make_user, monkeypatch):
    user = make_user()
    assert users.read_reset_link(_made_at(monkeypatch, 3590, user)).id == user.id
    late = _made_at(monkeypatch, 3601, user)
    with pytest.raises(InvalidLink):
        users.read_reset_link(late)
    with pytest.raises(InvalidLink):
        users.reset_password(late, NEW_PASSWORD, via=Via.WEB)
    assert _fresh(user).password_hash == user.password_hash


@pytest.mark.parametrize("change", ["signed out everywhere", "deactivated"])
def test_a_reset_link_dies_when_its_account_changes(make_user, password, change):
    user = make_user()
    token = users.password_reset_token(user)
    if change == "signed out everywhere":
        users.end_all_sessions(user)
    else:
        users.set_user_active(user.id, False, via=Via.CLI)
    with pytest.raises(InvalidLink):
        users.read_reset_link(token)


@pytest.mark.parametrize(
    "token",
    ["", "nonsense", "x" * 600, "WzEsImFiYyJd.aaaa.bbbb", None, 42],
    ids=["empty", "nonsense", "too-long", "forged", "none", "number"],
)
def test_a_malformed_or_forged_link_is_gone(make_user, token):
    make_user()
    with pytest.raises(InvalidLink):
        users.read_reset_link(token)


def test_a_link_signed_with_another_key_is_gone(app, make_user):
    user = make_user()
    app.secret_key = "another key"
    try:
        token = users.password_reset_token(user)
    finally:
        app.secret_key = "test-secret-key"
    with pytest.raises(InvalidLink):
        users.read_reset_link(token)


def test_a_reset_ends_every_session_and_verifies_the_address(make_user):
    user = make_user()
    db.session.execute(update(User).where(User.id == user.id).values(email_verified_at=None))
    db.session.commit()
    before = _fresh(user).session_token
    users.reset_password(users.password_reset_token(user), NEW_PASSWORD, via=Via.WEB)
    after = _fresh(user)
    assert after.session_token != before
    assert users.load_session_user(f"{user.id}:{before}") is None
    assert after.is_verified
    [event] = db.session.scalars(
        select(AuditEvent).where(AuditEvent.action == "user.password_reset")
    ).all()
    assert event.actor_id == user.id and event.organization_id is None


def test_an_account_without_a_password_can_set_one_by_reset(app):
    [user_id] = users.create_users([("nopass@example.com", "No Pass")], via=Via.CLI)
    user = db.session.get(User, user_id)
    assert user.password_hash is None
    users.reset_password(users.password_reset_token(user), NEW_PASSWORD, via=Via.WEB)
    assert users.authenticate("nopass@example.com", NEW_PASSWORD).id == user_id


def test_a_reset_password_follows_the_password_rules(make_user):
    user = make_user()
    with pytest.raises(InvalidInput) as raised:
        users.reset_password(users.password_reset_token(user), "short", via=Via.WEB)
    assert raised.value.errors[0].field == "password"
    assert _fresh(user).password_hash == user.password_hash


def test_reset_mail_goes_to_known_active_accounts_only(make_user, mailbox):
    """Outside a request the mail goes at once; no account, or a deactivated one, gets none."""
    user = make_user()
    gone = make_user()
    users.set_user_active(gone.id, False, via=Via.CLI)
    for address in (user.email.upper(), "nobody@example.com", gone.email):
        assert users.request_password_reset(address) is None
    assert [m.recipients for m in mailbox.mails] == [[user.email]]
    [mail] = mailbox.mails
    assert "/password/reset/" in mail.text and "/password/reset/" in mail.html
    with pytest.raises(InvalidInput):
        users.request_password_reset("not an address")
