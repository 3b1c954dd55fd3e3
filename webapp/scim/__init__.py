"""SCIM 2.0 at /scim/v2 (DESIGN §10, RFC 7643/7644), for an organization's identity provider.

The protocol is scim2-server's (``ScimHandler`` and ``ScimService``: routing, request
validation, PUT and PATCH applied with scim2-models, filters parsed, errors and responses in
``application/scim+json``); Roster supplies the storage (``storage.RosterStorage``, over
``services.scim``), the resources it publishes (``resources``), and who may call: an
organization's ``scim`` service token, which names the organization.
"""

from __future__ import annotations

import json
from http import HTTPStatus

from flask import Blueprint, Flask, Response, current_app, g, request
from scim2_models import (
    Error,
    ForbiddenException,
    PayloadTooLargeException,
    SCIMException,
    TooManyException,
    UnauthorizedException,
)
from scim2_server.handler import ScimHandler
from scim2_server.requests import ScimRequest
from scim2_server.responses import ScimResponse
from scim2_server.routing import Operation
from werkzeug.exceptions import RequestEntityTooLarge

from webapp.auth import bearer_token, user_from_token
from webapp.scim.resources import provider
from webapp.scim.service import RosterScimHandler, RosterScimService
from webapp.scim.storage import RosterStorage
from webapp.services import scim
from webapp.services.errors import Forbidden, TooManyAttempts
from webapp.services.permissions import ServicePrincipal
from webapp.services.transactions import read_outside_a_transaction

bp = Blueprint("scim", __name__, url_prefix="/scim/v2")


def _authenticate() -> ServicePrincipal:
    token = bearer_token()
    if not token:
        raise UnauthorizedException(
            detail="Send the organization's scim service token as 'Authorization: Bearer'."
        )
    read_outside_a_transaction()  # before the request's first statement, the token's
    try:
        caller = user_from_token(token)
    except TooManyAttempts as error:
        raise TooManyRequests(detail=error.message, retry_after=error.retry_after) from None
    if caller is None:
        raise UnauthorizedException(detail="The token is malformed, unknown, expired or revoked.")
    try:
        return scim.check_principal(caller)
    except Forbidden as error:  # a valid token, of a person or of another scope
        raise ForbiddenException(detail=error.message) from None


class TooManyRequests(TooManyException):
    status = 429
    scim_type = ""


_METHODS = ["GET", "POST", "PUT", "PATCH", "DELETE"]


@bp.route("", methods=_METHODS, strict_slashes=False)
def root() -> Response:
    """The base URL itself, answered in SCIM: GET there is a search of the root (RFC 7644
    §3.4.2.1), which Roster does not offer (501); other methods are not served (405)."""
    return endpoint("")


@bp.route("/<path:path>", methods=_METHODS)
def endpoint(path: str) -> Response:
    handler: ScimHandler = current_app.extensions["roster.scim"]
    service = handler.service
    try:
        scim_request = ScimRequest(
            method="GET" if request.method == "HEAD" else request.method,
            base_url=request.url_root.rstrip("/") + bp.url_prefix,
            path="/" + path,
            query={key: request.args[key] for key in request.args},
            headers=list(request.headers.items()),
            body=request.get_data(cache=False),
        )
        if service.match(scim_request).operation is not Operation.service_provider_config:
            g.scim_principal = _authenticate()
        response = handler.handle(scim_request)
    except RequestEntityTooLarge:
        response = service.error_response(PayloadTooLargeException())
    except SCIMException as error:
        response = service.error_response(error)
        if isinstance(error, TooManyRequests):
            response.headers["Retry-After"] = str(error.context["retry_after"])
    if response.headers.get("Location") is None and response.status != HTTPStatus.NO_CONTENT:
        response.headers["Location"] = request.base_url
    return _flask_response(response)


def error(status: int, detail: str, headers: dict[str, str] | None = None) -> Response:
    """A SCIM error (RFC 7644 §3.12) for what the app answers outside the SCIM handler: a
    database fault, a path or method no rule serves."""
    body = Error(status=status, detail=detail).model_dump()
    answer = _flask_response(ScimResponse(HTTPStatus(status), body))
    for key, value in (headers or {}).items():
        if key.lower() != "content-type":
            answer.headers[key] = value
    return answer


def _flask_response(response: ScimResponse) -> Response:
    body = "" if response.body is None else json.dumps(response.body)
    answer = Response(body, status=response.status.value)
    for key, value in response.headers.items():
        answer.headers[key] = value
    if response.status == HTTPStatus.UNAUTHORIZED:
        answer.headers["WWW-Authenticate"] = 'Bearer realm="Roster SCIM"'
    answer.headers.setdefault("Cache-Control", "no-store")
    return answer


def init_app(app: Flask) -> None:
    from webapp.extensions import csrf

    csrf.exempt(bp)  # a Bearer token only: a browser cannot be made to send one
    app.extensions["roster.scim"] = RosterScimHandler(
        RosterScimService(provider()), RosterStorage()
    )
    app.register_blueprint(bp)
