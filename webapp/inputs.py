"""What every front reads from its requests, as types: one parser per idea (STYLE §6).

The JSON API and the dashboard parse with these same models: the member list's query, member
changes, id lists, flags, roles, names. A front may call a field by another name (the
dashboard's ``page`` counts from 1) but never checks a value again: the API and the pages
accept and refuse alike, naming the same field. The models are also the OpenAPI document's
source (``api/openapi.py``).

Shape is checked here (types, the id list's form and size, ranges); what a value means is the
services' (``services.values``, which these types call, and every service checks again for
its other callers, the CLI among them). Defaults live in the service signatures: a field left
out is passed on as left out.
"""

from __future__ import annotations

import inspect
import json
import re
from collections.abc import Callable, Mapping
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Annotated, Any, Literal, TypeVar

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Discriminator,
    Field,
    PlainValidator,
    Strict,
    Tag,
    ValidationError,
    ValidatorFunctionWrapHandler,
    WithJsonSchema,
    WrapValidator,
    model_validator,
)
from pydantic_core import PydanticCustomError
from werkzeug.routing import BaseConverter

from webapp.models import Role
from webapp.models.tables import EMAIL_MAX, ORG_NAME_MAX, ORGANIZATION_ACTIONS, TOKEN_NAME_MAX
from webapp.patterns import (
    EMAIL_PATTERN,
    EMAILS_TEXT_PATTERN,
    SEARCH_PATTERN,
    trimmed_text_pattern,
)
from webapp.services import values
from webapp.services.errors import FieldError, InvalidInput, MalformedEmails
from webapp.services.page_cursor import CURSOR_MAX, PageCursor

Model = TypeVar("Model", bound=BaseModel)


def service_default(function: Callable[..., Any], name: str) -> Any:
    """A keyword's default in a service signature: where defaults are decided, once."""
    return inspect.signature(function).parameters[name].default


def _invalid_to_pydantic(call: Callable[[Any], Any], value: Any) -> Any:
    """Run a service value rule inside pydantic, so its message lands in ``errors``."""
    try:
        return call(value)
    except InvalidInput as error:
        message = error.errors[0].message if error.errors else error.message
        raise PydanticCustomError("invalid_value", message) from None


# -- ids -------------------------------------------------------------------------------------


def _json_integer(value: Any) -> Any:
    """A JSON number with a zero fraction (11.0, 1e3) is that integer, as JSON Schema says.

    The API reads numbers with a fraction or exponent exactly (``Decimal``, see
    ``api.routes.json_body``), so a large id is never rounded through a float. Booleans and
    strings are not integers, even in lax mode.
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


Id = Annotated[int, Strict(), Field(ge=1, le=values.ID_MAX), BeforeValidator(_json_integer)]


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


class UserIdsConverter(BaseConverter):
    """``<user_ids:name>``: any one path segment but ``remove``, which names the bulk removal
    by body (``POST .../users/remove``), so that path is no DELETE of a user called "remove"."""

    regex = "(?!remove$)[^/]+"


class IdConverter(BaseConverter):
    """``<id:name>`` in a URL: ASCII digits read by ``values.parse_id``, for every front.

    A number that is no id (0, or beyond 64 bits) becomes 0, which no row has: the route
    answers what it answers for an id it does not know (404), after authentication. No bound in
    the regex: Werkzeug answers 405 rather than 404 when a converter refuses.
    """

    regex = "[0-9]+"

    def to_python(self, value: str) -> int:
        try:
            return values.parse_id(value)
        except InvalidInput:
            return 0

    def to_url(self, value: int) -> str:
        return str(int(value))


ID_PATTERN = _int_range_pattern(values.ID_MAX)
USER_IDS_TEXT_PATTERN = f"^{ID_PATTERN}(?:,{ID_PATTERN})*$"


def _array_or_text(value: Any) -> str:
    return "string" if isinstance(value, str) else "array"


UserIdList = Annotated[
    Annotated[
        list[Id],
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
    Discriminator(_array_or_text),
    Field(
        description=(
            f"1 to {values.USER_IDS_MAX:,} user ids, each a positive 64-bit integer: a JSON array, "
            'or the comma-separated form "14,31,33,43". Duplicates collapse.'
        ),
        examples=[[14, 31, 33, 43], "14,31,33,43"],
    ),
]
"""User ids as ``values.UserIds``: checked once, here, and not again by the services."""

# -- flags -----------------------------------------------------------------------------------


def _flag(value: Any) -> Any:
    # A JSON boolean, or exactly the two spellings the docs promise (a form or a query string
    # can only send text); pydantic alone would take "yes", "1", "on", " TRUE "...
    if isinstance(value, bool):
        return value
    if value in ("true", "false"):
        return value == "true"
    raise PydanticCustomError("bool_parsing", 'must be true or false (or "true" / "false")')


Flag = Annotated[
    bool,
    BeforeValidator(_flag),
    WithJsonSchema(
        {
            "anyOf": [{"type": "boolean"}, {"type": "string", "enum": ["true", "false"]}],
            "description": 'A JSON boolean; the strings "true" and "false" are accepted too.',
        }
    ),
]
# The same flag in a query string, where every value is text; documented as a boolean.
QueryFlag = Annotated[Flag, WithJsonSchema({"type": "boolean"})]

# -- text ------------------------------------------------------------------------------------

OrganizationName = Annotated[
    str,
    WithJsonSchema(
        {
            "type": "string",
            "pattern": trimmed_text_pattern(ORG_NAME_MAX),
            "description": (
                f"1 to {ORG_NAME_MAX} characters after trimming, no control characters. "
                "Leading and trailing spaces are removed."
            ),
            "examples": ["Acme Corporation"],
        }
    ),
]
"""Checked, once trimmed, by ``services.values.organization_name``: the same for every front."""

# -- the member list -------------------------------------------------------------------------

SORT_BY = ("user_id", "email", "name", "role", "is_active", "joined_at")
SORT_DEFAULT = "name"
PAGE_SIZE_DEFAULT = 25
PAGE_SIZE_MAX = 500
PAGE_NUMBER_MAX = 10_000_000
QUERY_MAX = 100

PageNumber = Annotated[int, Field(ge=0, le=PAGE_NUMBER_MAX)]


def _no_control_characters(text: str) -> str:
    # The pattern says it for the document; lone surrogates cannot be written in a pattern.
    if values.has_control_characters(text):
        raise PydanticCustomError("string_pattern_mismatch", "must not contain control characters")
    return text


SearchText = Annotated[
    str,
    Field(max_length=QUERY_MAX, pattern=SEARCH_PATTERN),
    AfterValidator(_no_control_characters),
]


def _cursor(value: Any) -> Any:
    return value if isinstance(value, PageCursor) else PageCursor.decode(value)


Cursor = Annotated[
    PageCursor,
    BeforeValidator(lambda value: _invalid_to_pydantic(_cursor, value)),
    WithJsonSchema({"type": "string", "maxLength": CURSOR_MAX}),
]


class MemberFilters(BaseModel):
    """The member list's sort and filters: what a page of it and its CSV export share."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    sort_by: Literal[SORT_BY] = Field(  # type: ignore[valid-type]
        default=SORT_DEFAULT, description="Ties are broken by user_id."
    )
    sort_ascending: QueryFlag = True
    q: SearchText | None = Field(default=None, description="Part of the email or name, any case.")
    role: Role | None = Field(default=None, description="Only members with this role.")
    is_active: QueryFlag | None = Field(default=None, description="Only active or suspended.")

    @property
    def search(self) -> str | None:
        """The search text, trimmed; None when there is none."""
        return (self.q or "").strip() or None

    @property
    def is_filtered(self) -> bool:
        return self.search is not None or self.role is not None or self.is_active is not None


class MemberQuery(MemberFilters):
    """One page of the member list: its page (a number, or a cursor), sort and filters.

    The API reads it from ``GET .../users``'s query string, the dashboard from the members
    page's URL (``DashboardMemberQuery``), the services take it as it is.
    """

    page_number: PageNumber = Field(
        default=0,
        description="Zero-based. A page past the end has no items and the right totals.",
    )
    page_size: int = Field(default=PAGE_SIZE_DEFAULT, ge=1, le=PAGE_SIZE_MAX)
    cursor: Cursor | None = Field(
        default=None,
        description=(
            "Instead of page_number: a page's next_cursor or prev_cursor, for the page after or "
            "before it at the cost of page 0 at any depth. It carries its list's sort (sort_by "
            "and sort_ascending may be left out, or must agree); send the same filters again."
        ),
    )

    @model_validator(mode="before")
    @classmethod
    def _sort_of_the_cursor(cls, data: Any) -> Any:
        """A cursor sent alone lists in its own sort."""
        if isinstance(data, Mapping) and isinstance(data.get("cursor"), str):
            try:
                cursor = PageCursor.decode(data["cursor"])
            except InvalidInput:
                return data  # the field says why
            return {
                "sort_by": cursor.sort_by,
                "sort_ascending": cursor.sort_ascending,
                **data,
                "cursor": cursor,
            }
        return data

    @model_validator(mode="after")
    def _cursor_agrees(self) -> MemberQuery:
        cursor = self.cursor
        if cursor is None:
            return self
        if "page_number" in self.model_fields_set:
            raise PydanticCustomError(
                "cursor", "give a page number or a cursor, not both", {"field": "cursor"}
            )
        if (cursor.sort_by, cursor.sort_ascending) != (self.sort_by, self.sort_ascending):
            order = "ascending" if cursor.sort_ascending else "descending"
            raise PydanticCustomError(
                "cursor",
                f"pages the list sorted by {cursor.sort_by} {order}; leave sort_by and "
                "sort_ascending out or send those",
                {"field": "cursor"},
            )
        return self

    def at_page(self, page_number: int) -> MemberQuery:
        return self.model_copy(update={"page_number": page_number, "cursor": None})


class DashboardMemberQuery(MemberQuery):
    """The member query as the members page's URL says it: ``page`` counts from 1, and an
    empty field is one left out (the filter form's "any role" sends ``role=``)."""

    page_number: Annotated[
        int, Field(ge=1, le=PAGE_NUMBER_MAX + 1), AfterValidator(lambda page: page - 1)
    ] = Field(default=0, validation_alias="page")

    @model_validator(mode="before")
    @classmethod
    def _empty_is_absent(cls, data: Any) -> Any:
        if isinstance(data, Mapping):
            return {key: value for key, value in data.items() if value != ""}
        return data


# -- request bodies --------------------------------------------------------------------------


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)


class CreateAccount(_Body):
    """The body of ``POST /api/organizations``."""

    organization_name: OrganizationName


class UpdateAccount(_Body):
    """The body of ``PUT /api/organizations``: the id names the organization."""

    id: Id
    organization_name: OrganizationName


class UpdateAccountById(_Body):
    """The body of ``PUT /api/organizations/{organization_id}``; ``id``, if given, must match."""

    id: Id | None = Field(
        default=None, description="Optional; when given it must equal the id in the path."
    )
    organization_name: OrganizationName


class MemberIds(_Body):
    """Users named by id, in either form."""

    user_ids: UserIdList


class MemberChanges(MemberIds):
    """Users, and what to make of them: a role, an active flag, or both (absent: left out)."""

    # Absent means "not given" (the service's default, or "leave as is"); an explicit null is
    # refused like any other wrong type.
    role: Role = None  # type: ignore[assignment]
    is_active: Flag = None  # type: ignore[assignment]

    def given(self) -> dict[str, Any]:
        """``role`` and ``is_active`` as the service takes them: only those that were sent."""
        return {
            name: getattr(self, name)
            for name in ("role", "is_active")
            if name in self.model_fields_set
        }


def _add_defaults(schema: dict[str, Any]) -> None:
    """Document the defaults of ``services.members.add_members``, where they are decided."""
    from webapp.services import members

    for name in ("role", "is_active"):
        default = service_default(members.add_members, name)
        shown = default.name if isinstance(default, Role) else default
        schema["properties"][name]["default"] = shown
        written = shown if isinstance(shown, str) else json.dumps(shown)
        schema["properties"][name]["description"] = f"Defaults to {written}."


class AddMembers(MemberChanges):
    """The body of ``POST .../users``; what is left out is the service's default."""

    model_config = ConfigDict(json_schema_extra=_add_defaults)


def _role_or_flag(schema: dict[str, Any]) -> None:
    """At least one of ``role`` and ``is_active``; neither documents a null default."""
    schema["anyOf"] = [{"required": ["role"]}, {"required": ["is_active"]}]
    for name in ("role", "is_active"):
        schema["properties"][name].pop("default", None)


class UpdateMembers(MemberChanges):
    """The body of ``PUT .../users``: ``role``, ``is_active`` or both."""

    model_config = ConfigDict(json_schema_extra=_role_or_flag)


class TransferOwnership(_Body):
    """The body of ``POST .../transfer``: who becomes an owner, and what the caller becomes."""

    user_id: Id = Field(description="The member who becomes an active OWNER.")
    my_new_role: Role = Field(
        description=(
            "Your own role afterwards, any role; OWNER keeps you an owner beside them. "
            "Required: you say what you become."
        )
    )


def _member_named(text: str) -> str:
    if not text.strip():
        raise PydanticCustomError("member", "give the member's email address or user id")
    return text


class DashboardTransfer(TransferOwnership):
    """The settings page's transfer form: the member as typed there, an email address or a user
    id, which the service resolves among the members (``services.ownership``)."""

    user_id: Annotated[str, Field(max_length=EMAIL_MAX), AfterValidator(_member_named)]  # type: ignore[assignment]


# -- parsing ---------------------------------------------------------------------------------

# The tags of the unions above appear in pydantic's error locations; they are not field names.
UNION_TAGS = frozenset({"array", "string"})

# What to say instead of echoing a long regular expression back.
PATTERN_MESSAGES = {
    "user_ids": "must be positive 64-bit integers separated by commas, like 14,31,33,43",
    "q": "must not contain control characters",
    "member": "must not contain control characters",
    "actor": "must not contain control characters",
    "emails": "must be email addresses (like ada@example.org), separated by commas",
}


def parse(model: type[Model], data: Any) -> Model:
    """``data`` as ``model``, or InvalidInput naming each field that is not right."""
    try:
        return model.model_validate(data)
    except ValidationError as error:
        raise invalid_input(error) from None


def invalid_input(error: ValidationError) -> InvalidInput:
    """A pydantic validation error as the domain's InvalidInput, one FieldError per problem."""
    errors: list[FieldError] = []
    for item in error.errors(include_url=False, include_input=False):
        parts = [str(p) for p in item["loc"] if p not in UNION_TAGS]
        # A rule across fields names the field it is about in its context (else: the body).
        field = ".".join(parts) or item.get("ctx", {}).get("field", "body")
        message = item["msg"]
        if item["type"] == "string_pattern_mismatch" and parts:
            message = PATTERN_MESSAGES.get(parts[0], "has an invalid format")
        if not any(e.field == field and e.message == message for e in errors):
            errors.append(FieldError(field, message))
    summary = "; ".join(f"{e.field}: {e.message}" for e in errors)
    malformed = [
        address
        for item in error.errors(include_url=False, include_input=False)
        if item["type"] == MalformedEmails.code
        for address in item["ctx"]["emails"]
    ]
    if malformed:  # the addresses themselves, in ``emails`` (DESIGN §8), beside any field errors
        return MalformedEmails(summary, emails=malformed, errors=errors)
    return InvalidInput(summary or None, errors=errors)


# -- invitations -----------------------------------------------------------------------------

INVITE_MAX = 1_000


def split_emails(text: str) -> list[str]:
    """Addresses written in one text: separated by commas, semicolons or white space (as
    pasted from a spreadsheet or a mail client); empty pieces dropped."""
    return [piece for piece in re.split(r"[,;\s]+", text) if piece]


def _is_address(text: str) -> bool:
    """What the published schema takes for one address (``EMAIL_PATTERN``, ``EMAIL_MAX``)."""
    return len(text) <= EMAIL_MAX and re.fullmatch(EMAIL_PATTERN, text) is not None


def _name_malformed(value: Any, validate: ValidatorFunctionWrapHandler) -> Any:
    """The emails as their schema validates them; when it refuses them because some are not
    addresses, one error that lists those (in either form of the list), which ``invalid_input``
    turns into MalformedEmails (400, ``emails``). A list of the wrong shape (empty, too long,
    not strings) keeps the schema's own errors."""
    try:
        return validate(value)
    except ValidationError:
        if isinstance(value, str):
            bad = [piece for piece in split_emails(value) if not _is_address(piece)]
        elif isinstance(value, list) and all(isinstance(item, str) for item in value):
            bad = [item for item in value if not _is_address(item)]
        else:
            bad = []
        if not bad:
            raise
        bad = [item[:300] for item in bad]
        shown = ", ".join(bad[:20]) + (f" and {len(bad) - 20:,} more" if len(bad) > 20 else "")
        raise PydanticCustomError(
            MalformedEmails.code,
            "these are not email addresses: {shown}",
            {"emails": bad, "shown": shown},
        ) from None


EmailList = Annotated[
    Annotated[
        list[Annotated[str, Field(max_length=EMAIL_MAX, pattern=EMAIL_PATTERN)]],
        Field(min_length=1, max_length=INVITE_MAX),
        Tag("array"),
    ]
    | Annotated[
        str,
        Field(
            min_length=1,
            max_length=INVITE_MAX * (EMAIL_MAX + 1),
            pattern=EMAILS_TEXT_PATTERN,
        ),
        AfterValidator(split_emails),
        Tag("string"),
    ],
    Discriminator(_array_or_text),
    WrapValidator(_name_malformed),
    Field(
        description=(
            f"1 to {INVITE_MAX:,} email addresses: a JSON array, or one text with the addresses "
            "separated by commas. Any letter case; duplicates collapse. All are invited or none: "
            "malformed ones are listed in the 400's `emails`, members and addresses with a "
            "pending invitation in the 409's."
        ),
        examples=[["ada@example.org", "grace@example.org"], "ada@example.org,grace@example.org"],
    ),
]


def _invite_defaults(schema: dict[str, Any]) -> None:
    from webapp.services import invitations

    default = service_default(invitations.invite, "role")
    schema["properties"]["role"]["default"] = default.name
    schema["properties"]["role"]["description"] = f"Defaults to {default.name}."


class Invite(_Body):
    """The body of ``POST .../invitations``."""

    model_config = ConfigDict(json_schema_extra=_invite_defaults)

    emails: EmailList
    role: Role = None  # type: ignore[assignment]

    def given(self) -> dict[str, Any]:
        return {"role": self.role} if "role" in self.model_fields_set else {}


class InvitationQuery(BaseModel):
    """The query of ``GET .../invitations``."""

    model_config = ConfigDict(extra="forbid")

    status: Literal["PENDING", "ACCEPTED", "REVOKED", "EXPIRED"] | None = Field(
        default=None, description="Only invitations in this state; all of them when absent."
    )


class ImportQuery(BaseModel):
    """The query of ``POST .../imports`` (DESIGN §9)."""

    model_config = ConfigDict(extra="forbid")

    mode: Literal["preview", "apply"] = Field(
        default="preview",
        description="`preview` says what the file would do and changes nothing; `apply` does it.",
    )
    sync: QueryFlag = Field(
        default=False,
        description="Also remove the members the file leaves out (never an owner, never you).",
    )


# -- the events API (DESIGN §9) ------------------------------------------------------------------

# Text that filters the audit trail: an address or a part of one, or of a name.
FilterText = Annotated[
    str,
    Field(min_length=1, max_length=EMAIL_MAX, pattern=SEARCH_PATTERN),
    AfterValidator(_no_control_characters),
]

EVENTS_LIMIT_DEFAULT = 50
EVENTS_LIMIT_MAX = 500
EVENT_CURSOR_MAX = 64


# ISO 8601 date and time, the zone optional: what ``QueryTime`` takes (ECMA-262 compatible).
ISO_TIME_PATTERN = (
    r"^[0-9]{4}-[0-9]{2}-[0-9]{2}[Tt ][0-9]{2}:[0-9]{2}(:[0-9]{2}(\.[0-9]{1,9})?)?"
    r"([Zz]|[+-][0-9]{2}:[0-9]{2})?$"
)
_ISO_TIME = re.compile(ISO_TIME_PATTERN)


def _iso_time(value: Any) -> datetime:
    """An ISO 8601 date and time in UTC; one without a zone is read as UTC, the zone of every
    time Roster writes. Nothing else (pydantic alone would take a number as a Unix time)."""
    if not isinstance(value, str) or not _ISO_TIME.match(value):
        raise PydanticCustomError(
            "iso_time", "must be an ISO 8601 date and time, such as 2026-12-02T13:00:00Z"
        )
    try:
        moment = datetime.fromisoformat(value.replace("z", "Z").replace("t", "T"))
        return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)
    except (ValueError, OverflowError) as error:
        raise PydanticCustomError(
            "iso_time", "is not a real time: {reason}", {"reason": str(error)}
        ) from None


QueryTime = Annotated[
    datetime,
    PlainValidator(_iso_time),
    WithJsonSchema({"type": "string", "format": "date-time"}),
]


class EventQuery(BaseModel):
    """The query of ``GET .../events``: a page of the audit trail, newest first."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    limit: int = Field(
        default=EVENTS_LIMIT_DEFAULT, ge=1, le=EVENTS_LIMIT_MAX, description="Events per page."
    )
    cursor: str | None = Field(
        default=None,
        max_length=EVENT_CURSOR_MAX,
        description="A page's next_cursor, for the events just older than that page's.",
    )
    actor: FilterText | None = Field(
        default=None,
        description="Only events by the user with this email address, or by the service token "
        "`token NAME` (any case).",
    )
    user_id: Annotated[int, Field(ge=1, le=values.ID_MAX)] | None = Field(
        default=None, description="Only events about this member."
    )
    action: Literal[ORGANIZATION_ACTIONS] | None = Field(  # type: ignore[valid-type]
        default=None, description="Only events of this action."
    )
    since: QueryTime | None = Field(
        default=None,
        description="Only events at or after this time: ISO 8601 such as 2026-12-02T13:00:00Z "
        "(UTC without a zone; an offset's + written %2B in a URL).",
    )
    until: QueryTime | None = Field(
        default=None, description="Only events before this time, written as `since` is."
    )


ACTIVITY_PAGE_MAX = 1_000_001  # the activity page's last page number (counted from 1)
_DAY = re.compile(r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$")


def _day(value: Any) -> date:
    """A day written YYYY-MM-DD, as a date field sends it (never a number, a Unix time)."""
    if not isinstance(value, str) or not _DAY.match(value):
        raise PydanticCustomError("day", "must be a day written YYYY-MM-DD")
    try:
        day = date.fromisoformat(value)
    except ValueError as error:
        raise PydanticCustomError(
            "day", "is not a real day: {reason}", {"reason": str(error)}
        ) from None
    if day == date.max:
        raise PydanticCustomError("day", "must be before 9999-12-31")
    return day


Day = Annotated[date, PlainValidator(_day)]


class ActivityQuery(BaseModel):
    """The activity page's filters, from its URL: an empty field is one left out. ``since`` and
    ``until`` are days (UTC), both included; ``member`` is text or a user id."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    page: int = Field(default=1, ge=1, le=ACTIVITY_PAGE_MAX)
    user_id: Annotated[int, Field(ge=1, le=values.ID_MAX)] | None = None  # one member exactly
    member: FilterText | None = None
    actor: FilterText | None = None
    action: Literal[ORGANIZATION_ACTIONS] | None = None  # type: ignore[valid-type]
    since: Day | None = None
    until: Day | None = None

    @model_validator(mode="before")
    @classmethod
    def _empty_is_absent(cls, data: Any) -> Any:
        if isinstance(data, Mapping):
            return {
                key: value
                for key, value in data.items()
                if not (isinstance(value, str) and value.strip() == "")
            }
        return data

    @model_validator(mode="after")
    def _in_order(self) -> ActivityQuery:
        if self.since and self.until and self.until < self.since:
            raise PydanticCustomError(
                "dates", "must not be before the first day", {"field": "until"}
            )
        return self


# -- service tokens (DESIGN §10) ----------------------------------------------------------------


class CreateServiceToken(_Body):
    """The body of ``POST .../service-tokens``. Only the shape is checked here (strings); the
    values (name 1-100 characters, scope, a future expiry) are the service's rules, answered
    with 422 and the field."""

    name: str = Field(
        description="1 to 100 characters after trimming, no control characters.",
        examples=["CI sync"],
        json_schema_extra={"pattern": trimmed_text_pattern(TOKEN_NAME_MAX)},
    )
    scope: str = Field(
        description="read: GET only; write: also members below OWNER; scim: only /scim/v2.",
        json_schema_extra={"enum": ["read", "write", "scim"]},
    )
    expires_at: str | None = Field(
        default=None,
        description="ISO 8601, in the future; a date alone is its midnight UTC, a time without "
        "a zone is UTC. Absent or null: never expires.",
        examples=["2027-06-30T00:00:00Z"],
    )
