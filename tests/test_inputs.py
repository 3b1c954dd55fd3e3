"""The inputs layer starts fast and documents exactly what the services accept."""

from __future__ import annotations

import re
import subprocess
import sys
import unicodedata

from hypothesis import given
from hypothesis import strategies as st

from webapp import patterns
from webapp.models.tables import ORG_NAME_MAX
from webapp.services import values
from webapp.services.errors import InvalidInput


def test_the_written_out_classes_are_what_the_unicode_data_gives():
    """They were built once, not at every start; built again here, they must be the same."""
    assert unicodedata.unidata_version == patterns.UNICODE_VERSION, (
        "another Unicode version: build the classes again with patterns.generate_classes()"
    )
    assert patterns.generate_classes() == {
        "CONTROL_CLASS": patterns.CONTROL_CLASS,
        "SPACE_CLASS": patterns.SPACE_CLASS,
        "BLANK_CLASS": patterns.BLANK_CLASS,
    }


NAME = re.compile(patterns.trimmed_text_pattern(ORG_NAME_MAX))
SEARCH = re.compile(patterns.SEARCH_PATTERN)
# Text with what makes names hard: spaces of every kind, control and format characters,
# separators, astral characters; short and around the 100-character limit.
TRICKY = st.sampled_from(
    [" ", "\t", "\n", "\u00a0", "\u2028", "\u3000", "\x00", "\x1f", "\u200b", "\ufeff", "x"]
)
TEXT = st.one_of(
    st.text(max_size=110),
    st.lists(st.one_of(TRICKY, st.characters()), max_size=110).map("".join),
    st.builds(
        lambda pad, body, tail: pad + body + tail,
        st.text(alphabet=" \t\u3000", max_size=5),
        st.text(alphabet="ab\u00e9\U0001f600 ", min_size=95, max_size=105),
        st.text(alphabet=" \n\u2028", max_size=5),
    ),
)


def _accepted(rule, text: str) -> bool:
    try:
        rule(text)
    except InvalidInput:
        return False
    return True


@given(TEXT)
def test_the_documented_name_pattern_is_the_services_rule(text):
    """What the OpenAPI document says a name may be is what the service takes, trimming
    included, for any text."""
    assert bool(NAME.fullmatch(text)) is _accepted(values.organization_name, text)


@given(TEXT)
def test_the_documented_search_pattern_is_the_services_rule(text):
    if any(unicodedata.category(ch) == "Cs" for ch in text):
        return  # lone surrogates cannot be written in a pattern; the parser refuses them
    assert bool(SEARCH.fullmatch(text)) is (not values.has_control_characters(text))


def test_listing_the_commands_loads_no_app_and_no_service():
    """``roster --help`` (and shell completion) imports neither the services, the models,
    pydantic, SQLAlchemy nor Alembic: it used to build the whole app (about 1.2 s)."""
    probe = (
        "import sys\n"
        "from webapp.cli import cli\n"
        "try:\n"
        "    cli.main(['--help'], prog_name='roster')\n"
        "except SystemExit:\n"
        "    pass\n"
        "heavy = ('webapp.services', 'webapp.models', 'pydantic', 'sqlalchemy', 'alembic')\n"
        "print(sorted({m.split('.')[0] + '.' + m.split('.')[1] if m.startswith('webapp.') "
        "else m.split('.')[0] for m in sys.modules if m.startswith(heavy)}))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, timeout=60, check=True
    )
    assert "Commands:" in result.stdout and "serve" in result.stdout
    assert result.stdout.strip().splitlines()[-1] == "[]", result.stdout
