"""The audit trail for integrations (DESIGN §9 Events): pages of events, newest first.

One event per member a change touched (a change of nothing but the organization, a rename, has
one event without a member). Paging is by keyset on the event id, which only grows: a reader
walking from the newest page to the oldest sees every event that existed when it started
exactly once, however many arrive meanwhile (they land before its first page).

Decided: a cursor is base64url of a short JSON array holding the id of the last event of a
page, not signed: it names a place in a trail the caller may read anyway, and anything that
does not decode to one is refused as invalid input.
"""

from __future__ import annotations

import base64
import binascii
import functools
import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Select, bindparam, select

from webapp.extensions import db
from webapp.inputs import EventQuery
from webapp.models import AuditEvent, Organization, Role, User
from webapp.services.errors import InvalidInput
from webapp.services.permissions import Action, require_reading
from webapp.services.values import is_id

_CURSOR_VERSION = 1


@dataclass(frozen=True)
class Event:
    """One audit event, as the events API shows it (DESIGN §9 Event)."""

    id: int
    change_id: str
    at: datetime
    actor: str | None
    actor_id: int | None
    action: str
    user_id: int | None
    email: str | None
    old_role: Role | None
    new_role: Role | None
    old_is_active: bool | None
    new_is_active: bool | None
    via: str


@dataclass(frozen=True)
class EventPage:
    items: list[Event]
    next_cursor: str | None


def encode_cursor(event_id: int) -> str:
    raw = json.dumps([_CURSOR_VERSION, event_id], separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(text: str) -> int:
    """The event id a cursor names; InvalidInput (field ``cursor``) for anything else."""
    try:
        raw = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
        version, event_id = json.loads(raw)
    except (binascii.Error, ValueError, TypeError):
        raise _bad_cursor() from None
    if version != _CURSOR_VERSION or type(event_id) is not int or not is_id(event_id):
        raise _bad_cursor()
    return event_id


def _bad_cursor() -> InvalidInput:
    return InvalidInput.field("cursor", "is not a cursor of this trail; take a page's next_cursor")


_E = AuditEvent.__table__.c
_COLUMNS = (
    _E.id,
    _E.operation_id,
    _E.created_at,
    _E.actor_email,
    _E.actor_id,
    _E.action,
    _E.target_user_id,
    _E.target_email,
    _E.old_role,
    _E.new_role,
    _E.old_active,
    _E.new_active,
    _E.via,
)


@dataclass(frozen=True)
class _Shape:
    """Which filters a page has: what decides its statement's text."""

    cursor: bool
    actor: bool
    user_id: bool
    action: bool
    since: bool
    until: bool


@functools.cache
def _statement(shape: _Shape) -> Select[Any]:
    """A page's statement, built once per shape: newest first, on ``(organization_id, id)``
    (or ``(organization_id, target_user_id, id)`` for one member), ``limit`` + 1 rows."""
    where = [_E.organization_id == bindparam("org_id")]
    if shape.cursor:
        where.append(_E.id < bindparam("before_id"))
    if shape.actor:
        where.append(_E.actor_email == bindparam("actor"))
    if shape.user_id:
        where.append(_E.target_user_id == bindparam("user_id"))
    if shape.action:
        where.append(_E.action == bindparam("action"))
    if shape.since:
        where.append(_E.created_at >= bindparam("since", type_=_E.created_at.type))
    if shape.until:
        where.append(_E.created_at < bindparam("until", type_=_E.created_at.type))
    return select(*_COLUMNS).where(*where).order_by(_E.id.desc()).limit(bindparam("limit"))


def list_events(actor: User, org_id: int, query: EventQuery) -> EventPage:
    """A page of the organization's events, newest first, filtered. OWNER and ADMIN (who may
    read the activity log). Two statements, whatever the page or the filters."""
    before_id = decode_cursor(query.cursor) if query.cursor is not None else None
    require_reading(actor, org_id, Action.VIEW_AUDIT, Organization.id)
    shape = _Shape(
        before_id is not None,
        query.actor is not None,
        query.user_id is not None,
        query.action is not None,
        query.since is not None,
        query.until is not None,
    )
    values: dict[str, Any] = {
        "org_id": org_id,
        "limit": query.limit + 1,
        "before_id": before_id,
        "actor": (query.actor or "").strip().lower(),
        "user_id": query.user_id,
        "action": query.action,
        "since": query.since,
        "until": query.until,
    }
    rows = db.session.connection().execute(_statement(shape), values).all()
    more = len(rows) > query.limit
    items = [Event(*row) for row in rows[: query.limit]]
    return EventPage(items, encode_cursor(items[-1].id) if more else None)
