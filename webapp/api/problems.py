"""Errors as RFC 9457 problem details (application/problem+json): how the API says them.

Every error the API answers goes through here: domain errors (their status from the one table
of ``webapp.errors``), HTTP errors (404 for an unknown route, 405, 413, 415...), CSRF failures,
an unreachable database (503) and unexpected exceptions (500).
"""

from __future__ import annotations

from http import HTTPStatus
from typing import Any

from flask import Response, json
from werkzeug.exceptions import HTTPException

from webapp.errors import RETRY_AFTER_SECONDS, UNAVAILABLE_DETAIL, UNEXPECTED_DETAIL, status_of
from webapp.services.errors import DomainError, TooManyAttempts

PROBLEM_JSON = "application/problem+json"


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
        emails=error.emails,
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


def fault_problem(unavailable: bool) -> Response:
    """503 ``service_unavailable`` (with ``Retry-After``) when the database could not be used,
    else 500 ``internal_error``; either way the request was rolled back."""
    if unavailable:
        response = problem(503, _title(503), UNAVAILABLE_DETAIL, "service_unavailable")
        response.headers["Retry-After"] = str(RETRY_AFTER_SECONDS)
        return response
    return problem(500, _title(500), UNEXPECTED_DETAIL, "internal_error")
