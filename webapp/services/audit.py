"""The audit log: written inside the transaction of the change it describes, never apart."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from sqlalchemy import Select, func, insert, literal, select

from webapp.extensions import db
from webapp.inputs import ACTIVITY_PAGE_MAX
from webapp.models import AuditEvent, Organization, Role, User, Via, utcnow
from webapp.models.tables import AUDIT_ACTIONS
from webapp.services.errors import InvalidInput
from webapp.services.events import EventFilters, conditions
from webapp.services.permissions import Action, Actor, require
from webapp.services.values import is_id

AUDIT_PAGE_SIZE_MAX = 200
AUDIT_PAGE_NUMBER_MAX = ACTIVITY_PAGE_MAX - 1  # counted from 0


@dataclass(frozen=True)
class TargetChange:
    """One member touched by a change: who, and the role / state before and after. An
    invitation's address has no user yet (``user_id`` None)."""

    user_id: int | None
    email: str | None
    old_role: Role | None = None
    new_role: Role | None = None
    old_active: bool | None = None
    new_active: bool | None = None
    # When the member joined: kept on a removal so that a revert brings back their joined_at.
    joined_at: datetime | None = None


def _fields(action: str, *, actor: Actor | None, via: Via, change_id: str | None) -> dict[str, Any]:
    """What every event of one change shares but its organization and targets."""
    if action not in AUDIT_ACTIONS:  # the events API filters by this list
        raise ValueError(f"{action!r} is not in models.AUDIT_ACTIONS")
    return {
        "created_at": utcnow(),
        "operation_id": change_id or new_change_id(),
        "action": action,
        "via": str(via),
        "actor_id": actor.id if actor else None,
        "actor_email": actor.email if actor else None,
    }


def _rows(
    action: str,
    *,
    actor: Actor | None,
    via: Via,
    entries: Sequence[tuple[int | None, str | None, TargetChange | None]],
    details: dict[str, Any] | None,
    change_id: str | None = None,
) -> list[dict[str, Any]]:
    """The rows of one change: one per (organization id, organization name, target) entry."""
    base = _fields(action, actor=actor, via=via, change_id=change_id) | {"details": details}
    return [
        base
        | {
            "organization_id": org_id,
            "organization_name": org_name,
            "target_user_id": t.user_id if t else None,
            "target_email": t.email if t else None,
            "old_role": t.old_role if t else None,
            "new_role": t.new_role if t else None,
            "old_active": t.old_active if t else None,
            "new_active": t.new_active if t else None,
            "joined_at": t.joined_at if t else None,
        }
        for org_id, org_name, t in entries
    ]


def record(
    action: str,
    *,
    actor: Actor | None,
    via: Via,
    org: Organization | None,
    targets: Sequence[TargetChange] = (),
    details: dict[str, Any] | None = None,
    change_id: str | None = None,
) -> str:
    """Write the events of one change in one statement: a row per target, or one row if none.
    Returns the change set's id (``AuditEvent.operation_id``): a new one, or ``change_id`` when
    one request records several actions as one change set (an import adds, updates, removes
    and invites).

    Call it inside the change's ``write_transaction``; the events commit or roll back with it.
    """
    change_id = change_id or new_change_id()
    org_id, org_name = (org.id, org.organization_name) if org else (None, None)
    entries = [(org_id, org_name, t) for t in targets] or [(org_id, org_name, None)]
    rows = _rows(
        action, actor=actor, via=via, entries=entries, details=details, change_id=change_id
    )
    # The table, not the mapped class: a plain executemany, without the ORM's per-row bulk work.
    db.session.execute(insert(AuditEvent.__table__), rows)
    return change_id


# The columns of a target, in the order ``record_targets`` takes them.
TARGET_FIELDS = (
    "target_user_id",
    "target_email",
    "old_role",
    "new_role",
    "old_active",
    "new_active",
    "joined_at",
)


def record_targets(
    action: str,
    *,
    actor: Actor | None,
    via: Via,
    org: Organization,
    targets: Select[Any],
    change_id: str | None = None,
) -> str:
    """``record`` for targets the database reads: ``targets`` selects one row per target, its
    columns ``TARGET_FIELDS`` in that order, in the order the events take. One INSERT ...
    SELECT writes them, with no row built in Python: for a bulk change of 10,000 members,
    building and binding the rows one by one was most of the change's time (make bench, T9).
    """
    table = AuditEvent.__table__
    fields = _fields(action, actor=actor, via=via, change_id=change_id)
    fields |= {"organization_id": org.id, "organization_name": org.organization_name}
    shared = [literal(value, table.c[name].type) for name, value in fields.items()]
    db.session.execute(
        insert(table).from_select([*TARGET_FIELDS, *fields], targets.add_columns(*shared))
    )
    return str(fields["operation_id"])


def new_change_id() -> str:
    """A change set's id: what every event of one membership-changing request carries."""
    return uuid.uuid4().hex


def record_in_organizations(
    action: str,
    *,
    actor: Actor | None,
    via: Via,
    entries: Sequence[tuple[int | None, str | None, TargetChange | None]],
    details: dict[str, Any] | None = None,
) -> None:
    """Write the events of one change that touches several organizations at once (deleting an
    account): a row per (organization id, organization name, target) entry, in one statement
    however many organizations. An entry without an organization is the change's own row."""
    if entries:
        rows = _rows(action, actor=actor, via=via, entries=entries, details=details)
        db.session.execute(insert(AuditEvent.__table__), rows)


@dataclass(frozen=True)
class AuditPage:
    items: list[AuditEvent]
    page_number: int
    page_size: int
    total_items: int
    # How many events each change on the page wrote in all (a page may show part of a change).
    change_sizes: dict[str, int]

    @property
    def total_pages(self) -> int:
        return -(-self.total_items // self.page_size)


def list_audit_events(
    actor: User,
    org_id: int,
    *,
    page_number: int = 0,
    page_size: int = 50,
    target_user_id: int | None = None,
    filters: EventFilters | None = None,
) -> AuditPage:
    """The organization's audit log, newest first, optionally for one member, filtered as the
    events API filters (``events.conditions``).

    Needs VIEW_AUDIT (owners and admins). Raises NotFound / Forbidden as ``require`` does.
    """
    require(actor, org_id, Action.VIEW_AUDIT)
    if not 0 <= page_number <= AUDIT_PAGE_NUMBER_MAX:
        raise InvalidInput.field("page", f"must be between 0 and {AUDIT_PAGE_NUMBER_MAX:,}")
    if target_user_id is not None and not is_id(target_user_id):
        raise InvalidInput.field("user_id", "must be a user id")
    page_size = min(max(1, page_size), AUDIT_PAGE_SIZE_MAX)
    filters = filters or EventFilters()
    if target_user_id is not None:
        filters = replace(filters, user_id=target_user_id)
    where = conditions(org_id, filters)
    items = db.session.scalars(
        select(AuditEvent)
        .where(*where)
        .order_by(AuditEvent.id.desc())
        .limit(page_size)
        .offset(page_number * page_size)
    ).all()
    total = db.session.scalar(select(func.count()).select_from(AuditEvent).where(*where)) or 0
    sizes = _change_sizes(org_id, {event.operation_id for event in items})
    return AuditPage(list(items), page_number, page_size, total, sizes)


def _change_sizes(org_id: int, change_ids: set[str]) -> dict[str, int]:
    """How many events each of these changes wrote in the organization's trail: one statement
    (none for an empty page)."""
    if not change_ids:
        return {}
    rows = db.session.execute(
        select(AuditEvent.operation_id, func.count())
        .where(AuditEvent.organization_id == org_id, AuditEvent.operation_id.in_(change_ids))
        .group_by(AuditEvent.operation_id)
    ).all()
    return {change_id: count for change_id, count in rows}
