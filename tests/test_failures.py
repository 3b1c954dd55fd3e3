"""Failures without drama (DESIGN §7 "Faults"): a database that is down, or cut in the middle of
a request, gets Roster's own 503 (other faults its own 500) with the security headers, rolls
back and changes nothing; the first request after the database comes back succeeds;
``/healthz`` and ``/readyz`` tell a load balancer what it needs to know.

In-process tests inject the failure with engine events, on SQLite and PostgreSQL alike. The
live tests run a real ``roster serve`` behind a TCP proxy to PostgreSQL that they cut and
restore; they need PostgreSQL: the suite's database when it is one, else the database named by
``ROSTER_TEST_POSTGRES_URL``; without either they are skipped (``.ci/run``'s PostgreSQL pass
always runs them).
"""

from __future__ import annotations

import contextlib
import html
import http.client
import json
import os
import re
import socket
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import psycopg
import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import Engine, event, func, make_url, select, text
from sqlalchemy.engine.interfaces import ExceptionContext
from sqlalchemy.exc import IntegrityError, OperationalError, ProgrammingError
from sqlalchemy.exc import TimeoutError as PoolTimeoutError

from webapp import create_app
from webapp.errors import UNAVAILABLE_DETAIL, UNEXPECTED_DETAIL, is_database_unavailable
from webapp.extensions import db
from webapp.models import AuditEvent, Organization, User, Via
from webapp.security import CONTENT_SECURITY_POLICY
from webapp.services import organizations, service_tokens
from webapp.services.organizations import Account

SECURITY_HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "same-origin",
}
HX = {"HX-Request": "true"}
INJECTED = "(injected by the test)"
_CONTROL = re.compile(r"^\s*(BEGIN|COMMIT|ROLLBACK|PRAGMA|SAVEPOINT|RELEASE)\b", re.I)


def assert_security_headers(headers: Any) -> None:
    for name, value in SECURITY_HEADERS.items():
        assert headers.get(name) == value, (name, headers.get(name))


def assert_no_trace(text: str) -> None:
    for leak in ("Traceback", "INJECTED", "injected", "sqlalchemy", "psycopg", "sqlite3", "SELECT"):
        assert leak not in text, leak


# -- an injected database outage ---------------------------------------------------------------


@dataclass
class DatabaseFault:
    """Makes the database fail as a lost server does, from a chosen moment on, in-process.

    Armed with ``fail_at``, the matching statement and every later one raise the driver's own
    ``OperationalError``, flagged as a lost connection (SQLAlchemy invalidates it, as for a real
    drop); ``down()`` makes every new connection fail too, as when nothing listens. ``attempts``
    counts the statements and connections tried once down, the failing one included: 1 means
    nothing touched the database after the failure (the error page did not reload the user).
    """

    engine: Engine
    trigger: Callable[[int, str], bool] | None = None
    is_down: bool = False
    is_disconnect: bool = True
    statements: int = 0
    attempts: list[str] = field(default_factory=list)

    def install(self) -> None:
        event.listen(self.engine, "before_cursor_execute", self._before_execute)
        event.listen(self.engine, "handle_error", self._handle_error)
        event.listen(self.engine, "do_connect", self._connect)

    def remove(self) -> None:
        event.remove(self.engine, "before_cursor_execute", self._before_execute)
        event.remove(self.engine, "handle_error", self._handle_error)
        event.remove(self.engine, "do_connect", self._connect)

    def fail_at(self, nth: int | None = None, containing: str | None = None) -> None:
        """Fail the ``nth`` statement from now (control statements not counted), or the first
        one whose SQL contains ``containing``."""
        self.statements = 0
        if containing is not None:
            self.trigger = lambda _n, sql: containing in sql
        else:
            self.trigger = lambda n, _sql: n == nth

    def down(self) -> None:
        """From now on every statement and every new connection fails."""
        self.is_down = True
        # No pooled connection outlives the outage (the test's own session gives its back first:
        # one returned to a pool disposed of would be left open).
        db.session.close()
        self.engine.dispose()

    def up(self) -> None:
        self.trigger = None
        self.is_down = False

    def driver_error(self, dialect: Any, what: str) -> Exception:
        error: Exception = dialect.loaded_dbapi.OperationalError(f"{what} {INJECTED}")
        return error

    def _before_execute(self, conn, cursor, statement, parameters, context, executemany):  # type: ignore[no-untyped-def]
        if not self.is_down and self.trigger is not None and not _CONTROL.match(statement):
            self.statements += 1
            if self.trigger(self.statements, statement):
                self.is_down = True
        if self.is_down:
            self.attempts.append(statement)
            raise self.driver_error(conn.dialect, "server closed the connection unexpectedly")

    def _handle_error(self, context: ExceptionContext) -> None:
        if INJECTED in str(context.original_exception):
            context.is_disconnect = self.is_disconnect

    def _connect(self, dialect, conn_rec, cargs, cparams):  # type: ignore[no-untyped-def]
        if self.is_down:
            self.attempts.append("connect")
            raise self.driver_error(dialect, "connection refused")
        return None


@pytest.fixture
def fault(app: Flask) -> Iterator[DatabaseFault]:
    injected = DatabaseFault(db.engine)
    injected.install()
    yield injected
    injected.remove()
    db.session.remove()  # before dispose(), as the app fixture does
    db.engine.dispose()


@pytest.fixture
def quiet_log(app: Flask) -> Iterator[None]:
    """The handlers log every fault; the test output needs none of it."""
    app.logger.disabled = True
    yield
    app.logger.disabled = False


@dataclass
class Scene:
    owner: User
    org: Account
    client: FlaskClient
    token: str


@pytest.fixture
def scene(app, make_user, make_org, login_as, api) -> Scene:  # type: ignore[no-untyped-def]
    owner = make_user(name="Olivia Owner")
    org = make_org(owner, "Acme")
    token = api(owner).token
    return Scene(owner, org, login_as(owner), token)


def _read(scene: Scene, kind: str) -> Any:
    """A read request of each front: the overview page, its htmx partial, the API."""
    org = scene.org.id
    if kind != "api":
        return scene.client.get(f"/orgs/{org}", headers=HX if kind == "htmx" else {})
    return scene.client.get(
        f"/api/organizations/{org}", headers={"Authorization": f"Bearer {scene.token}"}
    )


def _csrf(client: FlaskClient) -> str:
    page = client.get("/roles").get_data(as_text=True)
    match = re.search(r'<meta name="csrf-token" content="([^"]+)"', page)
    assert match
    return match.group(1)


def _rename(scene: Scene, kind: str, name: str) -> Any:
    """A rename through each front: the settings form, the same form by htmx, the API."""
    org = scene.org.id
    token = _csrf(scene.client)
    if kind == "api":
        return scene.client.put(
            f"/api/organizations/{org}",
            json={"organization_name": name},
            headers={"Authorization": f"Bearer {scene.token}"},
        )
    form = {"rename-organization_name": name}
    if kind == "htmx":
        return scene.client.post(
            f"/orgs/{org}/settings", data=form, headers={**HX, "X-CSRFToken": token}
        )
    return scene.client.post(f"/orgs/{org}/settings", data={**form, "csrf_token": token})


def assert_unavailable(response: Any, kind: str) -> None:
    """Roster's own 503 for the front that asked, with Retry-After and the security headers."""
    body = response.get_data(as_text=True)
    assert response.status_code == 503, body
    assert int(response.headers["Retry-After"]) > 0
    assert_security_headers(response.headers)
    assert_no_trace(body + str(response.headers))
    if kind == "api":
        assert response.mimetype == "application/problem+json"
        problem = response.get_json(force=True)
        assert problem["status"] == 503 and problem["code"] == "service_unavailable"
        assert problem["detail"] == UNAVAILABLE_DETAIL
    elif kind == "htmx":
        assert body == "" and response.headers["HX-Reswap"] == "none"
        trigger = json.loads(response.headers["HX-Trigger"])
        assert trigger == {"roster:error": {"message": UNAVAILABLE_DETAIL}}
    else:
        assert response.mimetype == "text/html"
        assert_roster_error_page(body, 503, UNAVAILABLE_DETAIL)


def assert_roster_error_page(body: str, status: int, message: str) -> None:
    """The dashboard's own error page: its layout and message, and nothing about the user."""
    assert body.startswith("<!doctype html>")
    assert f'<p class="error-status">{status}</p>' in body
    assert html.escape(message, quote=False) in body
    assert 'href="/static/app.css"' in body and 'class="skip-link"' in body
    assert re.search(r'<a class="brand" href="/">', body)
    assert "Sign out" not in body and "switcher" not in body  # nothing read about the user


# -- the database fails during a request --------------------------------------------------------

# connect: the database refuses connections from the start; 1: the first statement (the
# signed-in user or the token) fails; 2: the user is loaded, the next statement fails (the
# rollback expires the user, so a page that showed the user's name would query again).
FAILURES = ["connect", 1, 2]


@pytest.mark.parametrize("kind", ["page", "htmx", "api"])
@pytest.mark.parametrize("failure", FAILURES)
def test_a_database_failure_is_a_503_that_reads_nothing_more(
    scene, fault, quiet_log, kind, failure
):
    if failure == "connect":
        fault.down()
    else:
        fault.fail_at(nth=failure)
    response = _read(scene, kind)
    assert_unavailable(response, kind)
    assert len(fault.attempts) == 1, fault.attempts  # not one query after the failure


@pytest.mark.parametrize("kind", ["page", "htmx", "api"])
def test_a_write_cut_after_it_started_changes_nothing(scene, fault, quiet_log, kind):
    """The rename's UPDATE has run when the audit INSERT fails: all of it is rolled back."""
    events = db.session.scalar(select(func.count()).select_from(AuditEvent))
    fault.fail_at(containing="INSERT INTO audit_events")
    response = _rename(scene, kind, "Renamed")
    assert_unavailable(response, kind)
    assert len(fault.attempts) == 1, fault.attempts
    fault.up()
    db.session.commit()
    assert db.session.get(Organization, scene.org.id, populate_existing=True).organization_name == (
        "Acme"
    )
    assert db.session.scalar(select(func.count()).select_from(AuditEvent)) == events
    # The connection that failed is gone, not back in the pool: the next request just works.
    assert _rename(scene, kind, "Renamed").status_code in (200, 302)
    assert organizations.get_organization(scene.owner, scene.org.id).organization_name == "Renamed"


# -- SCIM: an identity provider reads SCIM errors only ------------------------------------------

SCIM_USER = {"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"], "userName": "n@example.org"}


def assert_scim_unavailable(response: Any) -> None:
    """503 as a SCIM error (RFC 7644 §3.12): application/scim+json, ``status`` a string, with
    Retry-After and the security headers, and no trace."""
    body = response.get_data(as_text=True)
    assert response.status_code == 503, body
    assert response.mimetype == "application/scim+json", body
    error = json.loads(body)
    assert error["schemas"] == ["urn:ietf:params:scim:api:messages:2.0:Error"]
    assert error["status"] == "503" and error["detail"] == UNAVAILABLE_DETAIL
    assert int(response.headers["Retry-After"]) > 0
    assert_security_headers(response.headers)
    assert_no_trace(body + str(response.headers))


@pytest.mark.parametrize("failure", [*FAILURES, "write"])
def test_scim_gets_a_scim_503_and_nothing_changes(scene, fault, quiet_log, failure):
    token = service_tokens.create_service_token(
        scene.owner, scene.org.id, "idp", "scim", via=Via.CLI
    ).token
    db.session.commit()
    headers = {"Authorization": f"Bearer {token}"}
    client = scene.client.application.test_client()  # a provider: no session
    if failure == "connect":
        fault.down()
    elif failure == "write":
        fault.fail_at(containing="INSERT INTO audit_events")
    else:
        fault.fail_at(nth=failure)
    if failure == "write":
        assert_scim_unavailable(client.post("/scim/v2/Users", json=SCIM_USER, headers=headers))
    else:
        assert_scim_unavailable(client.get("/scim/v2/Users", headers=headers))
    fault.up()
    db.session.commit()
    assert db.session.scalar(select(User.id).where(User.email == SCIM_USER["userName"])) is None
    # The next request just works.
    assert client.post("/scim/v2/Users", json=SCIM_USER, headers=headers).status_code == 201


@pytest.mark.parametrize(
    ("method", "path", "status"),
    [
        ("GET", "/scim/v2//Users", 404),
        ("GET", "/scim/v2/%2FUsers", 404),
        ("PROPFIND", "/scim/v2/Users", 405),
    ],
)
def test_what_no_scim_rule_serves_is_still_a_scim_error(client, method, path, status):
    response = client.open(path, method=method)
    body = response.get_data(as_text=True)
    assert response.status_code == status, body
    assert response.mimetype == "application/scim+json", body
    assert json.loads(body)["status"] == str(status)
    assert_security_headers(response.headers)


@pytest.fixture
def rollback_fails(app: Flask, monkeypatch: pytest.MonkeyPatch) -> None:
    """Every rollback fails, as it does on a connection whose server has gone."""
    dialect = db.engine.dialect

    def fail(dbapi_connection: Any) -> None:
        raise dialect.loaded_dbapi.OperationalError(f"no connection to the server {INJECTED}")

    monkeypatch.setattr(dialect, "do_rollback", fail)


def test_a_rollback_that_fails_too_still_gets_the_503(scene, fault, quiet_log, rollback_fails):
    """A failure the driver does not flag as a lost connection leaves the connection looking
    alive, so the handler's rollback goes to the server, and fails as well."""
    fault.is_disconnect = False
    fault.fail_at(nth=2)
    assert_unavailable(_read(scene, "page"), "page")


def test_a_connection_lost_after_the_answer_keeps_the_answer(scene, quiet_log, rollback_fails):
    """The request's last step, the rollback of its read transaction at teardown, fails: the
    page that was made is still what the client gets (not a 500 from the WSGI server)."""
    response = _read(scene, "page")
    assert response.status_code == 200 and "Acme" in response.get_data(as_text=True)


def test_a_database_failure_in_an_after_request_hook_is_still_a_503(app, client, fault, quiet_log):
    """Flask's last resort (an exception outside the view, with errors not propagated as in
    production) still answers Roster's 503, not a generic 500, with the security headers."""
    app.config["PROPAGATE_EXCEPTIONS"] = False
    failures = iter([True])

    @app.after_request
    def fails_once(response: Any) -> Any:
        if next(failures, False):
            lost = fault.driver_error(
                db.engine.dialect, "server closed the connection unexpectedly"
            )
            raise OperationalError("SELECT 1", {}, lost, connection_invalidated=True)
        return response

    assert_unavailable(client.get("/roles"), "page")


# -- other faults, and an error page that cannot render ----------------------------------------


@pytest.fixture
def broken_overview(monkeypatch: pytest.MonkeyPatch) -> None:
    def explode(*args: Any, **kwargs: Any) -> None:
        raise RuntimeError("secret internals /work/main/webapp INJECTED")

    monkeypatch.setattr(organizations, "get_organization", explode)


@pytest.mark.parametrize("kind", ["page", "htmx", "api"])
def test_an_unexpected_error_is_roster_s_500_with_the_security_headers(
    scene, quiet_log, broken_overview, kind
):
    response = _read(scene, kind)
    body = response.get_data(as_text=True)
    assert response.status_code == 500, body
    assert "Retry-After" not in response.headers
    assert_security_headers(response.headers)
    assert_no_trace(body)
    if kind == "api":
        assert response.mimetype == "application/problem+json"
        assert response.get_json(force=True)["code"] == "internal_error"
    elif kind == "htmx":
        assert UNEXPECTED_DETAIL in response.headers["HX-Trigger"]
    else:
        assert_roster_error_page(body, 500, UNEXPECTED_DETAIL)


@pytest.fixture
def wrong_statement(monkeypatch: pytest.MonkeyPatch) -> None:
    """A bug that reaches the database: a statement it refuses (a table that does not exist)."""

    def query_a_missing_table(*args: Any, **kwargs: Any) -> None:
        db.session.execute(text("SELECT * FROM no_such_table"))

    monkeypatch.setattr(organizations, "get_organization", query_a_missing_table)


@pytest.mark.parametrize("kind", ["page", "api"])
def test_a_statement_the_database_refuses_is_a_bug_not_an_outage(
    scene, quiet_log, wrong_statement, kind
):
    """SQLite calls "no such table" an OperationalError; it is still a 500, not a retryable
    503 "the database is unavailable" while /readyz says all is well."""
    response = _read(scene, kind)
    assert response.status_code == 500, response.get_data(as_text=True)
    assert "Retry-After" not in response.headers
    assert_no_trace(response.get_data(as_text=True))


def _sqlite_busy() -> Exception:
    """A real SQLITE_BUSY: a second writer on a file another connection holds for writing."""
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "busy.db")
        holder = sqlite3.connect(path, isolation_level=None)
        waiter = sqlite3.connect(path, isolation_level=None, timeout=0)
        try:
            holder.execute("BEGIN IMMEDIATE")
            waiter.execute("BEGIN IMMEDIATE")
        except sqlite3.OperationalError as error:
            return error
        finally:
            holder.close()
            waiter.close()
    raise AssertionError("the second writer was not refused")


def _sqlite_wrong() -> Exception:
    try:
        sqlite3.connect(":memory:").execute("SELECT * FROM no_such_table")
    except sqlite3.OperationalError as error:
        return error
    raise AssertionError("the statement was accepted")


@pytest.mark.parametrize(
    ("wrapper", "original", "unavailable"),
    [
        (OperationalError, _sqlite_busy, True),
        (OperationalError, _sqlite_wrong, False),
        (OperationalError, lambda: psycopg.OperationalError("connection refused"), True),
        (OperationalError, lambda: psycopg.errors.AdminShutdown("shutting down"), True),
        (OperationalError, lambda: psycopg.errors.LockNotAvailable("lock timeout"), True),
        (OperationalError, lambda: psycopg.errors.SerializationFailure("retry"), True),
        (OperationalError, lambda: psycopg.errors.QueryCanceled("statement timeout"), True),
        (OperationalError, lambda: psycopg.errors.TooManyConnections("full"), True),
        (ProgrammingError, lambda: psycopg.errors.UndefinedTable("no such table"), False),
        (ProgrammingError, lambda: psycopg.errors.SyntaxError("syntax"), False),
        (IntegrityError, lambda: psycopg.errors.UniqueViolation("taken"), False),
    ],
    ids=repr,
)
def test_only_an_outage_is_called_one(wrapper, original, unavailable):
    """503 for what a retry can cure (by the driver's own code), 500 for a statement that is
    wrong, whichever class the driver files it under."""
    error = wrapper("SELECT 1", {}, original())
    assert is_database_unavailable(error) is unavailable


def test_a_busy_pool_is_an_outage_and_a_plain_bug_is_not():
    assert is_database_unavailable(PoolTimeoutError("QueuePool limit reached"))
    assert not is_database_unavailable(RuntimeError("a bug"))


@pytest.mark.parametrize(
    ("failure", "status", "message"),
    [("database", 503, UNAVAILABLE_DETAIL), ("bug", 500, UNEXPECTED_DETAIL)],
)
def test_when_the_error_page_cannot_render_a_fixed_page_is_sent(
    app, scene, fault, quiet_log, broken_overview, monkeypatch, failure, status, message
):
    get_template = app.jinja_env.get_template

    def error_page_fails(name: str, *args: Any, **kwargs: Any) -> Any:
        if name == "errors/error.html":
            raise RuntimeError("the template broke INJECTED")
        return get_template(name, *args, **kwargs)

    monkeypatch.setattr(app.jinja_env, "get_template", error_page_fails)
    if failure == "database":
        fault.fail_at(nth=1)
    response = _read(scene, "page")
    body = response.get_data(as_text=True)
    assert response.status_code == status
    assert response.mimetype == "text/html"
    assert_security_headers(response.headers)
    assert_no_trace(body)
    assert body.startswith("<!doctype html>") and html.escape(message, quote=False) in body


# -- /healthz and /readyz ---------------------------------------------------------------------


def _probe(client: FlaskClient, path: str, **kwargs: Any) -> tuple[int, Any, Any]:
    response = client.get(path, **kwargs)
    assert response.mimetype == "application/json"
    assert response.headers["Cache-Control"] == "no-store"
    assert "Set-Cookie" not in response.headers
    assert_security_headers(response.headers)
    return response.status_code, response.get_json(), response


def test_healthz_answers_without_touching_the_database(client, fault):
    fault.down()
    assert _probe(client, "/healthz")[:2] == (200, {"status": "ok"})
    assert fault.attempts == []


def test_readyz_is_200_when_the_database_answers(client, count_statements):
    with count_statements() as log:
        status, body, _ = _probe(client, "/readyz")
    assert (status, body) == (200, {"status": "ok", "checks": {"database": "ok"}})
    assert log.statements == ["SELECT 1"]


@pytest.mark.parametrize("failure", ["connect", "statement"])
def test_readyz_is_503_when_the_database_does_not_answer(client, fault, quiet_log, failure):
    if failure == "connect":
        fault.down()
    else:
        fault.fail_at(nth=1)
    status, body, response = _probe(client, "/readyz")
    assert (status, body) == (503, {"status": "unavailable", "checks": {"database": "unavailable"}})
    assert_no_trace(response.get_data(as_text=True))
    fault.up()
    assert _probe(client, "/readyz")[0] == 200


REDIS_URL = os.environ.get("ROSTER_TEST_REDIS_URL", "redis://127.0.0.1:6379/15")


@pytest.mark.parametrize(
    ("redis_url", "status", "outcome"),
    [(REDIS_URL, 200, "ok"), ("redis://127.0.0.1:1/0", 503, "unavailable")],
    ids=["redis-up", "redis-unreachable"],
)
def test_readyz_checks_redis_when_the_limits_are_kept_there(
    app, app_config, redis_url, status, outcome
):
    other = create_app(app_config | {"RATELIMIT_STORAGE_URI": redis_url})
    other.logger.disabled = True  # the failed check is logged
    with other.app_context():
        try:
            got = _probe(other.test_client(), "/readyz")[:2]
        finally:
            db.engine.dispose()
    checks = {"database": "ok", "redis": outcome}
    expected_status = "ok" if status == 200 else "unavailable"
    assert got == (status, {"status": expected_status, "checks": checks})
    assert redis_url not in json.dumps(got[1])


@pytest.mark.parametrize("path", ["/healthz", "/readyz"])
def test_probes_need_no_credentials_and_take_head(client, path):
    # No session, no CSRF token, a bogus token: the API's authentication is not theirs.
    assert _probe(client, path)[0] == 200
    assert _probe(client, path, headers={"Authorization": "Bearer not-a-token"})[0] == 200
    head = client.head(path)
    assert head.status_code == 200 and head.data == b""
    assert head.headers["Cache-Control"] == "no-store"
    post = client.post(path)  # no CSRF refusal (400): there is no such method
    assert post.status_code == 405
    assert_security_headers(post.headers)


# -- a real server behind a proxy that is cut ----------------------------------------------------


def _live_postgres_url() -> str | None:
    suite = os.environ.get("ROSTER_TEST_DATABASE_URL", "")
    if suite.startswith("postgresql"):
        return suite
    return os.environ.get("ROSTER_TEST_POSTGRES_URL") or None


LIVE_POSTGRES_URL = _live_postgres_url()
needs_postgres = pytest.mark.skipif(
    LIVE_POSTGRES_URL is None,
    reason="needs PostgreSQL: set ROSTER_TEST_DATABASE_URL or ROSTER_TEST_POSTGRES_URL",
)
# Runs these tests against that database even on the SQLite run (it overrides the fixture).
on_postgres = pytest.mark.parametrize("database_url", [LIVE_POSTGRES_URL], ids=["postgresql"])


def _shut(sock: socket.socket) -> None:
    with contextlib.suppress(OSError):  # not connected (any more)
        sock.shutdown(socket.SHUT_RDWR)  # wakes a thread blocked in recv() on it
    sock.close()


class CuttableProxy:
    """A TCP proxy between the app and PostgreSQL that the test cuts and restores.

    ``cut()`` closes every open connection and turns new ones away (accepted and closed at
    once, like a server that has gone); ``restore()`` forwards again. ``cut_on(marker)`` cuts
    the moment the app sends bytes containing ``marker``, before they reach the server.
    """

    def __init__(self, upstream: tuple[str, int]) -> None:
        self.upstream = upstream
        self._listener = socket.create_server(("127.0.0.1", 0))
        self._listener.settimeout(0.1)
        self.port: int = self._listener.getsockname()[1]
        self._lock = threading.Lock()
        self._open: set[socket.socket] = set()
        self._refusing = False
        self._marker: bytes | None = None
        self.forwarded = bytearray()  # what the app sent while a marker was armed
        self.tripped = threading.Event()
        self._running = True
        self._thread = threading.Thread(target=self._accept, daemon=True)
        self._thread.start()

    def cut(self) -> None:
        with self._lock:
            self._refusing = True
            doomed, self._open = self._open, set()
        for sock in doomed:
            _shut(sock)

    def restore(self) -> None:
        with self._lock:
            self._refusing = False

    def cut_on(self, marker: bytes) -> None:
        with self._lock:
            self._marker = marker
            self.forwarded.clear()
            self.tripped.clear()

    def close(self) -> None:
        self._running = False
        self.cut()
        self._thread.join(timeout=5)
        self._listener.close()

    def _accept(self) -> None:
        while self._running:
            try:
                app_side, _ = self._listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            with self._lock:
                refusing = self._refusing
            if refusing:
                _shut(app_side)
                continue
            try:
                db_side = socket.create_connection(self.upstream, timeout=5)
            except OSError:
                _shut(app_side)
                continue
            db_side.settimeout(None)
            with self._lock:  # checked again with the lock held: a cut() may have come between
                admitted = not self._refusing
                if admitted:
                    self._open |= {app_side, db_side}
            if not admitted:
                _shut(app_side)
                _shut(db_side)
                continue
            for src, dst in ((app_side, db_side), (db_side, app_side)):
                threading.Thread(
                    target=self._pump, args=(src, dst, src is app_side), daemon=True
                ).start()

    def _pump(self, src: socket.socket, dst: socket.socket, from_app: bool) -> None:
        tail = b""  # the end of the previous chunk: a marker may straddle two
        try:
            while chunk := src.recv(65536):
                if from_app and self._trips(chunk, tail + chunk):
                    return
                tail = chunk[-256:]
                dst.sendall(chunk)
        except OSError:
            pass
        finally:
            # One side gone, the other goes too, as when a network path breaks.
            with self._lock:
                self._open -= {src, dst}
            _shut(src)
            _shut(dst)

    def _trips(self, chunk: bytes, window: bytes) -> bool:
        with self._lock:
            if self._marker is None:
                return False
            if self._marker not in window:
                self.forwarded += chunk
                return False
            self._marker = None
        # Said before the cut: the app answers as soon as its connection breaks, and a test
        # reading ``tripped`` then must not find it unset (it did once, on a loaded machine).
        self.tripped.set()
        self.cut()
        return True


@dataclass
class Answer:
    status: int
    headers: http.client.HTTPMessage
    text: str

    def json(self) -> Any:
        return json.loads(self.text)


class LiveBrowser:
    """Just enough of a browser for ``roster serve``: a cookie jar and no redirects followed."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.cookies: dict[str, str] = {}

    def request(
        self, method: str, path: str, body: str | None = None, headers: dict[str, str] | None = None
    ) -> Answer:
        sent = dict(headers or {})
        if self.cookies:
            sent["Cookie"] = "; ".join(f"{k}={v}" for k, v in self.cookies.items())
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
        try:
            connection.request(method, path, body=body, headers=sent)
            response = connection.getresponse()
            text = response.read().decode()
        finally:
            connection.close()
        for cookie in response.headers.get_all("Set-Cookie") or []:
            name, _, rest = cookie.partition("=")
            self.cookies[name.strip()] = rest.split(";", 1)[0]
        return Answer(response.status, response.headers, text)

    def get(self, path: str, headers: dict[str, str] | None = None) -> Answer:
        return self.request("GET", path, headers=headers)

    def post_form(self, path: str, form: dict[str, str]) -> Answer:
        headers = {"Content-Type": "application/x-www-form-urlencoded"}
        return self.request("POST", path, urlencode(form), headers)

    def csrf_token(self, path: str = "/roles") -> str:
        match = re.search(r'<meta name="csrf-token" content="([^"]+)"', self.get(path).text)
        assert match, path
        return match.group(1)

    def sign_in(self, email: str, password: str) -> None:
        token = self.csrf_token("/login")
        form = {"email": email, "password": password, "csrf_token": token}
        answer = self.post_form("/login", form)
        assert answer.status == 302, answer.text


@dataclass
class Live:
    proxy: CuttableProxy
    browser: LiveBrowser
    org: Account
    log: Path


@pytest.fixture
def live(app, make_user, make_org, password, tmp_path) -> Iterator[Live]:  # type: ignore[no-untyped-def]
    """``roster serve`` (one worker) on the suite's PostgreSQL database through a CuttableProxy,
    with an owner signed in."""
    owner = make_user(email="owner@example.com", name="Olivia Owner")
    org = make_org(owner, "Acme")
    db.session.commit()
    url = make_url(app.config["SQLALCHEMY_DATABASE_URI"])
    proxy = CuttableProxy((url.host or "127.0.0.1", url.port or 5432))
    proxied = url.set(host="127.0.0.1", port=proxy.port).render_as_string(hide_password=False)
    env = {k: v for k, v in os.environ.items() if not k.startswith("ROSTER_")}
    env |= {"ROSTER_DATABASE_URL": proxied, "ROSTER_SECRET_KEY": "live-" * 10}
    port = _free_port()
    log_path = tmp_path / "serve.log"
    roster = str(Path(sys.executable).parent / "roster")
    with log_path.open("w") as log:  # a file, not a pipe: a full pipe would stall the server
        server = subprocess.Popen(
            [roster, "serve", "--bind", f"127.0.0.1:{port}", "--workers", "1"],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=log,
        )
    try:
        browser = LiveBrowser(port)
        _wait_until_up(browser, server, log_path)
        browser.sign_in(owner.email, password)
        yield Live(proxy, browser, org, log_path)
    finally:
        server.terminate()
        server.wait(timeout=30)
        proxy.close()


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _wait_until_up(browser: LiveBrowser, server: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + 30
    while True:
        try:
            if browser.get("/healthz").status == 200:
                return
        except OSError:
            pass
        assert server.poll() is None, log.read_text()
        assert time.monotonic() < deadline, "roster serve did not answer in 30 s"
        time.sleep(0.2)


def _live_page(live: Live) -> Answer:
    return live.browser.get(f"/orgs/{live.org.id}")


def _live_api(live: Live) -> Answer:
    return live.browser.get(f"/api/organizations/{live.org.id}")


def assert_live_unavailable(answer: Answer, kind: str) -> None:
    assert answer.status == 503, answer.text
    assert int(answer.headers["Retry-After"]) > 0
    assert_security_headers(answer.headers)
    assert_no_trace(answer.text)
    if kind == "api":
        assert answer.headers["Content-Type"] == "application/problem+json"
        assert answer.json()["code"] == "service_unavailable"
    else:
        assert answer.headers["Content-Type"].startswith("text/html")
        assert_roster_error_page(answer.text, 503, UNAVAILABLE_DETAIL)


@needs_postgres
@on_postgres
def test_live_while_the_database_is_cut_and_after_it_is_back(live):
    assert _live_page(live).status == 200
    live.proxy.cut()
    assert_live_unavailable(_live_page(live), "page")
    assert_live_unavailable(_live_api(live), "api")
    ready = live.browser.get("/readyz")
    assert ready.status == 503 and ready.json()["checks"] == {"database": "unavailable"}
    assert live.browser.get("/healthz").status == 200
    live.proxy.restore()
    assert _live_page(live).status == 200
    assert _live_api(live).status == 200
    assert live.browser.get("/readyz").status == 200
    assert "Traceback" not in live.log.read_text()  # answered, logged in a line, not crashed


@needs_postgres
@on_postgres
@pytest.mark.parametrize("first", [_live_page, _live_api], ids=["page", "api"])
def test_live_the_first_request_after_a_database_restart_succeeds(live, first):
    """The database went away and came back while the app was idle: its pooled connection is
    dead, and the first request must not be the one that finds out (the pool's checkout check,
    ``transactions.engine_options``)."""
    assert first(live).status == 200
    for _ in range(2):
        live.proxy.cut()
        live.proxy.restore()
        answer = first(live)
        assert answer.status == 200, answer.text


@needs_postgres
@on_postgres
@pytest.mark.parametrize("kind", ["page", "api"])
def test_live_a_write_cut_mid_transaction_changes_nothing(app, live, kind):
    events = db.session.scalar(select(func.count()).select_from(AuditEvent))
    db.session.commit()
    path = f"/orgs/{live.org.id}/settings"
    token = live.browser.csrf_token(path)

    def rename() -> Answer:
        if kind == "api":
            body = json.dumps({"organization_name": "Renamed"})
            headers = {"Content-Type": "application/json", "X-CSRFToken": token}
            return live.browser.request("PUT", f"/api/organizations/{live.org.id}", body, headers)
        form = {"rename-organization_name": "Renamed", "csrf_token": token}
        return live.browser.post_form(path, form)

    # Matched on bound values, not SQL text: psycopg prepares a statement run five times on a
    # connection, and from then on sends its name instead of its text. The audit row's action
    # is bound into the INSERT that follows the UPDATE of the name.
    live.proxy.cut_on(b"organization.rename")
    answer = rename()
    assert live.proxy.tripped.is_set()
    assert b"Renamed" in live.proxy.forwarded  # the new name went out: the write had begun
    assert_live_unavailable(answer, kind)
    live.proxy.restore()
    db.session.commit()
    org = db.session.get(Organization, live.org.id, populate_existing=True)
    assert org.organization_name == "Acme"
    assert db.session.scalar(select(func.count()).select_from(AuditEvent)) == events
    db.session.commit()
    # The row lock of the cut transaction is gone with it: the same rename now goes through.
    assert rename().status in (200, 302)
    assert db.session.get(Organization, live.org.id, populate_existing=True).organization_name == (
        "Renamed"
    )


def _psycopg_url(database_url: str) -> str:
    return make_url(database_url).set(drivername="postgresql").render_as_string(False)


@needs_postgres
@on_postgres
def test_a_pooled_connection_the_database_ended_is_replaced_without_a_ping(
    app, client, monkeypatch
):
    """PostgreSQL: a pooled connection is checked on its socket, not by a pre-ping round trip
    (``transactions.is_alive``). A backend ended while the connection sat in the pool (a
    restart, ``pg_terminate_backend``) is thrown away, and the request gets another."""
    pings: list[object] = []
    monkeypatch.setattr(db.engine.dialect, "do_ping", lambda connection: pings.append(1))
    db.session.remove()
    db.engine.dispose()  # the pool now holds only the connection this request returns
    assert _probe(client, "/readyz")[0] == 200
    with db.engine.connect() as connection:
        backend = connection.exec_driver_sql("SELECT pg_backend_pid()").scalar()
    with psycopg.connect(_psycopg_url(app.config["SQLALCHEMY_DATABASE_URI"])) as killer:
        killer.execute("SELECT pg_terminate_backend(%s)", [backend])
    deadline = time.monotonic() + 5
    while killer_sees(backend, app) and time.monotonic() < deadline:
        time.sleep(0.05)
    status, body, _ = _probe(client, "/readyz")
    assert (status, body) == (200, {"status": "ok", "checks": {"database": "ok"}})
    with db.engine.connect() as connection:
        assert connection.exec_driver_sql("SELECT pg_backend_pid()").scalar() != backend
    assert pings == []  # no SELECT 1 before each checkout


def killer_sees(backend: int, app: Flask) -> bool:
    """Whether the terminated backend is still in pg_stat_activity."""
    with psycopg.connect(_psycopg_url(app.config["SQLALCHEMY_DATABASE_URI"])) as watcher:
        row = watcher.execute("SELECT 1 FROM pg_stat_activity WHERE pid = %s", [backend]).fetchone()
    return row is not None
