"""The dashboard's forms: what they show (labels, values, errors) and the names they post.

They do not check values: a view hands the posted fields to the same parsers and services the
API uses (``webapp.inputs``), and shows what they refuse beside the field they name
(``web/errors.attach_to_form``). ``maxlength`` and ``required`` are hints for the browser only.
"""

from __future__ import annotations

import re
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

from webapp import inputs
from webapp.models import Role, utcnow
from webapp.models.tables import EMAIL_MAX, NAME_MAX, ORG_NAME_MAX, TOKEN_NAME_MAX
from webapp.services import members, ownership, values
from webapp.services.errors import InvalidInput
from webapp.services.values import PASSWORD_MAX, USER_IDS_MAX

ROLE_CHOICES = [SelectChoice(role.name, role.name.title()) for role in Role]
ENTRIES_MAX = USER_IDS_MAX * 260  # 10,000 addresses of any length, with separators
PAGE_SIZES = (10, 25, 50, 100, 250, inputs.PAGE_SIZE_MAX)  # the same maximum as the API
# The role a new member gets unless told otherwise, as the service decides it.
ADD_ROLE_DEFAULT: Role = inputs.service_default(members.add_members, "role")


def _hint(max_length: int, **extra: object) -> dict[str, object]:
    return {"maxlength": max_length, **extra}


class LoginForm(FlaskForm):
    email = EmailField("Email", render_kw=_hint(EMAIL_MAX, required=True))
    password = PasswordField("Password", render_kw=_hint(PASSWORD_MAX, required=True))


class SignupForm(FlaskForm):
    name = StringField("Name", render_kw=_hint(NAME_MAX, required=True))
    email = EmailField("Email", render_kw=_hint(EMAIL_MAX, required=True))
    password = PasswordField(
        "Password (10 characters or more)", render_kw=_hint(PASSWORD_MAX, required=True)
    )


class InvitationSignupForm(FlaskForm):
    """Sign-up from an invitation link: the address is the invitation's."""

    name = StringField("Name", render_kw=_hint(NAME_MAX, required=True))
    password = PasswordField(
        "Password (10 characters or more)", render_kw=_hint(PASSWORD_MAX, required=True)
    )


class InviteForm(FlaskForm):
    emails = TextAreaField(
        "Email addresses",
        description="Separate them with commas or new lines; up to 1,000.",
        render_kw={"required": True},
    )
    role = SelectField("Role", choices=ROLE_CHOICES, default=ADD_ROLE_DEFAULT.name)

    def addresses(self) -> list[str]:
        return inputs.split_emails(self.emails.data or "")


class CreateOrganizationForm(FlaskForm):
    organization_name = StringField("Organization name", render_kw={"required": True})


class RenameForm(FlaskForm):
    organization_name = StringField("New name", render_kw={"required": True})


class DeleteForm(FlaskForm):
    confirm_name = StringField(
        "Type the organization's name to confirm", render_kw=_hint(ORG_NAME_MAX, required=True)
    )


class TransferForm(FlaskForm):
    """Hand the organization over: its fields are the API's (``inputs.DashboardTransfer``)."""

    user_id = StringField(
        "New owner",
        description="Their email address or user id. They must be an active member.",
        render_kw=_hint(EMAIL_MAX, required=True),
    )
    my_new_role = SelectField(
        "Your role afterwards",
        choices=ROLE_CHOICES,
        default=ownership.SUGGESTED_ROLE.name,
        description="Choose Owner to stay an owner beside them.",
    )
    confirmed = BooleanField("I understand that they will have every right I have here.")


class EmptyForm(FlaskForm):
    """A form with only its CSRF token: sign-out, leave, revoke."""


BULK_ACTIONS = {
    "role": "Change role",
    "activate": "Activate",
    "suspend": "Suspend",
    "remove": "Remove",
}
# What each bulk action asks of the members, in the API's words (``inputs.UpdateMembers``).
BULK_CHANGES = {"activate": {"is_active": "true"}, "suspend": {"is_active": "false"}}
# Asked to confirm before they run: they lock people out or cannot be undone.
DESTRUCTIVE = frozenset({"suspend", "remove"})


class BulkForm(FlaskForm):
    action = SelectField("Action", choices=[SelectChoice(k, v) for k, v in BULK_ACTIONS.items()])
    role = SelectField("New role", choices=ROLE_CHOICES, default=ADD_ROLE_DEFAULT.name)
    all_matching = BooleanField("Every member matching the filter")
    confirmed = HiddenField()

    @property
    def wants_confirmation(self) -> bool:
        return self.action.data in DESTRUCTIVE and self.confirmed.data != "yes"


class AddMembersForm(FlaskForm):
    entries = TextAreaField(
        "Emails or user ids",
        description="Separate them with commas or new lines.",
        render_kw=_hint(ENTRIES_MAX, required=True),
    )
    role = SelectField("Role", choices=ROLE_CHOICES, default=ADD_ROLE_DEFAULT.name)
    suspended = BooleanField("Add them suspended")


EXPIRY_CHOICES = {"never": None, "30": 30, "90": 90, "365": 365}
EXPIRY_LABELS = {"never": "Never", "30": "In 30 days", "90": "In 90 days", "365": "In a year"}


class TokenForm(FlaskForm):
    name = StringField("Token name", render_kw=_hint(TOKEN_NAME_MAX, required=True), default="")
    expires = SelectField(
        "Expires",
        choices=[SelectChoice(k, v) for k, v in EXPIRY_LABELS.items()],
        default="90",
    )

    def expires_at(self) -> datetime | None:
        """The chosen expiry as a time; InvalidInput for a value the menu does not offer."""
        choice = self.expires.data or "never"
        if choice not in EXPIRY_CHOICES:
            raise InvalidInput.field("expires", "choose one of the offered expiries")
        days = EXPIRY_CHOICES[choice]
        return utcnow() + timedelta(days=days) if days else None


class ServiceTokenForm(FlaskForm):
    """An organization's service token (DESIGN §10). Only the shape: the service checks values."""

    name = StringField("Name", render_kw=_hint(TOKEN_NAME_MAX, required=True), default="")
    scope = SelectField(
        "Scope",
        choices=[
            SelectChoice("read", "read: GET only"),
            SelectChoice("write", "write: also members below OWNER"),
            SelectChoice("scim", "scim: only /scim/v2"),
        ],
        default="read",
    )
    expires_at = StringField(
        "Expires on",
        description="Optional: the token stops working at the start of this day (UTC).",
        render_kw={"type": "date"},
        default="",
    )


_SEPARATORS = re.compile(r"[\s,;]+")


def parse_entries(text: str) -> tuple[list[str], list[int]]:
    """Split pasted text into email addresses and user ids (comma, semicolon or new line)."""
    emails: list[str] = []
    ids: list[int] = []
    bad: list[str] = []
    for item in filter(None, _SEPARATORS.split(text)):
        if item.isascii() and item.isdigit():
            ids.append(values.parse_id(item, "entries"))
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


def query_args(query: inputs.MemberQuery, **changes: object) -> dict[str, str]:
    """The URL arguments of a member list view, defaults left out, with ``changes`` applied."""
    args: dict[str, object] = {
        "q": query.q or "",
        "role": query.role.name if query.role else "",
        "is_active": "" if query.is_active is None else str(query.is_active).lower(),
        "sort_by": query.sort_by,
        "sort_ascending": str(query.sort_ascending).lower(),
        "page": query.page_number + 1,
        "cursor": query.cursor.encode() if query.cursor else "",
        "page_size": query.page_size,
    }
    # A page is named by its number or by a cursor, never both: the one changed wins.
    if "page" in changes:
        args["cursor"] = ""
    elif changes.get("cursor") or args["cursor"]:
        args["page"] = 1
    args.update(changes)
    defaults = {
        "sort_by": inputs.SORT_DEFAULT,
        "sort_ascending": "true",
        "page": 1,
        "page_size": inputs.PAGE_SIZE_DEFAULT,
    }
    return {
        k: str(v).lower() if isinstance(v, bool) else str(v)
        for k, v in args.items()
        if v not in ("", None) and defaults.get(k) != v
    }


# -- my account and password reset (DESIGN §8) ------------------------------------------------


class ForgotPasswordForm(FlaskForm):
    email = EmailField("Email", render_kw=_hint(EMAIL_MAX, required=True))


class ResetPasswordForm(FlaskForm):
    password = PasswordField(
        "New password (10 characters or more)", render_kw=_hint(PASSWORD_MAX, required=True)
    )


class NameForm(FlaskForm):
    name = StringField("Name", render_kw=_hint(NAME_MAX, required=True))


class ChangePasswordForm(FlaskForm):
    current_password = PasswordField(
        "Current password", render_kw=_hint(PASSWORD_MAX, required=True)
    )
    new_password = PasswordField(
        "New password (10 characters or more)", render_kw=_hint(PASSWORD_MAX, required=True)
    )


class DeleteAccountForm(FlaskForm):
    password = PasswordField(
        "Your password, to confirm", render_kw=_hint(PASSWORD_MAX, required=True)
    )
