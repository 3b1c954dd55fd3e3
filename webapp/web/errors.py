"""Domain errors and HTTP errors as pages: a message where the action happened, never a trace."""

from __future__ import annotations

from flask import Flask, Response, render_template, request
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

STATUS: list[tuple[type[DomainError], int]] = [
    (InvalidInput, 400),
    (Forbidden, 403),
    (NotFound, 404),
    (Conflict, 409),
    (UnprocessableIds, 422),
    (TooManyAttempts, 429),
]


def status_of(error: DomainError) -> int:
    for cls, status in STATUS:
        if isinstance(error, cls):
            return status
    return 400


def attach_to_form(form: FlaskForm, error: DomainError) -> None:
    """Show a domain error beside the field it names, else at the top of the form."""
    placed = False
    for field_error in error.errors:
        field = getattr(form, field_error.field, None)
        if field is not None:
            field.errors = [*field.errors, field_error.message]  # type: ignore[misc]
            placed = True
    if not placed:
        form.form_errors.append(error.message)


def _error_page(status: int, title: str, message: str) -> tuple[str, int]:
    return render_template("errors/error.html", status=status, title=title, message=message), status


def init_app(app: Flask) -> None:
    @app.errorhandler(DomainError)
    def domain_error(error: DomainError) -> tuple[str, int] | Response:
        status = status_of(error)
        title = {404: "Not found", 403: "Not allowed"}.get(status, "Request refused")
        body, status = _error_page(status, title, error.message)
        response = app.make_response((body, status))
        if isinstance(error, TooManyAttempts):
            response.headers["Retry-After"] = str(error.retry_after)
        return response

    @app.errorhandler(HTTPException)
    def http_error(error: HTTPException) -> tuple[str, int] | Response:
        if is_api_path(request.path):  # never an HTML page under /api
            return http_problem(error)
        return _error_page(error.code or 500, error.name, error.description or "")

    @app.errorhandler(Exception)
    def unexpected(error: Exception) -> tuple[str, int] | Response:
        db.session.rollback()
        app.logger.exception("unhandled error", exc_info=error)
        if is_api_path(request.path):
            return unexpected_problem()
        generic = InternalServerError()
        return _error_page(
            500, generic.name, "Something went wrong on our side. Nothing was changed."
        )
