"""A place in the sorted member list, as an opaque text: the keyset cursor of DESIGN §4.

A cursor names one row by its sort key and ``user_id`` and says which side of it the page
lies on, so the next page is found by seeking the ``(organization_id, key, user_id)`` index,
at the cost of page 0 at any depth (``OFFSET`` walks every entry it skips).

Decided: a cursor is base64url of a short JSON array, not signed. It carries nothing the
caller may not see (the key of a row on a page they were shown), and a made-up one only names
another place in a list they may read; anything that does not decode to a place in a list is
refused as invalid input. It carries the list's sort and the page number it leads to, so a
client may send the cursor alone; it does not carry the filters, which are sent again.
"""

from __future__ import annotations

import base64
import binascii
import json
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from webapp.models import Role
from webapp.services.errors import InvalidInput
from webapp.services.values import ID_MAX, has_control_characters, is_id

CURSOR_MAX = 2048
"""Characters: a name key of 255 characters in the widest UTF-8, in base64, and the rest."""
_VERSION = 1

SortKey = int | str | bool | Role | datetime

# What each sort's key is: the member list's sorts (``member_list.SORT_KEYS``) and no other.
KEY_TYPES: dict[str, type] = {
    "user_id": int,
    "email": str,
    "name": str,
    "role": Role,
    "is_active": bool,
    "joined_at": datetime,
}


def _invalid() -> InvalidInput:
    return InvalidInput.field(
        "cursor", "is not a cursor of this list; take next_cursor or prev_cursor from a page"
    )


@dataclass(frozen=True)
class PageCursor:
    """The page just after (``after``) or just before one row of a sorted list.

    ``page_number`` is the number of the page the cursor leads to, as counted when it was made.
    """

    sort_by: str
    sort_ascending: bool
    after: bool
    key: SortKey
    user_id: int
    page_number: int

    def __post_init__(self) -> None:
        kind = KEY_TYPES.get(self.sort_by)
        if (
            kind is None
            or not isinstance(self.key, kind)
            or (kind is int and not is_id(self.key))
            or (kind is datetime and self.key.tzinfo is None)  # type: ignore[union-attr]
            # No stored key has them (names and emails refuse them), and no database takes a
            # NUL or a lone surrogate as a parameter.
            or (kind is str and has_control_characters(self.key))  # type: ignore[arg-type]
            or not is_id(self.user_id)
            or not 0 <= self.page_number <= ID_MAX
        ):
            raise _invalid()

    def encode(self) -> str:
        key: Any = self.key
        if isinstance(key, Role):
            key = key.rank
        elif isinstance(key, datetime):
            key = key.astimezone(UTC).isoformat()
        document = [
            _VERSION,
            self.sort_by,
            self.sort_ascending,
            self.after,
            key,
            self.user_id,
            self.page_number,
        ]
        text = json.dumps(document, ensure_ascii=False, separators=(",", ":"))
        return base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")

    @classmethod
    def decode(cls, text: object) -> PageCursor:
        """Read a cursor ``encode`` wrote; InvalidInput (field ``cursor``) for anything else."""
        if not isinstance(text, str) or not text.isascii() or not 0 < len(text) <= CURSOR_MAX:
            raise _invalid()
        try:
            raw = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
            document = json.loads(raw.decode(), parse_constant=_no_constants)
        except (binascii.Error, ValueError, RecursionError):
            raise _invalid() from None
        if not isinstance(document, list) or len(document) != 7 or document[0] != _VERSION:
            raise _invalid()
        _, sort_by, ascending, after, key, user_id, page_number = document
        if not isinstance(ascending, bool) or not isinstance(after, bool):
            raise _invalid()
        if not isinstance(page_number, int) or isinstance(page_number, bool):
            raise _invalid()
        return cls(
            sort_by=sort_by if isinstance(sort_by, str) else "",
            sort_ascending=ascending,
            after=after,
            key=_read_key(KEY_TYPES.get(sort_by) if isinstance(sort_by, str) else None, key),
            user_id=user_id if isinstance(user_id, int) and not isinstance(user_id, bool) else 0,
            page_number=page_number,
        )


def _read_key(kind: type | None, value: object) -> SortKey:
    """A key as JSON wrote it, back as its type (checked again by ``PageCursor``)."""
    if kind is Role and isinstance(value, int) and not isinstance(value, bool):
        try:
            return Role(value)
        except ValueError:
            raise _invalid() from None
    if kind is datetime and isinstance(value, str):
        try:
            return datetime.fromisoformat(value)
        except ValueError:
            raise _invalid() from None
    if kind is int and isinstance(value, bool):
        raise _invalid()
    if kind is not None and isinstance(value, kind):
        return value
    raise _invalid()


def _no_constants(name: str) -> None:
    raise ValueError(f"{name} is not JSON")
