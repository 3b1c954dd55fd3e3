"""Errors for people: a sentence where the action happened, never a trace.

The status comes from the one table of ``webapp.errors``; this is how the dashboard says it. A
view that can show the error in place (a row, a form, the bulk bar) calls ``in_place`` or
``attach_to_form``; everything else reaches the app-wide handlers (``webapp.errors``), which
answer with ``domain_response``, ``http_response`` or ``fault_response``: a page for a plain
request, a message in the live region for htmx.
"""

from __future__ import annotations

import json

from flask import Response, current_app, make_response, render_template
from flask_wtf import FlaskForm
from markupsafe import escape
from werkzeug.exceptions import HTTPException, InternalServerError, ServiceUnavailable

from webapp.errors import (
    FALLBACK_PAGE,
    RETRY_AFTER_SECONDS,
    UNAVAILABLE_DETAIL,
    UNEXPECTED_DETAIL,
    status_of,
)
from webapp.services.errors import DomainError, NotFound, TooManyAttempts
from webapp.web.htmx import is_htmx

TITLES = {400: "Check the values", 403: "Not allowed", 404: "Not found", 409: "Refused"}


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


def domain_response(error: DomainError) -> Response:
    status = status_of(error)
    response = error_response(status, TITLES.get(status, "Refused"), error.message)
    if isinstance(error, TooManyAttempts):
        response.headers["Retry-After"] = str(error.retry_after)
    return response


def http_response(error: HTTPException) -> Response:
    return error_response(error.code or 500, error.name, error.description or "")


def fault_response(unavailable: bool) -> Response:
    """The 503 (the database is unavailable) or 500 page; the transaction is rolled back."""
    if unavailable:
        response = error_response(503, ServiceUnavailable().name, UNAVAILABLE_DETAIL, fault=True)
        response.headers["Retry-After"] = str(RETRY_AFTER_SECONDS)
        return response
    return error_response(500, InternalServerError().name, UNEXPECTED_DETAIL, fault=True)


def _error_page(status: int, title: str, message: str, *, fault: bool) -> str:
    """The error page. A refusal (403, 404...) keeps the site's navigation; a fault does not.

    A fault (500, 503) may be the database's, so its page needs nothing from it: not
    render_template, whose context processors include Flask-Login's, which loads the signed-in
    user from the database for every template; only these values and url_for, in a layout of
    its own. Should even that fail, a fixed page is sent.
    """
    try:
        context = {"status": status, "title": title, "message": message, "fault": fault}
        if fault:
            return current_app.jinja_env.get_template("errors/error.html").render(**context)
        return render_template("errors/error.html", **context)
    except Exception:
        current_app.logger.exception("the error page failed to render")
        return FALLBACK_PAGE.format(status=status, title=escape(title), message=escape(message))


def error_response(status: int, title: str, message: str, *, fault: bool = False) -> Response:
    if is_htmx():
        # Nothing to swap where the request came from: say it in the page's live region.
        response = make_response("", status)
        response.headers["HX-Reswap"] = "none"
        response.headers["HX-Trigger"] = json.dumps({"roster:error": {"message": message}})
    else:
        response = make_response(_error_page(status, title, message, fault=fault), status)
    response.vary.add("HX-Request")
    return response
