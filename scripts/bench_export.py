"""What exporting the member list as CSV costs: issue 11's export figures.

Builds, through the services, an organization of 200,000 members and one of 1,000 on a fresh
database (SQLite in a temporary file, or the database ``ROSTER_DATABASE_URL`` names, which is
wiped). Each export then runs in a process of its own (Flask's test client, a Bearer token,
the answer read as it streams and thrown away), which reports its time and its peak resident
memory: the peak after a warm-up export of nothing (imports, the app, the statement cache) and
the peak after the export. Constant memory means the growth is the same for 1,000 rows as for
200,000. Not a test: it measures a machine.

Usage::

    .venv/bin/python scripts/bench_export.py [--runs 3] [--big 200000] [--small 1000]
    ROSTER_DATABASE_URL=postgresql+psycopg://postgres@127.0.0.1:5432/roster_bench_export \\
        .venv/bin/python scripts/bench_export.py
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
BATCH = 10_000


def _app(url: str) -> Any:
    os.environ.setdefault("ROSTER_SECRET_KEY", "bench-not-secret")
    from webapp import create_app

    return create_app({"SQLALCHEMY_DATABASE_URI": url})


def build(url: str, big: int, small: int) -> dict[str, Any]:
    """A fresh schema, the two organizations, and an owner's token."""
    from flask_migrate import upgrade

    from webapp.extensions import db
    from webapp.models import Role, Via, drop_schema
    from webapp.services import members, organizations, tokens, users

    app = _app(url)
    with app.app_context():
        drop_schema(db.engine)
        upgrade(directory=app.extensions["migrate"].directory)
        owner = users.create_user("owner@export.example", "Export Owner", via=Via.CLI)
        _, token = tokens.create_token(owner, "bench", via=Via.CLI)
        orgs = {}
        for label, size in (("big", big), ("small", small)):
            org = organizations.create_organization(owner, f"Export {label}", via=Via.CLI)
            for start in range(0, size, BATCH):
                people = [
                    (f"{label}{n}@export.example", f"Person {label} {n:06d}")
                    for n in range(start, min(start + BATCH, size))
                ]
                ids = users.create_users(people, via=Via.CLI)
                members.add_members(owner, org.id, ids, role=Role.VIEWER, via=Via.CLI)
            orgs[label] = org.id
        db.session.remove()
    return {"token": token, "orgs": orgs}


def child(url: str, org_id: int, token: str) -> None:
    """One export in this process; prints its figures as JSON."""
    app = _app(url)
    client = app.test_client()
    auth = {"Authorization": f"Bearer {token}"}
    path = f"/api/organizations/{org_id}/users.csv"

    def export(query: str) -> tuple[int, int]:
        answer = client.get(path + query, headers=auth, buffered=False)
        if answer.status_code != 200:
            raise SystemExit(f"{answer.status_code}: {answer.get_data(as_text=True)[:300]}")
        size = lines = 0
        for chunk in answer.response:
            size += len(chunk)
            lines += chunk.count(b"\r\n")  # no name or address holds a line break here
        answer.close()
        return lines - 1, size

    export("?q=nobody-at-all")  # warm-up: everything but the rows
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    started = time.perf_counter()
    rows, size = export("?sort_by=name")
    seconds = time.perf_counter() - started
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(
        json.dumps(
            {"rows": rows, "bytes": size, "seconds": seconds, "before": before, "peak": peak}
        )
    )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--big", type=int, default=200_000)
    parser.add_argument("--small", type=int, default=1_000)
    parser.add_argument(
        "--child", nargs=3, metavar=("URL", "ORG_ID", "TOKEN"), help=argparse.SUPPRESS
    )
    args = parser.parse_args(argv)
    if args.child:
        child(args.child[0], int(args.child[1]), args.child[2])
        return

    with tempfile.TemporaryDirectory(prefix="roster-export-bench-") as tmp:
        url = os.environ.get("ROSTER_DATABASE_URL") or f"sqlite:///{tmp}/export.db"
        started = time.perf_counter()
        built = build(url, args.big, args.small)
        print(
            f"database: {url.split('@')[-1]}; built {args.big:,} + {args.small:,} members in "
            f"{time.perf_counter() - started:.0f} s"
        )
        results: dict[str, list[dict[str, Any]]] = {"small": [], "big": []}
        for run in range(args.runs):
            for label in ("small", "big"):  # interleaved, so both see the same machine
                out = subprocess.run(
                    [
                        sys.executable,
                        __file__,
                        "--child",
                        url,
                        str(built["orgs"][label]),
                        built["token"],
                    ],
                    capture_output=True,
                    text=True,
                    check=True,
                )
                figures = json.loads(out.stdout.strip().splitlines()[-1])
                results[label].append(figures)
                print(
                    f"run {run + 1} {label}: {figures['rows']:,} rows, "
                    f"{figures['bytes'] / 1e6:.1f} MB in {figures['seconds']:.2f} s; peak RSS "
                    f"{figures['before'] / 1024:.1f} MB before, "
                    f"{figures['peak'] / 1024:.1f} MB after"
                )
        print()
        for label in ("small", "big"):
            runs = results[label]
            seconds = statistics.median(r["seconds"] for r in runs)
            growth = statistics.median((r["peak"] - r["before"]) / 1024 for r in runs)
            peak = statistics.median(r["peak"] / 1024 for r in runs)
            rows = runs[0]["rows"]
            print(
                f"{label:>5}: {rows:>7,} rows  median {seconds:6.2f} s "
                f"({rows / seconds:,.0f} rows/s)  peak RSS {peak:.1f} MB, "
                f"grown by the export {growth:.1f} MB"
            )


if __name__ == "__main__":
    main()
