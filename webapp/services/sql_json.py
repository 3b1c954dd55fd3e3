"""JSON text built by the database, for answers too long to encode row by row in Python.

Each construct compiles to the SQL that writes one JSON value exactly as pydantic writes it in
the API's answers (``webapp.api.routes.respond``): the same bytes, so a client cannot tell
which of the two wrote an answer. ``tests/services/test_sql_json.py`` holds them to that on
both databases. A value one of them cannot write so (a timestamp stored in another form than
Roster's, a rank that is no role) comes out NULL, and so does its whole object: the caller
then answers through pydantic instead.
"""

from __future__ import annotations

import functools
import operator
import re
from typing import Any

from sqlalchemy import ColumnExpressionArgument, String, case, cast, literal_column
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
    # SQLite keeps it as text, 'YYYY-MM-DD HH:MM:SS.ffffff' in UTC (UTCDateTime); any other
    # text (written by hand, say) is NULL, not cut up as if it were that.
    at = compiler.process(element.clauses, **kw)
    return (
        f"CASE WHEN {at} GLOB '{_SQLITE_STORED}' THEN"
        f" '\"' || substr({at}, 1, 10) || 'T' || substr({at}, 12, 8)"
        f" || CASE WHEN substr({at}, 20) = '.000000' THEN '' ELSE substr({at}, 20) END"
        f" || 'Z\"' END"
    )


_D = "[0-9]"
_SQLITE_STORED = f"{_D * 4}-{_D * 2}-{_D * 2} {_D * 2}:{_D * 2}:{_D * 2}.{_D * 6}"


@compiles(json_timestamp, "postgresql")
def _json_timestamp_postgresql(element: json_timestamp, compiler: SQLCompiler, **kw: Any) -> str:
    at = compiler.process(element.clauses, **kw)
    utc = f"({at} AT TIME ZONE 'UTC')"
    return (
        f"('\"' || to_char({utc}, 'YYYY-MM-DD\"T\"HH24:MI:SS')"
        f" || CASE WHEN date_trunc('second', {at}) = {at} THEN '' ELSE to_char({utc}, '.US') END"
        f" || 'Z\"')"
    )


def json_role(role: ColumnExpressionArgument[Role]) -> ColumnElement[str]:
    """A ``RoleType`` column (stored as a rank) as the role's name, a JSON string; NULL for a
    rank that is no role."""
    return case(*((role == r, literal_column(f"'\"{r.name}\"'", String())) for r in Role))


def json_boolean(flag: ColumnExpressionArgument[bool]) -> ColumnElement[str]:
    return case(
        (flag, literal_column("'true'", String())), else_=literal_column("'false'", String())
    )


def json_integer(number: ColumnExpressionArgument[int]) -> ColumnElement[str]:
    return cast(number, String)


_NAME = re.compile(r"[a-z_]+")


def json_object(fields: dict[str, ColumnElement[str]]) -> ColumnElement[str]:
    """One JSON object of ``fields`` (each already JSON text), in their order, compact: what
    pydantic writes for a dataclass with those fields. The names are written as they are, so
    they may only be plain field names."""
    parts: list[ColumnElement[str]] = []
    for n, (name, value) in enumerate(fields.items()):
        if not _NAME.fullmatch(name):
            raise ValueError(f"not a plain field name: {name!r}")
        parts.append(literal_column(f"'{'{' if n == 0 else ','}\"{name}\":'", String()))
        parts.append(value)
    parts.append(literal_column("'}'", String()))
    return functools.reduce(operator.add, parts)
