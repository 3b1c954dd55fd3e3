"""Form shapes and coercion: the web edge turns fields into the services' types.

Value rules (name length, control characters, id ranges) live in the services; these only read
the fields, and raise ``InvalidInput`` for what cannot even be read.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from datetime import datetime, timedelta

from flask_wtf import FlaskForm
from wtforms import (
    BooleanField,
    EmailField,
    HiddenField,
    PasswordField,
    SelectField,
    StringField,
    TextAreaField,
)
from wtforms.fields.choices import SelectChoice
from wtforms.validators import InputRequired, Length, Optional

from webapp.models import Role, utcnow
from webapp.models.tables import EMAIL_MAX, NAME_MAX, ORG_NAME_MAX, TOKEN_NAME_MAX
from webapp.services.errors import InvalidInput
from webapp.services.members import PAGE_SIZE_DEFAULT, PAGE_SIZE_MAX, MemberQuery
from webapp.services.values import PASSWORD_MAX, USER_IDS_MAX

ROLE_CHOICES = [SelectChoice(role.name, role.name.title()) for role in Role]
ENTRIES_MAX = USER_IDS_MAX * 260  # 10,000 addresses of any length, with separators
PAGE_SIZES = (10, 25, 50, 100, 250, PAGE_SIZE_MAX)  # the same maximum as the API


class LoginForm(FlaskForm):
    email = EmailField("Email", validators=[InputRequired(), Length(max=EMAIL_MAX)])
    password = PasswordField("Password", validators=[InputRequired(), Length(max=PASSWORD_MAX)])


class SignupForm(FlaskForm):
    name = StringField("Name", validators=[InputRequired(), Length(max=NAME_MAX)])
    email = EmailField("Email", validators=[InputRequired(), Length(max=EMAIL_MAX)])
    password = PasswordField(
        "Password (10 characters or more)",
        validators=[InputRequired(), Length(max=PASSWORD_MAX)],
    )


class CreateOrganizationForm(FlaskForm):
    organization_name = StringField(
        "Organization name", validators=[InputRequired(), Length(max=ORG_NAME_MAX)]
    )


class RenameForm(FlaskForm):
    organization_name = StringField(
        "New name", validators=[InputRequired(), Length(max=ORG_NAME_MAX)]
    )


class DeleteForm(FlaskForm):
    confirm_name = StringField(
        "Type the organization's name to confirm",
        validators=[InputRequired(), Length(max=ORG_NAME_MAX + 10)],
    )


class EmptyForm(FlaskForm):
    """A form with only its CSRF token: sign-out, leave, revoke."""


class MemberForm(FlaskForm):
    """One member's inline change: a role, an active flag, or both."""

    role = SelectField("Role", choices=ROLE_CHOICES, validators=[Optional()])
    is_active = SelectField(
        "Status",
        choices=[SelectChoice("true", "Active"), SelectChoice("false", "Suspended")],
        validators=[Optional()],
    )

    def changes(self) -> tuple[Role | None, bool | None]:
        role = Role[self.role.data] if self.role.data else None
        active = {"true": True, "false": False}.get(self.is_active.data or "")
        return role, active


BULK_ACTIONS = {
    "role": "Change role",
    "activate": "Activate",
    "suspend": "Suspend",
    "remove": "Remove",
}
# Asked to confirm before they run: they lock people out or cannot be undone.
DESTRUCTIVE = frozenset({"suspend", "remove"})


class BulkForm(FlaskForm):
    action = SelectField("Action", choices=[SelectChoice(k, v) for k, v in BULK_ACTIONS.items()])
    role = SelectField("New role", choices=ROLE_CHOICES, default="VIEWER")
    all_matching = BooleanField("Every member matching the filter")
    confirmed = HiddenField()

    @property
    def wants_confirmation(self) -> bool:
        return self.action.data in DESTRUCTIVE and self.confirmed.data != "yes"


class AddMembersForm(FlaskForm):
    entries = TextAreaField(
        "Emails or user ids",
        description="Separate them with commas or new lines.",
        validators=[InputRequired(), Length(max=ENTRIES_MAX)],
    )
    role = SelectField("Role", choices=ROLE_CHOICES, default="VIEWER")
    suspended = BooleanField("Add them suspended")


EXPIRY_CHOICES = {"never": None, "30": 30, "90": 90, "365": 365}
EXPIRY_LABELS = {"never": "Never", "30": "In 30 days", "90": "In 90 days", "365": "In a year"}


class TokenForm(FlaskForm):
    name = StringField(
        "Token name", validators=[InputRequired(), Length(max=TOKEN_NAME_MAX)], default=""
    )
    expires = SelectField(
        "Expires",
        choices=[SelectChoice(k, v) for k, v in EXPIRY_LABELS.items()],
        default="90",
    )

    def expires_at(self) -> datetime | None:
        days = EXPIRY_CHOICES.get(self.expires.data or "never")
        return utcnow() + timedelta(days=days) if days else None


_SEPARATORS = re.compile(r"[\s,;]+")


def parse_entries(text: str) -> tuple[list[str], list[int]]:
    """Split pasted text into email addresses and user ids (comma, semicolon or new line)."""
    emails: list[str] = []
    ids: list[int] = []
    bad: list[str] = []
    for item in filter(None, _SEPARATORS.split(text)):
        if item.isascii() and item.isdigit():
            ids.append(int(item))
        elif "@" in item:
            emails.append(item)
        else:
            bad.append(item)
    if bad:
        shown = ", ".join(bad[:10]) + (" …" if len(bad) > 10 else "")
        raise InvalidInput.field("entries", f"neither an email address nor a user id: {shown}")
    if not emails and not ids:
        raise InvalidInput.field("entries", "name at least one email address or user id")
    return emails, ids


def parse_ids(values: Iterable[str], field: str = "user_ids") -> list[int]:
    """Checkbox values to ints; the services check their range and count."""
    ids = []
    for value in values:
        if not (value.isascii() and value.isdigit()) or len(value) > 19:
            raise InvalidInput.field(field, "must be user ids")
        ids.append(int(value))
    return ids


def _int(args: Mapping[str, str], name: str, default: int) -> int:
    value = args.get(name, "")
    if value == "":
        return default
    if not (value.isascii() and value.isdigit()) or len(value) > 9:
        raise InvalidInput.field(name, "must be a whole number")
    return int(value)


def member_query(args: Mapping[str, str]) -> MemberQuery:
    """The member list's URL (page, sort, search, filters) as the services' ``MemberQuery``.

    The page shows page numbers from 1; ``MemberQuery`` counts from 0.
    """
    role_text = args.get("role", "")
    try:
        role = Role.parse(role_text) if role_text else None
    except ValueError as error:
        raise InvalidInput.field("role", str(error)) from None
    active_text = args.get("is_active", "")
    if active_text not in ("", "true", "false"):
        raise InvalidInput.field("is_active", "must be true or false")
    order = args.get("sort_ascending", "true")
    if order not in ("true", "false"):
        raise InvalidInput.field("sort_ascending", "must be true or false")
    return MemberQuery(
        page_number=max(_int(args, "page", 1), 1) - 1,
        page_size=_int(args, "page_size", PAGE_SIZE_DEFAULT),
        sort_by=args.get("sort_by", "name") or "name",
        sort_ascending=order == "true",
        q=(args.get("q") or "").strip() or None,
        role=role,
        is_active={"true": True, "false": False}.get(active_text),
    )


def query_args(query: MemberQuery, **changes: object) -> dict[str, str]:
    """The URL arguments of a member list view, defaults left out, with ``changes`` applied."""
    values: dict[str, object] = {
        "q": query.q or "",
        "role": query.role.name if query.role else "",
        "is_active": "" if query.is_active is None else str(query.is_active).lower(),
        "sort_by": query.sort_by,
        "sort_ascending": str(query.sort_ascending).lower(),
        "page": query.page_number + 1,
        "page_size": query.page_size,
    }
    values.update(changes)
    defaults = {
        "sort_by": "name",
        "sort_ascending": "true",
        "page": 1,
        "page_size": PAGE_SIZE_DEFAULT,
    }
    return {
        k: str(v).lower() if isinstance(v, bool) else str(v)
        for k, v in values.items()
        if v not in ("", None) and defaults.get(k) != v
    }
