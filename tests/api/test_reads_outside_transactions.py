"""A request's reads run outside a transaction on PostgreSQL, in the API and the dashboard
(``transactions.read_outside_a_transaction``): no BEGIN and ROLLBACK round trips, and the
statements marked ``prepared`` stay prepared. Writes run in their transaction, the
once-a-minute ``last_used_at`` of the token among them, and so do the rows of an export."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from sqlalchemy import bindparam, event, select, text
from sqlalchemy.exc import DBAPIError, OperationalError
from sqlalchemy.orm import Session

from tests.conftest import csrf_token
from tests.scim.test_scim_users import scim_for
from webapp.extensions import db
from webapp.models import Organization, User, Via
from webapp.services import organizations
from webapp.services.transactions import prepared, read_outside_a_transaction

READS = [
    "/api/organizations",
    "/api/organizations/{org}",
    "/api/organizations/{org}/role",
    "/api/organizations/{org}/summary",
    "/api/organizations/{org}/users",
    "/api/organizations/{org}/users?q=reader&sort_by=email",
    "/api/organizations/{org}/users?cursor={cursor}",
    "/api/organizations/{org}/invitations",
    "/api/organizations/{org}/events",
    "/api/organizations/{org}/service-tokens",
]
PAGES = [
    "/orgs",
    "/orgs/{org}",
    "/orgs/{org}/members",
    "/orgs/{org}/members?q=reader&role=OWNER",
    "/orgs/{org}/activity",
    "/orgs/{org}/settings",
    "/settings/account",
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


def test_an_api_get_reads_outside_a_transaction(make_user, make_org, add_member, api):
    reader = make_user(name="Reader")
    client = api(reader)
    org = make_org(reader, "Read often")
    for n in range(3):
        add_member(org, make_user(name=f"Member {n}"))
    client.get("/api/organizations")  # the token's last_used_at, written once a minute
    cursor = client.get(f"/api/organizations/{org.id}/users?page_size=2").json["next_cursor"]
    for path in READS:
        with transaction_states() as seen:
            answer = client.get(path.format(org=org.id, cursor=cursor))
        assert answer.status_code == 200, (path, answer.text)
        assert seen and all(status == "IDLE" for _, status in seen), (path, seen)


def test_a_page_reads_outside_a_transaction(make_user, login_as):
    owner = make_user(name="Reader")
    org = organizations.create_organization(owner, "Read often", via=Via.CLI)
    client = login_as(owner)
    for path in PAGES:
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
    # The token outside, then the change in its transaction: the answer is the write's own.
    assert phases(seen) == ["IDLE", "INTRANS"], seen
    assert ("UPDATE", "INTRANS") in seen and ("INSERT", "INTRANS") in seen, seen


def test_an_export_reads_its_rows_in_a_transaction(make_user, api, login_as):
    """A server-side cursor lives in a transaction: the access check before it does not."""
    owner = make_user()
    client = api(owner)
    org = organizations.create_organization(owner, "Exported", via=Via.CLI)
    client.get("/api/organizations")
    for path in (f"/api/organizations/{org.id}/users.csv", f"/orgs/{org.id}/activity.csv"):
        browser = login_as(owner) if path.startswith("/orgs") else client
        with transaction_states() as seen:
            answer = browser.get(path)
            assert answer.status_code == 200, (path, answer.text)
            answer.get_data()
        assert seen[-1] == ("SELECT", "INTRANS"), (path, seen)
        assert all(status == "IDLE" for _, status in seen[:-1]), (path, seen)


def test_a_page_post_writes_in_its_transaction_and_reads_outside_one(
    make_user, make_org, add_member, login_as
):
    owner, member = make_user(), make_user(name="Member")
    org = make_org(owner, "Changed often")
    add_member(org, member)
    client = login_as(owner)
    path = f"/orgs/{org.id}/members/{member.id}"
    form = {"role": "CONTRIBUTOR", "csrf_token": csrf_token(client, f"/orgs/{org.id}/members")}
    with transaction_states() as seen:  # htmx: the answer is the row, read after the change
        answer = client.post(path, data=form, headers={"HX-Request": "true"})
    assert answer.status_code == 200, answer.text
    assert "CONTRIBUTOR" in answer.text
    assert phases(seen) == ["IDLE", "INTRANS", "IDLE"], seen
    assert ("UPDATE", "INTRANS") in seen, seen


def phases(seen: list[tuple[str, str]]) -> list[str]:
    """The transaction states a request's statements went through, in order."""
    return [status for n, (_, status) in enumerate(seen) if n == 0 or seen[n - 1][1] != status]


def _prepared_statements(conn) -> dict[str, object]:  # type: ignore[no-untyped-def]
    """The connection's prepared statements (their text on one line), with when each was."""
    rows = conn.exec_driver_sql("SELECT statement, prepare_time FROM pg_prepared_statements")
    return {" ".join(text.split()): at for text, at in rows}


def test_psycopg_prepares_nothing_by_count(app):
    """Left to itself psycopg prepares what ran five times, and the server's generic plan for
    the member search scans: only statements marked ``prepared`` are."""
    with db.engine.connect() as conn:
        conn = conn.execution_options(isolation_level="AUTOCOMMIT")
        for _ in range(12):
            conn.exec_driver_sql("SELECT count(*) FROM users WHERE email LIKE %(p)s", {"p": "%x%"})
        assert _prepared_statements(conn) == {}


def test_a_marked_statement_is_prepared_only_outside_a_transaction(app):
    """psycopg drops its prepared statements at every ROLLBACK (with a DEALLOCATE ALL): in a
    read transaction they would cost a round trip each time, not save one."""
    statement = prepared(select(User.id).where(User.id == bindparam("user_id")))
    with db.engine.connect() as conn:
        for _ in range(3):
            conn.execute(statement, {"user_id": 1})
        assert _prepared_statements(conn) == {}
        conn.rollback()
        conn = conn.execution_options(isolation_level="AUTOCOMMIT")
        for _ in range(3):
            conn.execute(statement, {"user_id": 1})
        assert list(_prepared_statements(conn)) == [
            "SELECT users.id FROM users WHERE users.id = $1::BIGINT"
        ]


def test_the_hot_reads_prepare_their_key_lookups_and_never_a_search(make_user, api):
    reader = make_user(name="Reader")
    client = api(reader)
    org = organizations.create_organization(reader, "Read often", via=Via.CLI)
    db.engine.dispose()  # every pooled connection below served these requests
    for _ in range(3):
        for path in READS[:6]:  # no cursor
            assert client.get(path.format(org=org.id)).status_code == 200, path
    pooled = [db.engine.connect() for _ in range(db.engine.pool.checkedin())]
    try:
        seen = {text for conn in pooled for text in _prepared_statements(conn)}
    finally:
        for conn in pooled:
            conn.close()
    tokens = [text for text in seen if "FROM api_tokens JOIN users" in text]
    # The token alone (GET /api/organizations), and with the caller's Account in the path's
    # organization (the access check of the others).
    assert any("LEFT OUTER JOIN memberships" not in text for text in tokens), seen
    assert any("LEFT OUTER JOIN memberships" in text for text in tokens), seen
    assert any("memberships.user_id = anon_1.user_id" in text for text in seen), seen  # a page
    assert not any("LIKE" in text for text in seen), seen


def test_a_page_between_api_reads_keeps_their_prepared_statements(make_user, api, login_as):
    """psycopg drops its prepared statements at a ROLLBACK: pages, exports and probes end with
    none, so the API's statements stay prepared on the connection. (A refused write still
    rolls back, and they are prepared again after it.)"""
    owner = make_user()
    org = organizations.create_organization(owner, "Shared", via=Via.CLI)
    client, browser = api(owner), login_as(owner)
    client.get("/api/organizations")  # the token's last_used_at, written once a minute
    db.session.remove()
    db.engine.dispose()  # one connection from here on: the requests come one at a time
    path = f"/api/organizations/{org.id}/users"
    assert client.get(path).status_code == 200

    def prepared_at() -> dict[str, object]:
        with db.engine.connect() as conn:  # outside a transaction: no ROLLBACK to drop them
            return _prepared_statements(conn.execution_options(isolation_level="AUTOCOMMIT"))

    before = prepared_at()
    assert any("FROM api_tokens JOIN users" in text for text in before), before
    others = [
        lambda: browser.get(f"/orgs/{org.id}/members"),
        lambda: browser.get(f"/orgs/{org.id}"),
        lambda: client.get(f"/api/organizations/{org.id}/users.csv"),  # its own transaction
        lambda: client.get("/readyz"),
    ]
    for other in others:
        answer = other()
        answer.get_data()
        assert answer.status_code == 200, answer.text
        assert client.get(path).status_code == 200
    after = prepared_at()
    assert db.engine.pool.checkedin() == 1
    assert {text: at for text, at in after.items() if text in before} == before


def test_a_write_stays_done_when_no_connection_can_be_had_after_it(make_user, monkeypatch):
    """After its COMMIT, ``write_transaction`` takes a connection for the reads that follow;
    a database gone by then is for those reads to meet, not the write's caller."""
    owner = make_user()
    org = organizations.create_organization(owner, "Kept", via=Via.CLI)
    db.session.remove()
    read_outside_a_transaction()
    taken = Session.connection

    def connection(self, *args, execution_options=None, **kwargs):  # type: ignore[no-untyped-def]
        if execution_options == {"isolation_level": "AUTOCOMMIT"}:
            raise OperationalError("connect", {}, Exception("the server went away"))
        return taken(self, *args, execution_options=execution_options, **kwargs)

    monkeypatch.setattr(Session, "connection", connection)
    account = organizations.rename_organization(owner, org.id, "Renamed", via=Via.CLI)
    monkeypatch.undo()
    assert account.organization_name == "Renamed"
    db.session.remove()
    assert db.session.get(Organization, org.id).organization_name == "Renamed"


def test_a_prepared_statement_whose_result_changed_drops_the_pool(app):
    """A migration that changes what a prepared statement returns makes the server refuse it
    on every connection that prepared it: those connections are thrown away."""
    with db.engine.connect() as setup:
        setup = setup.execution_options(isolation_level="AUTOCOMMIT")
        setup.exec_driver_sql("CREATE TABLE probe_prepared (v integer)")
    try:
        statement = prepared(text("SELECT * FROM probe_prepared"))
        with db.engine.connect() as conn:
            conn = conn.execution_options(isolation_level="AUTOCOMMIT")
            conn.execute(statement).all()
            with db.engine.connect() as migration:  # another connection, as a migration's is
                migration.exec_driver_sql("ALTER TABLE probe_prepared ALTER COLUMN v TYPE bigint")
                migration.commit()
            with pytest.raises(DBAPIError, match="cached plan must not change result type") as e:
                conn.execute(statement)
            assert e.value.connection_invalidated
        with db.engine.connect() as conn:  # a new connection prepares it anew
            conn = conn.execution_options(isolation_level="AUTOCOMMIT")
            assert conn.execute(statement).all() == []
    finally:
        with db.engine.connect() as cleanup:
            cleanup.exec_driver_sql("DROP TABLE probe_prepared")
            cleanup.commit()


def test_scim_reads_outside_a_transaction_and_writes_in_one(app, make_user, make_org):
    owner = make_user()
    org = make_org(owner, "Provisioned")
    scim = scim_for(app, owner, org.id)
    scim.list_users()  # the token's last_used_at, written once a minute
    with transaction_states() as seen:
        scim.list_users()
    assert seen and all(status == "IDLE" for _, status in seen), seen
    with transaction_states() as seen:
        scim.create("ada@example.org", displayName="Ada Lovelace", externalId="okta-ada")
    assert phases(seen)[:2] == ["IDLE", "INTRANS"], seen
    assert ("INSERT", "INTRANS") in seen, seen
