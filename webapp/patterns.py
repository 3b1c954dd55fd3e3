"""Regular expressions the OpenAPI document publishes for text inputs, written out as constants.

They say in the document's language (ECMA-262, as JSON Schema reads it; Python and Rust read
them alike) what ``services.values`` accepts. Building the character classes means asking
about every one of the 1,114,112 code points, which took a second at every start; so they are
built once, here as literals, and ``tests/test_inputs.py`` builds them again with
``generate_classes()`` and checks they are still the same.

Made with the Unicode database of Python's ``unicodedata`` (``UNICODE_VERSION``): another
version may file a character under another category, and the test then says so.
"""

from __future__ import annotations

import sys
import unicodedata
from collections.abc import Callable

from webapp.services.values import CONTROL_CATEGORIES

UNICODE_VERSION = "14.0.0"

# What ``services.values`` refuses in any text (control and format characters, line and
# paragraph separators; lone surrogates cannot be written in a regex, and are refused anyway).
CONTROL_CLASS = (
    "\\u0000-\\u001F\\u007F-\\u009F\\u00AD\\u0600-\\u0605\\u061C\\u06DD\\u070F\\u0890-\\u0891"
    "\\u08E2\\u180E\\u200B-\\u200F\\u2028-\\u202E\\u2060-\\u2064\\u2066-\\u206F\\uFEFF"
    "\\uFFF9-\\uFFFB\U000110bd\U000110cd\U00013430-\U00013438\U0001bca0-\U0001bca3"
    "\U0001d173-\U0001d17a\U000e0001\U000e0020-\U000e007f"
)
# What trimming removes (Python's ``str.strip()``: ``str.isspace``).
SPACE_CLASS = (
    "\\u0009-\\u000D\\u001C-\\u0020\\u0085\\u00A0\\u1680\\u2000-\\u200A\\u2028-\\u2029\\u202F"
    "\\u205F\\u3000"
)
# Either: what may neither begin nor end a trimmed name.
BLANK_CLASS = (
    "\\u0000-\\u0020\\u007F-\\u00A0\\u00AD\\u0600-\\u0605\\u061C\\u06DD\\u070F\\u0890-\\u0891"
    "\\u08E2\\u1680\\u180E\\u2000-\\u200F\\u2028-\\u202F\\u205F-\\u2064\\u2066-\\u206F\\u3000"
    "\\uFEFF\\uFFF9-\\uFFFB\U000110bd\U000110cd\U00013430-\U00013438\U0001bca0-\U0001bca3"
    "\U0001d173-\U0001d17a\U000e0001\U000e0020-\U000e007f"
)


def trimmed_text_pattern(max_length: int) -> str:
    """A one-line text of 1 to ``max_length`` characters once trimmed, as ``clean_text`` reads it.

    Any spaces around it (they are trimmed away), then a visible character, then at most
    ``max_length - 1`` more that are not control characters, the last of them visible too.
    """
    return (
        f"^[{SPACE_CLASS}]*[^{BLANK_CLASS}]"
        f"(?:[^{CONTROL_CLASS}]{{0,{max_length - 2}}}[^{BLANK_CLASS}])?[{SPACE_CLASS}]*$"
    )


# Search text: anything but the characters the service refuses.
SEARCH_PATTERN = f"^[^{CONTROL_CLASS}]*$"

# One email address as ``services.values.email_address`` takes it (something@something.tld),
# without the separators of the comma-separated form (``inputs.split_emails``) and without
# U+0130, the one character that lower-casing lengthens (a 254-character address with it would
# be 255 once stored).
_ADDRESS_CHAR = f"[^@,;{SPACE_CLASS}{CONTROL_CLASS}\\u0130]"
EMAIL_ITEM = f"{_ADDRESS_CHAR}+@{_ADDRESS_CHAR}+\\.{_ADDRESS_CHAR}+"
EMAIL_PATTERN = f"^[{SPACE_CLASS}]*{EMAIL_ITEM}[{SPACE_CLASS}]*$"
_EMAIL_SEPARATOR = f"[,;{SPACE_CLASS}]"
EMAILS_TEXT_PATTERN = (
    f"^{_EMAIL_SEPARATOR}*{EMAIL_ITEM}(?:{_EMAIL_SEPARATOR}+{EMAIL_ITEM})*{_EMAIL_SEPARATOR}*$"
)


def generate_classes() -> dict[str, str]:
    """The three classes above, built from ``services.values`` and Python's Unicode data."""

    def refused(ch: str) -> bool:
        category = unicodedata.category(ch)
        return category in CONTROL_CATEGORIES and category != "Cs"

    return {
        "CONTROL_CLASS": _char_class(refused),
        "SPACE_CLASS": _char_class(str.isspace),
        "BLANK_CLASS": _char_class(lambda ch: refused(ch) or ch.isspace()),
    }


def _char_class(predicate: Callable[[str], bool]) -> str:
    """A character class body listing every code point the predicate accepts, as ranges.

    BMP code points are written ``\\uXXXX`` (read alike by ECMA-262, Python and Rust); the few
    astral ones as the characters themselves.
    """

    def escape(cp: int) -> str:
        return f"\\u{cp:04X}" if cp <= 0xFFFF else chr(cp)

    ranges: list[tuple[int, int]] = []
    for cp in range(sys.maxunicode + 1):
        if predicate(chr(cp)):
            if ranges and ranges[-1][1] == cp - 1:
                ranges[-1] = (ranges[-1][0], cp)
            else:
                ranges.append((cp, cp))
    return "".join(
        escape(low) if low == high else f"{escape(low)}-{escape(high)}" for low, high in ranges
    )
