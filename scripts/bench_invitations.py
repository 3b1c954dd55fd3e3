"""How long inviting 1,000 addresses takes, and what it costs: issue 10's figures.

One ``POST /api/organizations/{id}/invitations`` of 1,000 addresses, in-process (Flask's test
client, a Bearer token), on a fresh database (SQLite in a temporary file, or the database
``ROSTER_DATABASE_URL`` names, which is wiped), with every mail sent over SMTP to an aiosmtpd
server on localhost that keeps them. Each run uses a new organization; the statements of the
request are counted, the mails received checked, and the time of each run printed with the
median. Not a test: it measures a machine.

Usage::

    .venv/bin/python scripts/bench_invitations.py [--runs 5] [--size 1000]
    ROSTER_DATABASE_URL=postgresql+psycopg://postgres@127.0.0.1:5432/roster_bench_inv \\
        .venv/bin/python scripts/bench_invitations.py
"""

from __future__ import annotations

import argparse
import os
import socket
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from aiosmtpd.controller import Controller
from sqlalchemy import event

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


class Counter:
    """aiosmtpd's handler: counts what it accepts."""

    def __init__(self) -> None:
        self.received = 0
        self._lock = threading.Lock()

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        with self._lock:
            self.received += 1
        return "250 OK"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--size", type=int, default=1000)
    args = parser.parse_args(argv)

    handler = Counter()
    port = free_port()
    controller = Controller(handler, hostname="127.0.0.1", port=port)
    controller.start()
    with tempfile.TemporaryDirectory(prefix="roster-invite-bench-") as tmp:
        url = os.environ.get("ROSTER_DATABASE_URL") or f"sqlite:///{tmp}/invite.db"
        os.environ.setdefault("ROSTER_SECRET_KEY", "bench-not-secret")
        from flask_migrate import upgrade

        from webapp import create_app
        from webapp.extensions import db
        from webapp.models import Via, drop_schema
        from webapp.services import organizations, tokens, users

        app = create_app(
            {
                "SQLALCHEMY_DATABASE_URI": url,
                "ROSTER_SMTP_URL": f"smtp://127.0.0.1:{port}",
                "ROSTER_MAIL_LIMIT_PER_ORG": "1000000 per hour",
                "ROSTER_OUTBOX_DIR": tmp,
            }
        )
        with app.app_context():
            drop_schema(db.engine)
            upgrade(directory=app.extensions["migrate"].directory)
            owner = users.create_user("owner@bench.example", "Bench Owner", via=Via.CLI)
            _, token = tokens.create_token(owner, "bench", via=Via.CLI)
            db.session.remove()
            engine = db.engine
        from webapp import mail

        sending: list[float] = []
        send = mail.send

        def timed_send(messages: Any) -> Any:
            started = time.perf_counter()
            try:
                return send(messages)
            finally:
                sending.append(time.perf_counter() - started)

        mail.send = timed_send  # type: ignore[assignment]
        client = app.test_client()
        auth = {"Authorization": f"Bearer {token}"}
        times: list[float] = []
        smtp: list[float] = []
        counts: list[int] = []
        for run in range(args.runs):
            with app.app_context():
                org = organizations.create_organization(owner, f"Run {run}", via=Via.CLI)
                db.session.remove()
            emails = [f"person{run}-{n}@bench.example" for n in range(args.size)]
            seen: list[str] = []

            def count(conn, cursor, statement, parameters, context, executemany, seen=seen):  # type: ignore[no-untyped-def]
                if not statement.lstrip().upper().startswith(("BEGIN", "COMMIT", "PRAGMA")):
                    seen.append(statement)

            sending.clear()
            before = handler.received
            event.listen(engine, "before_cursor_execute", count)
            started = time.perf_counter()
            answer = client.post(
                f"/api/organizations/{org.id}/invitations", json={"emails": emails}, headers=auth
            )
            elapsed = time.perf_counter() - started
            event.remove(engine, "before_cursor_execute", count)
            if answer.status_code != 201:
                raise SystemExit(f"run {run}: {answer.status_code} {answer.text[:300]}")
            received = handler.received - before
            if received != args.size:
                raise SystemExit(f"run {run}: {received} mails received, not {args.size}")
            times.append(elapsed)
            smtp.append(sum(sending))
            counts.append(len(seen))
            print(
                f"run {run + 1}: {elapsed:.2f} s (SMTP {sum(sending):.2f} s), "
                f"{len(seen)} statements, {received} mails"
            )
        controller.stop()
        backend = make_url_name(url)
        print(
            f"{backend}: invite {args.size:,} addresses in one request, {args.runs} runs: median "
            f"{statistics.median(times):.2f} s (min {min(times):.2f}, max {max(times):.2f}), of "
            f"which sending the mails {statistics.median(smtp):.2f} s; "
            f"statements per request {sorted(set(counts))}; every mail received over SMTP."
        )


def make_url_name(url: str) -> str:
    from sqlalchemy.engine import make_url

    return "PostgreSQL" if make_url(url).get_backend_name() == "postgresql" else "SQLite"


if __name__ == "__main__":
    main()
