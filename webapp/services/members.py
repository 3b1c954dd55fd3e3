"""Member changes: add, update, remove, leave. Every bulk change is all-or-nothing and
set-based: a fixed number of statements whatever the number of ids. The list is
``member_list``.

Each change returns the organization as the actor sees it afterwards, computed from what the
change read under the lock and wrote, not read again: the fronts render from it.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from sqlalchemy import (
    BigInteger,
    ColumnElement,
    Select,
    and_,
    any_,
    bindparam,
    delete,
    func,
    insert,
    literal,
    select,
    true,
    update,
)
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.orm import InstrumentedAttribute

from webapp.extensions import db
from webapp.models import AuditEvent, Membership, Organization, Role, User, Via, utcnow
from webapp.services import audit
from webapp.services.errors import (
    AlreadyMembers,
    InvalidInput,
    LastOwner,
    NotMembers,
    UnknownEmails,
    UnknownUsers,
)
from webapp.services.organizations import (
    ROLE_COUNTERS,
    Account,
    apply_counter_deltas,
    check_has_active_owner,
    is_active_owner,
    joins_after,
)
from webapp.services.permissions import (
    OWNERS_ONLY,
    Action,
    Actor,
    is_allowed,
    require,
    require_for_targets,
)
from webapp.services.transactions import write_transaction
from webapp.services.values import USER_IDS_MAX, email_address, name_sort_key
from webapp.services.values import user_ids as check_user_ids


class MemberState(Protocol):
    """What a change needs to know of a membership before it: a row or a Membership."""

    user_id: int
    role: Role
    is_active: bool
    sort_email: str
    created_at: datetime


def ids_in(column: InstrumentedAttribute[int], ids: Sequence[int]) -> ColumnElement[bool]:
    """``column IN ids`` with the ids in one parameter, not one bind each (10,000 binds cost
    more to render, bind and parse than the lookups they name): an array on PostgreSQL, a
    JSON array read by ``json_each`` on SQLite."""
    if db.session.get_bind().dialect.name == "postgresql":
        return column == any_(bindparam("ids", list(ids), type_=ARRAY(BigInteger)))
    listed = func.json_each(bindparam("ids", json.dumps(list(ids)))).table_valued("value")
    return column.in_(select(listed.c.value))


def states_select(org_id: int) -> Select[Any]:
    """What a change reads of the organization's members (``MemberState``), in id order, so a
    change set's events come out the same on every database (a heap scan's order depends on
    where rows were stored)."""
    return (
        select(
            Membership.user_id,
            Membership.role,
            Membership.is_active,
            Membership.sort_email,
            Membership.created_at,
        )
        .where(Membership.organization_id == org_id)
        .order_by(Membership.user_id)
    )


def audit_targets(
    org_id: int,
    ids: Sequence[int],
    *,
    old: bool,
    new_role: Role | InstrumentedAttribute[Role] | None,
    new_active: bool | InstrumentedAttribute[bool] | None,
) -> Select[Any]:
    """The audit's targets (``audit.TARGET_FIELDS``) of the members ``ids``, read from their
    memberships in id order: their address and joined_at, their role and flag before the
    change when ``old`` (else none: an addition), and after it ``new_role`` and ``new_active``
    (a value, the membership's own column for what the change leaves alone, or None: a
    removal)."""
    table = AuditEvent.__table__

    def value(given: Any, name: str) -> Any:
        return (
            given
            if isinstance(given, InstrumentedAttribute)
            else literal(given, table.c[name].type)
        )

    return (
        select(
            Membership.user_id,
            Membership.sort_email,
            Membership.role if old else value(None, "old_role"),
            value(new_role, "new_role"),
            Membership.is_active if old else value(None, "old_active"),
            value(new_active, "new_active"),
            Membership.created_at,
        )
        .where(Membership.organization_id == org_id, ids_in(Membership.user_id, ids))
        .order_by(Membership.user_id)
    )


def member_states(org_id: int, ids: Sequence[int]) -> Sequence[Any]:
    """The current state of each listed member; NotMembers names the ids that are not."""
    states = db.session.execute(states_select(org_id).where(ids_in(Membership.user_id, ids))).all()
    missing = set(ids) - {s.user_id for s in states}
    if missing:
        raise NotMembers(user_ids=missing)
    return states


def check_role(role: object, field: str = "role") -> Role:
    if not isinstance(role, Role):
        raise InvalidInput.field(field, "must be one of " + ", ".join(r.name for r in Role))
    return role


def check_flag(value: object) -> bool:
    if not isinstance(value, bool):
        raise InvalidInput.field("is_active", "must be true or false")
    return value


def counter_deltas(
    before: Iterable[tuple[Role, bool]], after: Iterable[tuple[Role, bool]]
) -> dict[str, int]:
    """How the organization's counters move when memberships ``before`` become ``after``."""
    deltas: Counter[str] = Counter()
    for sign, states in ((-1, before), (1, after)):
        for role, active in states:
            deltas["member_count"] += sign
            deltas[ROLE_COUNTERS[role]] += sign
            if active:
                deltas["active_count"] += sign
    return dict(deltas)


def _touches_active_owner(states: Iterable[MemberState]) -> bool:
    return any(s.role is Role.OWNER and s.is_active for s in states)


def account_after(
    org: Organization,
    me: MemberState,
    deltas: dict[str, int],
    now: datetime,
    changed: dict[int, tuple[Role, bool]] | None = None,
    change_id: str | None = None,
) -> Account:
    """The organization as the actor sees it after a change: the counters as read under the
    lock plus what the change added, and the actor's own membership as the change left it."""
    role, is_active = (changed or {}).get(me.user_id, (me.role, me.is_active))
    return Account(
        id=org.id,
        organization_name=org.organization_name,
        created_at=org.created_at,
        updated_at=now,
        member_count=org.member_count + deltas.get("member_count", 0),
        role=role,
        is_active=is_active,
        change_id=change_id,
    )


def sort_emails(actor: User, org_id: int, emails: Iterable[str]) -> tuple[list[int], list[str]]:
    """The ids of the users with these addresses (any case), and the addresses no user has.

    Needs MANAGE_MEMBERS, so nobody else learns which addresses have accounts.
    """
    require(actor, org_id, Action.MANAGE_MEMBERS)
    wanted = {email_address(e) for e in emails}
    if not wanted:
        raise InvalidInput.field("emails", "must name at least one address")
    if len(wanted) > USER_IDS_MAX:
        raise InvalidInput.field("emails", f"must name at most {USER_IDS_MAX:,} addresses")
    # An account whose address is not verified counts as no account: it is invited instead,
    # and accepting needs the address verified (DESIGN §8).
    found = dict(
        db.session.execute(
            select(User.email, User.id).where(
                User.email.in_(wanted), User.email_verified_at.is_not(None)
            )
        ).all()
    )
    return sorted(found.values()), sorted(wanted - found.keys())


def resolve_emails(actor: User, org_id: int, emails: Iterable[str]) -> list[int]:
    """The ids of the users with these addresses, to add them as members; UnknownEmails lists
    the addresses no user has (see ``sort_emails``)."""
    ids, unknown = sort_emails(actor, org_id, emails)
    if unknown:
        raise UnknownEmails(unknown)
    return ids


def add_members(
    actor: User,
    org_id: int,
    user_ids: Iterable[int],
    *,
    role: Role = Role.VIEWER,
    is_active: bool = True,
    via: Via,
) -> Account:
    """Add existing users as members, all or none; as active VIEWERs unless told otherwise.

    Needs MANAGE_MEMBERS, and MANAGE_OWNERS to add owners. Raises UnknownUsers (ids of no
    user, or of an account whose address is not verified) or AlreadyMembers (ids already in the
    organization), and changes nothing then.
    """
    ids = check_user_ids(user_ids)
    role, is_active = check_role(role), check_flag(is_active)
    with write_transaction():
        org, me = require(actor, org_id, Action.MANAGE_MEMBERS, lock=True)
        require_for_targets(me, new_role=role, target_roles=())
        deltas, now, change_id = insert_members(org, actor, ids, role, is_active, via=via)
    return account_after(org, me, deltas, now, change_id=change_id)


def insert_members(
    org: Organization,
    actor: Actor,
    ids: Sequence[int],
    role: Role,
    is_active: bool,
    *,
    via: Via,
    change_id: str | None = None,
    verified_only: bool = True,
) -> tuple[dict[str, int], datetime, str]:
    """Add the users ``ids`` to ``org`` and audit it, inside the caller's write transaction and
    after its checks: the counter deltas, the time and the change set's id (``change_id`` joins
    the events to a larger change set). Raises UnknownUsers or AlreadyMembers. Three statements
    and the audit, whatever the number of ids."""
    # One statement: which ids are users, and which of those are members already.
    users = db.session.execute(
        select(User.id, User.email, User.name, Membership.user_id.label("member"))
        .outerjoin(
            Membership,
            and_(Membership.user_id == User.id, Membership.organization_id == org.id),
        )
        .where(
            ids_in(User.id, ids),
            # SCIM adds the accounts it made for an identity provider, unverified by design.
            User.email_verified_at.is_not(None) if verified_only else true(),
        )
        .order_by(User.id)  # the events in id order on every database
    ).all()
    # An unverified account is answered as an unknown id: ids cannot be mapped by trying.
    unknown = set(ids) - {u.id for u in users}
    if unknown:
        raise UnknownUsers(user_ids=unknown)
    existing = [u.id for u in users if u.member is not None]
    if existing:
        raise AlreadyMembers(user_ids=existing)
    now = utcnow()
    db.session.execute(
        insert(Membership.__table__),  # plain executemany: no per-row ORM work
        [
            {
                "organization_id": org.id,
                "user_id": u.id,
                "role": role,
                "is_active": is_active,
                "created_at": now,
                "updated_at": now,
                "sort_email": u.email,
                "sort_name": name_sort_key(u.name),
            }
            for u in users
        ],
    )
    deltas = counter_deltas([], [(role, is_active)] * len(users))
    apply_counter_deltas(org, deltas, now, joins_after(org.joins_by_day, now, joined=len(users)))
    change_id = audit.record_targets(
        "member.add",
        actor=actor,
        via=via,
        org=org,
        targets=audit_targets(org.id, ids, old=False, new_role=role, new_active=is_active),
        change_id=change_id,
    )
    return deltas, now, change_id


def update_members(
    actor: User,
    org_id: int,
    user_ids: Iterable[int],
    *,
    role: Role | None = None,
    is_active: bool | None = None,
    via: Via,
) -> Account:
    """Set the role and/or the active flag of members, all or none.

    Needs MANAGE_MEMBERS, and MANAGE_OWNERS when granting OWNER or touching an owner.
    Raises NotMembers for ids that are not members, LastOwner when no active owner would remain.
    """
    if role is None and is_active is None:
        raise InvalidInput.field("role", "give a role, is_active, or both")
    ids = check_user_ids(user_ids)
    role = None if role is None else check_role(role)
    is_active = None if is_active is None else check_flag(is_active)
    with write_transaction():
        org, me = require(actor, org_id, Action.MANAGE_MEMBERS, lock=True)
        states = member_states(org_id, ids)
        require_for_targets(me, new_role=role, target_roles={s.role for s in states})
        deltas, now, after, change_id = apply_update(
            org, actor, states, role=role, is_active=is_active, via=via
        )
    return account_after(org, me, deltas, now, after, change_id)


def apply_update(
    org: Organization,
    actor: Actor,
    states: Sequence[MemberState],
    *,
    role: Role | None,
    is_active: bool | None,
    via: Via,
    change_id: str | None = None,
) -> tuple[dict[str, int], datetime, dict[int, tuple[Role, bool]], str | None]:
    """Give the members ``states`` the role and/or flag, inside the caller's write transaction
    and after its checks: counters, the invariant and the audit (joining ``change_id``'s change
    set when given). Returns the counter deltas, the time, each member's (role, flag) after, and
    the change set's id (None when nothing changed)."""
    after = {
        s.user_id: (
            role if role is not None else s.role,
            is_active if is_active is not None else s.is_active,
        )
        for s in states
    }
    changed = [s for s in states if (s.role, s.is_active) != after[s.user_id]]
    if not changed:
        return {}, org.updated_at, after, None  # nothing changed, so neither did the organization
    changed_ids = [s.user_id for s in changed]
    # The events first: they read each membership as it is before the change.
    change_id = audit.record_targets(
        "member.update",
        actor=actor,
        via=via,
        org=org,
        targets=audit_targets(
            org.id,
            changed_ids,
            old=True,
            new_role=Membership.role if role is None else role,
            new_active=Membership.is_active if is_active is None else is_active,
        ),
        change_id=change_id,
    )
    now = utcnow()
    values: dict[str, Any] = {"updated_at": now}
    if role is not None:
        values["role"] = role
    if is_active is not None:
        values["is_active"] = is_active
    db.session.execute(
        update(Membership)
        .where(Membership.organization_id == org.id, ids_in(Membership.user_id, changed_ids))
        .values(**values)
        .execution_options(synchronize_session=False)
    )
    if _touches_active_owner(changed):
        check_has_active_owner(org.id)
    deltas = counter_deltas(
        [(s.role, s.is_active) for s in changed], [after[s.user_id] for s in changed]
    )
    apply_counter_deltas(org, deltas, now)
    return deltas, now, after, change_id


def remove_members(
    actor: User, org_id: int, user_ids: Iterable[int], *, via: Via
) -> Account | None:
    """Remove members, all or none; the organization as the actor sees it after, or None when
    they removed themselves.

    Needs MANAGE_MEMBERS, and MANAGE_OWNERS to remove an owner. Raises NotMembers for ids that
    are not members, LastOwner when no active owner would remain.
    """
    ids = check_user_ids(user_ids)
    with write_transaction():
        org, me = require(actor, org_id, Action.MANAGE_MEMBERS, lock=True)
        states = member_states(org_id, ids)
        require_for_targets(me, new_role=None, target_roles={s.role for s in states})
        deltas, now, change_id = apply_removal(
            org, states, actor=actor, via=via, action="member.remove"
        )
    return None if actor.id in ids else account_after(org, me, deltas, now, change_id=change_id)


def leave_organization(actor: User, org_id: int, *, via: Via) -> None:
    """The actor leaves; suspended members may too. LastOwner when they are the last owner."""
    with write_transaction():
        org, membership = require(actor, org_id, Action.LEAVE, lock=True)
        apply_removal(org, [membership], actor=actor, via=via, action="member.leave")


def apply_removal(
    org: Organization,
    states: Sequence[MemberState],
    *,
    actor: Actor,
    via: Via,
    action: str,
) -> tuple[dict[str, int], datetime, str]:
    ids = [s.user_id for s in states]
    # The events first: they read each membership before it goes.
    change_id = audit.record_targets(
        action,
        actor=actor,
        via=via,
        org=org,
        targets=audit_targets(org.id, ids, old=True, new_role=None, new_active=None),
    )
    db.session.execute(
        delete(Membership)
        .where(Membership.organization_id == org.id, ids_in(Membership.user_id, ids))
        .execution_options(synchronize_session=False)
    )
    if _touches_active_owner(states):
        check_has_active_owner(org.id)
    now = utcnow()
    deltas = counter_deltas([(s.role, s.is_active) for s in states], [])
    joins = joins_after(org.joins_by_day, now, left=[s.created_at for s in states])
    apply_counter_deltas(org, deltas, now, joins)
    return deltas, now, change_id


@dataclass(frozen=True)
class RefusedRow:
    user_id: int
    name: str | None  # None: no longer a member
    email: str | None
    reason: str


@dataclass(frozen=True)
class Refusals:
    """Which rows of a refused bulk change the rules refuse, and why; the rest may go ahead."""

    rows: list[RefusedRow]
    others: list[int]


def explain_refusals(
    actor: User,
    org_id: int,
    user_ids: Iterable[int],
    *,
    role: Role | None = None,
    is_active: bool | None = None,
    remove: bool = False,
) -> Refusals:
    """After a bulk change was refused: the rows refused by the same rules ``update_members``
    and ``remove_members`` apply (ids no longer members, owners for a member who may not manage
    them, the last active owners), each with its reason, and the ids the change would succeed
    on. It reads, it changes nothing (the change itself checks again under the lock). Raises as
    ``require`` does when the actor may not manage members at all. Three statements."""
    ids = check_user_ids(user_ids)
    _, me = require(actor, org_id, Action.MANAGE_MEMBERS)
    states = db.session.execute(
        select(
            Membership.user_id,
            Membership.role,
            Membership.is_active,
            User.name,
            User.email,
            User.is_active.label("account_active"),
        )
        .join(User, User.id == Membership.user_id)
        .where(Membership.organization_id == org_id, ids_in(Membership.user_id, ids))
    ).all()
    found = {s.user_id for s in states}
    rows = [
        RefusedRow(uid, None, None, "No longer a member of this organization.")
        for uid in ids
        if uid not in found
    ]
    may_manage_owners = is_allowed(me, Action.MANAGE_OWNERS)
    if role is Role.OWNER and not may_manage_owners:  # every row: nothing else may go ahead
        states_rows = [RefusedRow(s.user_id, s.name, s.email, OWNERS_ONLY) for s in states]
        return Refusals(rows + states_rows, [])
    kept = []
    for s in states:
        if s.role is Role.OWNER and not may_manage_owners:
            rows.append(RefusedRow(s.user_id, s.name, s.email, OWNERS_ONLY))
        else:
            kept.append(s)

    # The last active owners: those the change would take away when no other would remain.
    def loses_ownership(s: Any) -> bool:
        active_owner = s.role is Role.OWNER and s.is_active and s.account_active
        stays = not remove and (role in (None, Role.OWNER)) and is_active is not False
        return active_owner and not stays

    losing = [s for s in kept if loses_ownership(s)]
    if losing:
        others_left = db.session.scalar(
            select(func.count())
            .select_from(Membership)
            .where(
                Membership.organization_id == org_id,
                is_active_owner(),
                ~ids_in(Membership.user_id, [s.user_id for s in losing]),
            )
        )
        if not others_left:
            rows += [
                RefusedRow(s.user_id, s.name, s.email, LastOwner.default_message) for s in losing
            ]
    refused = {r.user_id for r in rows}
    return Refusals(
        sorted(rows, key=lambda r: (r.name is None, r.name or "", r.user_id)),
        [uid for uid in ids if uid not in refused],
    )
