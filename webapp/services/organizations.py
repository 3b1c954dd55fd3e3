"""Organizations (accounts): create, read, rename, delete, leave, role, summary."""

from __future__ import annotations

import functools
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, time, timedelta
from typing import Annotated, Any

from pydantic import Field
from sqlalchemy import (
    BindParameter,
    ColumnElement,
    Select,
    and_,
    bindparam,
    delete,
    func,
    select,
    update,
)

from webapp.extensions import db
from webapp.models import (
    Invitation,
    InvitationStatus,
    Membership,
    Organization,
    Role,
    ServiceToken,
    User,
    Via,
    utcnow,
)
from webapp.models.tables import ACTIVE_OWNER_ROW, ORG_NAME_MAX
from webapp.services import audit, sql_json
from webapp.services.errors import Forbidden, LastOwner
from webapp.services.permissions import (
    Action,
    Actor,
    ServicePrincipal,
    allowed_actions,
    check_allowed,
    refuse_token,
    require,
    require_reading,
    roles_allowed_to,
)
from webapp.services.transactions import prepared, write_transaction
from webapp.services.values import has_control_characters, name_sort_key, organization_name


@dataclass(frozen=True)
class Account:
    """An organization as one member sees it (DESIGN §4 Account)."""

    id: int
    organization_name: str
    created_at: datetime
    updated_at: datetime
    member_count: Annotated[int, Field(description="Active and suspended members.")]
    role: Annotated[Role, Field(description="The caller's own role.")]
    is_active: Annotated[bool, Field(description="Whether the caller's own membership is active.")]
    # The change set that left the organization so (its Undo), when the answer follows a
    # change of members; not part of the API's Account.
    change_id: Annotated[str | None, Field(exclude=True)] = field(default=None, compare=False)

    @property
    def allowed(self) -> frozenset[Action]:
        return allowed_actions(self.role, self.is_active)

    @classmethod
    def of(cls, org: Organization, membership: Membership) -> Account:
        return cls(
            id=org.id,
            organization_name=org.organization_name,
            created_at=org.created_at,
            updated_at=org.updated_at,
            member_count=org.member_count,
            role=membership.role,
            is_active=membership.is_active,
        )


@dataclass(frozen=True)
class Metric:
    """One number of the summary (DESIGN §4 summary metrics)."""

    metric: Annotated[str, Field(examples=["members_total"])]
    label: Annotated[str, Field(examples=["Members"])]
    value: int


ROLE_COUNTERS: dict[Role, str] = {
    Role.OWNER: "owner_count",
    Role.ADMIN: "admin_count",
    Role.CONTRIBUTOR: "contributor_count",
    Role.ACCOUNTING: "accounting_count",
    Role.VIEWER: "viewer_count",
}


def create_organization(actor: Actor, name: str, *, via: Via) -> Account:
    """Create an organization with the actor as its active OWNER.

    Any signed-in user may; a service token may not (Forbidden: it is not a person, and could
    not be an owner). Raises InvalidInput for a bad name.
    """
    if isinstance(actor, ServicePrincipal):
        refuse_token(actor)
    name = organization_name(name)
    with write_transaction():
        now = utcnow()
        org = Organization(
            organization_name=name,
            created_at=now,
            updated_at=now,
            member_count=1,
            active_count=1,
            owner_count=1,
            joins_by_day=joins_after({}, now, joined=1),
        )
        db.session.add(org)
        db.session.flush()
        membership = Membership(
            organization_id=org.id,
            user_id=actor.id,
            role=Role.OWNER,
            is_active=True,
            created_at=now,
            updated_at=now,
            sort_email=actor.email,
            sort_name=name_sort_key(actor.name),
        )
        db.session.add(membership)
        db.session.flush()
        audit.record(
            "organization.create",
            actor=actor,
            via=via,
            org=org,
            targets=[
                audit.TargetChange(actor.id, actor.email, new_role=Role.OWNER, new_active=True)
            ],
            details={"organization_name": name},
        )
        account = Account.of(org, membership)
    return account


# An Account read as plain columns: no ORM objects, no identity map, for lists of 1,000.
ACCOUNT_COLUMNS = (
    Organization.id,
    Organization.organization_name,
    Organization.created_at,
    Organization.updated_at,
    Organization.member_count,
    Membership.role,
    Membership.is_active,
)


def _my_accounts(user_id: int | BindParameter[int]) -> Select[Any]:
    return (
        select(*ACCOUNT_COLUMNS)
        .join(Membership, Membership.organization_id == Organization.id)
        .where(Membership.user_id == user_id)
    )


def _by_name(stmt: Select[Any]) -> Select[Any]:
    return stmt.order_by(func.lower(Organization.organization_name), Organization.id)


# Every organization of one user, by name: built once, and run on the session's connection and
# fetched at once. For a member of 1,000 organizations the session's execution around the rows
# was a large part of the list's time (make bench, T11).
_MY_ACCOUNTS_BY_NAME = _by_name(_my_accounts(bindparam("user_id")))


# The same list as the API's JSON, each Account written by the database (sql_json). Decoding
# 1,000 rows into Accounts and encoding them again through pydantic was most of the answer's
# time for a member of 1,000 organizations (make bench, T11).
_MY_ACCOUNTS_JSON = _MY_ACCOUNTS_BY_NAME.with_only_columns(
    sql_json.json_object(
        {
            "id": sql_json.json_integer(Organization.id),
            "organization_name": sql_json.json_string(Organization.organization_name),
            "created_at": sql_json.json_timestamp(Organization.created_at),
            "updated_at": sql_json.json_timestamp(Organization.updated_at),
            "member_count": sql_json.json_integer(Organization.member_count),
            "role": sql_json.json_role(Membership.role),
            "is_active": sql_json.json_boolean(Membership.is_active),
        }
    ),
    maintain_column_froms=True,
)


def list_my_organizations(actor: Actor) -> list[Account]:
    """Every organization the actor belongs to, suspended ones included, by name. For a service
    token, its own organization (Forbidden for a scope that may not view it)."""
    if isinstance(actor, ServicePrincipal):
        return [get_organization(actor, actor.organization_id)]
    rows = db.session.connection().execute(_MY_ACCOUNTS_BY_NAME, {"user_id": actor.id}).all()
    return [Account(*row) for row in rows]


def my_organizations_json(actor: User) -> bytes | None:
    """``list_my_organizations`` of a user, encoded as the API answers it: a JSON array of
    Accounts, the same bytes pydantic writes (``webapp.api.routes.respond``). None when a row
    holds a value the database cannot write so (``sql_json``): then encode the list."""
    connection = db.session.connection()
    rows = connection.execute(_MY_ACCOUNTS_JSON, {"user_id": actor.id}).scalars().all()
    if None in rows:
        return None
    return f"[{','.join(rows)}]".encode()


@dataclass(frozen=True)
class AccountPage:
    """A page of the actor's organizations whose name contains ``q``, by name."""

    items: list[Account]
    q: str
    page_number: int
    page_size: int
    total_items: int

    @property
    def total_pages(self) -> int:
        return -(-self.total_items // self.page_size)


ACCOUNT_PAGE_SIZE = 50


def find_my_organizations(
    actor: User, q: str = "", page_number: int = 0, page_size: int = ACCOUNT_PAGE_SIZE
) -> AccountPage:
    """The actor's organizations whose name contains ``q`` (any case), a page at a time.

    Two statements (the count and the page) however many organizations the actor is in.
    """
    q = q.strip()[:ORG_NAME_MAX]
    page_number = max(page_number, 0)
    if has_control_characters(q):  # no name has one (and PostgreSQL refuses NUL in text)
        return AccountPage([], q, page_number, page_size, 0)
    stmt = _my_accounts(actor.id)
    if q:
        # lower() on both sides, by the database: the same folding for the name and the term.
        stmt = stmt.where(Organization.organization_name.icontains(q, autoescape=True))
    total = db.session.scalar(stmt.with_only_columns(func.count()).order_by(None)) or 0
    offset = min(page_number * page_size, 2**62)  # a page past any end, never an overflow
    rows = db.session.execute(_by_name(stmt).limit(page_size).offset(offset)).all()
    return AccountPage([Account(*row) for row in rows], q, page_number, page_size, total)


@dataclass(frozen=True)
class RecentAccounts:
    """The few organizations the actor joined last, and how many they belong to in all."""

    items: list[Account]
    total: int


RECENT_LIMIT = 8


def recent_organizations(actor: User, limit: int = RECENT_LIMIT) -> RecentAccounts:
    """The ``limit`` organizations the actor joined most recently, newest first, with the
    number of all their organizations: one statement, read from the end of the actor's
    (user_id, created_at) index, whatever the number of organizations."""
    total = (
        select(func.count())
        .select_from(Membership)
        .where(Membership.user_id == actor.id)
        .correlate(None)  # all of them, not the outer row's
        .scalar_subquery()
    )
    rows = db.session.execute(
        prepared(
            _my_accounts(actor.id)
            .add_columns(total)
            .order_by(Membership.created_at.desc(), Membership.organization_id.desc())
            .limit(limit)
        )
    ).all()
    return RecentAccounts([Account(*row[:-1]) for row in rows], rows[0][-1] if rows else 0)


def check_seen(seen: Account, org_id: int, action: Action) -> Account:
    """``seen``, the organization as this request already read it for the actor, once its role
    and state allow ``action``: the check ``require`` makes, with no statement."""
    if seen.id != org_id:
        raise ValueError("seen is another organization's account")
    check_allowed(seen.role, seen.is_active, action)
    return seen


def get_organization(actor: Actor, org_id: int, *, seen: Account | None = None) -> Account:
    """The organization as the actor sees it. Needs VIEW (an active membership).

    ``seen`` is the organization as this same request already read it for the actor (with its
    API token, ``tokens.authenticate_token_for``): then it is checked and answered, with no
    statement.
    """
    if seen is not None:
        return check_seen(seen, org_id, Action.VIEW)
    org, membership = require(actor, org_id, Action.VIEW)
    return Account.of(org, membership)


# The settings page renames and deletes: it is for whoever may do either.
SETTINGS_ACTIONS = frozenset({Action.RENAME, Action.DELETE})


def get_organization_settings(actor: User, org_id: int) -> Account:
    """The organization as its settings page shows it, to whoever may rename or delete it.

    Raises NotFound as ``require`` does; Forbidden, saying who may, for any other member.
    """
    account = get_organization(actor, org_id)
    if not account.allowed & SETTINGS_ACTIONS:
        who = {role for action in SETTINGS_ACTIONS for role in roles_allowed_to(action)}
        names = " and ".join(role.name for role in sorted(who, key=lambda role: role.rank))
        raise Forbidden(
            f"Only {names} can change this organization's settings; "
            f"your role here is {account.role.name}."
        )
    return account


def get_my_role(actor: User, org_id: int) -> Role:
    """The actor's role; a suspended member may ask too."""
    _, membership = require(actor, org_id, Action.VIEW_ROLE)
    return membership.role


def rename_organization(actor: User, org_id: int, name: str, *, via: Via) -> Account:
    """Rename the organization (OWNER, ADMIN). Raises InvalidInput for a bad name."""
    name = organization_name(name)
    with write_transaction():
        org, membership = require(actor, org_id, Action.RENAME, lock=True)
        old = org.organization_name
        if old == name:  # nothing changes, so nothing is recorded
            return Account.of(org, membership)
        org.organization_name = name
        org.updated_at = utcnow()
        db.session.flush()
        audit.record(
            "organization.rename",
            actor=actor,
            via=via,
            org=org,
            details={"old_name": old, "new_name": name},
        )
        account = Account.of(org, membership)
    return account


def delete_organization(actor: User, org_id: int, *, via: Via) -> None:
    """Delete the organization and every membership (OWNER only). Its audit events stay."""
    with write_transaction():
        org, _ = require(actor, org_id, Action.DELETE, lock=True)
        audit.record(
            "organization.delete",
            actor=actor,
            via=via,
            org=org,
            details={"organization_name": org.organization_name, "member_count": org.member_count},
        )
        db.session.execute(delete(Membership).where(Membership.organization_id == org_id))
        # The foreign key cascades too; said here so no backend setting can keep them alive.
        db.session.execute(delete(ServiceToken).where(ServiceToken.organization_id == org_id))
        db.session.execute(delete(Organization).where(Organization.id == org_id))
        db.session.expunge(org)


RECENT_DAYS = 30


def _day(moment: datetime) -> str:
    return moment.astimezone(UTC).date().isoformat()


def joins_after(
    joins_by_day: dict[str, int],
    now: datetime,
    *,
    joined: int = 0,
    left: Iterable[datetime] = (),
    rejoined: Iterable[datetime] = (),
) -> dict[str, int]:
    """``Organization.joins_by_day`` after ``joined`` members join at ``now``, members who
    joined at the times in ``left`` go, and members who joined at the times in ``rejoined``
    come back (a reverted removal); days no summary can reach any more are dropped."""
    keep_from = _day(now - timedelta(days=RECENT_DAYS + 1))
    days = Counter({day: n for day, n in joins_by_day.items() if day >= keep_from})
    if joined:
        days[_day(now)] += joined
    for moment in rejoined:
        if _day(moment) >= keep_from:
            days[_day(moment)] += 1
    for moment in left:
        if _day(moment) >= keep_from:
            days[_day(moment)] -= 1
    return {day: n for day, n in sorted(days.items()) if n > 0}


def get_summary(actor: User, org_id: int) -> list[Metric]:
    """Member counts by state and role, active owners, and recent joins.

    Needs VIEW_SUMMARY (OWNER, ADMIN, ACCOUNTING). Counters and the org's joins per day answer
    most of it; the rest is counted in the access check's own statement (one round trip): the
    active owners (on their partial index), the joins of the first, partly covered day of the
    30-day window (at most one day's joins), and the pending invitations not yet expired.
    """
    now = utcnow()
    since = now - timedelta(days=RECENT_DAYS)
    first_full_day = datetime.combine(since.date() + timedelta(days=1), time(), UTC)
    org = require_reading(
        actor,
        org_id,
        Action.VIEW_SUMMARY,
        *_SUMMARY_COLUMNS,
        *_summary_counts(),
        params={
            "org_ids": [org_id],
            "since": since,
            "first_full_day": first_full_day,
            "now": now,
        },
    )
    joined = org.joined_in_first_day + sum(
        n for day, n in org.joins_by_day.items() if day >= _day(first_full_day)
    )
    metrics = [
        Metric("members_total", "Members", org.member_count),
        Metric("members_active", "Active members", org.active_count),
        Metric("members_inactive", "Suspended members", org.member_count - org.active_count),
    ]
    metrics += [
        Metric(f"role_{role.name.lower()}", role.name.title(), getattr(org, counter))
        for role, counter in ROLE_COUNTERS.items()
    ]
    metrics.append(Metric("owners_active", "Active owners", org.owners_active))
    metrics.append(Metric("joined_last_30_days", "Joined in the last 30 days", joined))
    metrics.append(Metric("invitations_pending", "Pending invitations", org.invitations_pending))
    return metrics


# What the summary reads of the organization, with the access check.
_SUMMARY_COLUMNS = (
    Organization.member_count,
    Organization.active_count,
    *(getattr(Organization, counter) for counter in ROLE_COUNTERS.values()),
    Organization.joins_by_day,
)


@functools.cache
def _summary_counts() -> tuple[Any, ...]:
    """The summary's counts as columns of the access check, built once (every summary asks
    them): the active owners, the joins of the first, partly covered day of the window, the
    pending invitations."""
    org_id = bindparam("org_id")
    owners = active_owners(bindparam("org_ids", expanding=True))
    joined_in_first_day = (
        select(func.count())
        .select_from(Membership)
        .where(
            Membership.organization_id == org_id,
            Membership.created_at >= bindparam("since"),
            Membership.created_at < bindparam("first_full_day"),
        )
    )
    pending = (
        select(func.count())
        .select_from(Invitation)
        .where(
            Invitation.organization_id == org_id,
            Invitation.status == InvitationStatus.PENDING,
            Invitation.expires_at > bindparam("now"),
        )
    )
    # Uncorrelated: the check's own FROM holds the organization and a membership, and each
    # count is of the whole organization, not of that row.
    return (
        owners.with_only_columns(func.count())
        .group_by(None)
        .correlate(None)
        .scalar_subquery()
        .label("owners_active"),
        joined_in_first_day.correlate(None).scalar_subquery().label("joined_in_first_day"),
        pending.correlate(None).scalar_subquery().label("invitations_pending"),
    )


def apply_counter_deltas(
    org: Organization,
    deltas: dict[str, int],
    now: datetime,
    joins_by_day: dict[str, int] | None = None,
) -> None:
    """Add to the organization's counters in one UPDATE; set ``updated_at`` to ``now``, and
    ``joins_by_day`` when given (computed with ``joins_after`` from the row read under the lock).

    ``org`` in memory keeps the values read under the lock (no synchronization): the change
    computes what the actor sees from them and ``deltas``.
    """
    values: dict[str, Any] = {
        name: getattr(Organization, name) + delta for name, delta in deltas.items() if delta
    }
    if joins_by_day is not None:
        values["joins_by_day"] = joins_by_day
    db.session.execute(
        update(Organization)
        .where(Organization.id == org.id)
        .values(updated_at=now, **values)
        .execution_options(synchronize_session=False)
    )


def is_active_owner() -> ColumnElement[bool]:
    """The membership row is an active owner's: the membership active (on the partial index of
    active owners, a handful of entries) and the user's account active, read by its key."""
    account_active = select(User.is_active).where(User.id == Membership.user_id).scalar_subquery()
    return and_(ACTIVE_OWNER_ROW, account_active.is_(True))


def active_owners(
    org_ids: Select[tuple[int]] | list[int] | BindParameter[Any],
) -> Select[tuple[int, int]]:
    """(organization id, number of active owners) for these organizations.

    An owner counts when both the membership and the user's account are active: an owner
    whose account was deactivated cannot sign in to look after the organization.

    The owners come from their partial index, and each owner's account is read by its key in a
    correlated subquery, which PostgreSQL runs per owner: as a join, its planner, guessing
    from table-wide statistics that a big organization has a thousand owners, hashed a scan
    of every user (58 ms at 200,000 members) to check two.
    """
    return (
        select(Membership.organization_id, func.count())
        .where(Membership.organization_id.in_(org_ids), is_active_owner())
        .group_by(Membership.organization_id)
    )


def check_has_active_owner(org_id: int) -> None:
    """The invariant: at least one active OWNER. Run after the change, under the org lock."""
    if not db.session.execute(active_owners([org_id])).first():
        raise LastOwner()
