"""Errors as RFC 9457 problem details (application/problem+json): the API's one status table."""

from __future__ import annotations

from typing import Any

from flask import Response, json
from werkzeug.exceptions import HTTPException


def problem(status: int, title: str, detail: str, code: str, **extra: Any) -> Response:
    body = {"type": "about:blank", "title": title, "status": status, "detail": detail, "code": code}
    body.update(extra)
    return Response(json.dumps(body), status=status, mimetype="application/problem+json")


def http_problem(error: HTTPException) -> Response:
    """An HTTP error (404 route, 405, 413, ...) under /api, as problem+json."""
    status = error.code or 500
    response = problem(status, error.name, error.description or error.name, f"http_{status}")
    for key, value in error.get_headers():
        if key.lower() != "content-type":
            response.headers[key] = value
    return response


def unexpected_problem() -> Response:
    return problem(
        500,
        "Internal Server Error",
        "Something went wrong on our side. Nothing was changed.",
        "internal_error",
    )
