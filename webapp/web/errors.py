"""Domain and HTTP errors for people: a sentence where the action happened, never a trace.

The one place where the dashboard decides a status for a domain error. A view that can show
the error in place (a row, a form, the bulk bar) calls ``in_place``; everything else reaches the
handlers below: a page for a plain request, a message in the live region for htmx.
"""

from __future__ import annotations

import json

from flask import Flask, Response, make_response, render_template, request
from flask_wtf import FlaskForm
from werkzeug.exceptions import HTTPException, InternalServerError

from webapp.api import is_api_path
from webapp.api.problems import http_problem, unexpected_problem
from webapp.extensions import db
from webapp.services.errors import (
    Conflict,
    DomainError,
    Forbidden,
    InvalidInput,
    NotFound,
    TooManyAttempts,
    UnprocessableIds,
)
from webapp.web.htmx import is_htmx

STATUS: list[tuple[type[DomainError], int]] = [
    (InvalidInput, 400),
    (Forbidden, 403),
    (NotFound, 404),
    (Conflict, 409),
    (UnprocessableIds, 422),
    (TooManyAttempts, 429),
]
TITLES = {400: "Check the values", 403: "Not allowed", 404: "Not found", 409: "Refused"}


def status_of(error: DomainError) -> int:
    for cls, status in STATUS:
        if isinstance(error, cls):
            return status
    return 400


def in_place(error: DomainError) -> int:
    """The status for an error shown where the action happened.

    ``NotFound`` is never shown in place: the organization (or the membership that lets the
    user see it) is gone, so it becomes the 404 page, the same answer as for a stranger.
    """
    if isinstance(error, NotFound):
        raise error
    return status_of(error)


def attach_to_form(form: FlaskForm, error: DomainError) -> int:
    """Show a domain error beside the field it names, else at the top of the form."""
    status = in_place(error)
    placed = False
    for field_error in error.errors:
        field = getattr(form, field_error.field, None)
        if field is not None:
            field.errors = [*field.errors, field_error.message]  # type: ignore[misc]
            placed = True
    if not placed:
        form.form_errors.append(error.message)
    return status


def _error_response(status: int, title: str, message: str) -> Response:
    if is_htmx():
        # Nothing to swap where the request came from: say it in the page's live region.
        response = make_response("", status)
        response.headers["HX-Reswap"] = "none"
        response.headers["HX-Trigger"] = json.dumps({"roster:error": {"message": message}})
    else:
        # error_page: the page must not query anything (the switcher), or a failing database
        # would fail the error page too.
        body = render_template(
            "errors/error.html", status=status, title=title, message=message, error_page=True
        )
        response = make_response(body, status)
    response.vary.add("HX-Request")
    return response


def init_app(app: Flask) -> None:
    @app.errorhandler(DomainError)
    def domain_error(error: DomainError) -> Response:
        status = status_of(error)
        response = _error_response(status, TITLES.get(status, "Refused"), error.message)
        if isinstance(error, TooManyAttempts):
            response.headers["Retry-After"] = str(error.retry_after)
        return response

    @app.errorhandler(HTTPException)
    def http_error(error: HTTPException) -> Response:
        if is_api_path(request.path):  # never an HTML page under /api
            return http_problem(error)
        return _error_response(error.code or 500, error.name, error.description or "")

    @app.errorhandler(Exception)
    def unexpected(error: Exception) -> Response:
        db.session.rollback()
        app.logger.exception("unhandled error", exc_info=error)
        if is_api_path(request.path):
            return unexpected_problem()
        return _error_response(
            500,
            InternalServerError().name,
            "Something went wrong on our side. Nothing was changed.",
        )
