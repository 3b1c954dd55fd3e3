from __future__ import annotations

import enum

from sqlalchemy import SmallInteger, TypeDecorator
from sqlalchemy.engine import Dialect


class Role(enum.Enum):
    """Membership roles, highest first. The value is the rank: sorting by it sorts by power."""

    OWNER = 1
    ADMIN = 2
    CONTRIBUTOR = 3
    ACCOUNTING = 4
    VIEWER = 5

    @property
    def rank(self) -> int:
        return self.value

    @classmethod
    def parse(cls, text: str) -> Role:
        """Read a role name in any letter case; raise ``ValueError`` for anything else."""
        if not isinstance(text, str):
            raise ValueError("a role is a string")
        try:
            return cls[text.strip().upper()]
        except KeyError:
            names = ", ".join(role.name for role in cls)
            raise ValueError(f"unknown role {text!r}; use one of {names}") from None

    def __str__(self) -> str:
        return self.name


class Via(enum.StrEnum):
    """The interface a change came through; the audit log keeps it."""

    WEB = "web"
    API = "api"
    CLI = "cli"


class RoleType(TypeDecorator[Role]):
    """Stores a role as its rank, so ``ORDER BY role`` and its index follow the rank."""

    impl = SmallInteger
    cache_ok = True

    def process_bind_param(self, value: Role | None, dialect: Dialect) -> int | None:
        return None if value is None else Role(value).value

    def process_result_value(self, value: int | None, dialect: Dialect) -> Role | None:
        return None if value is None else Role(value)
