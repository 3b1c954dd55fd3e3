"""Fixtures in the flaskr shape: ``app``, ``client``, ``runner``, plus factories and helpers.

The suite runs on SQLite by default and on PostgreSQL when ROSTER_TEST_DATABASE_URL names one
(``.ci/run`` does both). The schema is built once per run by the migrations; every test then
starts from empty tables.
"""

from __future__ import annotations

import contextvars
import os
import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import pytest
from argon2 import PasswordHasher, profiles
from flask import Flask
from flask.testing import FlaskClient
from flask_migrate import upgrade
from sqlalchemy import event, text

from webapp import create_app, mail
from webapp.extensions import db
from webapp.models import Base, Role, User, Via, drop_schema
from webapp.services import members, organizations, tokens, users
from webapp.services.organizations import Account

from .mailbox import Mailbox, SmtpServer

PASSWORD = "correct horse battery"
_schema_ready: set[str] = set()


@pytest.fixture
def password() -> str:
    """The password every ``make_user`` user has."""
    return PASSWORD


@pytest.fixture(scope="session")
def database_url(tmp_path_factory: pytest.TempPathFactory) -> str:
    url = os.environ.get("ROSTER_TEST_DATABASE_URL")
    if url:
        return url
    return f"sqlite:///{tmp_path_factory.mktemp('db') / 'roster-test.db'}"


def is_postgres(app: Flask) -> bool:
    return db.engine.dialect.name == "postgresql"


def reset_schema() -> None:
    """Drop every table (ours and Alembic's), then migrate to head."""
    drop_schema(db.engine)
    upgrade()


def empty_tables() -> None:
    names = [t.name for t in reversed(Base.metadata.sorted_tables)]
    with db.engine.begin() as conn:
        if conn.dialect.name == "postgresql":
            conn.execute(text(f"TRUNCATE {', '.join(names)} RESTART IDENTITY CASCADE"))
        else:
            for name in names:
                conn.execute(text(f"DELETE FROM {name}"))
            if _has_sqlite_sequence(conn):
                conn.execute(text("DELETE FROM sqlite_sequence"))


def _has_sqlite_sequence(conn: Any) -> bool:
    return bool(
        conn.execute(
            text("SELECT 1 FROM sqlite_master WHERE type='table' AND name='sqlite_sequence'")
        ).first()
    )


@pytest.fixture(autouse=True)
def cheap_password_hashing(monkeypatch: pytest.MonkeyPatch) -> None:
    """argon2id at its cheapest: the rules are the same, the suite is fast."""
    monkeypatch.setattr(users, "password_hasher", PasswordHasher.from_parameters(profiles.CHEAPEST))


@pytest.fixture(scope="session")
def smtp_server() -> Iterator[SmtpServer]:
    """A real SMTP server on localhost for the whole run (``tests/mailbox.py``)."""
    server = SmtpServer()
    server.start()
    yield server
    server.stop()


@pytest.fixture
def mailbox(smtp_server: SmtpServer) -> Mailbox:
    """What the SMTP server received during this test (emptied when the test starts, once the
    mail thread has sent what an earlier test queued)."""
    mail.flush()
    smtp_server.mailbox.clear()
    return smtp_server.mailbox


@pytest.fixture
def app_config(
    database_url: str, smtp_server: SmtpServer, tmp_path_factory: pytest.TempPathFactory
) -> dict[str, Any]:
    """Override in a test module to change settings before the app is built.

    Mail goes to the suite's SMTP server (``mailbox``); links start with ROSTER_BASE_URL.
    """
    return {
        "TESTING": True,
        "SECRET_KEY": "test-secret-key",
        "SQLALCHEMY_DATABASE_URI": database_url,
        "RATELIMIT_STORAGE_URI": "memory://",
        "ROSTER_SMTP_URL": smtp_server.url,
        "ROSTER_BASE_URL": "http://roster.test",
        "ROSTER_OUTBOX_DIR": str(tmp_path_factory.mktemp("outbox")),
    }


class IsolatedClient(FlaskClient):
    """Each request in its own app context, as in production.

    The ``app`` fixture keeps an app context open for the test's own service calls; Flask would
    reuse it for requests, sharing ``g`` (the signed-in user, the CSRF token) and the database
    session between requests and the test. Running each request in an empty contextvars
    context gives it a fresh app context. The test's own transaction is ended around each
    request so the test reads what the request wrote. The body is read inside that context too,
    as a server reads a streamed answer (a CSV export) in the thread that made it, where the
    stream pushes the request's context again; it is not closed, so what runs when the answer
    is closed (a mail sent after it) still waits for ``close``.
    """

    def open(self, *args: Any, **kwargs: Any) -> Any:
        db.session.commit()

        def request() -> Any:
            response = FlaskClient.open(self, *args, **kwargs)
            response.get_data()
            return response

        try:
            return contextvars.Context().run(request)
        finally:
            db.session.commit()


@pytest.fixture
def app(app_config: dict[str, Any]) -> Iterator[Flask]:
    app = create_app(app_config)
    app.test_client_class = IsolatedClient
    with app.app_context():
        if app_config["SQLALCHEMY_DATABASE_URI"] not in _schema_ready:
            reset_schema()
            _schema_ready.add(app_config["SQLALCHEMY_DATABASE_URI"])
        else:
            empty_tables()
        yield app
        db.session.remove()
        db.engine.dispose()


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()


@pytest.fixture
def runner(app: Flask):  # type: ignore[no-untyped-def]
    return app.test_cli_runner()


# -- factories -------------------------------------------------------------------------------


@dataclass
class Orgs:
    """Remembers who created each org, so ``add_member`` can act as its owner."""

    owners: dict[int, User] = field(default_factory=dict)


@pytest.fixture
def make_user(app: Flask) -> Callable[..., User]:
    counter = iter(range(1, 1_000_000))

    def make(email: str | None = None, name: str | None = None, password: str = PASSWORD) -> User:
        n = next(counter)
        return users.create_user(
            email or f"user{n}@example.com", name or f"User {n:04d}", password, via=Via.CLI
        )

    return make


@pytest.fixture
def make_org(make_user: Callable[..., User]) -> Callable[..., Account]:
    registry = Orgs()

    def make(owner: User | None = None, name: str = "Acme") -> Account:
        owner = owner or make_user()
        account = organizations.create_organization(owner, name, via=Via.CLI)
        registry.owners[account.id] = owner
        return account

    make.registry = registry  # type: ignore[attr-defined]
    return make


@pytest.fixture
def add_member(make_org: Callable[..., Account]) -> Callable[..., None]:
    def add(
        org: Account,
        user: User,
        role: Role = Role.VIEWER,
        is_active: bool = True,
        by: User | None = None,
    ) -> None:
        actor = by or make_org.registry.owners[org.id]  # type: ignore[attr-defined]
        members.add_members(actor, org.id, [user.id], role=role, is_active=is_active, via=Via.CLI)

    return add


# -- HTTP helpers ----------------------------------------------------------------------------

META_CSRF = re.compile(r'<meta name="csrf-token" content="([^"]+)"')


def csrf_token(client: FlaskClient, path: str = "/login") -> str:
    """The CSRF token of the client's session, read from a page's meta tag."""
    page = client.get(path).get_data(as_text=True)
    match = META_CSRF.search(page)
    assert match, f"no csrf meta tag on {path}"
    return match.group(1)


def login(client: FlaskClient, user: User, password: str = PASSWORD) -> None:
    token = csrf_token(client, "/login")
    response = client.post(
        "/login", data={"email": user.email, "password": password, "csrf_token": token}
    )
    assert response.status_code == 302, response.get_data(as_text=True)


@pytest.fixture
def login_as(client: FlaskClient) -> Callable[[User], FlaskClient]:
    def sign_in(user: User) -> FlaskClient:
        login(client, user)
        return client

    return sign_in


class ApiClient:
    """A test client that sends ``Authorization: Bearer`` with every request."""

    def __init__(self, client: FlaskClient, token: str) -> None:
        self.client = client
        self.token = token

    def open(self, method: str, path: str, **kwargs: Any) -> Any:
        headers = {"Authorization": f"Bearer {self.token}", **kwargs.pop("headers", {})}
        return self.client.open(path, method=method, headers=headers, **kwargs)

    def get(self, path: str, **kwargs: Any) -> Any:
        return self.open("GET", path, **kwargs)

    def post(self, path: str, **kwargs: Any) -> Any:
        return self.open("POST", path, **kwargs)

    def put(self, path: str, **kwargs: Any) -> Any:
        return self.open("PUT", path, **kwargs)

    def delete(self, path: str, **kwargs: Any) -> Any:
        return self.open("DELETE", path, **kwargs)

    def head(self, path: str, **kwargs: Any) -> Any:
        return self.open("HEAD", path, **kwargs)


@pytest.fixture
def api(app: Flask) -> Callable[[User], ApiClient]:
    def for_user(user: User) -> ApiClient:
        _, token = tokens.create_token(user, "tests", via=Via.CLI)
        return ApiClient(app.test_client(), token)

    return for_user


# -- statement counting ----------------------------------------------------------------------

_NOT_COUNTED = re.compile(r"^\s*(BEGIN|COMMIT|ROLLBACK|PRAGMA|SAVEPOINT|RELEASE)\b", re.I)


@dataclass
class StatementLog:
    statements: list[str] = field(default_factory=list)

    @property
    def count(self) -> int:
        return len(self.statements)


@pytest.fixture
def count_statements(app: Flask) -> Callable[[], Any]:
    """``with count_statements() as log:`` counts each execute / executemany once."""

    @contextmanager
    def counting() -> Iterator[StatementLog]:
        log = StatementLog()

        def before(conn, cursor, statement, parameters, context, executemany):  # type: ignore[no-untyped-def]
            if not _NOT_COUNTED.match(statement):
                log.statements.append(statement)

        event.listen(db.engine, "before_cursor_execute", before)
        try:
            yield log
        finally:
            event.remove(db.engine, "before_cursor_execute", before)

    return counting
