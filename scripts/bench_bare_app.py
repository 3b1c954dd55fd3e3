"""The ceiling ``make bench`` divides by, and the launcher that serves it beside Roster.

``create_bare_app`` is a Flask app with one endpoint, ``GET /``, answering a small JSON dict:
no database, no session, no templates. ``scripts/bench.py`` serves it under the same gunicorn
settings as Roster (``webapp.serving.gunicorn_options``: one worker, the worker class and
threads of ``roster serve``, or gunicorn's sync worker with ``--worker sync``), so that
Roster's requests per second divided by this app's say how close a page comes to what the
stack itself allows.

Usage (``scripts/bench.py`` runs it; by hand only to look)::

    .venv/bin/python scripts/bench_bare_app.py --app bare --bind 127.0.0.1:8001
    .venv/bin/python scripts/bench_bare_app.py --app roster --bind 127.0.0.1:8002 --worker sync

``--app roster`` builds Roster from the ROSTER_* environment, as ``roster serve`` does.

``--app floor`` is the floor under a Roster request: a Flask app that replays the statements a
Roster request ran (captured in-process by ``scripts/bench.py``, in the JSON file
``ROSTER_BENCH_REPLAY`` names), with their parameters, on one SQLAlchemy engine of
``ROSTER_DATABASE_URL``, as Roster ran them (on PostgreSQL outside a transaction, prepared where
Roster's were) but with no ORM and no statement building, and answers every row as JSON.
``GET /<key>`` replays target ``key``'s statements: what this stack gives for that SQL with
none of Roster's code.
"""

from __future__ import annotations

import argparse
import base64
import datetime as dt
import json
import os
import sys
from pathlib import Path
from typing import Any

from flask import Flask, abort

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from webapp import serving

WORKER_CLASSES = ("roster", "sync")
"""``roster``: roster serve's own threaded worker (RosterWorker); ``sync``: gunicorn's."""

ANSWER: dict[str, Any] = {"status": "ok", "service": "bare", "items": [1, 2, 3]}


def create_bare_app() -> Flask:
    """A Flask app whose only page is ``GET /`` → a small JSON dict."""
    app = Flask("bench_bare")

    @app.get("/")
    def index() -> dict[str, Any]:
        return ANSWER

    return app


def _encode(value: Any) -> Any:
    if isinstance(value, dt.datetime):
        return {"datetime": value.isoformat()}
    if isinstance(value, dt.date):
        return {"date": value.isoformat()}
    if isinstance(value, bytes | bytearray | memoryview):
        return {"bytes": base64.b64encode(bytes(value)).decode()}
    if isinstance(value, list | tuple):
        return [_encode(v) for v in value]
    if isinstance(value, dict):
        return {"dict": {k: _encode(v) for k, v in value.items()}}
    return value


def _decode(value: Any) -> Any:
    if isinstance(value, list):
        return [_decode(v) for v in value]
    if isinstance(value, dict):
        if "datetime" in value:
            return dt.datetime.fromisoformat(value["datetime"])
        if "date" in value:
            return dt.date.fromisoformat(value["date"])
        if "bytes" in value:
            return base64.b64decode(value["bytes"])
        return {k: _decode(v) for k, v in value["dict"].items()}
    return value


# One captured statement: its SQL, its DBAPI parameters, and whether Roster's run prepared it.
Statement = tuple[str, Any, bool]


def dump_replay(replay: dict[str, list[Statement]]) -> str:
    """Statements, their DBAPI parameters and whether each was prepared, per target, as the
    floor app reads them."""
    return json.dumps(
        {
            key: [[sql, _encode(params), prepared] for sql, params, prepared in log]
            for key, log in replay.items()
        }
    )


def load_replay(text: str) -> dict[str, list[Statement]]:
    """``dump_replay``'s inverse; positional parameters come back as tuples."""
    out: dict[str, list[Statement]] = {}
    for key, log in json.loads(text).items():
        statements = []
        for sql, params, prepared in log:
            decoded = _decode(params)
            params = tuple(decoded) if isinstance(decoded, list) else decoded
            statements.append((sql, params, bool(prepared)))
        out[key] = statements
    return out


def create_floor_app(url: str, replay: dict[str, list[Statement]]) -> Flask:
    """``GET /<key>`` runs target ``key``'s statements and answers their rows; ``GET /``
    answers ``ANSWER`` (the readiness probe).

    As Roster runs them: on PostgreSQL outside a transaction, on the driver's cursor, prepared
    where Roster's were (``webapp.services.transactions.prepared``); on SQLite in one
    transaction (its BEGIN is no round trip).
    """
    from sqlalchemy import create_engine, event

    engine = create_engine(url)
    postgres = engine.dialect.name == "postgresql"
    if postgres:

        @event.listens_for(engine, "connect")
        def _connect(dbapi_connection: Any, _record: Any) -> None:
            dbapi_connection.prepare_threshold = sys.maxsize  # prepared only when asked

    app = Flask("bench_floor")
    app.extensions["floor_engine"] = engine  # a test disposes of it

    @app.get("/")
    def index() -> dict[str, Any]:
        return ANSWER

    @app.get("/<key>")
    def floor(key: str) -> dict[str, Any]:
        statements = replay.get(key)
        if statements is None:
            abort(404)
        results = []
        with engine.connect() as conn:
            if postgres:
                conn = conn.execution_options(isolation_level="AUTOCOMMIT")
                with conn.connection.driver_connection.cursor() as cursor:
                    for sql, params, prepared in statements:
                        rows = cursor.execute(sql, params, prepare=prepared).fetchall()
                        results.append([[_plain(v) for v in row] for row in rows])
            else:
                for sql, params, _prepared in statements:
                    rows = conn.exec_driver_sql(sql, params).all()
                    results.append([[_plain(v) for v in row] for row in rows])
        return {"results": results}

    return app


def _plain(value: Any) -> Any:
    if isinstance(value, dt.datetime | dt.date):
        return value.isoformat()
    return value


def server_options(bind: str, worker: str, threads: int) -> dict[str, Any]:
    """``roster serve``'s gunicorn settings with one worker; ``sync`` swaps in the sync worker.

    The same dict serves both apps, so the ceiling and Roster differ only in the app.
    """
    if worker not in WORKER_CLASSES:
        raise ValueError(f"worker must be one of {WORKER_CLASSES}, not {worker!r}")
    options = serving.gunicorn_options(bind, 1, threads if worker == "roster" else 1)
    if worker == "sync":
        options["worker_class"] = "sync"
    return options


def main(argv: list[str] | None = None) -> None:
    """Serve the bare app or Roster under gunicorn until terminated."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--app", choices=("bare", "roster", "floor"), required=True)
    parser.add_argument("--bind", required=True, help="host:port")
    parser.add_argument("--worker", choices=WORKER_CLASSES, default="roster")
    parser.add_argument("--threads", type=int, default=8, help="threads of the roster worker")
    args = parser.parse_args(argv)
    if args.app == "roster":
        from webapp import create_app

        app = create_app()
    elif args.app == "floor":
        replay = load_replay(Path(os.environ["ROSTER_BENCH_REPLAY"]).read_text())
        app = create_floor_app(os.environ["ROSTER_DATABASE_URL"], replay)
    else:
        app = create_bare_app()
    serving.Server(app, server_options(args.bind, args.worker, args.threads)).run()


if __name__ == "__main__":
    main()
