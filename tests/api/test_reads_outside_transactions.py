"""The API's hot reads run outside a transaction on PostgreSQL (``transactions.
read_outside_a_transaction``): no BEGIN and ROLLBACK round trips. Writes stay transactional,
the once-a-minute ``last_used_at`` of the token among them."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from sqlalchemy import event

from webapp.extensions import db
from webapp.models import Via
from webapp.services import organizations

READS = [
    "/api/organizations",
    "/api/organizations/{org}",
    "/api/organizations/{org}/role",
    "/api/organizations/{org}/summary",
    "/api/organizations/{org}/users",
    "/api/organizations/{org}/users?q=reader&sort_by=email",
]


@pytest.fixture(autouse=True)
def _postgresql(database_url: str) -> None:
    if not database_url.startswith("postgresql"):
        pytest.skip("SQLite's BEGIN is no round trip: its reads keep their transaction")


@contextmanager
def transaction_states() -> Iterator[list[tuple[str, str]]]:
    """(statement's first word, the connection's transaction status after it) per statement."""
    seen: list[tuple[str, str]] = []

    def after(conn, cursor, statement, parameters, context, executemany):  # type: ignore[no-untyped-def]
        status = conn.connection.dbapi_connection.info.transaction_status
        seen.append((statement.split()[0], status.name))

    event.listen(db.engine, "after_cursor_execute", after)
    try:
        yield seen
    finally:
        event.remove(db.engine, "after_cursor_execute", after)


def test_the_hot_reads_run_outside_a_transaction(make_user, api):
    reader = make_user(name="Reader")
    client = api(reader)
    org = organizations.create_organization(reader, "Read often", via=Via.CLI)
    client.get("/api/organizations")  # the token's last_used_at, written once a minute
    for path in READS:
        with transaction_states() as seen:
            answer = client.get(path.format(org=org.id))
        assert answer.status_code == 200, (path, answer.text)
        assert seen and all(status == "IDLE" for _, status in seen), (path, seen)


def test_writes_keep_their_transaction(make_user, api):
    owner = make_user()
    client = api(owner)
    org = organizations.create_organization(owner, "Renamed soon", via=Via.CLI)
    with transaction_states() as seen:  # the token's first use writes last_used_at
        assert client.get(f"/api/organizations/{org.id}").status_code == 200
    assert ("UPDATE", "INTRANS") in seen, seen
    with transaction_states() as seen:
        answer = client.put(f"/api/organizations/{org.id}", json={"organization_name": "Renamed"})
    assert answer.status_code == 200
    assert seen and all(status == "INTRANS" for _, status in seen), seen


def test_other_reads_keep_their_transaction(make_user, api):
    owner = make_user()
    client = api(owner)
    org = organizations.create_organization(owner, "Exported", via=Via.CLI)
    client.get("/api/organizations")
    with transaction_states() as seen:  # a CSV export reads through a server-side cursor
        assert client.get(f"/api/organizations/{org.id}/users.csv").status_code == 200
    assert seen and all(status == "INTRANS" for _, status in seen), seen


def test_no_statement_is_prepared_so_each_is_planned_for_its_parameters(app):
    """Outside a transaction psycopg would keep the statements it prepares (a ROLLBACK no
    longer drops them), and the server's generic plan for the member search scans."""
    with db.engine.connect() as conn:
        conn = conn.execution_options(isolation_level="AUTOCOMMIT")
        for _ in range(12):  # psycopg's default prepares after five runs
            conn.exec_driver_sql("SELECT count(*) FROM users WHERE email LIKE %(p)s", {"p": "%x%"})
        prepared = conn.exec_driver_sql("SELECT count(*) FROM pg_prepared_statements").scalar()
    assert prepared == 0
