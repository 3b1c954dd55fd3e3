"""The member list as a file (DESIGN §9): the CSV export.

Whoever may see the member list may export it: the same filters and sort, every matching row,
no paging. The file is written as it is read, a batch of rows at a time, so its size does not
change the memory it takes.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Iterator
from datetime import UTC, datetime

from webapp.inputs import MemberFilters
from webapp.models import User
from webapp.services import member_list
from webapp.services.member_list import Member

EXPORT_HEADER = ("user_id", "email", "name", "role", "is_active", "joined_at")

# What makes a spreadsheet read a cell as a formula (or split it): such a text cell gets a
# leading apostrophe, which spreadsheets show as text and do not run (OWASP "CSV injection").
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def inert(text: str) -> str:
    """``text`` as a cell no spreadsheet will run as a formula."""
    return "'" + text if text.startswith(FORMULA_STARTS) else text


def utc_text(moment: datetime) -> str:
    """ISO 8601 in UTC with ``Z``, as the JSON answers write times."""
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


def export_members(actor: User, org_id: int, filters: MemberFilters) -> Iterator[str]:
    """The members ``filters`` match as CSV text (RFC 4180: CRLF, quotes where needed), a batch
    of rows per chunk; the header is in the first. Access is checked now (``all_matching``):
    a refusal is raised here, before the first chunk."""
    return _csv(member_list.all_matching(actor, org_id, filters))


def _csv(batches: Iterable[list[Member]]) -> Iterator[str]:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(EXPORT_HEADER)
    for batch in batches:
        writer.writerows(
            (
                m.user_id,
                inert(m.email),
                inert(m.name),
                m.role.name,
                "true" if m.is_active else "false",
                utc_text(m.joined_at),
            )
            for m in batch
        )
        yield buffer.getvalue()
        buffer.seek(0)
        buffer.truncate()
    if buffer.tell():
        yield buffer.getvalue()  # the header of an empty list
