"""The API's request and response shapes, as pydantic models.

These models both validate requests and generate the OpenAPI document (``api/openapi.py``), so
the documentation cannot drift from what the routes accept. They check *shape* only (types,
lengths, ranges, the character set of a name); every rule about what a value means stays in the
service layer, which the routes call next: ids are checked and de-duplicated by
``services.values``, roles read by ``Role.parse``, limits are the services' own constants.
"""

from __future__ import annotations

import functools
import re
import sys
import unicodedata
from datetime import UTC, datetime
from decimal import Decimal
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Discriminator,
    Field,
    PlainSerializer,
    Strict,
    Tag,
    WithJsonSchema,
)
from pydantic_core import PydanticCustomError

from webapp.models import Role
from webapp.models.tables import ORG_NAME_MAX
from webapp.services import members, values
from webapp.services.errors import InvalidInput

# -- building blocks -------------------------------------------------------------------------


def _char_class(predicate: Any) -> str:
    """A regex character class body listing every code point the predicate accepts, as ranges.

    BMP code points are written as ``\\uXXXX`` (read alike by ECMA-262, Python and Rust
    regexes); the few astral ones as literal characters.
    """

    def esc(cp: int) -> str:
        return f"\\u{cp:04X}" if cp <= 0xFFFF else chr(cp)

    parts: list[str] = []
    start = prev = None
    for cp in range(sys.maxunicode + 1):
        if predicate(chr(cp)):
            if start is None:
                start = cp
            elif cp != prev + 1:  # type: ignore[operator]
                parts.append(esc(start) if start == prev else f"{esc(start)}-{esc(prev)}")  # type: ignore[arg-type]
                start = cp
            prev = cp
    if start is not None:
        parts.append(esc(start) if start == prev else f"{esc(start)}-{esc(prev)}")  # type: ignore[arg-type]
    return "".join(parts)


@functools.cache
def name_pattern() -> str:
    """One line of text with at least one visible character: what ``clean_text`` accepts."""
    blank = _char_class(lambda ch: _refused(ch) or ch.isspace())
    return f"^[^{_control_class()}]*[^{blank}][^{_control_class()}]*$"


@functools.cache
def _control_class() -> str:
    """The characters ``services.values`` refuses in any text, as a regex class body."""
    return _char_class(_refused)


def _refused(ch: str) -> bool:
    # Lone surrogates (Cs) cannot be written in a regex, and never arrive: JSON parsing and
    # URL decoding refuse them first.
    return values.has_control_characters(ch) and unicodedata.category(ch) != "Cs"


@functools.cache
def search_pattern() -> str:
    """Search text: anything but the characters the service refuses."""
    return f"^[^{_control_class()}]*$"


def _int_range_pattern(high: int) -> str:
    """A regex for the decimal integers 1..high, leading zeros allowed (ECMA-262 compatible)."""
    digits = str(high)
    n = len(digits)
    shorter = f"[1-9][0-9]{{0,{n - 2}}}" if n > 1 else ""
    same: list[str] = []
    for i, d in enumerate(digits):
        if d == "0" or (i == 0 and d == "1"):
            continue
        low = "1" if i == 0 else "0"
        rest = n - i - 1
        tail = f"[0-9]{{{rest}}}" if rest else ""
        same.append(f"{digits[:i]}[{low}-{int(d) - 1}]{tail}")
    same.append(digits)
    return "0*(?:" + "|".join([p for p in (shorter, *same) if p]) + ")"


ID_PATTERN = _int_range_pattern(values.ID_MAX)
USER_IDS_TEXT_PATTERN = f"^{ID_PATTERN}(?:,{ID_PATTERN})*$"
ROLE_PATTERN = (
    "^(?:" + "|".join("".join(f"[{c}{c.lower()}]" for c in role.name) for role in Role) + ")$"
)
ROLE_NAMES = [role.name for role in Role]


def _invalid_to_pydantic(call: Any, value: Any) -> Any:
    """Run a service value check inside pydantic, so its message lands in ``errors``."""
    try:
        return call(value)
    except InvalidInput as error:
        message = error.errors[0].message if error.errors else error.message
        raise PydanticCustomError("invalid_value", message) from None
    except ValueError as error:
        raise PydanticCustomError("invalid_value", str(error)) from None


def _utc_z(value: datetime) -> str:
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z")


Timestamp = Annotated[
    datetime,
    PlainSerializer(_utc_z, return_type=str),
    WithJsonSchema({"type": "string", "format": "date-time", "examples": ["2025-01-31T09:30:00Z"]}),
]


def _json_integer(value: Any) -> Any:
    """A JSON number with a zero fraction (11.0, 1e3) is that integer, as JSON Schema says.

    The API reads numbers with a fraction or exponent exactly (``Decimal``, see
    ``routes.json_body``), so a large id is never rounded through a float. Booleans and strings
    are not integers, even in lax mode.
    """
    if isinstance(value, Decimal):
        if not value.is_finite() or value != value.to_integral_value():
            raise PydanticCustomError("int_type", "must be a whole number")
        if value.adjusted() >= len(str(values.ID_MAX)):  # before int(): 1e999999 is huge
            raise PydanticCustomError(
                "int_type", f"must be a whole number between 1 and {values.ID_MAX}"
            )
        return int(value)
    return value


ObjectId = Annotated[int, Strict(), Field(ge=1, le=values.ID_MAX), BeforeValidator(_json_integer)]

RoleOut = Annotated[
    Role,
    PlainSerializer(lambda role: role.name, return_type=str),
    WithJsonSchema({"type": "string", "enum": ROLE_NAMES, "description": "Upper case."}),
]

RoleIn = Annotated[
    str,
    Field(
        pattern=ROLE_PATTERN,
        description="A role name in any letter case: " + ", ".join(ROLE_NAMES) + ".",
        examples=["ADMIN", "viewer"],
    ),
    AfterValidator(lambda text: _invalid_to_pydantic(Role.parse, text)),
]


def _is_active_tag(value: Any) -> str:
    return "string" if isinstance(value, str) else "boolean"


ActiveFlag = Annotated[
    Annotated[Annotated[bool, Strict()], Tag("boolean")]
    | Annotated[Literal["true", "false"], Tag("string")],
    Discriminator(_is_active_tag),
    AfterValidator(lambda value: value if isinstance(value, bool) else value == "true"),
    Field(description='A JSON boolean; the strings "true" and "false" are accepted too.'),
]


def _user_ids_tag(value: Any) -> str:
    return "string" if isinstance(value, str) else "array"


UserIdsIn = Annotated[
    Annotated[
        list[ObjectId],
        Field(min_length=1, max_length=values.USER_IDS_MAX),
        AfterValidator(lambda ids: _invalid_to_pydantic(values.user_ids, ids)),
        Tag("array"),
    ]
    | Annotated[
        str,
        Field(pattern=USER_IDS_TEXT_PATTERN, max_length=values.USER_IDS_MAX * 21),
        AfterValidator(lambda text: _invalid_to_pydantic(values.parse_user_ids, text)),
        Tag("string"),
    ],
    Discriminator(_user_ids_tag),
    Field(
        description=(
            f"1 to {values.USER_IDS_MAX:,} user ids, each a positive 64-bit integer: a JSON array, "
            'or the comma-separated form "14,31,33,43". Duplicates collapse.'
        ),
        examples=[[14, 31, 33, 43], "14,31,33,43"],
    ),
]

# The tags above appear in pydantic's error locations; they are not field names.
UNION_TAGS = frozenset({"array", "string", "boolean"})

OrganizationName = Annotated[
    str,
    Field(
        min_length=1,
        max_length=ORG_NAME_MAX,
        pattern=name_pattern(),
        description=(
            f"1 to {ORG_NAME_MAX} characters after trimming, no control characters. "
            "Leading and trailing spaces are removed."
        ),
        examples=["Acme Corporation"],
    ),
]


class _Input(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)


class _Output(BaseModel):
    model_config = ConfigDict(from_attributes=True)


# -- requests --------------------------------------------------------------------------------


class CreateAccount(_Input):
    """The body of ``POST /api/organizations``."""

    organization_name: OrganizationName


class UpdateAccount(_Input):
    """The body of ``PUT /api/organizations``: the id names the organization."""

    id: ObjectId
    organization_name: OrganizationName


class UpdateAccountById(_Input):
    """The body of ``PUT /api/organizations/{organization_id}``; ``id``, if given, must match."""

    id: ObjectId | None = Field(
        default=None, description="Optional; when given it must equal the id in the path."
    )
    organization_name: OrganizationName


class AddMembers(_Input):
    """The body of ``POST .../users``. Without ``role`` members join as VIEWER, active."""

    user_ids: UserIdsIn
    role: RoleIn = Field(
        default=Role.VIEWER.name, validate_default=True, description="Defaults to VIEWER."
    )
    is_active: ActiveFlag = Field(default=True, description="Defaults to true.")


class UpdateMembers(_Input):
    """The body of ``PUT .../users``: ``role``, ``is_active`` or both."""

    model_config = ConfigDict(json_schema_extra=lambda schema: _role_or_flag(schema))

    # Absent means "leave as is"; an explicit null is refused like any other wrong type.
    user_ids: UserIdsIn
    role: RoleIn = None  # type: ignore[assignment]
    is_active: ActiveFlag = None  # type: ignore[assignment]


def _role_or_flag(schema: dict[str, Any]) -> None:
    """At least one of ``role`` and ``is_active``; neither documents a null default."""
    schema["anyOf"] = [{"required": ["role"]}, {"required": ["is_active"]}]
    for name in ("role", "is_active"):
        schema["properties"][name].pop("default", None)


def _query_bool(value: Any) -> Any:
    # Only the two spellings the docs promise; pydantic alone would take "yes", "1", "on"...
    if value in ("true", "false"):
        return value == "true"
    if isinstance(value, bool):
        return value
    raise PydanticCustomError("bool_parsing", 'must be "true" or "false"')


QueryBool = Annotated[bool, BeforeValidator(_query_bool)]


class MemberListQuery(BaseModel):
    """The query string of ``GET .../users``; it becomes a ``services.members.MemberQuery``."""

    model_config = ConfigDict(extra="ignore")

    page_number: int = Field(
        default=0,
        ge=0,
        le=members.PAGE_NUMBER_MAX,
        description="Zero-based. A page past the end has no items and the right totals.",
    )
    page_size: int = Field(default=members.PAGE_SIZE_DEFAULT, ge=1, le=members.PAGE_SIZE_MAX)
    sort_by: Literal[tuple(members.SORT_KEYS)] = Field(  # type: ignore[valid-type]
        default=members.SORT_DEFAULT, description="Ties are broken by user_id."
    )
    sort_ascending: QueryBool = True
    q: str | None = Field(
        default=None,
        max_length=members.QUERY_MAX,
        pattern=search_pattern(),
        description="Part of the email or name, any case.",
    )
    role: RoleIn | None = Field(default=None, description="Only members with this role.")
    is_active: QueryBool | None = Field(default=None, description="Only active or suspended.")

    def to_member_query(self) -> members.MemberQuery:
        return members.MemberQuery(
            page_number=self.page_number,
            page_size=self.page_size,
            sort_by=self.sort_by,
            sort_ascending=self.sort_ascending,
            q=self.q,
            role=self.role,  # type: ignore[arg-type]  (RoleIn yields a Role)
            is_active=self.is_active,
        )


def user_ids_path(text: str) -> list[int]:
    """The ``{user_ids}`` path segment, read like the string form of the body field."""
    if not re.fullmatch(USER_IDS_TEXT_PATTERN, text):
        raise InvalidInput.field("user_ids", "must be positive integers separated by commas")
    return values.parse_user_ids(text)


# -- responses -------------------------------------------------------------------------------


class Account(_Output):
    """An organization as the caller sees it."""

    id: int
    organization_name: str
    created_at: Timestamp
    updated_at: Timestamp
    member_count: int = Field(description="Active and suspended members.")
    role: RoleOut = Field(description="The caller's own role.")
    is_active: bool = Field(description="Whether the caller's own membership is active.")


class Member(_Output):
    user_id: int
    email: str
    name: str
    role: RoleOut
    is_active: bool
    joined_at: Timestamp
    updated_at: Timestamp


class MemberPage(_Output):
    items: list[Member]
    page_number: int
    page_size: int
    total_items: int
    total_pages: int
    sort_by: str
    sort_ascending: bool


class Metric(_Output):
    metric: str = Field(examples=["members_total"])
    label: str = Field(examples=["Members"])
    value: int


class LeftOrganization(BaseModel):
    organization_id: int
    user_id: int
    left: Literal[True]


class FieldProblem(BaseModel):
    field: str
    message: str


class Problem(BaseModel):
    """RFC 9457 problem details, ``application/problem+json``."""

    type: str = Field(examples=["about:blank"])
    title: str = Field(examples=["Conflict"])
    status: int = Field(examples=[409])
    detail: str
    code: str = Field(description="Stable and machine-readable.", examples=["last_owner"])
    errors: list[FieldProblem] | None = Field(
        default=None, description="Field errors, for 400 answers."
    )
    user_ids: list[int] | None = Field(default=None, description="The offending user ids.")


# What to say instead of echoing a long regular expression back to the client.
PATTERN_MESSAGES = {
    "organization_name": "must contain a visible character and no control characters",
    "user_ids": "must be positive 64-bit integers separated by commas, like 14,31,33,43",
    "role": "must be one of " + ", ".join(ROLE_NAMES) + " (any letter case)",
    "q": "must not contain control characters",
}
