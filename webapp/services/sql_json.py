"""JSON text built by the database, for answers too long to encode row by row in Python.

Each construct compiles to the SQL that writes one JSON value exactly as pydantic writes it in
the API's answers (``webapp.api.routes.respond``): the same bytes, so a client cannot tell
which of the two wrote an answer. ``tests/services/test_sql_json.py`` holds them to that on
both databases.
"""

from __future__ import annotations

import functools
import operator
from typing import Any

from sqlalchemy import String, case, cast, literal_column
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.elements import ColumnElement
from sqlalchemy.sql.functions import FunctionElement

from webapp.models.roles import Role


class json_string(FunctionElement[str]):
    """A text column as a JSON string: quoted, with ``"``, ``\\`` and control characters
    escaped, everything else (non-ASCII included) as it is."""

    type = String()
    inherit_cache = True


@compiles(json_string, "sqlite")
def _json_string_sqlite(element: json_string, compiler: SQLCompiler, **kw: Any) -> str:
    return f"json_quote({compiler.process(element.clauses, **kw)})"


@compiles(json_string, "postgresql")
def _json_string_postgresql(element: json_string, compiler: SQLCompiler, **kw: Any) -> str:
    return f"CAST(to_json(CAST({compiler.process(element.clauses, **kw)} AS TEXT)) AS TEXT)"


class json_timestamp(FunctionElement[str]):
    """A ``UTCDateTime`` column as a JSON string: ISO 8601 in UTC with a ``Z``, and six digits
    of fraction only when it has one (``2026-12-04T16:29:06Z``, ``…06.120000Z``)."""

    type = String()
    inherit_cache = True


@compiles(json_timestamp, "sqlite")
def _json_timestamp_sqlite(element: json_timestamp, compiler: SQLCompiler, **kw: Any) -> str:
    # SQLite keeps it as text, 'YYYY-MM-DD HH:MM:SS.ffffff' in UTC (UTCDateTime).
    at = compiler.process(element.clauses, **kw)
    return (
        f"('\"' || substr({at}, 1, 10) || 'T' || substr({at}, 12, 8)"
        f" || CASE WHEN substr({at}, 20) IN ('', '.000000') THEN '' ELSE substr({at}, 20) END"
        f" || 'Z\"')"
    )


@compiles(json_timestamp, "postgresql")
def _json_timestamp_postgresql(element: json_timestamp, compiler: SQLCompiler, **kw: Any) -> str:
    at = compiler.process(element.clauses, **kw)
    utc = f"({at} AT TIME ZONE 'UTC')"
    return (
        f"('\"' || to_char({utc}, 'YYYY-MM-DD\"T\"HH24:MI:SS')"
        f" || CASE WHEN date_trunc('second', {at}) = {at} THEN '' ELSE to_char({utc}, '.US') END"
        f" || 'Z\"')"
    )


def json_role(role: ColumnElement[Any]) -> ColumnElement[str]:
    """A ``RoleType`` column (stored as a rank) as the role's name, a JSON string."""
    return case(*((role == r, literal_column(f"'\"{r.name}\"'")) for r in Role))


def json_boolean(flag: ColumnElement[bool]) -> ColumnElement[str]:
    return case((flag, literal_column("'true'")), else_=literal_column("'false'"))


def json_integer(number: ColumnElement[int]) -> ColumnElement[str]:
    return cast(number, String)


def json_object(fields: dict[str, ColumnElement[str]]) -> ColumnElement[str]:
    """One JSON object of ``fields`` (each already JSON text), in their order, compact: what
    pydantic writes for a dataclass with those fields."""
    parts: list[ColumnElement[str]] = []
    for n, (name, value) in enumerate(fields.items()):
        parts.append(literal_column(f"'{'{' if n == 0 else ','}\"{name}\":'", String()))
        parts.append(value)
    parts.append(literal_column("'}'", String()))
    return functools.reduce(operator.add, parts)
