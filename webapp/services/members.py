"""Members: list, add, update, remove, leave. Every bulk change is all-or-nothing and set-based:
a fixed number of statements whatever the number of ids."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from sqlalchemy import (
    BigInteger,
    ColumnElement,
    and_,
    any_,
    bindparam,
    delete,
    func,
    insert,
    select,
    update,
)
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.orm import InstrumentedAttribute

from webapp.extensions import db
from webapp.models import Membership, Organization, Role, User, Via, utcnow
from webapp.services import audit
from webapp.services.errors import (
    AlreadyMembers,
    FieldError,
    InvalidInput,
    NotMembers,
    UnknownEmails,
    UnknownUsers,
)
from webapp.services.organizations import (
    ROLE_COUNTERS,
    Account,
    apply_counter_deltas,
    check_has_active_owner,
)
from webapp.services.permissions import Action, require, require_for_targets
from webapp.services.transactions import write_transaction
from webapp.services.values import (
    USER_IDS_MAX,
    email_address,
    has_control_characters,
    is_id,
    name_sort_key,
)
from webapp.services.values import user_ids as check_user_ids

PAGE_SIZE_DEFAULT = 25
PAGE_SIZE_MAX = 500
PAGE_NUMBER_MAX = 10_000_000
QUERY_MAX = 100

SORT_KEYS: dict[str, InstrumentedAttribute[Any]] = {
    "user_id": Membership.user_id,
    "email": Membership.sort_email,
    "name": Membership.sort_name,
    "role": Membership.role,
    "is_active": Membership.is_active,
    "joined_at": Membership.created_at,
}
SORT_DEFAULT = "name"


@dataclass(frozen=True)
class MemberQuery:
    """One page of the member list: the same value from the API's query string and the page's."""

    page_number: int = 0
    page_size: int = PAGE_SIZE_DEFAULT
    sort_by: str = SORT_DEFAULT
    sort_ascending: bool = True
    q: str | None = None
    role: Role | None = None
    is_active: bool | None = None

    def __post_init__(self) -> None:
        errors = []
        if not 0 <= self.page_number <= PAGE_NUMBER_MAX:
            errors.append(("page_number", f"must be between 0 and {PAGE_NUMBER_MAX:,}"))
        if not 1 <= self.page_size <= PAGE_SIZE_MAX:
            errors.append(("page_size", f"must be between 1 and {PAGE_SIZE_MAX}"))
        if self.sort_by not in SORT_KEYS:
            errors.append(("sort_by", f"must be one of {', '.join(SORT_KEYS)}"))
        if self.q is not None and len(self.q) > QUERY_MAX:
            errors.append(("q", f"must be at most {QUERY_MAX} characters"))
        if self.q is not None and has_control_characters(self.q):
            errors.append(("q", "must not contain control characters"))
        if self.role is not None and not isinstance(self.role, Role):
            errors.append(("role", "must be a role"))
        if self.is_active is not None and not isinstance(self.is_active, bool):
            errors.append(("is_active", "must be true or false"))
        if errors:
            raise InvalidInput(
                "; ".join(f"{f}: {m}" for f, m in errors),
                errors=[FieldError(f, m) for f, m in errors],
            )

    @property
    def is_filtered(self) -> bool:
        return (
            bool(self.q and self.q.strip()) or self.role is not None or self.is_active is not None
        )


@dataclass(frozen=True)
class Member:
    user_id: int
    email: str
    name: str
    role: Role
    is_active: bool
    joined_at: datetime
    updated_at: datetime


@dataclass(frozen=True)
class MemberPage:
    items: list[Member]
    page_number: int
    page_size: int
    total_items: int
    sort_by: str
    sort_ascending: bool

    @property
    def total_pages(self) -> int:
        return -(-self.total_items // self.page_size)


class MemberState(Protocol):
    """What a change needs to know of a membership before it: a row or a Membership."""

    user_id: int
    role: Role
    is_active: bool
    sort_email: str


def ids_in(column: InstrumentedAttribute[int], ids: Sequence[int]) -> ColumnElement[bool]:
    """``column IN ids``; on PostgreSQL one array parameter, which plans faster than 10k binds."""
    if db.session.get_bind().dialect.name == "postgresql":
        return column == any_(bindparam("ids", list(ids), type_=ARRAY(BigInteger)))
    return column.in_(ids)


def _member_states(org_id: int, ids: Sequence[int]) -> Sequence[Any]:
    """The current state of each listed member; NotMembers names the ids that are not."""
    states = db.session.execute(
        select(
            Membership.user_id, Membership.role, Membership.is_active, Membership.sort_email
        ).where(Membership.organization_id == org_id, ids_in(Membership.user_id, ids))
    ).all()
    missing = set(ids) - {s.user_id for s in states}
    if missing:
        raise NotMembers(user_ids=missing)
    return states


def _check_role(role: object) -> Role:
    if not isinstance(role, Role):
        raise InvalidInput.field("role", "must be one of " + ", ".join(r.name for r in Role))
    return role


def _check_flag(value: object) -> bool:
    if not isinstance(value, bool):
        raise InvalidInput.field("is_active", "must be true or false")
    return value


def _counter_deltas(
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


def _account(org: Organization, actor: User) -> Account:
    db.session.refresh(org)
    me = db.session.get(Membership, (org.id, actor.id), populate_existing=True)
    assert me is not None, "add and update never remove the actor's membership"
    return Account.of(org, me)


def _filters(org_id: int, query: MemberQuery) -> list[ColumnElement[bool]]:
    where: list[ColumnElement[bool]] = [Membership.organization_id == org_id]
    if query.q and query.q.strip():
        needle = query.q.strip()
        where.append(
            Membership.sort_email.contains(needle.lower(), autoescape=True)
            | Membership.sort_name.contains(name_sort_key(needle), autoescape=True)
        )
    if query.role is not None:
        where.append(Membership.role == query.role)
    if query.is_active is not None:
        where.append(Membership.is_active.is_(query.is_active))
    return where


def list_members(actor: User, org_id: int, query: MemberQuery) -> MemberPage:
    """One page of members, sorted and filtered. Any active member may list.

    Two statements when unfiltered (the total is the organization's counter), three when
    filtered, whatever the page depth, size or sort.
    """
    org, _ = require(actor, org_id, Action.VIEW)
    where = _filters(org_id, query)
    if query.is_filtered:
        total = db.session.scalar(select(func.count()).select_from(Membership).where(*where)) or 0
    else:
        total = org.member_count
    key = SORT_KEYS[query.sort_by]
    forward = [key.asc(), Membership.user_id.asc()]
    backward = [key.desc(), Membership.user_id.desc()]
    order = forward if query.sort_ascending else backward
    # Find the page on the covering (organization_id, key, user_id) index first, then join
    # only those rows. OFFSET walks the index entries it skips, so a page in the second half
    # is found from the other end: the last page costs what page 0 costs.
    offset = query.page_number * query.page_size
    limit = query.page_size
    inner_order = order
    if offset < total and offset * 2 > total:
        tail = total - offset  # rows from this page's first to the very last
        inner_order = backward if query.sort_ascending else forward
        limit, offset = min(query.page_size, tail), max(tail - query.page_size, 0)
    page_ids = (
        select(Membership.user_id)
        .where(*where)
        .order_by(*inner_order)
        .limit(limit)
        .offset(offset)
        .subquery()
    )
    rows = db.session.execute(
        select(Membership, User.email, User.name)
        .join(
            page_ids,
            and_(Membership.organization_id == org_id, Membership.user_id == page_ids.c.user_id),
        )
        .join(User, User.id == Membership.user_id)
        .order_by(*order)
    ).all()
    items = [_member(m, email, name) for m, email, name in rows]
    return MemberPage(
        items=items,
        page_number=query.page_number,
        page_size=query.page_size,
        total_items=total,
        sort_by=query.sort_by,
        sort_ascending=query.sort_ascending,
    )


def get_member(actor: User, org_id: int, user_id: int) -> Member:
    """One member, as the member list shows them. Any active member may look.

    Raises NotFound / Forbidden as ``require`` does, NotMembers when the user is not a member.
    """
    require(actor, org_id, Action.VIEW)
    row = (
        db.session.execute(
            select(Membership, User.email, User.name)
            .join(User, User.id == Membership.user_id)
            .where(Membership.organization_id == org_id, Membership.user_id == user_id)
        ).first()
        if is_id(user_id)
        else None
    )
    if row is None:
        raise NotMembers(user_ids=[user_id] if is_id(user_id) else [])
    return _member(*row)


def _member(membership: Membership, email: str, name: str) -> Member:
    return Member(
        user_id=membership.user_id,
        email=email,
        name=name,
        role=membership.role,
        is_active=membership.is_active,
        joined_at=membership.created_at,
        updated_at=membership.updated_at,
    )


def resolve_emails(actor: User, org_id: int, emails: Iterable[str]) -> list[int]:
    """The ids of the users with these addresses (any case), to add them as members.

    Needs MANAGE_MEMBERS, so nobody else learns which addresses have accounts. UnknownEmails
    lists the addresses no user has.
    """
    require(actor, org_id, Action.MANAGE_MEMBERS)
    wanted = {email_address(e) for e in emails}
    if not wanted:
        raise InvalidInput.field("emails", "must name at least one address")
    if len(wanted) > USER_IDS_MAX:
        raise InvalidInput.field("emails", f"must name at most {USER_IDS_MAX:,} addresses")
    found = dict(
        db.session.execute(select(User.email, User.id).where(User.email.in_(wanted))).all()
    )
    unknown = wanted - found.keys()
    if unknown:
        raise UnknownEmails(unknown)
    return sorted(found.values())


def count_matching(actor: User, org_id: int, query: MemberQuery, *, roles: Iterable[Role]) -> int:
    """How many members the query's filters match (all pages) with one of ``roles``.

    Any active member may ask. From the organization's counters when only the role is
    filtered, else one COUNT.
    """
    org, _ = require(actor, org_id, Action.VIEW)
    wanted = set(roles) if query.role is None else set(roles) & {query.role}
    if not wanted:
        return 0
    if not (query.q and query.q.strip()) and query.is_active is None:
        return sum(getattr(org, ROLE_COUNTERS[role]) for role in wanted)
    return (
        db.session.scalar(
            select(func.count())
            .select_from(Membership)
            .where(*_filters(org_id, query), Membership.role.in_(wanted))
        )
        or 0
    )


def matching_member_ids(actor: User, org_id: int, query: MemberQuery) -> list[int]:
    """Every member id the query's filters match (all pages), for "select all N matching".

    Refuses with InvalidInput when more than 10,000 match: bulk changes take that many at once.
    """
    require(actor, org_id, Action.VIEW)
    ids = db.session.scalars(
        select(Membership.user_id)
        .where(*_filters(org_id, query))
        .order_by(Membership.user_id)
        .limit(USER_IDS_MAX + 1)
    ).all()
    if len(ids) > USER_IDS_MAX:
        raise InvalidInput.field(
            "user_ids", f"more than {USER_IDS_MAX:,} members match; narrow the filter"
        )
    return list(ids)


def add_members(
    actor: User,
    org_id: int,
    user_ids: Iterable[int],
    *,
    role: Role,
    is_active: bool = True,
    via: Via,
) -> Account:
    """Add existing users as members, all or none.

    Needs MANAGE_MEMBERS, and MANAGE_OWNERS to add owners. Raises UnknownUsers (ids of no
    user) or AlreadyMembers (ids already in the organization), and changes nothing then.
    """
    ids = check_user_ids(user_ids)
    role, is_active = _check_role(role), _check_flag(is_active)
    with write_transaction():
        org, me = require(actor, org_id, Action.MANAGE_MEMBERS, lock=True)
        require_for_targets(me, new_role=role, target_roles=())
        users = db.session.execute(
            select(User.id, User.email, User.name).where(ids_in(User.id, ids))
        ).all()
        unknown = set(ids) - {u.id for u in users}
        if unknown:
            raise UnknownUsers(user_ids=unknown)
        existing = db.session.scalars(
            select(Membership.user_id).where(
                Membership.organization_id == org_id, ids_in(Membership.user_id, ids)
            )
        ).all()
        if existing:
            raise AlreadyMembers(user_ids=existing)
        now = utcnow()
        db.session.execute(
            insert(Membership),
            [
                {
                    "organization_id": org_id,
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
        apply_counter_deltas(org, _counter_deltas([], [(role, is_active)] * len(users)))
        audit.record(
            "member.add",
            actor=actor,
            via=via,
            org=org,
            targets=[
                audit.TargetChange(u.id, u.email, new_role=role, new_active=is_active)
                for u in users
            ],
        )
        account = _account(org, actor)
    return account


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
    role = None if role is None else _check_role(role)
    is_active = None if is_active is None else _check_flag(is_active)
    with write_transaction():
        org, me = require(actor, org_id, Action.MANAGE_MEMBERS, lock=True)
        states = _member_states(org_id, ids)
        require_for_targets(me, new_role=role, target_roles={s.role for s in states})
        new_role = {s.user_id: role if role is not None else s.role for s in states}
        new_active = {
            s.user_id: is_active if is_active is not None else s.is_active for s in states
        }
        changed = [
            s
            for s in states
            if (s.role, s.is_active) != (new_role[s.user_id], new_active[s.user_id])
        ]
        if changed:
            values: dict[str, Any] = {"updated_at": utcnow()}
            if role is not None:
                values["role"] = role
            if is_active is not None:
                values["is_active"] = is_active
            db.session.execute(
                update(Membership)
                .where(
                    Membership.organization_id == org_id,
                    ids_in(Membership.user_id, [s.user_id for s in changed]),
                )
                .values(**values)
                .execution_options(synchronize_session=False)
            )
            if _touches_active_owner(changed):
                check_has_active_owner(org_id)
            apply_counter_deltas(
                org,
                _counter_deltas(
                    [(s.role, s.is_active) for s in changed],
                    [(new_role[s.user_id], new_active[s.user_id]) for s in changed],
                ),
            )
            audit.record(
                "member.update",
                actor=actor,
                via=via,
                org=org,
                targets=[
                    audit.TargetChange(
                        s.user_id,
                        s.sort_email,
                        old_role=s.role,
                        new_role=new_role[s.user_id],
                        old_active=s.is_active,
                        new_active=new_active[s.user_id],
                    )
                    for s in changed
                ],
            )
        account = _account(org, actor)
    return account


def remove_members(actor: User, org_id: int, user_ids: Iterable[int], *, via: Via) -> None:
    """Remove members, all or none.

    Needs MANAGE_MEMBERS, and MANAGE_OWNERS to remove an owner. Raises NotMembers for ids that
    are not members, LastOwner when no active owner would remain.
    """
    ids = check_user_ids(user_ids)
    with write_transaction():
        org, me = require(actor, org_id, Action.MANAGE_MEMBERS, lock=True)
        states = _member_states(org_id, ids)
        require_for_targets(me, new_role=None, target_roles={s.role for s in states})
        _apply_removal(org, states, actor=actor, via=via, action="member.remove")


def leave_organization(actor: User, org_id: int, *, via: Via) -> None:
    """The actor leaves; suspended members may too. LastOwner when they are the last owner."""
    with write_transaction():
        org, membership = require(actor, org_id, Action.LEAVE, lock=True)
        _apply_removal(org, [membership], actor=actor, via=via, action="member.leave")


def _apply_removal(
    org: Organization,
    states: Sequence[MemberState],
    *,
    actor: User,
    via: Via,
    action: str,
) -> None:
    db.session.execute(
        delete(Membership)
        .where(
            Membership.organization_id == org.id,
            ids_in(Membership.user_id, [s.user_id for s in states]),
        )
        .execution_options(synchronize_session=False)
    )
    if _touches_active_owner(states):
        check_has_active_owner(org.id)
    apply_counter_deltas(org, _counter_deltas([(s.role, s.is_active) for s in states], []))
    audit.record(
        action,
        actor=actor,
        via=via,
        org=org,
        targets=[
            audit.TargetChange(s.user_id, s.sort_email, old_role=s.role, old_active=s.is_active)
            for s in states
        ],
    )
