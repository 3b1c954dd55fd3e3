"""Invitations (DESIGN §8) through the service: the rules, the mail on a real SMTP server, the
link, and the statements a batch costs."""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta

import pytest
from flask import Flask
from sqlalchemy import func, select, update

from webapp import mail
from webapp.extensions import db
from webapp.models import (
    AuditEvent,
    Invitation,
    InvitationStatus,
    Membership,
    Role,
    User,
    Via,
    utcnow,
)
from webapp.services import invitations, members, organizations
from webapp.services.errors import (
    AlreadyInvited,
    AlreadyMembers,
    Forbidden,
    InvalidInput,
    InvitationGone,
    MalformedEmails,
    NotFound,
    NotPending,
    TooManyAttempts,
    Unverified,
    WrongInvitee,
)

from ..mailbox import Mailbox, free_port


@contextmanager
def smtp_url(app: Flask, url: str | None) -> Iterator[None]:
    """The app sends through ``url`` inside the block (None: no SMTP, the outbox)."""
    before = app.config["ROSTER_SMTP_URL"]
    app.config["ROSTER_SMTP_URL"] = url
    mail.init_app(app)
    try:
        yield
    finally:
        app.config["ROSTER_SMTP_URL"] = before
        mail.init_app(app)


LINK = re.compile(r"http://roster\.test/invitations/([A-Za-z0-9_-]+)")


def token_of(mailbox: Mailbox, email: str) -> str:
    """The token in the last invitation mailed to ``email``."""
    mails = mailbox.to(email)
    assert mails, f"no mail to {email}"
    found = LINK.search(mails[-1].text)
    assert found, mails[-1].text
    return found.group(1)


def summary(owner: User, org_id: int) -> dict[str, int]:
    return {m.metric: m.value for m in organizations.get_summary(owner, org_id)}


@pytest.fixture
def owner_org(make_user, make_org):  # type: ignore[no-untyped-def]
    owner = make_user(name="Olive Owner")
    return owner, make_org(owner, "Acme & <Sons>")


def test_inviting_mails_each_address_a_link_and_counts_them_pending(owner_org, mailbox):
    owner, org = owner_org
    made = invitations.invite(
        owner,
        org.id,
        ["Ada@Example.org ", "grace@example.org", "ada@example.org"],
        Role.ADMIN,
        via=Via.CLI,
    )
    assert [i.email for i in made.invitations] == ["ada@example.org", "grace@example.org"]
    assert {i.status for i in made.invitations} == {InvitationStatus.PENDING}
    assert {i.role for i in made.invitations} == {Role.ADMIN}
    assert all(i.mail_sent_at is not None and i.mail_error is None for i in made.invitations)
    assert all(i.expires_at - i.created_at == invitations.INVITATION_TTL for i in made.invitations)
    assert sorted(r for m in mailbox.mails for r in m.recipients) == [
        "ada@example.org",
        "grace@example.org",
    ]
    mail = mailbox.to("ada@example.org")[0]
    assert mail.subject == "Olive Owner invited you to Acme & <Sons> on Roster"
    assert "as ADMIN" in mail.text and LINK.search(mail.text)
    assert "Acme &amp; &lt;Sons&gt;" in mail.html and LINK.search(mail.html)
    assert token_of(mailbox, "ada@example.org") != token_of(mailbox, "grace@example.org")
    assert summary(owner, org.id)["invitations_pending"] == 2
    events = db.session.scalars(
        select(AuditEvent).where(AuditEvent.action == "invitation.create")
    ).all()
    assert sorted(e.target_email for e in events) == ["ada@example.org", "grace@example.org"]
    assert {e.actor_id for e in events} == {owner.id}


def test_the_token_is_kept_only_as_a_hash(owner_org, mailbox):
    owner, org = owner_org
    invitations.invite(owner, org.id, ["ada@example.org"], via=Via.CLI)
    token = token_of(mailbox, "ada@example.org")
    stored = db.session.scalar(select(Invitation.token_hash))
    assert token not in stored and len(token) >= 43  # 256 bits
    assert stored == invitations.hash_token(token)


def test_an_admin_invites_below_owner_only(owner_org, make_user, add_member, mailbox):
    owner, org = owner_org
    admin, contributor = make_user(), make_user()
    add_member(org, admin, Role.ADMIN)
    add_member(org, contributor, Role.CONTRIBUTOR)
    with pytest.raises(Forbidden):
        invitations.invite(admin, org.id, ["boss@example.org"], Role.OWNER, via=Via.CLI)
    with pytest.raises(Forbidden):
        invitations.invite(contributor, org.id, ["x@example.org"], via=Via.CLI)
    with pytest.raises(NotFound):
        invitations.invite(make_user(), org.id, ["x@example.org"], via=Via.CLI)
    assert mailbox.mails == []
    invitations.invite(admin, org.id, ["viewer@example.org"], Role.VIEWER, via=Via.CLI)
    invitations.invite(owner, org.id, ["boss@example.org"], Role.OWNER, via=Via.CLI)
    assert db.session.scalar(select(func.count()).select_from(Invitation)) == 2


def test_a_batch_is_all_or_nothing(owner_org, make_user, add_member, mailbox):
    owner, org = owner_org
    member = make_user(email="member@example.org")
    add_member(org, member)
    invitations.invite(owner, org.id, ["pending@example.org"], via=Via.CLI)
    mailbox.clear()
    with pytest.raises(MalformedEmails) as bad:
        invitations.invite(owner, org.id, ["ok@example.org", "nope", "a@@b"], via=Via.CLI)
    assert bad.value.emails == ["a@@b", "nope"]
    with pytest.raises(AlreadyInvited) as taken:
        invitations.invite(
            owner,
            org.id,
            ["ok@example.org", "MEMBER@example.org", "pending@example.org"],
            via=Via.CLI,
        )
    assert taken.value.emails == ["member@example.org", "pending@example.org"]
    with pytest.raises(InvalidInput):
        invitations.invite(owner, org.id, [], via=Via.CLI)
    with pytest.raises(InvalidInput):
        invitations.invite(owner, org.id, [f"p{n}@example.org" for n in range(1_001)], via=Via.CLI)
    assert db.session.scalar(select(func.count()).select_from(Invitation)) == 1
    assert mailbox.mails == []


def test_an_expired_invitation_says_so_and_does_not_block_a_new_one(owner_org, mailbox):
    owner, org = owner_org
    invitations.invite(owner, org.id, ["ada@example.org"], via=Via.CLI)
    old = token_of(mailbox, "ada@example.org")
    db.session.execute(update(Invitation).values(expires_at=utcnow() - timedelta(seconds=1)))
    db.session.commit()
    assert [i.status for i in invitations.list_invitations(owner, org.id)] == [
        InvitationStatus.EXPIRED
    ]
    assert summary(owner, org.id)["invitations_pending"] == 0
    with pytest.raises(InvitationGone, match="expired"):
        invitations.read_link(old)
    invitations.invite(owner, org.id, ["ada@example.org"], via=Via.CLI)
    listed = invitations.list_invitations(owner, org.id)
    assert [i.status for i in listed] == [InvitationStatus.PENDING, InvitationStatus.EXPIRED]
    assert [i.id for i in invitations.list_invitations(owner, org.id, InvitationStatus.EXPIRED)]
    assert invitations.read_link(token_of(mailbox, "ada@example.org")).email == "ada@example.org"


def test_revoking_ends_the_link(owner_org, make_user, add_member, mailbox):
    owner, org = owner_org
    made = invitations.invite(owner, org.id, ["ada@example.org"], via=Via.CLI)
    token = token_of(mailbox, "ada@example.org")
    invitation_id = made.invitations[0].id
    invitations.revoke(owner, org.id, invitation_id, via=Via.CLI)
    with pytest.raises(InvitationGone, match="withdrawn"):
        invitations.read_link(token)
    with pytest.raises(NotPending):
        invitations.revoke(owner, org.id, invitation_id, via=Via.CLI)
    other = make_org_of(make_user)
    with pytest.raises(NotFound):  # another organization's invitation is not found there
        invitations.revoke(other[0], other[1].id, invitation_id, via=Via.CLI)
    assert [i.status for i in invitations.list_invitations(owner, org.id)] == [
        InvitationStatus.REVOKED
    ]


def make_org_of(make_user):  # type: ignore[no-untyped-def]
    owner = make_user()
    return owner, organizations.create_organization(owner, "Other", via=Via.CLI)


def test_an_admin_cannot_revoke_or_resend_an_owner_invitation(owner_org, make_user, add_member):
    owner, org = owner_org
    admin = make_user()
    add_member(org, admin, Role.ADMIN)
    made = invitations.invite(owner, org.id, ["boss@example.org"], Role.OWNER, via=Via.CLI)
    with pytest.raises(Forbidden):
        invitations.revoke(admin, org.id, made.invitations[0].id, via=Via.CLI)
    with pytest.raises(Forbidden):
        invitations.resend(admin, org.id, made.invitations[0].id, via=Via.CLI)


def test_resending_mails_a_fresh_link_and_ends_the_old_one(owner_org, mailbox):
    owner, org = owner_org
    made = invitations.invite(owner, org.id, ["ada@example.org"], via=Via.CLI)
    old = token_of(mailbox, "ada@example.org")
    db.session.execute(update(Invitation).values(expires_at=utcnow() - timedelta(seconds=1)))
    db.session.commit()
    again = invitations.resend(owner, org.id, made.invitations[0].id, via=Via.CLI)
    new = token_of(mailbox, "ada@example.org")
    assert new != old and len(mailbox.to("ada@example.org")) == 2
    assert again.status is InvitationStatus.PENDING and again.expires_at > utcnow()
    with pytest.raises(NotFound):
        invitations.read_link(old)
    assert invitations.read_link(new).organization_id == org.id


def test_accepting_makes_an_active_membership_with_the_invited_role(owner_org, make_user, mailbox):
    owner, org = owner_org
    invitations.invite(owner, org.id, ["ada@example.org"], Role.ACCOUNTING, via=Via.CLI)
    ada = make_user(email="ada@example.org")
    token = token_of(mailbox, "ada@example.org")
    link = invitations.read_link(token)
    assert (link.organization_name, link.role, link.invited_by) == (
        "Acme & <Sons>",
        Role.ACCOUNTING,
        owner.email,
    )
    account = invitations.accept(ada, token)
    assert (account.id, account.role, account.is_active) == (org.id, Role.ACCOUNTING, True)
    membership = db.session.get(Membership, (org.id, ada.id))
    assert (membership.role, membership.is_active) == (Role.ACCOUNTING, True)
    counts = summary(owner, org.id)
    assert counts["members_total"] == 2 and counts["role_accounting"] == 1
    assert counts["invitations_pending"] == 0 and counts["joined_last_30_days"] == 2
    event = db.session.scalar(select(AuditEvent).where(AuditEvent.action == "invitation.accept"))
    assert (event.actor_id, event.target_user_id, event.new_role) == (
        ada.id,
        ada.id,
        Role.ACCOUNTING,
    )
    assert event.details["invited_by"] == {"user_id": owner.id, "email": owner.email}
    with pytest.raises(InvitationGone, match="already been used"):
        invitations.accept(ada, token)


def test_accepting_is_refused_to_anyone_else_and_to_an_unverified_account(
    owner_org, make_user, mailbox
):
    owner, org = owner_org
    invitations.invite(owner, org.id, ["ada@example.org"], via=Via.CLI)
    token = token_of(mailbox, "ada@example.org")
    with pytest.raises(WrongInvitee):
        invitations.accept(make_user(email="mallory@example.org"), token)
    ada = make_user(email="ada@example.org")
    db.session.execute(update(User).where(User.id == ada.id).values(email_verified_at=None))
    db.session.commit()
    db.session.refresh(ada)
    with pytest.raises(Unverified):
        invitations.accept(ada, token)
    with pytest.raises(NotFound):
        invitations.accept(ada, "x" * 43)
    assert db.session.get(Membership, (org.id, ada.id)) is None
    assert invitations.list_invitations(owner, org.id)[0].status is InvitationStatus.PENDING


def test_accepting_when_already_a_member_changes_nothing(owner_org, make_user, mailbox):
    owner, org = owner_org
    ada = make_user(email="ada@example.org")
    invitations.invite(owner, org.id, ["ada@example.org"], Role.ADMIN, via=Via.CLI)
    members.add_members(owner, org.id, [ada.id], role=Role.VIEWER, via=Via.CLI)
    with pytest.raises(AlreadyMembers):
        invitations.accept(ada, token_of(mailbox, "ada@example.org"))
    assert db.session.get(Membership, (org.id, ada.id)).role is Role.VIEWER


def test_the_link_of_a_deleted_organization_is_gone(owner_org, make_user, mailbox):
    owner, org = owner_org
    invitations.invite(owner, org.id, ["ada@example.org"], via=Via.CLI)
    token = token_of(mailbox, "ada@example.org")
    organizations.delete_organization(owner, org.id, via=Via.CLI)
    with pytest.raises(InvitationGone, match="no longer exists"):
        invitations.accept(make_user(email="ada@example.org"), token)


def test_a_mail_server_that_is_down_keeps_the_invitation_and_says_why(app, owner_org, mailbox):
    owner, org = owner_org
    with smtp_url(app, f"smtp://127.0.0.1:{free_port()}"):  # nothing listens there
        made = invitations.invite(owner, org.id, ["ada@example.org"], via=Via.CLI)
    (invitation,) = made.invitations
    assert invitation.status is InvitationStatus.PENDING
    assert invitation.mail_sent_at is None
    assert invitation.mail_error == "the mail server could not be reached"
    listed = invitations.list_invitations(owner, org.id)[0]
    assert listed.mail_error == invitation.mail_error  # kept, for the dashboard to offer
    assert mailbox.mails == []
    resent = invitations.resend(owner, org.id, invitation.id, via=Via.CLI)
    assert resent.mail_error is None and resent.mail_sent_at is not None
    assert len(mailbox.to("ada@example.org")) == 1


def test_mail_per_organization_is_limited(app, owner_org, mailbox):
    owner, org = owner_org
    app.config["ROSTER_MAIL_LIMIT_PER_ORG"] = "3 per hour"
    invitations.invite(owner, org.id, ["a@example.org", "b@example.org"], via=Via.CLI)
    with pytest.raises(TooManyAttempts):
        invitations.invite(owner, org.id, ["c@example.org", "d@example.org"], via=Via.CLI)
    with pytest.raises(TooManyAttempts):  # one batch larger than the limit
        invitations.invite(owner, org.id, [f"{n}@example.org" for n in range(4)], via=Via.CLI)
    assert db.session.scalar(select(func.count()).select_from(Invitation)) == 2
    assert len(mailbox.mails) == 2
    invitations.invite(owner, org.id, ["c@example.org"], via=Via.CLI)  # the third fits


@pytest.mark.parametrize("n", [1, 100, 1_000])
def test_a_batch_costs_the_same_statements_at_any_size(owner_org, count_statements, mailbox, n):
    owner, org = owner_org
    emails = [f"person{k}@example.org" for k in range(n)]
    with count_statements() as log:
        made = invitations.invite(owner, org.id, emails, via=Via.CLI)
    assert len(made.invitations) == n and len(mailbox.mails) == n
    # require + lock, expire, conflicts, insert...returning, audit, mail outcome
    assert log.count == 6, log.statements
