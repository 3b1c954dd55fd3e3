"""The permission table of DESIGN §3, as data, and the one check every service starts with.

This is the only module where a role decides anything.
"""

from __future__ import annotations

import enum
import functools
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Row, Select, bindparam, select

from webapp.extensions import db
from webapp.models import Membership, Organization, Role, ServiceTokenScope, User
from webapp.services.errors import Forbidden, NotFound
from webapp.services.transactions import lock_rows, prepared
from webapp.services.values import is_id


class Action(enum.StrEnum):
    VIEW = "view"  # the org, the member list
    VIEW_ROLE = "view_role"
    VIEW_SUMMARY = "view_summary"
    RENAME = "rename"
    DELETE = "delete"
    MANAGE_MEMBERS = "manage_members"  # add / update / remove members below OWNER
    MANAGE_OWNERS = "manage_owners"  # grant OWNER; change or remove an OWNER's membership
    VIEW_AUDIT = "view_audit"
    LEAVE = "leave"
    MANAGE_TOKENS = "manage_tokens"  # create, list and revoke the org's service tokens


_EVERYONE = frozenset(Role)

PERMISSIONS: dict[Action, frozenset[Role]] = {
    Action.VIEW: _EVERYONE,
    Action.VIEW_ROLE: _EVERYONE,
    Action.VIEW_SUMMARY: frozenset({Role.OWNER, Role.ADMIN, Role.ACCOUNTING}),
    Action.RENAME: frozenset({Role.OWNER, Role.ADMIN}),
    Action.DELETE: frozenset({Role.OWNER}),
    Action.MANAGE_MEMBERS: frozenset({Role.OWNER, Role.ADMIN}),
    Action.MANAGE_OWNERS: frozenset({Role.OWNER}),
    Action.VIEW_AUDIT: frozenset({Role.OWNER, Role.ADMIN}),
    # An owner may leave too, unless the last-owner invariant refuses it.
    Action.LEAVE: _EVERYONE,
    Action.MANAGE_TOKENS: frozenset({Role.OWNER, Role.ADMIN}),
}

# What a suspended (inactive) member may still do.
SUSPENDED_ACTIONS: frozenset[Action] = frozenset({Action.VIEW_ROLE, Action.LEAVE})


@functools.cache  # ten answers, asked for on every row of a page
def allowed_actions(role: Role, is_active: bool) -> frozenset[Action]:
    """Every action a membership with this role and state may take."""
    return frozenset(
        action
        for action, roles in PERMISSIONS.items()
        if role in roles and (is_active or action in SUSPENDED_ACTIONS)
    )


def is_allowed(membership: Membership, action: Action) -> bool:
    return action in allowed_actions(membership.role, membership.is_active)


# -- service tokens (DESIGN §10) --------------------------------------------------------------


@dataclass(frozen=True)
class ServicePrincipal:
    """A service token acting on its own organization: an actor that is not a person.

    Services take it wherever they take a ``User``. It has no user id and no membership; what
    the audit trail and an invitation record as "who" is ``email``, ``token NAME``.
    """

    token_id: int
    organization_id: int
    token_name: str
    scope: ServiceTokenScope

    id = None  # no user: nothing keyed by a user id ever names a token
    is_active = True

    @property
    def email(self) -> str:
        """How the audit trail names it (``actor``): ``token NAME``."""
        return f"token {self.token_name}"

    @property
    def name(self) -> str:
        return self.email


Actor = User | ServicePrincipal

# What each scope may do on /api. Read: what an admin sees, nothing it changes (pending
# invitations are personal addresses of people not yet members: write tokens only). Write:
# member management below OWNER too (``require_for_targets`` keeps owners out, as for an
# ADMIN). Never: rename, delete, owners, transfer, leave, a role of its own, service tokens (a
# token that makes tokens would outlive its own revocation). SCIM: only /scim/v2.
_READ_ACTIONS = frozenset({Action.VIEW, Action.VIEW_SUMMARY, Action.VIEW_AUDIT})
TOKEN_ACTIONS: dict[ServiceTokenScope, frozenset[Action]] = {
    ServiceTokenScope.READ: _READ_ACTIONS,
    ServiceTokenScope.WRITE: _READ_ACTIONS | {Action.MANAGE_MEMBERS},
    ServiceTokenScope.SCIM: frozenset(),
}
# The role an answer shows as the caller's own (Account.role) and the stand-in membership has:
# it is never OWNER, so every owner rule refuses a token.
TOKEN_ROLES: dict[ServiceTokenScope, Role] = {
    ServiceTokenScope.READ: Role.VIEWER,
    ServiceTokenScope.WRITE: Role.ADMIN,
    ServiceTokenScope.SCIM: Role.VIEWER,
}
TOKEN_REFUSALS: dict[ServiceTokenScope, str] = {
    ServiceTokenScope.READ: "A read service token may only read (GET).",
    ServiceTokenScope.WRITE: (
        "A write service token may manage members below OWNER; it may not rename or delete "
        "the organization, touch an owner, transfer ownership, leave, have a role of its own "
        "or manage service tokens."
    ),
    ServiceTokenScope.SCIM: "A scim service token may only be used on /scim/v2, not on /api.",
}
NOT_A_PERSON = "A service token is not a person: only a signed-in user or a personal token may."


def refuse_token(principal: ServicePrincipal) -> None:
    """Forbidden, for what only a person may do (create an organization): a scim token hears
    that it belongs on /scim/v2."""
    if principal.scope is ServiceTokenScope.SCIM:
        raise Forbidden(TOKEN_REFUSALS[principal.scope], code="token_scope")
    raise Forbidden(NOT_A_PERSON, code="not_a_person")


def _require_token(
    principal: ServicePrincipal, org_id: int, action: Action, *, lock: bool
) -> tuple[Organization, Membership]:
    """``require`` for a service token: 404 for every organization but its own, before any
    scope check; then Forbidden unless its scope allows the action."""
    if org_id != principal.organization_id:
        raise NotFound()
    stmt = select(Organization).where(Organization.id == org_id)
    if lock:
        stmt = lock_rows(stmt).execution_options(populate_existing=True)
    org = db.session.scalar(stmt)
    if org is None:
        raise NotFound()
    check_token_allowed(principal, action)
    return org, token_membership(principal)


def check_token_allowed(principal: ServicePrincipal, action: Action) -> None:
    if action not in TOKEN_ACTIONS[principal.scope]:
        raise Forbidden(TOKEN_REFUSALS[principal.scope], code="token_scope")


def token_membership(principal: ServicePrincipal) -> Membership:
    """A stand-in membership (never added to the session) for the services that read the
    caller's role: not OWNER, so ``require_for_targets`` refuses every owner change."""
    return Membership(
        organization_id=principal.organization_id,
        user_id=None,
        role=TOKEN_ROLES[principal.scope],
        is_active=True,
    )


def require(
    actor: Actor, org_id: int, action: Action, *, lock: bool = False
) -> tuple[Organization, Membership]:
    """Load the organization and the actor's membership, and check the action is allowed.

    With ``lock``, the organization row is locked first (call inside ``write_transaction``).
    Raises ``NotFound`` for an unknown organization and for a non-member alike, and
    ``Forbidden`` when the role or a suspension does not allow the action. A service token is
    a member of its own organization only, with what its scope allows (``TOKEN_ACTIONS``).
    """
    if not is_id(org_id):  # beyond 64 bits no row can match; say so before asking the DB
        raise NotFound()
    if isinstance(actor, ServicePrincipal):
        return _require_token(actor, org_id, action, lock=lock)
    stmt = (
        select(Organization, Membership)
        .join(Membership, Membership.organization_id == Organization.id)
        .where(Organization.id == org_id, Membership.user_id == actor.id)
    )
    if lock:
        stmt = lock_rows(stmt).execution_options(populate_existing=True)
    row = db.session.execute(stmt).first()
    if row is None:
        raise NotFound()
    org, membership = row
    check_allowed(membership.role, membership.is_active, action)
    return org, membership


def require_reading(
    actor: Actor,
    org_id: int,
    action: Action,
    *columns: Any,
    params: Mapping[str, Any] | None = None,
) -> Row[Any]:
    """``require`` for a read that needs only some columns of the organization (or of the
    actor's membership): the same check in the same one statement, answered as a plain row of
    ``columns`` without loading ORM objects.

    ``columns`` may be scalar subqueries of the organization's other rows (the summary's
    counts), with their parameters in ``params``: they are read in the same round trip, and
    only returned once the check has passed."""
    if not is_id(org_id):
        raise NotFound()
    values = {**(params or {}), "org_id": org_id}
    if isinstance(actor, ServicePrincipal):
        if org_id != actor.organization_id:
            raise NotFound()
        row = db.session.connection().execute(_token_reading(columns), values).first()
        if row is None:
            raise NotFound()
        check_token_allowed(actor, action)
        return row
    # Plain rows need no ORM execution: the session's connection runs it as Core.
    stmt = _reading(columns)
    row = db.session.connection().execute(stmt, {**values, "user_id": actor.id}).first()
    if row is None:
        raise NotFound()
    check_allowed(row[-2], row[-1], action)
    return row


@functools.cache
def _reading(columns: tuple[Any, ...]) -> Select[Any]:
    """The statement of ``require_reading`` for these columns: reads ask it on every request,
    so it is built once, and so is its cache key; and prepared (keys only)."""
    return prepared(
        select(*columns, Membership.role, Membership.is_active)
        .select_from(Organization)
        .join(Membership, Membership.organization_id == Organization.id)
        .where(Organization.id == bindparam("org_id"), Membership.user_id == bindparam("user_id"))
    )


@functools.cache
def _token_reading(columns: tuple[Any, ...]) -> Select[Any]:
    """``_reading`` for a service token: the organization's columns, without a membership."""
    return prepared(
        select(*columns).select_from(Organization).where(Organization.id == bindparam("org_id"))
    )


def check_allowed(role: Role, is_active: bool, action: Action) -> None:
    """Raise ``Forbidden`` unless a membership with this role and state may take the action."""
    if action not in allowed_actions(role, is_active):
        if not is_active:
            raise Forbidden("Your membership of this organization is suspended.")
        raise Forbidden()


OWNERS_ONLY = "Only an owner can grant OWNER or change an owner's membership."


def _needs_owner_rights(new_role: Role | None, target_roles: Iterable[Role]) -> bool:
    """Changing, granting or removing OWNER needs MANAGE_OWNERS on top of MANAGE_MEMBERS."""
    return new_role is Role.OWNER or Role.OWNER in set(target_roles)


def require_for_targets(
    membership: Membership, *, new_role: Role | None, target_roles: Iterable[Role]
) -> None:
    """Raise Forbidden when the change touches OWNER and the member may not manage owners."""
    if _needs_owner_rights(new_role, target_roles) and not is_allowed(
        membership, Action.MANAGE_OWNERS
    ):
        raise Forbidden(OWNERS_ONLY)


def grantable_roles(allowed: frozenset[Action]) -> list[Role]:
    """The roles a member with these allowed actions may add people with or change them to."""
    if Action.MANAGE_MEMBERS not in allowed:
        return []
    return [
        role
        for role in Role
        if not _needs_owner_rights(role, ()) or Action.MANAGE_OWNERS in allowed
    ]


def change_refusal(allowed: frozenset[Action], target_role: Role) -> str | None:
    """Why a member with these allowed actions may not change or remove one with this role, in
    the words the refusal would use; None when they may."""
    if Action.MANAGE_MEMBERS not in allowed:
        return Forbidden.default_message
    if _needs_owner_rights(None, (target_role,)) and Action.MANAGE_OWNERS not in allowed:
        return OWNERS_ONLY
    return None


def untouchable_roles(allowed: frozenset[Action]) -> list[Role]:
    """The roles of the members that a member with these allowed actions may not change."""
    return [role for role in Role if change_refusal(allowed, role) is not None]


def roles_allowed_to(action: Action) -> list[Role]:
    """Who may take an action, highest role first: for messages that say whom to ask."""
    return [role for role in Role if role in PERMISSIONS[action]]
