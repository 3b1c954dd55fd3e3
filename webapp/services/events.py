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
import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import ColumnElement, func, select

from webapp.extensions import db
from webapp.inputs import EventQuery
from webapp.models import AuditEvent, Membership, Organization, Role, User
from webapp.services import csv_files
from webapp.services.errors import InvalidInput
from webapp.services.permissions import Action, require_reading
from webapp.services.transactions import read_in_batches
from webapp.services.values import is_id, name_sort_key

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
class EventFilters:
    """Which events: the events API's filters, and the activity page's (which adds ``member``).

    ``actor`` is the acting user's email address or ``token NAME`` (any case); ``member`` a part
    of the touched member's email address, or of their name while they are a member (events keep
    the address, not the name), or their user id written in digits; ``since`` is inclusive,
    ``until`` not.
    """

    actor: str | None = None
    user_id: int | None = None
    member: str | None = None
    action: str | None = None
    since: datetime | None = None
    until: datetime | None = None

    @classmethod
    def of(cls, query: EventQuery) -> EventFilters:
        return cls(
            actor=query.actor,
            user_id=query.user_id,
            action=query.action,
            since=query.since,
            until=query.until,
        )


def conditions(org_id: int, filters: EventFilters) -> list[ColumnElement[bool]]:
    """The WHERE of the organization's events that ``filters`` match (the one place they are
    read, for the API, the activity page and its export)."""
    where: list[ColumnElement[bool]] = [_E.organization_id == org_id]
    if filters.actor is not None:
        # Any case: an address is stored lower-cased, a service token as ``token NAME``.
        where.append(func.lower(_E.actor_email) == filters.actor.strip().lower())
    if filters.user_id is not None:
        where.append(_E.target_user_id == filters.user_id)
    member = (filters.member or "").strip()
    if member:
        named = select(Membership.user_id).where(
            Membership.organization_id == org_id,
            Membership.sort_name.contains(name_sort_key(member), autoescape=True),
        )
        matches = _E.target_email.contains(member.lower(), autoescape=True)
        matches = matches | _E.target_user_id.in_(named)
        if member.isascii() and member.isdigit() and is_id(int(member)):
            matches = matches | (_E.target_user_id == int(member))  # "42": user 42, or bob42@…
        where.append(matches)
    if filters.action is not None:
        where.append(_E.action == filters.action)
    if filters.since is not None:
        where.append(_E.created_at >= filters.since)
    if filters.until is not None:
        where.append(_E.created_at < filters.until)
    return where


def list_events(actor: User, org_id: int, query: EventQuery) -> EventPage:
    """A page of the organization's events, newest first, filtered. OWNER and ADMIN (who may
    read the activity log). Two statements, whatever the page or the filters."""
    before_id = decode_cursor(query.cursor) if query.cursor is not None else None
    require_reading(actor, org_id, Action.VIEW_AUDIT, Organization.id)
    where = conditions(org_id, EventFilters.of(query))
    if before_id is not None:
        where.append(_E.id < before_id)
    statement = select(*_COLUMNS).where(*where).order_by(_E.id.desc()).limit(query.limit + 1)
    rows = db.session.connection().execute(statement).all()
    more = len(rows) > query.limit
    items = [Event(*row) for row in rows[: query.limit]]
    return EventPage(items, encode_cursor(items[-1].id) if more else None)


EXPORT_HEADER = (
    "id",
    "change_id",
    "at",
    "actor",
    "actor_id",
    "action",
    "user_id",
    "email",
    "old_role",
    "new_role",
    "old_is_active",
    "new_is_active",
    "via",
)
EXPORT_BATCH = 1_000


def export_events(actor: User, org_id: int, filters: EventFilters) -> Iterator[str]:
    """Every event ``filters`` match, newest first, as CSV (the activity page's export). OWNER
    and ADMIN; checked now, before the first chunk. One statement, read a batch at a time."""
    require_reading(actor, org_id, Action.VIEW_AUDIT, Organization.id)
    statement = (
        select(*_COLUMNS)
        .where(*conditions(org_id, filters))
        .order_by(_E.id.desc())
        .execution_options(yield_per=EXPORT_BATCH)
    )
    rows = ([_cells(Event(*row)) for row in batch] for batch in read_in_batches(statement))
    return csv_files.chunks(EXPORT_HEADER, rows)


def _cells(e: Event) -> tuple[object, ...]:
    return (
        e.id,
        e.change_id,
        csv_files.utc_text(e.at),
        csv_files.inert(e.actor or ""),
        e.actor_id or "",
        e.action,
        e.user_id or "",
        csv_files.inert(e.email or ""),
        e.old_role.name if e.old_role else "",
        e.new_role.name if e.new_role else "",
        csv_files.flag(e.old_is_active),
        csv_files.flag(e.new_is_active),
        e.via,
    )
