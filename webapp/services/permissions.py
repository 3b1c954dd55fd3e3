"""The permission table of DESIGN §3, as data, and the one check every service starts with.

This is the only module where a role decides anything.
"""

from __future__ import annotations

import enum
import functools
from collections.abc import Iterable
from typing import Any

from sqlalchemy import Row, Select, bindparam, select

from webapp.extensions import db
from webapp.models import Membership, Organization, Role, User
from webapp.services.errors import Forbidden, NotFound
from webapp.services.transactions import lock_rows
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
}

# What a suspended (inactive) member may still do.
SUSPENDED_ACTIONS: frozenset[Action] = frozenset({Action.VIEW_ROLE, Action.LEAVE})


def allowed_actions(role: Role, is_active: bool) -> frozenset[Action]:
    """Every action a membership with this role and state may take."""
    return frozenset(
        action
        for action, roles in PERMISSIONS.items()
        if role in roles and (is_active or action in SUSPENDED_ACTIONS)
    )


def is_allowed(membership: Membership, action: Action) -> bool:
    return action in allowed_actions(membership.role, membership.is_active)


def require(
    actor: User, org_id: int, action: Action, *, lock: bool = False
) -> tuple[Organization, Membership]:
    """Load the organization and the actor's membership, and check the action is allowed.

    With ``lock``, the organization row is locked first (call inside ``write_transaction``).
    Raises ``NotFound`` for an unknown organization and for a non-member alike, and
    ``Forbidden`` when the role or a suspension does not allow the action.
    """
    if not is_id(org_id):  # beyond 64 bits no row can match; say so before asking the DB
        raise NotFound()
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


def require_reading(actor: User, org_id: int, action: Action, *columns: Any) -> Row[Any]:
    """``require`` for a read that needs only some columns of the organization (or of the
    actor's membership): the same check in the same one statement, answered as a plain row of
    ``columns`` without loading ORM objects."""
    if not is_id(org_id):
        raise NotFound()
    # Plain rows need no ORM execution: the session's connection runs it as Core.
    stmt = _reading(columns)
    row = db.session.connection().execute(stmt, {"org_id": org_id, "user_id": actor.id}).first()
    if row is None:
        raise NotFound()
    check_allowed(row[-2], row[-1], action)
    return row


@functools.cache
def _reading(columns: tuple[Any, ...]) -> Select[Any]:
    """The statement of ``require_reading`` for these columns: reads ask it on every request,
    so it is built once, and so is its cache key."""
    return (
        select(*columns, Membership.role, Membership.is_active)
        .select_from(Organization)
        .join(Membership, Membership.organization_id == Organization.id)
        .where(Organization.id == bindparam("org_id"), Membership.user_id == bindparam("user_id"))
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
