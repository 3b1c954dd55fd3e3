"""CSV as Roster writes it (RFC 4180: CRLF, quotes where needed, UTF-8), for every export."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Iterator, Sequence
from datetime import UTC, datetime

# What makes a spreadsheet read a cell as a formula (or split it): such a text cell gets a
# leading apostrophe, which spreadsheets show as text and do not run (OWASP "CSV injection").
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def inert(text: str) -> str:
    """``text`` as a cell no spreadsheet will run as a formula."""
    return "'" + text if text.startswith(FORMULA_STARTS) else text


def flag(value: bool | None) -> str:
    """A yes/no cell: ``true`` or ``false``, as JSON writes them; empty when there is none."""
    return "" if value is None else "true" if value else "false"


def utc_text(moment: datetime) -> str:
    """ISO 8601 in UTC with ``Z``, as the JSON answers write times."""
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


def chunks(header: Sequence[str], batches: Iterable[Iterable[Sequence[object]]]) -> Iterator[str]:
    """The header and the rows as CSV text, one chunk per batch (the header in the first), so a
    file is sent as its rows are read. Cells are written as given: make text ``inert`` first."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(header)
    try:
        for batch in batches:
            writer.writerows(batch)
            yield buffer.getvalue()
            buffer.seek(0)
            buffer.truncate()
    finally:  # a client gone mid-file: the rows' cursor is closed now, not when collected
        close = getattr(batches, "close", None)
        if close is not None:
            close()
    if buffer.tell():
        yield buffer.getvalue()  # the header of an empty file
