"""Errors, for every front: the one table from domain errors to HTTP statuses, faults, and the
app-wide handlers.

The API answers an error as RFC 9457 problem+json (``api/problems.py``), the dashboard as a
message where the action happened or a page (``web/errors.py``); both take the status from
``status_of`` here, and neither front imports the other. The handlers below send each request
to its front's renderer: ``/api`` to the API's, everything else to the dashboard's.

Faults (DESIGN §7): a database that cannot be used right now is a 503 with ``Retry-After``,
anything else unexpected a 500; both roll the transaction back first, and nothing on the way
out may need the database (it may be what failed). Every answer still goes through the
``after_request`` hooks, so it carries the security headers.
"""

from __future__ import annotations

from flask import Flask, Response, current_app, request
from sqlalchemy.exc import DBAPIError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeoutError
from werkzeug.exceptions import HTTPException, InternalServerError

from webapp.extensions import db
from webapp.services.errors import (
    AuthenticationFailed,
    Conflict,
    DomainError,
    FileTooLarge,
    Forbidden,
    InvalidInput,
    InvalidLink,
    InvalidServiceToken,
    InvitationGone,
    NotFound,
    TooManyAttempts,
    UnprocessableIds,
)

# The one table: the first class an error is an instance of decides its status.
STATUS: list[tuple[type[DomainError], int]] = [
    (InvalidServiceToken, 422),  # before InvalidInput, whose subclass it is
    (InvalidInput, 400),
    (AuthenticationFailed, 401),
    (Forbidden, 403),
    (NotFound, 404),
    (InvitationGone, 410),  # a used, revoked or expired invitation link
    (InvalidLink, 410),  # a mailed link (verification, reset) used, expired or altered
    (Conflict, 409),  # LastOwner, AlreadyMembers, TargetSuspended, EmailTaken
    (UnprocessableIds, 422),  # UnknownUsers, NotMembers, UnknownEmails
    (TooManyAttempts, 429),
    (FileTooLarge, 413),  # an import past 5 MB or 10,000 rows
]

# Seconds a client should wait before retrying after a 503: a database restart or fail-over
# usually takes a few seconds, and retrying sooner only adds load.
RETRY_AFTER_SECONDS = 5
UNEXPECTED_DETAIL = "Something went wrong on our side. Nothing was changed."
UNAVAILABLE_DETAIL = (
    "The database is unavailable right now. Nothing was changed; try again shortly."
)


def status_of(error: DomainError) -> int:
    for cls, status in STATUS:
        if isinstance(error, cls):
            return status
    return 400


def is_api_path(path: str) -> bool:
    return path == "/api" or path.startswith("/api/")


def is_scim_path(path: str) -> bool:
    return path == "/scim/v2" or path.startswith("/scim/v2/")


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


def end_transaction() -> None:
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


def fault_response(error: BaseException, *, logged: bool = False) -> Response:
    """Answer an exception no handler expected: roll back, log (unless ``logged``), 503 or 500.

    503 (with ``Retry-After``) when the database is unavailable, 500 for anything else; as
    problem+json under ``/api``, an htmx message or the error page elsewhere. Never raises.
    """
    from webapp.api import problems
    from webapp.web import errors as pages

    end_transaction()
    unavailable = is_database_unavailable(error)
    if not logged:
        if unavailable:
            # One line, not a traceback per request while the database is away.
            current_app.logger.error(
                "database unavailable, answering 503: %s", driver_message(error)
            )
        else:
            current_app.logger.error("unhandled error", exc_info=error)
    if is_api_path(request.path):
        return problems.fault_problem(unavailable)
    if is_scim_path(request.path):  # an identity provider reads SCIM errors only
        from webapp import scim

        if unavailable:
            return scim.error(503, UNAVAILABLE_DETAIL, {"Retry-After": str(RETRY_AFTER_SECONDS)})
        return scim.error(500, UNEXPECTED_DETAIL)
    return pages.fault_response(unavailable)


def init_app(app: Flask) -> None:
    """The app-wide handlers: each request's error answered by its front's renderer."""
    from webapp.api import problems
    from webapp.web import errors as pages

    @app.errorhandler(DomainError)
    def domain_error(error: DomainError) -> Response:
        if is_api_path(request.path):
            return problems.domain_problem(error)
        return pages.domain_response(error)

    @app.errorhandler(HTTPException)
    def http_error(error: HTTPException) -> Response:
        original = getattr(error, "original_exception", None)
        if isinstance(error, InternalServerError) and original is not None:
            # Flask's last resort (an exception raised by a handler or an after_request hook),
            # which Flask has logged: still our own answer, and 503 if the database was the cause.
            return fault_response(original, logged=True)
        if is_api_path(request.path):  # never an HTML page under /api
            return problems.http_problem(error)
        if is_scim_path(request.path):  # nor under /scim/v2 (a path or method no rule serves)
            from webapp import scim

            return scim.error(error.code or 500, error.description or "", dict(error.get_headers()))
        return pages.http_response(error)

    @app.errorhandler(Exception)
    def unexpected(error: Exception) -> Response:
        return fault_response(error)

    @app.teardown_appcontext
    def _release_database(_error: BaseException | None) -> None:
        # Runs before Flask-SQLAlchemy's own teardown (teardowns run in reverse order), whose
        # rollback raises if the connection died after the response was made: the exception
        # would reach the WSGI server, which would answer 500 in place of the finished answer.
        end_transaction()
