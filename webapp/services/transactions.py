"""Transactions: one write transaction per mutating service call, and the organization lock.

PostgreSQL: a write transaction takes ``SELECT ... FOR UPDATE`` on the organization row before
it reads anything it will check, so two requests touching one organization run one after the
other. SQLite has no row locks, and Python's driver opens no transaction before a SELECT, so we
take BEGIN over ourselves (see ``install_sqlite_hooks``) and start write transactions with
``BEGIN IMMEDIATE``: the database write lock is taken before the first read.
"""

from __future__ import annotations

import sqlite3
import sys
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from select import POLLIN, poll
from typing import Any, TypeVar

from sqlalchemy import Engine, Executable, Row, Select, event, select
from sqlalchemy.engine import Connection, ExceptionContext, make_url
from sqlalchemy.exc import DisconnectionError, SQLAlchemyError
from sqlalchemy.orm import Session

from webapp.extensions import db
from webapp.models import Organization
from webapp.services.errors import DomainError

_WRITE_OPTION = "roster_write"
_READING_OUTSIDE = "roster_reading_outside_a_transaction"  # in the session's info
_AUTOCOMMIT = {"isolation_level": "AUTOCOMMIT"}

# Switched off only by the concurrency test that proves the lock is what keeps the invariant.
LOCKING_ENABLED = True

# Reads of a SQLite file go through a memory map of up to this many bytes, not a read() of
# each page into the connection's own small cache: the pages are the operating system's,
# shared by every connection. A member of 1,000 organizations listed them in 10.5 ms against
# 13.2 without it, side by side in one process on the benchmark's dataset (make bench, T11).
# Writes still go through the WAL.
SQLITE_MMAP_SIZE = 1 << 30


def _lower(value: Any) -> Any:
    return value.lower() if isinstance(value, str) else value


def install_sqlite_hooks(engine: Engine) -> None:
    """Make SQLite transactional for reads and immediate for writes; set the pragmas."""
    if engine.dialect.name != "sqlite":
        return

    @event.listens_for(engine, "connect")
    def _connect(dbapi_connection: sqlite3.Connection, _record: Any) -> None:
        # Stop the driver from issuing BEGIN itself; the "begin" hook below does it.
        dbapi_connection.isolation_level = None
        # Unicode lower case, for the case-insensitive comparisons SQLite's ASCII lower() misses.
        dbapi_connection.create_function("roster_lower", 1, _lower, deterministic=True)
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA busy_timeout=10000")
        if engine.url.database not in (None, "", ":memory:"):
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA synchronous=NORMAL")
            cursor.execute(f"PRAGMA mmap_size={SQLITE_MMAP_SIZE}")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _begin(conn: Connection) -> None:
        write = conn.get_execution_options().get(_WRITE_OPTION, False)
        conn.exec_driver_sql("BEGIN IMMEDIATE" if write and LOCKING_ENABLED else "BEGIN")


def install_postgresql_hooks(engine: Engine) -> None:
    """PostgreSQL: psycopg prepares the statements marked ``prepared``, only outside a
    transaction, and an ``executemany``'s; pooled connections are checked on their socket
    (``is_alive``).

    Left to itself, psycopg prepares any statement after five runs on a connection, and after
    five more the server may keep one generic plan for all parameters. For the member search
    (``LIKE '%' || :part || '%'`` on the trigram index) that plan scans: 55 ms a page against
    0.7. So nothing is prepared by count; see ``prepared`` for what is, and why only outside a
    transaction.
    """
    if engine.dialect.name != "postgresql":
        return

    @event.listens_for(engine, "connect")
    def _connect(dbapi_connection: Any, _record: Any) -> None:
        # Never by count; ``prepare=True`` still prepares (None would turn that off too), and
        # so does psycopg's ``executemany`` (a bulk insert's one statement, run for every row).
        dbapi_connection.prepare_threshold = sys.maxsize

    # A dialect hook (SQLAlchemy's DialectEvents): it runs the statement itself, to pass the
    # one argument SQLAlchemy has no option for.
    @event.listens_for(engine, "do_execute")
    def _execute(cursor: Any, statement: str, parameters: Any, context: Any) -> bool | None:
        if runs_prepared(cursor, context):
            cursor.execute(statement, parameters, prepare=True)
            return True
        return None

    @event.listens_for(engine, "handle_error")
    def _stale_prepared(context: ExceptionContext) -> None:
        # A migration changed what a prepared statement returns: the server refuses it from
        # then on, on every connection that prepared it. Thrown away as if broken, the pool's
        # connections are made again (this request fails; the next ones prepare anew).
        error = context.original_exception
        if getattr(error, "sqlstate", None) == "0A000" and _STALE_PLAN in str(error):
            context.is_disconnect = True

    @event.listens_for(engine, "checkout")
    def _checkout(dbapi_connection: Any, _record: Any, _proxy: Any) -> None:
        if not is_alive(dbapi_connection):
            # The pool throws it away and checks out another (SQLAlchemy's PoolEvents).
            raise DisconnectionError("the database closed this pooled connection")


_STALE_PLAN = "cached plan must not change result type"


def engine_options(database_url: str) -> dict[str, Any]:
    """The engine's pool settings: a pooled connection is checked before each use, so that
    after a database restart the first request gets a fresh connection instead of an error.

    SQLite: by SQLAlchemy's pre-ping. PostgreSQL: by ``is_alive`` on checkout
    (``install_postgresql_hooks``), which asks the socket, not the server: the pre-ping's
    ``SELECT 1`` was a round trip of its own on every request; the check costs about 1 µs.
    Through the test client on make bench's dataset (separate processes taken in turn, three
    runs of 800 requests each), the API's member page took 2.22-2.47 ms without the pre-ping
    against 2.39-2.81 with it, the summary 1.59-1.69 against 1.73-1.92.
    """
    return {"pool_pre_ping": make_url(database_url).get_backend_name() != "postgresql"}


def is_alive(dbapi_connection: Any) -> bool:
    """Whether a pooled (idle) psycopg connection still has its server, without a round trip.

    An idle connection hears nothing from the server unless asked: when its socket has
    something to read, the server has ended the session (a restart or a terminated backend
    sends its error, then closes), or, rarely, reports a changed setting; that connection is
    replaced too, which costs a reconnect. A connection whose far end vanished without a word
    looks alive here, and would have stalled the pre-ping's ``SELECT 1`` as long.
    """
    if dbapi_connection.closed or dbapi_connection.broken:
        return False
    waiting = poll()
    waiting.register(dbapi_connection.fileno(), POLLIN)
    return not waiting.poll(0)


@contextmanager
def write_transaction() -> Iterator[None]:
    """Run the body as one write transaction: commit at the end, roll back on any exception.

    Whatever read-only transaction the request had open (loading the signed-in user) is ended
    first, so that on SQLite the write transaction starts with BEGIN IMMEDIATE. A request
    reading outside a transaction (``read_outside_a_transaction``) goes back to that after the
    COMMIT.
    """
    session = db.session()
    if session.new or session.dirty or session.deleted:
        raise RuntimeError("unflushed changes outside a service transaction")
    if session.in_transaction():
        session.commit()
    session.connection(execution_options={_WRITE_OPTION: True})
    try:
        yield
        session.commit()
    except BaseException as error:
        session.rollback()
        if isinstance(error, DomainError):  # a refusal's page is read next; the database is fine
            _read_outside_again(session)
        raise
    _read_outside_again(session)


def read_outside_a_transaction() -> None:
    """PostgreSQL: run this request's reads in autocommit, without BEGIN and ROLLBACK, which
    psycopg sends as round trips of their own; its writes stay in ``write_transaction``.
    Called before a request's first statement: by the API's and SCIM's authentication (at the
    token) and by the dashboard's user loader.

    What each read sees is unchanged: under READ COMMITTED every statement already takes its
    own snapshot, and a ``write_transaction`` always ended the reads' transaction before its
    own began. Through the test client on make bench's dataset (8 interleaved rounds of 300,
    two runs), the API's member page took 1.73 and 1.72 ms against 1.88 inside a transaction,
    the summary 1.44 and 1.35 against 1.49 and 1.55.
    A ``write_transaction`` opens a real transaction on a connection in the engine's default
    mode, and after its COMMIT the reads that follow run outside one again.
    ``read_in_batches`` takes a connection and a transaction of its own, which its server-side
    cursor needs. SQLite: no change (its BEGIN is no round trip).

    Beside the round trips, this keeps the statements marked ``prepared``: psycopg drops them
    at every ROLLBACK, which used to end each request.
    """
    session = db.session()
    if session.in_transaction() or session.get_bind().dialect.name != "postgresql":
        return
    session.connection(execution_options=_AUTOCOMMIT)
    session.info[_READING_OUTSIDE] = True


def _read_outside_again(session: Session) -> None:
    """After a write, a request that read outside a transaction does so again. This takes a
    connection now, so a database gone since the COMMIT is left for the next read to meet (if
    there is one): the write is done, and its answer is not to become an error."""
    if not session.info.get(_READING_OUTSIDE):
        return
    try:
        session.connection(execution_options=_AUTOCOMMIT)
    except SQLAlchemyError:  # the driver's errors, and the pool's (a timeout, a closed pool)
        session.rollback()


_PREPARED_OPTION = "roster_prepared"
_Statement = TypeVar("_Statement", bound=Executable)


def prepared(statement: _Statement) -> _Statement:
    """``statement`` prepared on PostgreSQL when it runs outside a transaction
    (``read_outside_a_transaction``): parsed once a connection, and after five runs planned
    once too (the server's generic plan). For the statements every hot read runs, whose plan
    does not depend on their parameters: equality on keys, the unfiltered member page.

    Never a search (see ``install_postgresql_hooks``). Only outside a transaction, because
    psycopg forgets its prepared statements at every ROLLBACK and sends ``DEALLOCATE ALL``: a
    round trip more, then one more for each statement to prepare again. A request's reads end
    with no ROLLBACK now (``read_outside_a_transaction``); a failed write still ends with one,
    and that cost falls on the connection's next requests.
    Raw psycopg on make bench's dataset, 350 runs each (medians): the member page 0.237 ms
    prepared against 0.517, the access check 0.109 against 0.201, the summary 0.160 against
    0.445, the token 0.122 against 0.226. SQLite: no change.
    """
    return statement.execution_options(**PREPARED)


# ``prepared`` as execution options, for ``Session.get``.
PREPARED = {_PREPARED_OPTION: True}


def runs_prepared(cursor: Any, context: Any) -> bool:
    """PostgreSQL: whether psycopg prepares this execution (a DBAPI cursor and SQLAlchemy's
    execution context): a statement marked ``prepared``, outside a transaction."""
    if context.dialect.name != "postgresql":  # sqlite3's own ``autocommit`` means otherwise
        return False
    return bool(context.execution_options.get(_PREPARED_OPTION)) and bool(
        cursor.connection.autocommit
    )


def lock_organizations(org_ids: Select[tuple[int]]) -> list[int]:
    """Lock several organization rows, always in id order so two callers cannot deadlock."""
    stmt = select(Organization.id).where(Organization.id.in_(org_ids)).order_by(Organization.id)
    if LOCKING_ENABLED:
        stmt = stmt.with_for_update()
    return list(db.session.scalars(stmt))


def lock_rows(stmt: Select[Any]) -> Select[Any]:
    """``stmt`` locking every row it reads until the transaction ends (PostgreSQL).

    For an organization joined with the actor's membership: every change is serialized on the
    organization row. The membership row is locked too, so that a statement that waited for
    the lock reads both rows as the change before it left them (READ COMMITTED re-reads only
    the rows it locks), never a role the actor has just lost.
    """
    if LOCKING_ENABLED:
        return stmt.with_for_update()
    return stmt


def read_in_batches(
    statement: Select[Any], values: dict[str, Any] | None = None
) -> Iterator[Sequence[Row[Any]]]:
    """The rows of one statement, a batch at a time (its ``yield_per`` execution option), read
    as the batches are asked for: a server-side cursor on PostgreSQL, SQLite's own stepping
    otherwise, so memory stays the same whatever the number of rows. For files sent as they
    are written; closing the iterator closes the cursor.

    On a connection and in a transaction of their own (a server-side cursor needs one, and the
    request's reads run outside one: ``read_outside_a_transaction``), ended by COMMIT once
    every row is read: it ran only this SELECT, and at a ROLLBACK psycopg would drop the
    connection's prepared statements (``prepared``). Closed early, it is rolled back."""
    with db.engine.connect() as connection:
        with connection.execute(statement, values or {}) as result:
            yield from result.partitions()
        connection.commit()
