"""Domain and HTTP errors for people: a sentence where the action happened, never a trace.

The one place where the dashboard decides a status for a domain error. A view that can show
the error in place (a row, a form, the bulk bar) calls ``in_place``; everything else reaches the
handlers below: a page for a plain request, a message in the live region for htmx.

Faults (DESIGN §7) are answered here for the whole app, ``/api`` included: a database that
cannot be reached is a 503 with ``Retry-After``, anything else unexpected a 500; both roll the
transaction back first. Nothing on the way out may need the database (it may be what failed):
the error page reads no user, rolling back never raises, and should the page itself fail to
render, a fixed HTML page is sent. Every answer still goes through the ``after_request`` hooks,
so it carries the security headers.
"""

from __future__ import annotations

import json

from flask import Flask, Response, current_app, make_response, render_template, request
from flask_wtf import FlaskForm
from markupsafe import escape
from sqlalchemy.exc import DBAPIError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeoutError
from werkzeug.exceptions import HTTPException, InternalServerError, ServiceUnavailable

from webapp.api import is_api_path
from webapp.api.problems import (
    UNAVAILABLE_DETAIL,
    UNEXPECTED_DETAIL,
    http_problem,
    unavailable_problem,
    unexpected_problem,
)
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

# Seconds a client should wait before retrying after a 503: a database restart or fail-over
# usually takes a few seconds, and retrying sooner only adds load.
RETRY_AFTER_SECONDS = 5

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


# SQLite result codes (``sqlite3.Error.sqlite_errorname``, extended codes included by prefix)
# that say the database cannot be used right now, rather than that the statement is wrong.
_SQLITE_UNAVAILABLE = (
    "SQLITE_BUSY",
    "SQLITE_LOCKED",
    "SQLITE_CANTOPEN",
    "SQLITE_IOERR",
    "SQLITE_FULL",
    "SQLITE_PROTOCOL",
    "SQLITE_READONLY",
)
# PostgreSQL SQLSTATE classes and codes of the same kind: connection exceptions (08),
# insufficient resources (53), system errors (58); shutdown, crash, "cannot connect now" and
# idle-session timeout (57P01-57P05), statement timeout or cancel (57014), serialization
# failure (40001), deadlock (40P01), lock not available (55P03).
_POSTGRES_UNAVAILABLE_CLASSES = ("08", "53", "58")
_POSTGRES_UNAVAILABLE_CODES = frozenset(
    {"57P01", "57P02", "57P03", "57P04", "57P05", "57014", "40001", "40P01", "55P03"}
)


def is_database_unavailable(error: BaseException) -> bool:
    """Whether ``error`` means the database could not be used right now (503), not a bug (500).

    A connection found dead, the pool's timeout (every connection busy), or a driver error
    whose code says so: a refused or dropped connection, a server shutting down, a lock or
    statement timeout, a deadlock, a full disk. A statement the database refuses as wrong ("no
    such table", a syntax error) is a bug, not an outage: it stays a 500, with its traceback
    in the log, even where the driver calls it an OperationalError (SQLite does).
    """
    if isinstance(error, PoolTimeoutError):
        return True
    if not isinstance(error, DBAPIError):
        return False
    if error.connection_invalidated:
        return True
    original = error.orig
    sqlite_name = getattr(original, "sqlite_errorname", None)
    if sqlite_name is not None:
        return str(sqlite_name).startswith(_SQLITE_UNAVAILABLE)
    sqlstate = getattr(original, "sqlstate", None)
    if sqlstate is None:
        # No answer from a server at all (psycopg: the connection could not be made).
        return isinstance(error, OperationalError)
    return (
        str(sqlstate)[:2] in _POSTGRES_UNAVAILABLE_CLASSES
        or sqlstate in _POSTGRES_UNAVAILABLE_CODES
    )


def _end_transaction() -> None:
    """Roll back whatever the request had open, without ever raising.

    A rollback needs the server, so when the connection is what broke it can fail too. The
    connection is then thrown away (invalidated) rather than returned to the pool, which leaves
    the session empty for the teardown and gives the next request a fresh connection.
    """
    try:
        db.session.rollback()
    except Exception as error:
        current_app.logger.warning(
            "rollback failed, discarding the connection: %s", driver_message(error)
        )
        try:
            db.session.invalidate()
        except Exception:
            current_app.logger.exception("could not discard the database connection")


def driver_message(error: BaseException) -> str:
    """The driver's message (not the SQL or its parameters, which may hold personal data)."""
    original = getattr(error, "orig", None) or error
    return f"{type(original).__name__}: {original}".strip()


# The error page as fixed markup, for when even the template cannot be used: the error page
# failing to render, and the errors ``roster serve`` answers itself before the app sees the
# request (webapp.serving). Format it with status, title and message, escaped.
FALLBACK_PAGE = """<!doctype html>
<html lang="en">
<head>
  <meta charset="utf-8">
  <meta name="viewport" content="width=device-width, initial-scale=1">
  <title>{title} · Roster</title>
  <link rel="stylesheet" href="/static/app.css">
</head>
<body>
  <header class="topbar"><a class="brand" href="/">Roster</a></header>
  <main id="main">
    <section class="card narrow error-card">
      <p class="error-status">{status}</p>
      <h1>{title}</h1>
      <p>{message}</p>
      <p><a href="/">Back to Roster</a></p>
    </section>
  </main>
</body>
</html>
"""


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


def _error_response(status: int, title: str, message: str, *, fault: bool = False) -> Response:
    if is_htmx():
        # Nothing to swap where the request came from: say it in the page's live region.
        response = make_response("", status)
        response.headers["HX-Reswap"] = "none"
        response.headers["HX-Trigger"] = json.dumps({"roster:error": {"message": message}})
    else:
        response = make_response(_error_page(status, title, message, fault=fault), status)
    response.vary.add("HX-Request")
    return response


def fault_response(error: BaseException, *, logged: bool = False) -> Response:
    """Answer an exception no handler expected: roll back, log (unless ``logged``), 503 or 500.

    503 (with ``Retry-After``) when the database is unavailable, 500 for anything else; as
    problem+json under ``/api``, an htmx message or the error page elsewhere. Never raises.
    """
    _end_transaction()
    if is_database_unavailable(error):
        if not logged:
            # One line, not a traceback per request while the database is away.
            current_app.logger.error(
                "database unavailable, answering 503: %s", driver_message(error)
            )
        if is_api_path(request.path):
            return unavailable_problem(RETRY_AFTER_SECONDS)
        response = _error_response(503, ServiceUnavailable().name, UNAVAILABLE_DETAIL, fault=True)
        response.headers["Retry-After"] = str(RETRY_AFTER_SECONDS)
        return response
    if not logged:
        current_app.logger.error("unhandled error", exc_info=error)
    if is_api_path(request.path):
        return unexpected_problem()
    return _error_response(500, InternalServerError().name, UNEXPECTED_DETAIL, fault=True)


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
        original = getattr(error, "original_exception", None)
        if isinstance(error, InternalServerError) and original is not None:
            # Flask's last resort (an exception raised by a handler or an after_request hook),
            # which Flask has logged: still our own answer, and 503 if the database was the cause.
            return fault_response(original, logged=True)
        if is_api_path(request.path):  # never an HTML page under /api
            return http_problem(error)
        return _error_response(error.code or 500, error.name, error.description or "")

    @app.errorhandler(Exception)
    def unexpected(error: Exception) -> Response:
        return fault_response(error)

    @app.teardown_appcontext
    def _release_database(_error: BaseException | None) -> None:
        # Runs before Flask-SQLAlchemy's own teardown (teardowns run in reverse order), whose
        # rollback raises if the connection died after the response was made: the exception
        # would reach the WSGI server, which would answer 500 in place of the finished answer.
        _end_transaction()
