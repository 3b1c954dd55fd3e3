"""JSON text built by the database, for answers too long to encode row by row in Python.

``json_object`` compiles to the SQL that writes one object exactly as pydantic writes it in the
API's answers (``webapp.api.routes.respond``): the same bytes, so a client cannot tell which of
the two wrote an answer. ``tests/services/test_sql_json.py`` holds it to that on both
databases. SQLite writes the object with its own ``json_object()`` (C, one string a row: 12.2
ms against 14.7 for concatenating the pieces, for make bench T11's list); PostgreSQL's
``json_build_object`` spaces its output differently, so there the pieces are concatenated,
each written by ``to_json`` or by hand. An object holding a value one of them cannot write so
(a timestamp stored in another form than Roster's, a rank that is no role) is NULL: the caller
then answers through pydantic instead.
"""

from __future__ import annotations

import re
from typing import Any

from sqlalchemy import String, literal_column
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.functions import FunctionElement

from webapp.models.roles import Role


class _Value(FunctionElement[str]):
    """One field of a ``json_object``, each kind saying how both databases write it."""

    type = String()
    inherit_cache = True

    def sqlite(self, column: str) -> str:
        """The SQL value SQLite's ``json_object()`` writes as this field's JSON."""
        return column

    def postgresql(self, column: str) -> str:
        """The field's JSON text."""
        raise NotImplementedError

    def guard(self, column: str) -> str | None:
        """SQLite: the condition under which ``column`` is written as pydantic writes it."""
        return None


class json_string(_Value):
    """Text, quoted, with ``"``, ``\\`` and control characters escaped, anything else (non-ASCII
    included) as it is."""

    inherit_cache = True

    def postgresql(self, column: str) -> str:
        return f"CAST(to_json(CAST({column} AS TEXT)) AS TEXT)"


class json_integer(_Value):
    inherit_cache = True

    def postgresql(self, column: str) -> str:
        return f"CAST({column} AS TEXT)"


class json_boolean(_Value):
    inherit_cache = True

    def sqlite(self, column: str) -> str:
        return f"json({self.postgresql(column)})"

    def postgresql(self, column: str) -> str:
        return f"CASE WHEN {column} THEN 'true' ELSE 'false' END"


class json_role(_Value):
    """A ``RoleType`` column (stored as a rank) as the role's name."""

    inherit_cache = True

    def sqlite(self, column: str) -> str:
        return _role_names(column, quote="")

    def postgresql(self, column: str) -> str:
        return _role_names(column, quote='"')  # no ELSE: NULL for a rank that is no role

    def guard(self, column: str) -> str | None:
        return f"{column} IN ({', '.join(str(role.value) for role in Role)})"


def _role_names(column: str, quote: str) -> str:
    whens = " ".join(f"WHEN {role.value} THEN '{quote}{role.name}{quote}'" for role in Role)
    return f"CASE {column} {whens} END"


_D = "[0-9]"
_SQLITE_STORED = f"{_D * 4}-{_D * 2}-{_D * 2} {_D * 2}:{_D * 2}:{_D * 2}.{_D * 6}"


class json_timestamp(_Value):
    """A ``UTCDateTime`` column: ISO 8601 in UTC with a ``Z``, and six digits of fraction only
    when it has one (``2026-12-04T16:29:06Z``, ``…06.120000Z``)."""

    inherit_cache = True

    def sqlite(self, column: str) -> str:
        return f"replace(replace({column}, ' ', 'T') || 'Z', '.000000Z', 'Z')"

    def postgresql(self, column: str) -> str:
        utc = f"({column} AT TIME ZONE 'UTC')"
        return (
            f"('\"' || to_char({utc}, 'YYYY-MM-DD\"T\"HH24:MI:SS')"
            f" || CASE WHEN date_trunc('second', {column}) = {column} THEN ''"
            f" ELSE to_char({utc}, '.US') END || 'Z\"')"
        )

    def guard(self, column: str) -> str | None:
        # SQLite keeps it as text, 'YYYY-MM-DD HH:MM:SS.ffffff' in UTC (UTCDateTime); any other
        # text (written by hand, say) is not cut up as if it were that.
        return f"{column} GLOB '{_SQLITE_STORED}'"


_NAME = re.compile(r"[a-z_]+")


class json_object(FunctionElement[str]):
    """One JSON object of ``fields`` in their order, compact: what pydantic writes for a
    dataclass with those fields. The names are written as they are, so they may only be plain
    field names."""

    type = String()
    inherit_cache = True

    def __init__(self, fields: dict[str, _Value]) -> None:
        arguments: list[Any] = []
        for name, value in fields.items():
            if not _NAME.fullmatch(name):
                raise ValueError(f"not a plain field name: {name!r}")
            # The names are clauses too, so that they are part of the statement's cache key.
            arguments += [literal_column(f"'{name}'", String()), value]
        super().__init__(*arguments)

    def pairs(self, compiler: SQLCompiler, **kw: Any) -> list[tuple[str, _Value, str]]:
        """(name, field, the field's column as SQL) for each field."""
        clauses = list(self.clauses)
        return [
            (name.name.strip("'"), value, compiler.process(value.clauses, **kw))
            for name, value in zip(clauses[::2], clauses[1::2], strict=True)
        ]


@compiles(json_object, "sqlite")
def _json_object_sqlite(element: json_object, compiler: SQLCompiler, **kw: Any) -> str:
    pairs = element.pairs(compiler, **kw)
    arguments = ", ".join(f"'{name}', {value.sqlite(sql)}" for name, value, sql in pairs)
    guards = [g for _, value, sql in pairs if (g := value.guard(sql))]
    written = f"json_object({arguments})"
    return f"CASE WHEN {' AND '.join(guards)} THEN {written} END" if guards else written


@compiles(json_object, "postgresql")
def _json_object_postgresql(element: json_object, compiler: SQLCompiler, **kw: Any) -> str:
    # Any NULL piece makes the whole object NULL (to_char of 'infinity', a rank that is no
    # role).
    pieces = [
        f"'{'{' if n == 0 else ','}\"{name}\":' || {value.postgresql(sql)}"
        for n, (name, value, sql) in enumerate(element.pairs(compiler, **kw))
    ]
    return f"({' || '.join(pieces)} || '}}')"
