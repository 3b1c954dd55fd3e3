"""Errors as RFC 9457 problem details (application/problem+json): the API's one status table.

Every error the API answers goes through here: domain errors (``STATUS``), HTTP errors (404 for
an unknown route, 405, 413, 415...), CSRF failures, an unreachable database (503) and unexpected
exceptions (500).
"""

from __future__ import annotations

from http import HTTPStatus
from typing import Any

from flask import Response, json
from pydantic import ValidationError
from werkzeug.exceptions import HTTPException

from webapp.api.schemas import PATTERN_MESSAGES, UNION_TAGS
from webapp.services.errors import (
    AuthenticationFailed,
    Conflict,
    DomainError,
    FieldError,
    Forbidden,
    InvalidInput,
    NotFound,
    TooManyAttempts,
    UnprocessableIds,
)

PROBLEM_JSON = "application/problem+json"

# Shared with the dashboard (web/errors.py), so both fronts say the same thing.
UNEXPECTED_DETAIL = "Something went wrong on our side. Nothing was changed."
UNAVAILABLE_DETAIL = (
    "The database is unavailable right now. Nothing was changed; try again shortly."
)

# The one table: the first class an error is an instance of decides its status.
STATUS: list[tuple[type[DomainError], int]] = [
    (InvalidInput, 400),
    (AuthenticationFailed, 401),
    (Forbidden, 403),
    (NotFound, 404),
    (Conflict, 409),  # LastOwner, AlreadyMembers, EmailTaken
    (UnprocessableIds, 422),  # UnknownUsers, NotMembers, UnknownEmails
    (TooManyAttempts, 429),
]


def status_of(error: DomainError) -> int:
    for cls, status in STATUS:
        if isinstance(error, cls):
            return status
    return 400


def problem(status: int, title: str, detail: str, code: str, **extra: Any) -> Response:
    body = {"type": "about:blank", "title": title, "status": status, "detail": detail, "code": code}
    body.update({key: value for key, value in extra.items() if value is not None})
    response = Response(json.dumps(body), status=status, mimetype=PROBLEM_JSON)
    if status == 401:
        response.headers["WWW-Authenticate"] = 'Bearer realm="roster"'
    return response


def _title(status: int) -> str:
    return HTTPStatus(status).phrase


def domain_problem(error: DomainError) -> Response:
    """A domain error with its stable code, its field errors and its offending ids."""
    status = status_of(error)
    response = problem(
        status,
        _title(status),
        error.message,
        error.code,
        errors=[{"field": e.field, "message": e.message} for e in error.errors] or None,
        user_ids=error.user_ids,
    )
    if isinstance(error, TooManyAttempts):
        response.headers["Retry-After"] = str(error.retry_after)
    return response


def not_authenticated(detail: str) -> Response:
    return problem(401, _title(401), detail, "not_authenticated")


def csrf_problem(error: HTTPException) -> Response:
    """A session-cookie request without a valid ``X-CSRFToken``."""
    return problem(400, _title(400), error.description or "CSRF check failed.", "csrf_failed")


def http_problem(error: HTTPException) -> Response:
    """An HTTP error (404 route, 405, 413, ...) under /api, as problem+json."""
    status = error.code or 500
    code = {
        404: "not_found",
        405: "method_not_allowed",
        413: "body_too_large",
        415: "unsupported_media_type",
    }.get(status, f"http_{status}")
    response = problem(status, error.name, error.description or error.name, code)
    for key, value in error.get_headers():
        if key.lower() != "content-type":
            response.headers[key] = value
    return response


def unexpected_problem() -> Response:
    return problem(500, _title(500), UNEXPECTED_DETAIL, "internal_error")


def unavailable_problem(retry_after: int) -> Response:
    """503 ``service_unavailable``: the database could not be reached, so the request was rolled
    back; ``Retry-After`` (seconds) says when trying again makes sense."""
    response = problem(503, _title(503), UNAVAILABLE_DETAIL, "service_unavailable")
    response.headers["Retry-After"] = str(retry_after)
    return response


def invalid_input(error: ValidationError) -> InvalidInput:
    """A pydantic validation error as the domain's InvalidInput, one FieldError per problem."""
    errors: list[FieldError] = []
    for item in error.errors(include_url=False, include_input=False):
        parts = [str(p) for p in item["loc"] if p not in UNION_TAGS]
        field = ".".join(parts) or "body"
        message = item["msg"]
        if item["type"] == "string_pattern_mismatch" and parts:
            message = PATTERN_MESSAGES.get(parts[0], "has an invalid format")
        elif item["type"] == "json_invalid":
            message = "is not valid JSON"
        if not any(e.field == field and e.message == message for e in errors):
            errors.append(FieldError(field, message))
    summary = "; ".join(f"{e.field}: {e.message}" for e in errors)
    return InvalidInput(summary or None, errors=errors)
