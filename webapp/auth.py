"""Identity: who is asking. Session users (Flask-Login), Bearer tokens, and failure limits.

Nothing here decides what a user may do; that is ``services.permissions``.
"""

from __future__ import annotations

import math
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import NoReturn

from flask import Flask, current_app, request
from limits import RateLimitItem, parse_many

from webapp.extensions import attempts, login_manager
from webapp.models import User, Via
from webapp.services import service_tokens, tokens, users
from webapp.services.errors import (
    AuthenticationFailed,
    TooManyAttempts,
    Unverified,
    WrongPassword,
)
from webapp.services.organizations import Account
from webapp.services.permissions import ServicePrincipal
from webapp.services.transactions import read_outside_a_transaction


@dataclass(frozen=True)
class AttemptLimit:
    """Counts the attempts it is told of (``hit``) per key, in ``extensions.attempts``.

    The sign-in and token limits count failures only, so successful use is never throttled;
    the sign-up limit counts every attempt. Memory by default; Redis when ROSTER_REDIS_URL is
    set, so every process shares the count.
    """

    config_key: str
    scope: str
    message: str | None = None  # what the 429 says; TooManyAttempts' own sentence by default

    def _items(self) -> list[RateLimitItem]:
        return parse_many(current_app.config[self.config_key])

    def _namespace(self) -> str:
        # Deployments (and test runs) sharing one Redis keep their counts apart.
        return f"{current_app.config.get('RATELIMIT_KEY_PREFIX') or 'roster'}/{self.scope}"

    def check(self, key: str) -> None:
        """Raise TooManyAttempts while the key is over any of its limits."""
        for item in self._items():
            if not attempts.strategy.test(item, self._namespace(), key):
                self._refuse(item, key)

    def take(self, key: str, cost: int = 1) -> None:
        """Count ``cost`` attempts, or raise TooManyAttempts if they would go over a limit.

        Atomic in the storage, unlike ``check`` then ``hit``: concurrent attempts cannot all
        pass the check before any of them is counted.
        """
        for item in self._items():
            if cost > item.amount or not attempts.strategy.hit(
                item, self._namespace(), key, cost=cost
            ):
                self._refuse(item, key)

    def _refuse(self, item: RateLimitItem, key: str) -> NoReturn:
        reset_at, _ = attempts.strategy.get_window_stats(item, self._namespace(), key)
        retry_after = max(1, math.ceil(reset_at - time.time()))
        raise TooManyAttempts(retry_after=retry_after, message=self.message)

    def hit(self, key: str) -> None:
        for item in self._items():
            attempts.strategy.hit(item, self._namespace(), key)


LOGIN_PER_EMAIL = AttemptLimit("ROSTER_LOGIN_LIMIT_PER_EMAIL", "login-email")
LOGIN_PER_ADDRESS = AttemptLimit("ROSTER_LOGIN_LIMIT_PER_ADDRESS", "login-address")
TOKEN_PER_ADDRESS = AttemptLimit("ROSTER_TOKEN_LIMIT_PER_ADDRESS", "token-address")
SIGNUP_PER_ADDRESS = AttemptLimit(
    "ROSTER_SIGNUP_LIMIT_PER_ADDRESS",
    "signup-address",
    "Too many sign-up attempts from your address. Try again later.",
)

# Invitation mails per organization: counted per mail, before the invitations are made.
MAIL_PER_ORG = AttemptLimit(
    "ROSTER_MAIL_LIMIT_PER_ORG",
    "mail-org",
    "This organization has sent too many invitations for now. Try again later.",
)


def client_address() -> str:
    return request.remote_addr or "unknown"


def sign_in_with_password(email: str, password: str) -> User:
    """Check a password under the per-email and per-address failure limits.

    Raises TooManyAttempts while either limit is exceeded (a correct password too: otherwise a
    guesser could go on until it is right), AuthenticationFailed for a wrong email or password.
    """
    email_key = (email or "").strip().lower()[:254]
    LOGIN_PER_ADDRESS.check(client_address())
    LOGIN_PER_EMAIL.check(email_key)
    try:
        user = users.authenticate(email, password)
    except AuthenticationFailed:
        LOGIN_PER_ADDRESS.hit(client_address())
        LOGIN_PER_EMAIL.hit(email_key)
        raise
    if not user.is_verified:
        # Only whoever knows the password learns this; the link goes to the address.
        users.resend_verification(user)
        raise Unverified(
            "Confirm your address first: we sent a new link to it. Open it to finish signing up."
        )
    return user


def sign_up(email: str, name: str, password: str) -> None:
    """Sign up from the form, under the per-address sign-up limit (``users.sign_up``: the answer
    is the same whether or not the address is taken; the mail says the rest).

    Every attempt counts, a taken address as much as a new account: otherwise sign-up would be
    a fast way to make accounts in bulk or to spray mail. Raises TooManyAttempts past the
    limit (nothing happens), else what ``users.sign_up`` does.
    """
    SIGNUP_PER_ADDRESS.take(client_address())
    users.sign_up(email, name, password)


def bearer_token() -> str | None:
    """The token of an ``Authorization: Bearer`` header; "" for a malformed one; None if absent."""
    header = request.headers.get("Authorization")
    if header is None:
        return None
    scheme, _, value = header.partition(" ")
    if scheme.lower() != "bearer":
        return ""
    return value.strip()


def user_from_token(token: str) -> User | ServicePrincipal | None:
    """The token's user, or the principal of an organization's service token (``rss_``);
    failures count against the client address.

    A valid token is never refused by the limit: tokens carry 256 random bits, so the limit is
    there to make guessing noisy and slow, not to lock out the integrations that work.
    """
    return caller_from_token(token, None)[0]


def caller_from_token(
    token: str, organization_id: int | None
) -> tuple[User | ServicePrincipal | None, Account | None]:
    """``user_from_token``, and for a personal token the organization ``organization_id`` as
    its user sees it, read in the same statement (``tokens.authenticate_token_for``)."""
    user: User | ServicePrincipal | None = None
    seen = None
    if token and service_tokens.is_service_token(token):
        user = service_tokens.authenticate_service_token(token)
    elif token:
        user, seen = tokens.authenticate_token_for(token, organization_id)
    if user is None:
        TOKEN_PER_ADDRESS.check(client_address())
        TOKEN_PER_ADDRESS.hit(client_address())
    return user, seen


def init_app(app: Flask) -> None:
    login_manager.init_app(app)
    login_manager.login_view = "web.login"
    login_manager.login_message = "Please sign in to continue."
    login_manager.login_message_category = "info"
    login_manager.user_loader(_load_session_user)


def _load_session_user(session_id: str) -> User | None:
    """Flask-Login's user loader: the first read of a signed-in request, whose reads then run
    outside a transaction on PostgreSQL (``transactions.read_outside_a_transaction``)."""
    read_outside_a_transaction()
    return users.load_session_user(session_id)


# -- my account (DESIGN §8) -------------------------------------------------------------------

# Password reset requests count every request, a known address or not, like sign-up: a request
# mails someone, so per email nobody can flood an inbox with links, and per client address the
# form is no fast way to try addresses.
RESET_PER_EMAIL = AttemptLimit(
    "ROSTER_RESET_LIMIT_PER_EMAIL",
    "reset-email",
    "Too many password reset requests for this address. Try again later.",
)
RESET_PER_ADDRESS = AttemptLimit(
    "ROSTER_RESET_LIMIT_PER_ADDRESS",
    "reset-address",
    "Too many password reset requests from your address. Try again later.",
)


def _email_key(email: str) -> str:
    return (email or "").strip().lower()[:254]


def request_password_reset(email: str) -> None:
    """Ask for a reset link under the per-address and per-email limits; every request counts.

    Raises TooManyAttempts past either limit (no mail goes out), else what
    ``users.request_password_reset`` does: nothing that tells whether the address has an account.
    """
    RESET_PER_ADDRESS.take(client_address())
    RESET_PER_EMAIL.take(_email_key(email))
    users.request_password_reset(email)


@contextmanager
def _password_confirmation(user: User) -> Iterator[None]:
    """A password typed to confirm a change is one more guess at it: a wrong one counts as a
    failed sign-in for the account and the client address, under the same limits, so a
    borrowed session cannot try passwords faster than the sign-in form allows."""
    LOGIN_PER_ADDRESS.check(client_address())
    LOGIN_PER_EMAIL.check(user.email)
    try:
        yield
    except WrongPassword:
        LOGIN_PER_ADDRESS.hit(client_address())
        LOGIN_PER_EMAIL.hit(user.email)
        raise


def change_password(user: User, current: str, new: str) -> None:
    """``users.change_password`` from the account page, under the sign-in failure limits."""
    with _password_confirmation(user):
        users.change_password(user, current, new, via=Via.WEB)


def delete_account(user: User, password: str) -> None:
    """``users.delete_user`` from the account page, under the sign-in failure limits."""
    with _password_confirmation(user):
        users.delete_user(user, password, via=Via.WEB)
