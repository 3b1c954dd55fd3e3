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


# Unicode categories refused in every text value: control and format characters, line and
# paragraph separators, and lone surrogates (Cs), which no database can store.
CONTROL_CATEGORIES = frozenset({"Cc", "Cf", "Cs", "Zl", "Zp"})


def has_control_characters(text: str) -> bool:
    return any(unicodedata.category(ch) in CONTROL_CATEGORIES for ch in text)


def clean_text(value: object, field: str, *, max_length: int, min_length: int = 1) -> str:
    """Trim a one-line text value and check its length and characters."""
    if not isinstance(value, str):
        raise InvalidInput.field(field, "must be a string")
    text = value.strip()
    if has_control_characters(text):
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
    # Lower-casing can lengthen text ("İ" -> "i̇"): check the length after it.
    text = clean_text(value, "email", max_length=EMAIL_MAX * 2).lower()
    if len(text) > EMAIL_MAX:
        raise InvalidInput.field("email", f"must be at most {EMAIL_MAX} characters")
    if not _EMAIL.match(text):
        raise InvalidInput.field("email", "is not an email address")
    return text


def name_sort_key(name: str) -> str:
    """What the member list sorts and searches names by: case-folded, fits SORT_NAME_MAX."""
    return name.casefold()


def password(value: object) -> str:
    if not isinstance(value, str):
        raise InvalidInput.field("password", "must be a string")
    if "\x00" in value or any(unicodedata.category(ch) == "Cs" for ch in value):
        raise InvalidInput.field("password", "must not contain NUL or lone surrogates")
    if len(value) < PASSWORD_MIN:
        raise InvalidInput.field("password", f"must be at least {PASSWORD_MIN} characters")
    if len(value) > PASSWORD_MAX:
        raise InvalidInput.field("password", f"must be at most {PASSWORD_MAX} characters")
    return value


def is_id(value: object) -> bool:
    """A value that can name a row: a positive integer that fits in 64 bits."""
    return isinstance(value, int) and not isinstance(value, bool) and 0 < value <= ID_MAX


def parse_id(text: str, field: str = "id") -> int:
    """Read an id written in ASCII digits (leading zeros allowed), the one way every front does.

    Raises InvalidInput for anything else: signs, spaces, other scripts' digits, 0, or a number
    beyond 64 bits (checked before ``int()``, which refuses 4,300 digits and more).
    """
    if not isinstance(text, str) or not text.isascii() or not text.isdigit():
        raise InvalidInput.field(field, "must be a positive whole number")
    digits = text.lstrip("0")
    if not digits or len(digits) > len(str(ID_MAX)) or int(digits) > ID_MAX:
        raise InvalidInput.field(field, f"must be between 1 and {ID_MAX}")
    return int(digits)


class UserIds(list[int]):
    """Checked user ids: 1 to 10,000 positive 64-bit integers, unique, in ascending order.

    Only ``user_ids`` makes one, so a service handed a ``UserIds`` (parsed at an edge) does not
    check it again. A list, to compare equal to one; not to be changed.
    """


def user_ids(values: Iterable[object], field: str = "user_ids") -> UserIds:
    """Check a list of user ids and collapse duplicates, keeping the sorted unique ids.

    1 to 10,000 ids, each a positive integer that fits in a signed 64-bit integer.
    """
    if isinstance(values, UserIds):
        return values
    ids: set[int] = set()
    for value in values:
        # bool is an int in Python, and never a user id.
        if not isinstance(value, int) or isinstance(value, bool):
            raise InvalidInput.field(field, "must contain only integers")
        if not is_id(value):
            raise InvalidInput.field(field, "ids must be positive 64-bit integers")
        ids.add(value)
    if not ids:
        raise InvalidInput.field(field, "must name at least one user")
    if len(ids) > USER_IDS_MAX:
        raise InvalidInput.field(field, f"must name at most {USER_IDS_MAX:,} users")
    return UserIds(sorted(ids))


def parse_user_ids(text: str, field: str = "user_ids") -> UserIds:
    """Read the documented ``"14,31,33,43"`` form: ids as ``parse_id`` reads them."""
    if len(text) > USER_IDS_MAX * 21:
        raise InvalidInput.field(field, f"must name at most {USER_IDS_MAX:,} users")
    try:
        ids = [parse_id(part, field) for part in text.split(",")]
    except InvalidInput:
        raise InvalidInput.field(
            field, "must be positive 64-bit integers separated by commas, like 14,31,33,43"
        ) from None
    return user_ids(ids, field)
