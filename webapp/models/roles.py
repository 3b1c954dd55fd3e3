from __future__ import annotations

import enum
from typing import Any

from pydantic import GetCoreSchemaHandler, GetJsonSchemaHandler
from pydantic_core import PydanticCustomError, core_schema
from sqlalchemy import SmallInteger, TypeDecorator
from sqlalchemy.engine import Dialect


class Role(enum.Enum):
    """Membership roles, highest first. The value is the rank: sorting by it sorts by power.

    Read from a name in any letter case, written as the upper-case name: in JSON (pydantic, for
    every front) as in the pages.
    """

    OWNER = 1
    ADMIN = 2
    CONTRIBUTOR = 3
    ACCOUNTING = 4
    VIEWER = 5

    @property
    def rank(self) -> int:
        return self.value

    @classmethod
    def parse(cls, text: object) -> Role:
        """Read a role name in any letter case; raise ``ValueError`` for anything else."""
        # ASCII only: a dotless i ("adm\u0131n") upper-cases to "ADMIN" too, and the documented
        # pattern says ASCII letters.
        if isinstance(text, str) and text.isascii() and text.upper() in cls.__members__:
            return cls[text.upper()]
        raise ValueError(f"must be one of {', '.join(ROLE_NAMES)} (any letter case)")

    def __str__(self) -> str:
        return self.name

    @classmethod
    def __get_pydantic_core_schema__(
        cls, source: Any, handler: GetCoreSchemaHandler
    ) -> core_schema.CoreSchema:
        return core_schema.no_info_plain_validator_function(
            _validate_role,
            serialization=core_schema.plain_serializer_function_ser_schema(
                lambda role: role.name, return_schema=core_schema.str_schema()
            ),
        )

    @classmethod
    def __get_pydantic_json_schema__(
        cls, schema: core_schema.CoreSchema, handler: GetJsonSchemaHandler
    ) -> dict[str, Any]:
        if handler.mode == "serialization":
            return {"type": "string", "enum": ROLE_NAMES, "description": "Upper case."}
        return {
            "type": "string",
            "pattern": ROLE_PATTERN,
            "description": "A role name in any letter case: " + ", ".join(ROLE_NAMES) + ".",
            "examples": ["ADMIN", "viewer"],
        }


ROLE_NAMES = [role.name for role in Role]
# The names in any letter case, for the OpenAPI document (what ``Role.parse`` reads).
ROLE_PATTERN = (
    "^(?:" + "|".join("".join(f"[{c}{c.lower()}]" for c in name) for name in ROLE_NAMES) + ")$"
)


def _validate_role(value: object) -> Role:
    if isinstance(value, Role):
        return value
    try:
        return Role.parse(value)
    except ValueError as error:
        raise PydanticCustomError("role", str(error)) from None


class Via(enum.StrEnum):
    """The interface a change came through; the audit log keeps it."""

    WEB = "web"
    API = "api"
    CLI = "cli"
    SCIM = "scim"


class RoleType(TypeDecorator[Role]):
    """Stores a role as its rank, so ``ORDER BY role`` and its index follow the rank."""

    impl = SmallInteger
    cache_ok = True

    def process_bind_param(self, value: Role | None, dialect: Dialect) -> int | None:
        return None if value is None else Role(value).value

    def process_result_value(self, value: int | None, dialect: Dialect) -> Role | None:
        return None if value is None else Role(value)
