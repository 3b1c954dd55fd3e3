"""SCIM 2.0 provisioning (DESIGN §10): an organization's members as its identity provider sees
them, and the five roles as groups. ``webapp.scim`` speaks the protocol; the rules are here.

A ``scim`` service token names the organization. It may manage OWNER memberships (the identity
provider is the source of truth) but never breaks the invariant: every change that could leave
no active owner runs under the organization lock and ends with ``check_has_active_owner``.

- A member's ``userName`` is the account's email, which SCIM never changes: an account can
  belong to many organizations, and one organization's provider rewriting the address would
  hand the account to whoever holds the new one.
- ``externalId``, ``displayName`` and ``name`` are the provider's, kept per membership in
  ``scim_profiles``.
- Creating a member for an unknown email makes an account without a password (its person signs
  in through password reset, which proves the address); a known one joins as
  ``users.provisioned_account`` says.
- A group is a role. Added to a group, a member takes its role when it is higher than theirs (a
  member in several groups holds the highest); removed from the group of their role, a member
  becomes VIEWER.

Every function runs inside the request's transaction, opened by ``operation``.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import ColumnElement, and_, false, func, not_, or_, select, true, update

from webapp.extensions import db
from webapp.models import Membership, Organization, Role, ScimProfile, User, Via, utcnow
from webapp.models.tables import SCIM_TEXT_MAX, ServiceTokenScope
from webapp.services import members, users
from webapp.services.errors import Forbidden, InvalidInput, NotFound
from webapp.services.permissions import ServicePrincipal
from webapp.services.transactions import lock_rows, write_transaction
from webapp.services.values import email_address, person_name

VIA = Via.SCIM
# The groups, by id: the five roles.
GROUP_IDS: dict[str, Role] = {role.name.lower(): role for role in Role}


class InvalidFilter(InvalidInput):
    """A filter naming an attribute or operator this server cannot search by."""

    code = "invalid_filter"


class Immutable(InvalidInput):
    """A change to what SCIM may not change: the account's address."""

    code = "mutability"


@dataclass(frozen=True)
class Profile:
    """What the identity provider writes of a member, besides ``active``."""

    external_id: str | None = None
    display_name: str | None = None
    given_name: str | None = None
    family_name: str | None = None
    formatted_name: str | None = None

    def cleaned(self) -> Profile:
        return Profile(**{k: _text(k, v) for k, v in self.__dict__.items()})

    @property
    def empty(self) -> bool:
        return all(v is None for v in self.__dict__.values())


@dataclass(frozen=True)
class ScimMember:
    user_id: int
    email: str
    role: Role
    is_active: bool
    created_at: datetime
    updated_at: datetime
    sort_email: str
    profile: Profile


def _text(field: str, value: str | None) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str):
        raise InvalidInput.field(field, "must be a string")
    value = value.strip()
    if any(ord(c) < 32 or ord(c) == 127 for c in value):
        raise InvalidInput.field(field, "must not contain control characters")
    if len(value) > SCIM_TEXT_MAX:
        raise InvalidInput.field(field, f"must be at most {SCIM_TEXT_MAX} characters")
    return value or None


# -- the request's transaction ------------------------------------------------------------------


def check_principal(principal: object) -> ServicePrincipal:
    if not isinstance(principal, ServicePrincipal) or principal.scope is not ServiceTokenScope.SCIM:
        raise Forbidden("Only an organization's scim service token may use /scim/v2.")
    return principal


@contextmanager
def operation(principal: ServicePrincipal, *, write: bool) -> Iterator[Organization | None]:
    """One SCIM request: a write takes the organization lock for the whole request (read,
    apply, write), so a PATCH reads and writes one state; a read takes none. Yields the locked
    organization, or None for a read."""
    check_principal(principal)
    if not write:
        yield None
        return
    with write_transaction():
        org = db.session.scalar(
            lock_rows(
                select(Organization).where(Organization.id == principal.organization_id)
            ).execution_options(populate_existing=True)
        )
        if org is None:
            raise NotFound()
        yield org


# -- reading members ----------------------------------------------------------------------------


def _members_select(org_id: int) -> Any:
    return (
        select(
            Membership.user_id,
            User.email,
            Membership.role,
            Membership.is_active,
            Membership.created_at,
            Membership.updated_at,
            Membership.sort_email,
            ScimProfile.external_id,
            ScimProfile.display_name,
            ScimProfile.given_name,
            ScimProfile.family_name,
            ScimProfile.formatted_name,
        )
        .join(User, User.id == Membership.user_id)
        .outerjoin(
            ScimProfile,
            # The organization as a constant: the profile's key is found by its index even when
            # PostgreSQL has no statistics yet (a bulk provisioning into a new table).
            and_(ScimProfile.organization_id == org_id, ScimProfile.user_id == Membership.user_id),
        )
        .where(Membership.organization_id == org_id)
    )


def _member(row: Any) -> ScimMember:
    return ScimMember(
        user_id=row.user_id,
        email=row.email,
        role=row.role,
        is_active=row.is_active,
        created_at=row.created_at,
        updated_at=row.updated_at,
        sort_email=row.sort_email,
        profile=Profile(
            row.external_id,
            row.display_name,
            row.given_name,
            row.family_name,
            row.formatted_name,
        ),
    )


def user_id_of(resource_id: str) -> int:
    """The user id a SCIM id names; NotFound for anything that is not one."""
    if not (
        isinstance(resource_id, str)
        and 0 < len(resource_id) <= 19  # 2**63 has 19 digits; int() of thousands is refused
        and resource_id.isascii()
        and resource_id.isdigit()
    ):
        raise NotFound()
    value = int(resource_id)
    if value <= 0 or value >= 2**63:
        raise NotFound()
    return value


def get_member(principal: ServicePrincipal, user_id: int) -> ScimMember:
    """One statement. NotFound when the user is not a member."""
    row = db.session.execute(
        _members_select(principal.organization_id).where(Membership.user_id == user_id)
    ).first()
    if row is None:
        raise NotFound()
    return _member(row)


def find_members(
    principal: ServicePrincipal,
    condition: ColumnElement[bool] | None,
    start_index: int,
    count: int,
) -> tuple[int, list[ScimMember]]:
    """The members matching ``condition`` (None: all), in user id order, from ``start_index``
    (1-based), and how many match: two statements whatever the page or the organization's
    size. Unfiltered, the number is the organization's member counter, not a count."""
    org_id = principal.organization_id
    base = _members_select(org_id)
    if condition is None:
        total = db.session.scalar(
            select(Organization.member_count).where(Organization.id == org_id)
        )
    else:
        base = base.where(condition)
        total = db.session.scalar(select(func.count()).select_from(base.subquery()))
    if count <= 0:
        return total or 0, []
    rows = db.session.execute(
        base.order_by(Membership.user_id).offset(start_index - 1).limit(count)
    ).all()
    return total or 0, [_member(r) for r in rows]


def group_members(principal: ServicePrincipal, role: Role) -> list[tuple[int, str]]:
    """(user id, email) of the members holding ``role``, in id order: one statement on the
    (organization, role, user) index."""
    return [
        (r.user_id, r.sort_email)
        for r in db.session.execute(
            select(Membership.user_id, Membership.sort_email)
            .where(
                Membership.organization_id == principal.organization_id,
                Membership.role == role,
            )
            .order_by(Membership.user_id)
        )
    ]


# -- filters ------------------------------------------------------------------------------------

# What each attribute a filter may name is stored as, and whether it compares case-exactly.
_STRINGS: dict[str, tuple[Any, bool]] = {
    "username": (User.email, False),
    "emails": (User.email, False),
    "emails.value": (User.email, False),
    "externalid": (ScimProfile.external_id, True),
    "displayname": (ScimProfile.display_name, False),
    "name.givenname": (ScimProfile.given_name, False),
    "name.familyname": (ScimProfile.family_name, False),
    "name.formatted": (ScimProfile.formatted_name, False),
}
_URN = "urn:ietf:params:scim:schemas:core:2.0:user"


FILTER_TERMS_MAX = 100  # comparisons in one filter: providers send one or two


def filter_condition(node: Any) -> ColumnElement[bool]:
    """``_condition`` of a filter of at most FILTER_TERMS_MAX comparisons (SQLite refuses an
    expression tree of about a thousand)."""
    if _terms(node) > FILTER_TERMS_MAX:
        raise InvalidFilter(f"A filter may hold at most {FILTER_TERMS_MAX} comparisons.")
    return _condition(node)


def _terms(node: Any) -> int:
    children = getattr(node, "terms", None)
    if children is not None:
        return sum(_terms(t) for t in children)
    inner = getattr(node, "expr", None) or getattr(node, "val_filter", None)
    return _terms(inner) if inner is not None else 1


def _condition(node: Any) -> ColumnElement[bool]:
    """The SQL condition of a parsed SCIM filter (scim2-models' syntax tree): ``eq ne co sw ew
    gt ge lt le pr``, ``and or not``, and ``emails[value eq ...]``, on userName, emails.value,
    externalId, displayName, name.*, active, id and meta.created / meta.lastModified. Anything
    else raises InvalidFilter; nothing is filtered after the page is read."""
    from scim2_models.path.expressions import (
        Comparison,
        LogicalExpr,
        LogicalOperator,
        Not,
        Present,
        ValuePath,
    )

    if isinstance(node, LogicalExpr):
        terms = [_condition(t) for t in node.terms]
        return and_(*terms) if node.op == LogicalOperator.and_ else or_(*terms)
    if isinstance(node, Not):
        return not_(_condition(node.expr))
    if isinstance(node, ValuePath):
        if _path_name(node.attr_path) != "emails":
            raise InvalidFilter(f"Cannot filter by {node.attr_path}[...].")
        return _email_value_filter(node.val_filter)
    if isinstance(node, Present):
        return _present(_path_name(node.attr_path))
    if isinstance(node, Comparison):
        return _compare(_path_name(node.attr_path), node.op.value, node.value)
    raise InvalidFilter("This filter cannot be evaluated.")


def _path_name(attr_path: Any) -> str:
    name = str(attr_path).lower()
    if name.startswith(_URN + ":"):
        name = name[len(_URN) + 1 :]
    return name


def _email_value_filter(node: Any) -> ColumnElement[bool]:
    """``emails[...]``: one email per account, of type work and primary."""
    from scim2_models.path.expressions import Comparison, LogicalExpr, LogicalOperator

    if isinstance(node, LogicalExpr):
        terms = [_email_value_filter(t) for t in node.terms]
        return and_(*terms) if node.op == LogicalOperator.and_ else or_(*terms)
    if isinstance(node, Comparison):
        sub = _path_name(node.attr_path)
        if sub == "value":
            return _compare("emails.value", node.op.value, node.value)
        if sub == "type" and node.op.value == "eq":
            return true() if str(node.value).lower() == "work" else false()
        if sub == "primary" and node.op.value == "eq":
            return true() if node.value is True else false()
    raise InvalidFilter("Within emails[...], filter by value, type or primary.")


def _present(name: str) -> ColumnElement[bool]:
    if name in ("username", "emails", "emails.value", "id", "active"):
        return true()
    if name in _STRINGS:
        return _STRINGS[name][0].is_not(None)
    if name == "name":
        return or_(
            ScimProfile.given_name.is_not(None),
            ScimProfile.family_name.is_not(None),
            ScimProfile.formatted_name.is_not(None),
        )
    raise InvalidFilter(f"Cannot filter by {name}.")


def _compare(name: str, op: str, value: Any) -> ColumnElement[bool]:
    if name == "active":
        if not isinstance(value, bool) or op not in ("eq", "ne"):
            raise InvalidFilter("active compares with eq or ne to true or false.")
        return Membership.is_active.is_(value) if op == "eq" else Membership.is_active.is_not(value)
    if name == "id":
        if op != "eq" or not isinstance(value, str):
            raise InvalidFilter('id compares with eq to a string, as in id eq "12".')
        try:
            return Membership.user_id == user_id_of(value)
        except NotFound:
            return false()
    if name in ("meta.created", "meta.lastmodified"):
        column = Membership.created_at if name == "meta.created" else Membership.updated_at
        return _compare_time(column, op, value)
    if name not in _STRINGS:
        raise InvalidFilter(f"Cannot filter by {name}.")
    column, case_exact = _STRINGS[name]
    if not isinstance(value, str):
        raise InvalidFilter(f"{name} compares to a string.")
    if "\x00" in value:  # no stored text holds one, and PostgreSQL refuses it as a parameter
        raise InvalidFilter("A filter value may not contain a NUL character.")
    if column is User.email:
        value = value.lower()  # stored lower case
    elif not case_exact:
        column, value = _fold(column), value.lower()
    comparisons = {
        "eq": lambda: column == value,
        "ne": lambda: or_(column != value, column.is_(None)),
        "co": lambda: column.contains(value, autoescape=True),
        "sw": lambda: column.startswith(value, autoescape=True),
        "ew": lambda: column.endswith(value, autoescape=True),
        "gt": lambda: column > value,
        "ge": lambda: column >= value,
        "lt": lambda: column < value,
        "le": lambda: column <= value,
    }
    return comparisons[op]()


def _fold(column: Any) -> Any:
    """``column`` in lower case as Python writes it: SQLite's own lower() folds ASCII only, so
    there the connection's ``roster_lower`` (``transactions.install_sqlite_hooks``) does it."""
    if db.session.get_bind().dialect.name == "sqlite":
        return func.roster_lower(column)
    return func.lower(column)


def _compare_time(column: Any, op: str, value: Any) -> ColumnElement[bool]:
    try:
        moment = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError:
        raise InvalidFilter("A date compares to an ISO 8601 date and time.") from None
    if moment.tzinfo is None:
        raise InvalidFilter("A date compares to a date and time with its zone.")
    try:
        moment = moment.astimezone(UTC)
    except OverflowError:  # 0001-01-01T00:00+14:00 is before the first UTC instant
        raise InvalidFilter("That date is out of range.") from None
    comparisons = {
        "eq": column == moment,
        "ne": column != moment,
        "gt": column > moment,
        "ge": column >= moment,
        "lt": column < moment,
        "le": column <= moment,
    }
    if op not in comparisons:
        raise InvalidFilter(f"A date cannot be compared with {op}.")
    return comparisons[op]


# -- writing members ----------------------------------------------------------------------------


def _write_profile(org_id: int, user_id: int, profile: Profile) -> None:
    values = {
        "external_id": profile.external_id,
        "display_name": profile.display_name,
        "given_name": profile.given_name,
        "family_name": profile.family_name,
        "formatted_name": profile.formatted_name,
    }
    changed = db.session.execute(
        update(ScimProfile)
        .where(ScimProfile.organization_id == org_id, ScimProfile.user_id == user_id)
        .values(**values)
        .execution_options(synchronize_session=False)
    )
    if not changed.rowcount and not profile.empty:  # type: ignore[attr-defined]
        db.session.execute(
            ScimProfile.__table__.insert().values(organization_id=org_id, user_id=user_id, **values)
        )


def _account_name(email: str, profile: Profile) -> str:
    """The name an account made by SCIM starts with: what the provider calls the person, else
    the address's local part."""
    given = " ".join(p for p in (profile.given_name, profile.family_name) if p)
    for candidate in (profile.display_name, profile.formatted_name, given, email.split("@")[0]):
        if candidate:
            try:
                return person_name(candidate[:100])
            except InvalidInput:
                continue
    return email.split("@")[0][:100] or email[:100]


def create_member(
    principal: ServicePrincipal,
    org: Organization,
    email: str,
    *,
    is_active: bool,
    profile: Profile,
) -> ScimMember:
    """Make ``email``'s account a member (an active VIEWER unless told otherwise). Raises
    AlreadyMembers when it is one, InvalidInput for a bad address or profile."""
    email = email_address(email)
    profile = profile.cleaned()
    user_id = users.provisioned_account(
        email, _account_name(email, profile), actor=principal, via=VIA
    )
    members.insert_members(
        org, principal, [user_id], Role.VIEWER, is_active, via=VIA, verified_only=False
    )
    _write_profile(org.id, user_id, profile)
    return get_member(principal, user_id)


def update_member(
    principal: ServicePrincipal,
    org: Organization,
    current: ScimMember,
    *,
    user_name: str | None,
    is_active: bool | None,
    profile: Profile,
) -> ScimMember:
    """Set a member's active flag and profile. ``user_name`` must be the account's address
    (Immutable otherwise: one organization's provider never moves an account's sign-in);
    ``is_active`` is required. LastOwner when suspending the last active owner."""
    if not isinstance(user_name, str) or user_name.strip().lower() != current.email:
        raise Immutable("userName is the account's email address: SCIM cannot change it.")
    if not isinstance(is_active, bool):
        raise InvalidInput.field("active", "is required: true or false")
    profile = profile.cleaned()
    if is_active != current.is_active:
        members.apply_update(org, principal, [current], role=None, is_active=is_active, via=VIA)
    if profile != current.profile:
        _write_profile(org.id, current.user_id, profile)
        db.session.execute(
            update(Membership)
            .where(Membership.organization_id == org.id, Membership.user_id == current.user_id)
            .values(updated_at=utcnow())
            .execution_options(synchronize_session=False)
        )
    return get_member(principal, current.user_id)


def remove_member(principal: ServicePrincipal, org: Organization, current: ScimMember) -> None:
    """Remove a member from the organization (their account stays). LastOwner when they are
    its last active owner."""
    members.apply_removal(org, [current], actor=principal, via=VIA, action="member.remove")


def add_to_group(
    principal: ServicePrincipal,
    org: Organization,
    role: Role,
    user_ids: Sequence[int],
    *,
    change_id: str | None = None,
) -> str | None:
    """Members added to the group of ``role`` take it when it is higher than theirs (a member
    in several groups holds the highest). NotMembers names ids that are not members. Returns
    the change set's id (``change_id``, or a new one when something changed)."""
    ids = sorted(set(user_ids))
    if not ids:
        return change_id
    states = members.member_states(org.id, ids)
    raised = [s for s in states if s.role.rank > role.rank]
    if not raised:
        return change_id
    *_, made = members.apply_update(
        org, principal, raised, role=role, is_active=None, via=VIA, change_id=change_id
    )
    return made or change_id


def remove_from_group(
    principal: ServicePrincipal,
    org: Organization,
    role: Role,
    user_ids: Sequence[int] | None,
    *,
    change_id: str | None = None,
) -> str | None:
    """Members removed from the group of their role become VIEWER; ``None``: every member of
    the group. Removing someone the group does not hold changes nothing (a provider may remove
    a person it already deleted). LastOwner when no active owner would remain."""
    if role is Role.VIEWER:
        return change_id  # removed from the lowest group, a member is still a VIEWER
    stmt = members.states_select(org.id).where(Membership.role == role)
    if user_ids is not None:
        if not user_ids:
            return change_id
        stmt = stmt.where(members.ids_in(Membership.user_id, sorted(set(user_ids))))
    dropped = db.session.execute(stmt).all()
    if not dropped:
        return change_id
    *_, made = members.apply_update(
        org, principal, dropped, role=Role.VIEWER, is_active=None, via=VIA, change_id=change_id
    )
    return made or change_id


def set_group_members(
    principal: ServicePrincipal,
    org: Organization,
    role: Role,
    wanted: Sequence[int],
    *,
    change_id: str | None = None,
) -> str | None:
    """Make the group of ``role`` hold ``wanted``: its members left out become VIEWER, the
    ones added take the role when it is higher than theirs; one change set. NotMembers names
    ids that are not members, LastOwner when no active owner would remain."""
    wanted_ids = sorted(set(wanted))
    holding = {user_id for user_id, _ in group_members(principal, role)}
    change_id = add_to_group(principal, org, role, wanted_ids, change_id=change_id)
    dropped = sorted(holding - set(wanted_ids))
    return remove_from_group(principal, org, role, dropped, change_id=change_id)
