"""Invitations (DESIGN §8): invite emails into an organization with a role, list, resend,
revoke, and accept through the mailed link.

An invitation's token has 256 random bits and is stored only as its SHA-256; the link is
``/invitations/<token>``. A ``PENDING`` row past ``expires_at`` is expired: every read says
``EXPIRED`` for it, and inviting the address again marks it so first. Mail goes out after the
transaction commits (``webapp.mail.send``); a failure is recorded on the invitation and offered
for resend, never undoing it.
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from types import SimpleNamespace
from typing import Annotated, Any

from pydantic import Field
from sqlalchemy import case, insert, select, update

from webapp import mail
from webapp.extensions import db
from webapp.models import Invitation as InvitationRow
from webapp.models import (
    InvitationStatus,
    Membership,
    Organization,
    Role,
    User,
    Via,
    utcnow,
)
from webapp.services import audit
from webapp.services.errors import (
    AlreadyInvited,
    AlreadyMembers,
    FieldError,
    InvalidInput,
    InvitationGone,
    MalformedEmails,
    NotFound,
    NotPending,
    Unverified,
    WrongInvitee,
)
from webapp.services.members import (
    account_after,
    check_flag,
    check_user_ids,
    counter_deltas,
    ids_in,
    insert_members,
)
from webapp.services.organizations import Account, apply_counter_deltas, joins_after
from webapp.services.permissions import Action, require, require_for_targets
from webapp.services.transactions import lock_rows, write_transaction
from webapp.services.values import email_address, is_id, name_sort_key

INVITATION_TTL = timedelta(days=7)
INVITE_MAX = 1_000
_TOKEN_BYTES = 32


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _new_token() -> tuple[str, str]:
    token = secrets.token_urlsafe(_TOKEN_BYTES)
    return token, hash_token(token)


@dataclass(frozen=True)
class Inviter:
    user_id: int | None
    email: str | None


@dataclass(frozen=True)
class Invitation:
    """One invitation as OWNERs and ADMINs see it (DESIGN §8 Invitation)."""

    id: int
    email: str
    role: Role
    status: InvitationStatus
    invited_by: Inviter
    created_at: datetime
    expires_at: datetime
    # For the dashboard: how the last mail went. Not part of the API's Invitation.
    mail_sent_at: Annotated[datetime | None, Field(exclude=True)]
    mail_error: Annotated[str | None, Field(exclude=True)]


def _status(row: Any, now: datetime) -> InvitationStatus:
    if row.status == InvitationStatus.PENDING and row.expires_at <= now:
        return InvitationStatus.EXPIRED
    return InvitationStatus(row.status)


def _view(row: Any, now: datetime) -> Invitation:
    return Invitation(
        id=row.id,
        email=row.email,
        role=row.role,
        status=_status(row, now),
        invited_by=Inviter(row.invited_by_id, row.invited_by_email),
        created_at=row.created_at,
        expires_at=row.expires_at,
        mail_sent_at=row.mail_sent_at,
        mail_error=row.mail_error,
    )


_COLUMNS = (
    InvitationRow.id,
    InvitationRow.email,
    InvitationRow.role,
    InvitationRow.status,
    InvitationRow.invited_by_id,
    InvitationRow.invited_by_email,
    InvitationRow.created_at,
    InvitationRow.expires_at,
    InvitationRow.mail_sent_at,
    InvitationRow.mail_error,
)


def parse_emails(values: Iterable[object]) -> list[str]:
    """Normalized, de-duplicated addresses in their first order; MalformedEmails lists the bad
    ones (as sent), InvalidInput says none or too many."""
    good: dict[str, None] = {}
    bad: list[str] = []
    for value in values:
        try:
            good[email_address(value)] = None
        except InvalidInput:
            bad.append(str(value)[:300])
    if bad:
        message = f"These are not email addresses: {_some(bad)}"
        raise MalformedEmails(message, emails=bad, errors=[FieldError("emails", message)])
    if not good:
        raise InvalidInput.field("emails", "must name at least one address")
    if len(good) > INVITE_MAX:
        raise InvalidInput.field("emails", f"must name at most {INVITE_MAX:,} addresses")
    return list(good)


def _some(listed: Sequence[str], shown: int = 20) -> str:
    """Up to ``shown`` of a list for a message, and how many more there are."""
    more = len(listed) - shown
    return ", ".join(listed[:shown]) + (f" and {more:,} more" if more > 0 else "")


def expire_invitations(org_id: int, now: datetime) -> None:
    """Mark the organization's pending invitations past their time as EXPIRED."""
    db.session.execute(
        update(InvitationRow)
        .where(
            InvitationRow.organization_id == org_id,
            InvitationRow.status == InvitationStatus.PENDING,
            InvitationRow.expires_at <= now,
        )
        .values(status=InvitationStatus.EXPIRED)
        .execution_options(synchronize_session=False)
    )


@dataclass(frozen=True)
class Invited:
    """What ``invite`` made: the invitations, as their mails left them."""

    invitations: list[Invitation]

    @property
    def mail_failures(self) -> list[Invitation]:
        return [i for i in self.invitations if i.mail_error]


def invite(
    actor: User, org_id: int, emails: Iterable[object], role: Role = Role.VIEWER, *, via: Via
) -> Invited:
    """Invite up to 1,000 addresses with one role, all or none, then mail each its link.

    Needs MANAGE_MEMBERS, and MANAGE_OWNERS to invite OWNERs. Raises MalformedEmails (400),
    AlreadyInvited (409) naming addresses that are members or have a pending invitation, and
    TooManyAttempts past the organization's mail limit; nothing changes then. A fixed number
    of statements, whatever the number of addresses.
    """
    wanted = parse_emails(emails)
    role = _check_role(role)
    now = utcnow()
    with write_transaction():
        org, me = require(actor, org_id, Action.MANAGE_MEMBERS, lock=True)
        require_for_targets(me, new_role=role, target_roles=())
        made, tokens = _invite_in(org, actor, wanted, role, now, via=via)
    sent = _mail_invitations(org.organization_name, actor, made, tokens, now)
    return Invited([_view(r, now) for r in sent])


def add_and_invite(
    actor: User,
    org_id: int,
    user_ids: Iterable[int],
    emails: Iterable[object],
    role: Role = Role.VIEWER,
    *,
    is_active: bool = True,
    via: Via,
) -> tuple[Account, Invited]:
    """Add the users ``user_ids`` and invite the addresses ``emails`` (which have no account)
    with one role, all or none, as one change set; then mail the invitations.

    The members page's add of a mix of accounts and unknown addresses: one request, so one
    change set, which one Undo takes back whole. ``is_active`` is for the members added (an
    invitation always makes an active member). The checks and errors of ``add_members`` and
    ``invite``; a fixed number of statements.
    """
    listed = list(user_ids)
    ids = check_user_ids(listed) if listed else []
    wanted = parse_emails(emails)
    role, is_active = _check_role(role), check_flag(is_active)
    now = utcnow()
    with write_transaction():
        org, me = require(actor, org_id, Action.MANAGE_MEMBERS, lock=True)
        require_for_targets(me, new_role=role, target_roles=())
        change_id = audit.new_change_id()
        deltas: dict[str, int] = {}
        if ids:  # first: a refused id must not spend the organization's mail limit
            deltas, now, _ = insert_members(
                org, actor, ids, role, is_active, via=via, change_id=change_id
            )
        made, tokens = _invite_in(org, actor, wanted, role, now, via=via, change_id=change_id)
    account = account_after(org, me, deltas, now, change_id=change_id)
    sent = _mail_invitations(org.organization_name, actor, made, tokens, now)
    return account, Invited([_view(r, now) for r in sent])


def _check_role(role: object) -> Role:
    if not isinstance(role, Role):
        raise InvalidInput.field("role", "must be one of " + ", ".join(r.name for r in Role))
    return role


def _invite_in(
    org: Organization,
    actor: User,
    wanted: Sequence[str],
    role: Role,
    now: datetime,
    *,
    via: Via,
    change_id: str | None = None,
) -> tuple[list[Any], dict[str, str]]:
    """Invite ``wanted`` inside the caller's write transaction, after its permission checks:
    AlreadyInvited for members and pending invitations, then the mail limit, then the rows."""
    from webapp.auth import MAIL_PER_ORG  # with the other attempt limits

    expire_invitations(org.id, now)
    taken = db.session.execute(
        select(User.email)
        .join(Membership, Membership.user_id == User.id)
        .where(Membership.organization_id == org.id, User.email.in_(wanted))
        .union_all(
            select(InvitationRow.email).where(
                InvitationRow.organization_id == org.id,
                InvitationRow.status == InvitationStatus.PENDING,
                InvitationRow.email.in_(wanted),
            )
        )
    ).scalars()
    conflicts = sorted(set(taken))
    if conflicts:
        message = f"These addresses are already members or already invited: {_some(conflicts)}"
        raise AlreadyInvited(message, emails=conflicts, errors=[FieldError("emails", message)])
    MAIL_PER_ORG.take(str(org.id), cost=len(wanted))
    return insert_invitations(
        org, actor, [(email, role) for email in wanted], now, via=via, change_id=change_id
    )


def insert_invitations(
    org: Organization,
    actor: User,
    entries: Sequence[tuple[str, Role]],
    now: datetime,
    *,
    via: Via,
    change_id: str | None = None,
    details: dict[str, Any] | None = None,
) -> tuple[list[Any], dict[str, str]]:
    """Make a pending invitation per (address, role) and audit them, in two statements: the
    rows made and each address's token, for ``mail_invitations`` after the commit. Inside the
    caller's write transaction, after its checks (permissions, conflicts, the mail limit) and
    ``expire_invitations``; ``change_id`` joins the events to a larger change set (an import)."""
    tokens: dict[str, str] = {}
    rows = []
    for email, role in entries:
        token, token_hash = _new_token()
        tokens[email] = token
        rows.append(
            {
                "organization_id": org.id,
                "email": email,
                "role": role,
                "status": InvitationStatus.PENDING,
                "invited_by_id": actor.id,
                "invited_by_email": actor.email,
                "token_hash": token_hash,
                "created_at": now,
                "expires_at": now + INVITATION_TTL,
            }
        )
    made = db.session.execute(
        insert(InvitationRow.__table__).returning(
            *(InvitationRow.__table__.c[c.key] for c in _COLUMNS)
        ),
        rows,
    ).all()
    audit.record(
        "invitation.create",
        actor=actor,
        via=via,
        org=org,
        targets=[audit.TargetChange(None, r.email, new_role=r.role) for r in made],
        details=details,
        change_id=change_id,
    )
    return list(made), tokens


def mail_invitations(
    org_name: str, inviter: User, rows: Sequence[Any], tokens: dict[str, str], now: datetime
) -> list[Invitation]:
    """After the commit: mail each invitation made by ``insert_invitations`` its link and
    record how each went; the invitations as they are now."""
    return [_view(r, now) for r in _mail_invitations(org_name, inviter, rows, tokens, now)]


def _mail_invitations(
    org_name: str, inviter: User, rows: Sequence[Any], tokens: dict[str, str], now: datetime
) -> list[Any]:
    """Mail each invitation its link (after the commit), record how each went, and return the
    rows as they are now."""
    messages = [
        mail.compose(
            row.email,
            f"{inviter.name} invited you to {org_name} on Roster",
            "invitation",
            org_name=org_name,
            inviter=inviter,
            role=row.role,
            link=mail.link(f"/invitations/{tokens[row.email]}"),
            expires_at=row.expires_at,
        )
        for row in rows
    ]
    results = mail.send(messages)
    outcome = {row.id: result.error for row, result in zip(rows, results, strict=True)}
    sent_at = utcnow()
    by_outcome: dict[str | None, list[int]] = {}
    for row_id, error in outcome.items():
        by_outcome.setdefault(error, []).append(row_id)
    with write_transaction():
        # One UPDATE per outcome (all sent, or one failure reason for a server that was down),
        # not one per invitation.
        for error, ids in by_outcome.items():
            db.session.execute(
                update(InvitationRow)
                .where(ids_in(InvitationRow.id, ids))
                .values(mail_sent_at=None if error else sent_at, mail_error=error)
                .execution_options(synchronize_session=False)
            )
    return [
        SimpleNamespace(
            **row._asdict()
            | {"mail_sent_at": None if outcome[row.id] else sent_at, "mail_error": outcome[row.id]}
        )
        for row in rows
    ]


def list_invitations(
    actor: User, org_id: int, status: InvitationStatus | None = None
) -> list[Invitation]:
    """The organization's invitations, newest first; of one status when given (an expired
    one is EXPIRED whether or not it was marked so). OWNERs and ADMINs."""
    require(actor, org_id, Action.MANAGE_MEMBERS)
    now = utcnow()
    effective = case(
        (
            (InvitationRow.status == InvitationStatus.PENDING) & (InvitationRow.expires_at <= now),
            InvitationStatus.EXPIRED.value,
        ),
        else_=InvitationRow.status,
    )
    stmt = select(*_COLUMNS).where(InvitationRow.organization_id == org_id)
    if status is not None:
        stmt = stmt.where(effective == status.value)
    rows = db.session.execute(stmt.order_by(InvitationRow.id.desc())).all()
    return [_view(r, now) for r in rows]


def _one(org_id: int, invitation_id: int) -> InvitationRow:
    if not is_id(invitation_id):
        raise NotFound("No such invitation in this organization.")
    found = db.session.scalar(
        select(InvitationRow)
        .where(InvitationRow.id == invitation_id, InvitationRow.organization_id == org_id)
        .execution_options(populate_existing=True)
    )
    if found is None:
        raise NotFound("No such invitation in this organization.")
    return found


def _managed(actor: User, org_id: int, invitation_id: int) -> tuple[Organization, InvitationRow]:
    """The organization (locked) and one of its invitations, for a change the actor may make:
    MANAGE_MEMBERS, and MANAGE_OWNERS for an OWNER invitation."""
    org, me = require(actor, org_id, Action.MANAGE_MEMBERS, lock=True)
    row = _one(org_id, invitation_id)
    require_for_targets(me, new_role=row.role, target_roles=())
    return org, row


def revoke(actor: User, org_id: int, invitation_id: int, *, via: Via) -> None:
    """Revoke a pending invitation: its link stops working. MANAGE_MEMBERS, and MANAGE_OWNERS
    for an OWNER invitation. NotFound for another organization's; NotPending (409) otherwise."""
    now = utcnow()
    with write_transaction():
        org, row = _managed(actor, org_id, invitation_id)
        status = _status(row, now)
        if status is not InvitationStatus.PENDING:
            raise NotPending(f"This invitation is {status.value.lower()}, not pending.")
        row.status = InvitationStatus.REVOKED
        row.revoked_at = now
        audit.record(
            "invitation.revoke",
            actor=actor,
            via=via,
            org=org,
            targets=[audit.TargetChange(None, row.email, new_role=row.role)],
            details={"invitation_id": row.id},
        )


def resend(actor: User, org_id: int, invitation_id: int, *, via: Via) -> Invitation:
    """Mail a pending or expired invitation again with a fresh token and expiry; the old link
    stops working. Refused (409) for an accepted or revoked one, or when the address has been
    invited again since."""
    from webapp.auth import MAIL_PER_ORG

    now = utcnow()
    token, token_hash = _new_token()
    with write_transaction():
        org, row = _managed(actor, org_id, invitation_id)
        status = _status(row, now)
        if status not in (InvitationStatus.PENDING, InvitationStatus.EXPIRED):
            raise NotPending(f"This invitation is {status.value.lower()}: invite them again.")
        if status is InvitationStatus.EXPIRED:
            again = db.session.scalar(
                select(InvitationRow.id).where(
                    InvitationRow.organization_id == org_id,
                    InvitationRow.email == row.email,
                    InvitationRow.status == InvitationStatus.PENDING,
                    InvitationRow.id != row.id,
                )
            )
            if again is not None:
                raise NotPending("This address has a newer invitation; resend that one.")
        MAIL_PER_ORG.take(str(org_id))
        row.status = InvitationStatus.PENDING
        row.token_hash = token_hash
        row.created_at = now
        row.expires_at = now + INVITATION_TTL
        row.mail_error = None
        db.session.flush()
        audit.record(
            "invitation.resend",
            actor=actor,
            via=via,
            org=org,
            targets=[audit.TargetChange(None, row.email, new_role=row.role)],
            details={"invitation_id": row.id},
        )
        snapshot = db.session.execute(select(*_COLUMNS).where(InvitationRow.id == row.id)).one()
    sent = _mail_invitations(org.organization_name, actor, [snapshot], {row.email: token}, now)
    return _view(sent[0], now)


# -- the link -----------------------------------------------------------------------------


@dataclass(frozen=True)
class InvitationLink:
    """What an invitation link shows before it is accepted."""

    email: str
    role: Role
    organization_id: int
    organization_name: str
    invited_by: str | None
    expires_at: datetime


_GONE = {
    InvitationStatus.ACCEPTED: "This invitation has already been used.",
    InvitationStatus.REVOKED: "This invitation was withdrawn.",
    InvitationStatus.EXPIRED: "This invitation has expired. Ask for a new one.",
}


def _by_token(token: str) -> tuple[InvitationRow, Organization]:
    """The invitation a link names and its organization; NotFound for no such link,
    InvitationGone for a used, revoked, expired or deleted-organization one."""
    if not isinstance(token, str) or not 20 <= len(token) <= 100:
        raise NotFound("This invitation link is not valid.")
    row = db.session.execute(
        select(InvitationRow, Organization)
        .outerjoin(Organization, Organization.id == InvitationRow.organization_id)
        .where(InvitationRow.token_hash == hash_token(token))
        .execution_options(populate_existing=True)
    ).first()
    if row is None:
        raise NotFound("This invitation link is not valid.")
    invitation, org = row
    if org is None:
        raise InvitationGone("The organization of this invitation no longer exists.")
    status = _status(invitation, utcnow())
    if status is not InvitationStatus.PENDING:
        raise InvitationGone(_GONE[status])
    return invitation, org


def read_link(token: str) -> InvitationLink:
    """The invitation behind a link, for its page. Raises as ``_by_token``."""
    invitation, org = _by_token(token)
    return InvitationLink(
        email=invitation.email,
        role=invitation.role,
        organization_id=org.id,
        organization_name=org.organization_name,
        invited_by=invitation.invited_by_email,
        expires_at=invitation.expires_at,
    )


def accept(user: User, token: str, *, via: Via = Via.WEB) -> Account:
    """Accept an invitation as ``user``: an active membership with the invited role, all or
    nothing, under the organization lock. WrongInvitee (403) when signed in as another
    address, Unverified (409) for an unverified account, AlreadyMembers (409) when already a
    member; InvitationGone (410) / NotFound as ``_by_token``."""
    with write_transaction():
        invitation, _ = _by_token(token)
        # Every change to an organization's invitations and members holds its lock: take it,
        # then read the invitation again as the change before us left it.
        locked = db.session.scalar(
            lock_rows(select(Organization.id).where(Organization.id == invitation.organization_id))
        )
        if locked is None:  # deleted while we waited for its lock
            raise InvitationGone("The organization of this invitation no longer exists.")
        invitation, org = _by_token(token)
        if invitation.email != user.email:
            raise WrongInvitee(
                f"This invitation was sent to another address. You are signed in as {user.email}."
            )
        if not user.is_verified:
            raise Unverified()
        member = db.session.scalar(
            select(Membership.user_id).where(
                Membership.organization_id == org.id, Membership.user_id == user.id
            )
        )
        if member is not None:
            raise AlreadyMembers("You are already a member of this organization.")
        now = utcnow()
        db.session.execute(
            insert(Membership.__table__),
            [
                {
                    "organization_id": org.id,
                    "user_id": user.id,
                    "role": invitation.role,
                    "is_active": True,
                    "created_at": now,
                    "updated_at": now,
                    "sort_email": user.email,
                    "sort_name": name_sort_key(user.name),
                }
            ],
        )
        deltas = counter_deltas([], [(invitation.role, True)])
        apply_counter_deltas(org, deltas, now, joins_after(org.joins_by_day, now, joined=1))
        invitation.status = InvitationStatus.ACCEPTED
        invitation.accepted_at = now
        invitation.accepted_by_id = user.id
        change_id = audit.record(
            "invitation.accept",
            actor=user,
            via=via,
            org=org,
            targets=[
                audit.TargetChange(
                    user.id, user.email, new_role=invitation.role, new_active=True, joined_at=now
                )
            ],
            details={
                "invitation_id": invitation.id,
                "invited_by": {
                    "user_id": invitation.invited_by_id,
                    "email": invitation.invited_by_email,
                },
            },
        )
    return Account(
        id=org.id,
        organization_name=org.organization_name,
        created_at=org.created_at,
        updated_at=now,
        member_count=org.member_count + 1,
        role=invitation.role,
        is_active=True,
        change_id=change_id,
    )
