"""Value rules shared by every interface: names, emails, id lists."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable

from webapp.models.tables import EMAIL_MAX, NAME_MAX, ORG_NAME_MAX
from webapp.services.errors import InvalidInput

USER_IDS_MAX = 10_000
ID_MAX = 2**63 - 1
PASSWORD_MIN = 10
PASSWORD_MAX = 1024

# Deliberately loose: one @, no spaces, a dot in the domain. Delivery is the real test.
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


def clean_text(value: object, field: str, *, max_length: int, min_length: int = 1) -> str:
    """Trim a one-line text value and check its length and characters."""
    if not isinstance(value, str):
        raise InvalidInput.field(field, "must be a string")
    text = value.strip()
    if any(unicodedata.category(ch) in ("Cc", "Cf", "Zl", "Zp") for ch in text):
        raise InvalidInput.field(field, "must not contain control characters")
    if len(text) < min_length:
        raise InvalidInput.field(field, "must not be empty")
    if len(text) > max_length:
        raise InvalidInput.field(field, f"must be at most {max_length} characters")
    return text


def organization_name(value: object) -> str:
    return clean_text(value, "organization_name", max_length=ORG_NAME_MAX)


def person_name(value: object) -> str:
    return clean_text(value, "name", max_length=NAME_MAX)


def email_address(value: object) -> str:
    """Trimmed and lower-cased: addresses are unique without regard to case."""
    text = clean_text(value, "email", max_length=EMAIL_MAX).lower()
    if not _EMAIL.match(text):
        raise InvalidInput.field("email", "is not an email address")
    return text


def password(value: object) -> str:
    if not isinstance(value, str):
        raise InvalidInput.field("password", "must be a string")
    if len(value) < PASSWORD_MIN:
        raise InvalidInput.field("password", f"must be at least {PASSWORD_MIN} characters")
    if len(value) > PASSWORD_MAX:
        raise InvalidInput.field("password", f"must be at most {PASSWORD_MAX} characters")
    return value


def user_ids(values: Iterable[object], field: str = "user_ids") -> list[int]:
    """Check a list of user ids and collapse duplicates, keeping the sorted unique ids.

    1 to 10,000 ids, each a positive integer that fits in a signed 64-bit integer.
    """
    ids: set[int] = set()
    for value in values:
        # bool is an int in Python, and never a user id.
        if not isinstance(value, int) or isinstance(value, bool):
            raise InvalidInput.field(field, "must contain only integers")
        if not 0 < value <= ID_MAX:
            raise InvalidInput.field(field, "ids must be positive 64-bit integers")
        ids.add(value)
    if not ids:
        raise InvalidInput.field(field, "must name at least one user")
    if len(ids) > USER_IDS_MAX:
        raise InvalidInput.field(field, f"must name at most {USER_IDS_MAX:,} users")
    return sorted(ids)


def parse_user_ids(text: str, field: str = "user_ids") -> list[int]:
    """Read the documented ``"14,31,33,43"`` form. Every item must be a plain decimal integer."""
    if len(text) > USER_IDS_MAX * 21:
        raise InvalidInput.field(field, f"must name at most {USER_IDS_MAX:,} users")
    values: list[int] = []
    for part in text.split(","):
        item = part.strip()
        if not item.isascii() or not item.isdigit():
            raise InvalidInput.field(field, "must be positive integers separated by commas")
        values.append(int(item))
    return user_ids(values, field)
