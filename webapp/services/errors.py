"""Domain errors. Each carries a stable ``code`` and a sentence a person can act on.

The HTTP status of each class is decided in exactly two places: ``api/problems.py`` and
``web/errors.py``.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass


@dataclass(frozen=True)
class FieldError:
    field: str
    message: str


class DomainError(Exception):
    code = "error"
    default_message = "The request could not be completed."

    def __init__(
        self,
        message: str | None = None,
        *,
        code: str | None = None,
        user_ids: Iterable[int] | None = None,
        emails: Iterable[str] | None = None,
        errors: Iterable[FieldError] | None = None,
    ) -> None:
        self.message = message or self.default_message
        if code:
            self.code = code
        self.user_ids = sorted(user_ids) if user_ids is not None else None
        self.emails = sorted(emails) if emails is not None else None
        self.errors = list(errors or [])
        super().__init__(self.message)


class InvalidInput(DomainError):
    """A value breaks a rule of its shape (length, range, characters)."""

    code = "invalid_input"
    default_message = "Some values are not valid."

    @classmethod
    def field(cls, field: str, message: str) -> InvalidInput:
        return cls(f"{field}: {message}", errors=[FieldError(field, message)])


class NotFound(DomainError):
    """Unknown, or not visible to this user: the two are never told apart."""

    code = "not_found"
    default_message = "No such organization, or you are not a member of it."


class Forbidden(DomainError):
    code = "forbidden"
    default_message = "Your role in this organization does not allow this."


class Conflict(DomainError):
    code = "conflict"
    default_message = "This conflicts with the current state."


class LastOwner(Conflict):
    code = "last_owner"
    default_message = (
        "This would leave the organization without an active owner. "
        "Promote another member to OWNER first."
    )


class AlreadyMembers(Conflict):
    code = "already_members"
    default_message = "Some of these users are already members."


class TargetSuspended(Conflict):
    """The member named to take something over cannot act: suspended, or their account is."""

    code = "member_suspended"
    default_message = "This member is suspended. Reactivate them first."


class EmailTaken(Conflict):
    code = "email_taken"
    default_message = "An account with this email already exists."


class FileTooLarge(DomainError):
    """A file past what an operation reads (413): an import's 5 MB or 10,000 rows."""

    code = "file_too_large"
    default_message = "The file is too large."


class UnprocessableIds(DomainError):
    """Well-formed ids that do not name what the operation needs."""

    code = "unprocessable"


class UnknownUsers(UnprocessableIds):
    code = "unknown_users"
    # One answer for an id nobody has and for an account whose address is not verified yet, so
    # that ids cannot be mapped to accounts by trying them (DESIGN §8).
    default_message = (
        "Some of these ids are not accounts that can be added (no such user, or an address "
        "not verified yet)."
    )


class NotMembers(UnprocessableIds):
    code = "not_members"
    default_message = "Some of these users are not members of the organization."


class UnknownEmails(UnprocessableIds):
    code = "unknown_emails"
    default_message = "No user has some of these email addresses."

    def __init__(self, emails: Iterable[str], message: str | None = None) -> None:
        listed = sorted(emails)
        super().__init__(message or f"{self.default_message} ({', '.join(listed)})", emails=listed)


class MalformedEmails(InvalidInput):
    """Addresses that are not addresses (400, listed in ``emails``)."""

    code = "malformed_emails"
    default_message = "Some of these are not email addresses."


class AlreadyInvited(Conflict):
    """Addresses already members or already invited (409, listed in ``emails``)."""

    code = "already_invited"
    default_message = "Some of these addresses are already members or already invited."


class NotPending(Conflict):
    code = "invitation_not_pending"
    default_message = "This invitation is no longer pending."


class InvitationGone(DomainError):
    """An invitation link that was used, revoked, expired, or whose organization is gone."""

    code = "invitation_gone"
    default_message = "This invitation can no longer be used."


class WrongInvitee(Forbidden):
    """Signed in as someone other than the invited address."""

    code = "wrong_invitee"
    default_message = "This invitation was sent to another email address."


class Unverified(Conflict):
    """An account whose address is not verified yet cannot accept an invitation."""

    code = "email_unverified"
    default_message = "Verify your email address first: we sent you a link."


class SignupClosed(Forbidden):
    code = "signup_closed"
    default_message = "Sign-up is by invitation only: ask an organization owner to invite you."


class InvalidLink(DomainError):
    """A mailed link that is malformed, expired, already used or no longer matches."""

    code = "invalid_link"
    default_message = "This link is not valid any more. Ask for a new one."


class AuthenticationFailed(DomainError):
    code = "invalid_credentials"
    default_message = "The email or password is not correct."


class TooManyAttempts(DomainError):
    """Too many failed sign-ins or token checks; try again after ``retry_after`` seconds."""

    code = "too_many_attempts"
    default_message = "Too many failed attempts. Try again later."

    def __init__(self, retry_after: int, message: str | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class WrongPassword(InvalidInput):
    """The password given to confirm a change is not the account's (400, beside its field)."""

    code = "wrong_password"
    default_message = "This is not your current password."


class InvalidServiceToken(InvalidInput):
    """A value of a new service token breaks a rule (name, scope, expires_at): 422 on the API,
    with the field (DESIGN §10's contract), where other value rules are 400."""

    code = "invalid_service_token"
