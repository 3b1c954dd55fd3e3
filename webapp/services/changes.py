"""Change sets and their revert (DESIGN §9).

A change set is what one request did to an organization's members: the audit events it wrote,
which share one id (``AuditEvent.operation_id``). Each event names one member and their state
before and after (role, active flag; none before an addition, none after a removal) and, for a
member who was there, when they joined. Reverting puts every member the change touched back in
the state before it, all or nothing, as one new change set:

- a member it added is removed, one it changed gets their role and flag back, one it removed
  comes back with their role, flag and joined_at;
- the invitations it sent are revoked if they are still pending (an invitation accepted since
  made a member by that person's own change, which stays);
- it is refused (``ChangedSince``, 409, naming the user ids) when any of those members has been
  changed by a later change set, or is not as the change left them, or is gone as a user;
- it needs what the change needed: MANAGE_MEMBERS, and MANAGE_OWNERS when an OWNER is touched
  either way; the last-active-owner invariant holds after it as after any change.

A revert is itself a change set (``change.revert``), so it can be reverted in turn (redo).
Set-based: a fixed number of statements whatever the number of members.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, Any

from pydantic import Field
from sqlalchemy import delete, func, insert, select, update

from webapp.extensions import db
from webapp.models import (
    AuditEvent,
    Invitation,
    InvitationStatus,
    Membership,
    Organization,
    Role,
    User,
    Via,
    utcnow,
)
from webapp.services import audit
from webapp.services.errors import Conflict, NotFound
from webapp.services.members import MemberState, counter_deltas, ids_in
from webapp.services.organizations import (
    apply_counter_deltas,
    check_has_active_owner,
    joins_after,
)
from webapp.services.permissions import Action, require, require_for_targets
from webapp.services.transactions import write_transaction
from webapp.services.values import name_sort_key

CHANGE_ID = re.compile(r"[0-9a-f]{32}")

# The actions whose events move a member in or out of an organization or change their role or
# flag: what a revert undoes.
MEMBER_ACTIONS = (
    "member.add",
    "member.update",
    "member.remove",
    "member.leave",
    "ownership.transfer",
    "invitation.accept",
    "change.revert",
)
# What counts as changing a member again after a change set: those, and deleting the account
# (which no revert brings back).
LATER_ACTIONS = (*MEMBER_ACTIONS, "user.delete")
# Events a revertible change set may hold beside its members' (an import invites; a revert
# revokes the invitations of what it reverts). Only the invitations sent are undone.
_INVITATION_ACTIONS = ("invitation.create", "invitation.revoke")


class ChangedSince(Conflict):
    code = "changed_since"
    default_message = (
        "Some of the members this change touched have been changed again since, "
        "so it cannot be reverted as a whole."
    )


class NotRevertible(Conflict):
    code = "not_revertible"
    default_message = "Only a change of members or invitations can be reverted."


class UnknownChange(NotFound):
    code = "change_not_found"
    default_message = "No change with this id in this organization."


@dataclass(frozen=True)
class Reverted:
    """The answer of a revert: the new change set, and the one it reverted."""

    change_id: Annotated[str, Field(description="The revert's own change set.")]
    reverted: Annotated[str, Field(description="The change set it reverted.")]


@dataclass(frozen=True)
class _Step:
    """What reverting does to one member: from the state the change left (``now``, None when
    it removed them) back to the state before it (``back``, None when it added them)."""

    user_id: int
    email: str | None
    now: tuple[Role, bool] | None
    back: tuple[Role, bool] | None
    joined_at: datetime | None


def _steps(events: Sequence[Any]) -> list[_Step]:
    """One step per member: the state before the change's first event about them, after its
    last (a change set names a member once, but nothing depends on it)."""
    first: dict[int, Any] = {}
    last: dict[int, Any] = {}
    for e in events:
        if e.target_user_id is not None and e.action in MEMBER_ACTIONS:
            first.setdefault(e.target_user_id, e)
            last[e.target_user_id] = e
    steps = []
    for uid, e0 in first.items():
        e1 = last[uid]
        back = None if e0.old_role is None else (e0.old_role, bool(e0.old_active))
        now = None if e1.new_role is None else (e1.new_role, bool(e1.new_active))
        if back != now:
            steps.append(_Step(uid, e1.target_email, now, back, e0.joined_at))
    return steps


def revert_change(actor: User, org_id: int, change_id: str, *, via: Via) -> Reverted:
    """Restore what change set ``change_id`` of the organization did, as a new change set.

    Raises UnknownChange (404) for an id the organization's trail does not hold, NotRevertible
    (409) for a change of something else than members, ChangedSince (409, with the user ids)
    when a member it touched has been changed since, Forbidden / LastOwner as any change.
    """
    if not isinstance(change_id, str) or not CHANGE_ID.fullmatch(change_id):
        # Checked after the organization: an outsider learns nothing about the id's shape.
        require(actor, org_id, Action.MANAGE_MEMBERS)
        raise UnknownChange()
    with write_transaction():
        org, me = require(actor, org_id, Action.MANAGE_MEMBERS, lock=True)
        events = db.session.execute(
            select(
                AuditEvent.id,
                AuditEvent.created_at,
                AuditEvent.action,
                AuditEvent.target_user_id,
                AuditEvent.target_email,
                AuditEvent.old_role,
                AuditEvent.new_role,
                AuditEvent.old_active,
                AuditEvent.new_active,
                AuditEvent.joined_at,
            )
            .where(AuditEvent.organization_id == org_id, AuditEvent.operation_id == change_id)
            .order_by(AuditEvent.id)
        ).all()
        if not events:
            raise UnknownChange()
        if any(e.action not in MEMBER_ACTIONS + _INVITATION_ACTIONS for e in events):
            raise NotRevertible()
        steps = _steps(events)
        invited = sorted(
            {e.target_email for e in events if e.action == "invitation.create" and e.target_email}
        )
        invited_roles = {e.new_role for e in events if e.action == "invitation.create"}
        if not steps and not invited:
            raise NotRevertible(
                "This change left every member as it found them: nothing to revert."
            )
        changed_since, current, users = _check_unchanged(org_id, events[-1].id, steps)
        if changed_since:
            raise ChangedSince(user_ids=changed_since)
        roles_touched = {s.now[0] for s in steps if s.now} | {s.back[0] for s in steps if s.back}
        require_for_targets(
            me,
            new_role=Role.OWNER if Role.OWNER in roles_touched | invited_roles else None,
            target_roles=roles_touched,
        )
        now = utcnow()
        new_change = audit.new_change_id()
        targets = _restore(org, steps, current, users, now)
        if Role.OWNER in roles_touched:
            check_has_active_owner(org_id)
        if targets:
            audit.record(
                "change.revert",
                actor=actor,
                via=via,
                org=org,
                targets=targets,
                details={"reverted": change_id},
                change_id=new_change,
            )
        revoked = _revoke_invitations(org_id, invited, last_event_id=events[-1].id, now=now)
        if revoked:
            audit.record(
                "invitation.revoke",
                actor=actor,
                via=via,
                org=org,
                targets=[audit.TargetChange(None, email, new_role=role) for email, role in revoked],
                details={"reverted": change_id},
                change_id=new_change,
            )
        if not targets and not revoked:
            raise NotRevertible(
                "The invitations this change sent are no longer pending: nothing to revert."
            )
    return Reverted(change_id=new_change, reverted=change_id)


def _check_unchanged(
    org_id: int, last_event_id: int, steps: Sequence[_Step]
) -> tuple[set[int], dict[int, MemberState], dict[int, Any]]:
    """The members changed since the change set (a later event about them, a state that is not
    the one it left, or a user gone whom the revert would bring back), the current memberships,
    and the users to bring back. Three statements, whatever the number of members."""
    ids = [s.user_id for s in steps]
    if not ids:
        return set(), {}, {}
    later = set(
        db.session.scalars(
            select(AuditEvent.target_user_id)
            .where(
                AuditEvent.organization_id == org_id,
                AuditEvent.id > last_event_id,
                AuditEvent.action.in_(LATER_ACTIONS),
                ids_in(AuditEvent.target_user_id, ids),
            )
            .distinct()
        )
    )
    current: dict[int, MemberState] = {
        row.user_id: row
        for row in db.session.execute(
            select(
                Membership.user_id,
                Membership.role,
                Membership.is_active,
                Membership.sort_email,
                Membership.created_at,
            ).where(Membership.organization_id == org_id, ids_in(Membership.user_id, ids))
        )
    }
    returning = [s.user_id for s in steps if s.back is not None and s.now is None]
    users: dict[int, Any] = {}
    if returning:
        users = {
            u.id: u
            for u in db.session.execute(
                select(User.id, User.email, User.name).where(ids_in(User.id, returning))
            )
        }
    changed = set(later)
    for s in steps:
        state = current.get(s.user_id)
        if (None if state is None else (state.role, state.is_active)) != s.now:
            changed.add(s.user_id)
        elif s.now is None and s.user_id not in users:
            changed.add(s.user_id)  # their account is gone: nobody to bring back
    return changed, current, users


def _restore(
    org: Organization,
    steps: Sequence[_Step],
    current: dict[int, MemberState],
    users: dict[int, Any],
    now: datetime,
) -> list[audit.TargetChange]:
    """Put each member back: one DELETE for those the change added, one INSERT for those it
    removed, one UPDATE per (role, flag) for those it changed (at most ten). Counters and the
    joins per day follow. Returns the revert's events."""
    added = [s for s in steps if s.back is None]
    removed = [s for s in steps if s.now is None]
    changed = [s for s in steps if s.back is not None and s.now is not None]
    if added:
        db.session.execute(
            delete(Membership)
            .where(
                Membership.organization_id == org.id,
                ids_in(Membership.user_id, [s.user_id for s in added]),
            )
            .execution_options(synchronize_session=False)
        )
    if removed:
        db.session.execute(
            insert(Membership.__table__),
            [
                {
                    "organization_id": org.id,
                    "user_id": s.user_id,
                    "role": s.back[0],
                    "is_active": s.back[1],
                    "created_at": s.joined_at or now,
                    "updated_at": now,
                    "sort_email": users[s.user_id].email,
                    "sort_name": name_sort_key(users[s.user_id].name),
                }
                for s in removed
                if s.back is not None
            ],
        )
    by_state: dict[tuple[Role, bool], list[int]] = {}
    for s in changed:
        if s.back is not None:
            by_state.setdefault(s.back, []).append(s.user_id)
    for (role, is_active), group in by_state.items():
        db.session.execute(
            update(Membership)
            .where(Membership.organization_id == org.id, ids_in(Membership.user_id, group))
            .values(role=role, is_active=is_active, updated_at=now)
            .execution_options(synchronize_session=False)
        )
    deltas = counter_deltas(
        [s.now for s in steps if s.now is not None], [s.back for s in steps if s.back is not None]
    )
    joins = joins_after(
        org.joins_by_day,
        now,
        joined=sum(1 for s in removed if s.joined_at is None),
        rejoined=[s.joined_at for s in removed if s.joined_at is not None],
        left=[current[s.user_id].created_at for s in added],
    )
    apply_counter_deltas(org, deltas, now, joins)
    return [
        audit.TargetChange(
            s.user_id,
            users[s.user_id].email if s.now is None else current[s.user_id].sort_email,
            old_role=s.now[0] if s.now else None,
            new_role=s.back[0] if s.back else None,
            old_active=s.now[1] if s.now else None,
            new_active=s.back[1] if s.back else None,
            joined_at=(s.joined_at or now) if s.now is None else current[s.user_id].created_at,
        )
        for s in steps
    ]


def _revoke_invitations(
    org_id: int, emails: Sequence[str], *, last_event_id: int, now: datetime
) -> list[tuple[str, Role]]:
    """Revoke the change's invitations still pending: the organization's pending invitation to
    each of ``emails`` (one per address), unless the address has been invited again by a later
    change (that invitation is the later change's). Two statements."""
    if not emails:
        return []
    invited_again = set(
        db.session.scalars(
            select(AuditEvent.target_email).where(
                AuditEvent.organization_id == org_id,
                AuditEvent.id > last_event_id,
                AuditEvent.action == "invitation.create",
                AuditEvent.target_email.in_(emails),
            )
        )
    )
    ours = [e for e in emails if e not in invited_again]
    if not ours:
        return []
    rows = db.session.execute(
        update(Invitation)
        .where(
            Invitation.organization_id == org_id,
            Invitation.email.in_(ours),
            Invitation.status == InvitationStatus.PENDING,
            Invitation.expires_at > now,
        )
        .values(status=InvitationStatus.REVOKED, revoked_at=now)
        .returning(Invitation.email, Invitation.role)
        .execution_options(synchronize_session=False)
    ).all()
    return sorted((r.email, r.role) for r in rows)


def change_ids_revertible(org_id: int, change_ids: Sequence[str]) -> set[str]:
    """Which of these change sets of the organization hold only member and invitation events
    (what the activity page offers Revert for); one statement."""
    if not change_ids:
        return set()
    allowed = MEMBER_ACTIONS + _INVITATION_ACTIONS
    rows = db.session.execute(
        select(
            AuditEvent.operation_id,
            func.count().label("events"),
            func.count().filter(AuditEvent.action.in_(allowed)).label("revertible"),
            func.count()
            .filter(AuditEvent.action.in_(("invitation.create", *MEMBER_ACTIONS)))
            .label("undoable"),
        )
        .where(AuditEvent.organization_id == org_id, AuditEvent.operation_id.in_(list(change_ids)))
        .group_by(AuditEvent.operation_id)
    ).all()
    return {r.operation_id for r in rows if r.events == r.revertible and r.undoable}
