"""Invitations in the audit trail and in the mail (DESIGN §8): revoking one is the audited
``invitation.revoke``, and an invitation's mail goes out only once its transaction has
committed, so a transaction that fails after writing the invitations mails nobody."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from sqlalchemy import event, func, select
from sqlalchemy.orm import Session

from webapp.extensions import db
from webapp.models import AuditEvent, Invitation, Role, Via
from webapp.services import audit, invitations


def _events(client: Any, org_id: int, action: str) -> list[dict[str, Any]]:
    answer = client.get(f"/api/organizations/{org_id}/events?action={action}")
    assert answer.status_code == 200, answer.get_data(as_text=True)
    return answer.get_json()["items"]


# -- invitation.revoke -------------------------------------------------------------------------


def test_revoking_records_who_revoked_which_address_and_how(
    make_user, make_org, add_member, api, mailbox
):
    owner = make_user(email="olive@example.org")
    admin = make_user(email="adam@example.org")
    org = make_org(owner)
    add_member(org, admin, Role.ADMIN)
    url = f"/api/organizations/{org.id}/invitations"
    as_owner, as_admin = api(owner), api(admin)
    ada, grace = as_owner.post(
        url, json={"emails": ["ada@example.org", "grace@example.org"], "role": "CONTRIBUTOR"}
    ).get_json()
    assert _events(as_owner, org.id, "invitation.revoke") == []

    assert as_admin.delete(f"{url}/{ada['id']}").status_code == 204
    (revoked,) = _events(as_owner, org.id, "invitation.revoke")
    assert revoked == revoked | {
        "action": "invitation.revoke",
        "actor": "adam@example.org",
        "actor_id": admin.id,
        "email": "ada@example.org",
        "user_id": None,
        "new_role": "CONTRIBUTOR",
        "via": "api",
    }

    # Another front says so; a refused revoke (no longer pending) records nothing.
    invitations.revoke(owner, org.id, grace["id"], via=Via.CLI)
    assert as_admin.delete(f"{url}/{ada['id']}").status_code == 409
    events = _events(as_owner, org.id, "invitation.revoke")
    assert [(e["actor"], e["email"], e["via"]) for e in events] == [
        ("olive@example.org", "grace@example.org", "cli"),
        ("adam@example.org", "ada@example.org", "api"),
    ]
    stored = db.session.scalars(
        select(AuditEvent).where(AuditEvent.action == "invitation.revoke")
    ).all()
    assert sorted(e.details["invitation_id"] for e in stored) == sorted([ada["id"], grace["id"]])


# -- mail after the commit -------------------------------------------------------------------


class Injected(Exception):
    """The failure a test makes happen."""


@contextmanager
def audit_of_invitations_fails(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """``invitation.create`` cannot be recorded: the transaction fails after the rows were
    inserted (``audit.record`` runs after them)."""
    real = audit.record

    def record(action: str, *args: Any, **kwargs: Any) -> Any:
        if action == "invitation.create":
            assert db.session.scalar(select(func.count()).select_from(Invitation)) > 0
            raise Injected("the audit trail is unavailable")
        return real(action, *args, **kwargs)

    with monkeypatch.context() as patch:
        patch.setattr(audit, "record", record)
        yield


@contextmanager
def commit_fails(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """The commit of a transaction that wrote invitations fails: everything inside it ran
    (rows, audit events), and the database then refuses it."""

    def before_commit(session: Session) -> None:
        if session.scalar(select(func.count()).select_from(Invitation)):
            raise Injected("the commit failed")

    event.listen(Session, "before_commit", before_commit)
    try:
        yield
    finally:
        event.remove(Session, "before_commit", before_commit)


FAILURES = [
    pytest.param(audit_of_invitations_fails, id="audit-fails"),
    pytest.param(commit_fails, id="commit-fails"),
]


def _invite(owner: Any, org_id: int, make_user: Callable[..., Any], how: str) -> Any:
    emails = ["ada@example.org", "grace@example.org"]
    if how == "invite":
        return invitations.invite(owner, org_id, emails, Role.CONTRIBUTOR, via=Via.CLI)
    known = make_user()
    return invitations.add_and_invite(
        owner, org_id, [known.id], emails, Role.CONTRIBUTOR, via=Via.CLI
    )


def _nothing_left(mailbox: Any) -> None:
    db.session.rollback()
    assert mailbox.mails == []
    assert db.session.scalar(select(func.count()).select_from(Invitation)) == 0
    assert (
        db.session.scalar(
            select(func.count()).where(AuditEvent.action.in_(["invitation.create", "member.add"]))
        )
        == 0
    )


@pytest.mark.parametrize("how", ["invite", "add_and_invite"])
@pytest.mark.parametrize("failure", FAILURES)
def test_a_transaction_that_fails_after_writing_invitations_mails_nobody(
    make_user, make_org, mailbox, monkeypatch, failure, how
):
    owner = make_user()
    org = make_org(owner)
    with failure(monkeypatch), pytest.raises(Injected):
        _invite(owner, org.id, make_user, how)
    _nothing_left(mailbox)

    # The same batch, once nothing fails: written, then mailed, each its own link.
    made = _invite(owner, org.id, make_user, how)
    invited = made[1] if how == "add_and_invite" else made
    assert [i.email for i in invited.invitations] == ["ada@example.org", "grace@example.org"]
    assert all(i.mail_sent_at is not None and i.mail_error is None for i in invited.invitations)
    assert sorted(r for m in mailbox.mails for r in m.recipients) == [
        "ada@example.org",
        "grace@example.org",
    ]
    assert db.session.scalar(select(func.count()).select_from(Invitation)) == 2


@pytest.mark.parametrize("failure", FAILURES)
def test_over_the_api_a_failed_commit_is_a_500_and_mails_nobody(
    make_user, make_org, api, mailbox, monkeypatch, failure
):
    owner = make_user()
    org = make_org(owner)
    client = api(owner)
    url = f"/api/organizations/{org.id}/invitations"
    body = {"emails": ["ada@example.org", "grace@example.org"]}
    with failure(monkeypatch):
        refused = client.post(url, json=body)
    assert refused.status_code == 500 and refused.mimetype == "application/problem+json"
    assert refused.get_json()["code"] == "internal_error"
    _nothing_left(mailbox)
    assert client.get(url).get_json() == []

    assert client.post(url, json=body).status_code == 201
    assert sorted(r for m in mailbox.mails for r in m.recipients) == [
        "ada@example.org",
        "grace@example.org",
    ]
