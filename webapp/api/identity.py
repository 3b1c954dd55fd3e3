"""Who is calling the API: a Bearer token, or the browser session plus its CSRF token.

An ``Authorization`` header, when present, decides alone: a bad token is 401 even if a session
cookie came along. A Bearer request never needs a CSRF token (a browser cannot be tricked into
sending the header); a session request needs ``X-CSRFToken`` on every unsafe method and on the
state-changing ``GET .../leave``.
"""

from __future__ import annotations

from flask import current_app, g, request
from flask_login import current_user
from flask_wtf.csrf import CSRFError, validate_csrf
from werkzeug.wrappers import Response
from wtforms import ValidationError

from webapp.api.problems import not_authenticated
from webapp.auth import bearer_token, caller_from_token
from webapp.extensions import csrf
from webapp.services.organizations import Account
from webapp.services.permissions import Actor
from webapp.services.transactions import read_outside_a_transaction

# Reachable without credentials: the API's own description.
PUBLIC_ENDPOINTS = frozenset({"api.openapi_document", "api.docs"})
# GETs that change state, so need the CSRF token from a browser session like a POST would.
STATE_CHANGING_GETS = frozenset({"api.leave_organization"})


def authenticate() -> Response | None:
    """``before_request`` of the API blueprint: set ``g.api_user`` or answer 401.

    Failed token checks count against the client address (``webapp.auth.user_from_token``),
    which raises TooManyAttempts (429) past the limit. For a GET about one organization, a
    personal token's statement also reads the caller's Account there (``seen_account``).
    """
    g.seen_account = None
    if request.endpoint in PUBLIC_ENDPOINTS or request.method == "OPTIONS":
        return None
    token = bearer_token()
    if token is not None:
        read_outside_a_transaction()  # the request's reads (transactions.py), from the token's
        # A read about one organization checks access to it with the token's own statement;
        # a write locks the organization and checks under the lock (services.permissions).
        about = None
        if request.method in ("GET", "HEAD"):
            about = (request.view_args or {}).get("organization_id")
        user, g.seen_account = caller_from_token(token, about)
        if user is None:
            return not_authenticated("The API token is malformed, unknown, expired or revoked.")
        g.api_user = user
        return None
    if current_user.is_authenticated:
        _check_csrf()
        g.api_user = current_user._get_current_object()
        return None
    return not_authenticated(
        "Send an API token as 'Authorization: Bearer <token>', or sign in to the dashboard."
    )


def _check_csrf() -> None:
    if request.method in current_app.config["WTF_CSRF_METHODS"]:
        csrf.protect()
    elif request.method == "GET" and request.endpoint in STATE_CHANGING_GETS:
        # csrf.protect() skips GET by design, so check the header token ourselves.
        headers = current_app.config["WTF_CSRF_HEADERS"]
        token = next((request.headers[h] for h in headers if request.headers.get(h)), None)
        try:
            validate_csrf(token)
        except ValidationError as error:
            raise CSRFError(error.args[0]) from None


def actor() -> Actor:
    """The authenticated caller of this request: a user, or an organization's service token
    (``services.permissions.ServicePrincipal``), which the services tell apart."""
    caller: Actor = g.api_user
    return caller


def seen_account(organization_id: int) -> Account | None:
    """The organization as the caller's personal token saw it when this request authenticated
    (``tokens.authenticate_token_for``), for the services' ``seen``: their access check then
    needs no statement of its own. None for a session, a service token, or a non-member."""
    seen: Account | None = g.get("seen_account")
    return seen if seen is not None and seen.id == organization_id else None
