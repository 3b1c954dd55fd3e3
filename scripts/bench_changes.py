"""What undoing costs, beside what the change itself costs: issue 11's times.

On a fresh database (SQLite in a temporary file, or the database ``ROSTER_DATABASE_URL`` names,
which is wiped), through the services, in one process: an organization, ``--size`` users who
are not members, and as many members. Each round, interleaved so that the machine's noise
falls on both sides of every ratio alike:

- a bulk add of ``--size`` ids, then the revert of that change set (which removes them), beside a
  bulk remove of as many members;
- a bulk remove of ``--size`` members, then the revert of that change set (which brings them back
  with their role, flag and joined_at), beside a bulk add of as many;
- an import of ``--size`` rows (half of them new members, half updates; previewed, then
  applied), beside the bulk add; and the revert of the import's change set.

Prints the median time of each and the ratios (revert ÷ the bulk change it mirrors, import ÷
bulk add), and the statements each ran (which the tests hold constant). Not a test: it
measures a machine.

Usage::

    .venv/bin/python scripts/bench_changes.py [--rounds 3] [--size 10000]
    ROSTER_DATABASE_URL=postgresql+psycopg://postgres@127.0.0.1:5432/roster_bench_changes \\
        .venv/bin/python scripts/bench_changes.py
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path
from typing import Any

from sqlalchemy import event, select

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def _app(url: str) -> Any:
    os.environ.setdefault("ROSTER_SECRET_KEY", "bench-not-secret")
    os.environ.setdefault("ROSTER_MAIL", "off")
    from webapp import create_app

    return create_app({"SQLALCHEMY_DATABASE_URI": url})


class Counter:
    def __init__(self, engine: Any) -> None:
        self.count = 0
        event.listen(engine, "before_cursor_execute", self._count)

    def _count(self, *args: Any) -> None:
        statement = args[2]
        if not statement.lstrip().upper().startswith(("BEGIN", "COMMIT", "SAVEPOINT", "RELEASE")):
            self.count += 1


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--size", type=int, default=10_000)
    args = parser.parse_args()
    url = os.environ.get("ROSTER_DATABASE_URL")
    tmp = None
    if not url:
        tmp = tempfile.TemporaryDirectory()
        url = f"sqlite:///{tmp.name}/bench-changes.db"
    app = _app(url)
    from flask_migrate import upgrade

    from webapp.extensions import db
    from webapp.models import Membership, Role, User, Via, drop_schema
    from webapp.services import changes, members, organizations, users

    try:
        from webapp.services import member_import
    except ImportError:  # before the import exists
        member_import = None  # type: ignore[assignment]

    n = args.size
    with app.app_context():
        drop_schema(db.engine)
        upgrade(directory=app.extensions["migrate"].directory)
        owner = users.create_user("owner@changes.example", "Changes Owner", via=Via.CLI)
        org = organizations.create_organization(owner, "Changes", via=Via.CLI)
        outsiders = users.create_users(
            [(f"out{i:05d}@changes.example", f"Out {i:05d}") for i in range(n)], via=Via.CLI
        )
        insiders = users.create_users(
            [(f"in{i:05d}@changes.example", f"In {i:05d}") for i in range(n)], via=Via.CLI
        )
        members.add_members(owner, org.id, insiders, role=Role.CONTRIBUTOR, via=Via.CLI)
        db.session.commit()
        emails = dict(db.session.execute(select(User.id, User.email)).all())
        counter = Counter(db.engine)
        times: dict[str, list[float]] = defaultdict(list)
        statements: dict[str, int] = {}

        def timed(name: str, work: Callable[[], Any]) -> Any:
            db.session.expire_all()
            before = counter.count
            start = time.perf_counter()
            result = work()
            times[name].append(time.perf_counter() - start)
            statements[name] = counter.count - before
            return result

        # Half the file adds outsiders, half changes insiders' role: every row does something.
        half = n // 2
        lines = ["email,role,is_active"]
        lines += [f"{emails[i]},VIEWER,true" for i in outsiders[:half]]
        lines += [f"{emails[i]},ACCOUNTING,true" for i in insiders[: n - half]]
        csv_text = "\r\n".join(lines) + "\r\n"

        for round_ in range(args.rounds):
            added = timed(
                "bulk add",
                lambda: members.add_members(owner, org.id, outsiders, via=Via.API),
            )
            timed(
                "revert of the add",
                lambda added=added: changes.revert_change(
                    owner, org.id, added.change_id, via=Via.API
                ),
            )
            removed = timed(
                "bulk remove",
                lambda: members.remove_members(owner, org.id, insiders, via=Via.API),
            )
            timed(
                "revert of the remove",
                lambda removed=removed: changes.revert_change(
                    owner, org.id, removed.change_id, via=Via.API
                ),
            )
            if member_import is not None:
                timed(
                    "import preview",
                    lambda: member_import.preview_import(owner, org.id, csv_text.encode()),
                )
                result = timed(
                    "import apply",
                    lambda: member_import.apply_import(
                        owner, org.id, csv_text.encode(), via=Via.API
                    ),
                )
                assert result.applied, result
                timed(
                    "revert of the import",
                    lambda result=result: changes.revert_change(
                        owner, org.id, result.change_id, via=Via.API
                    ),
                )
            print(f"round {round_ + 1} of {args.rounds} done", file=sys.stderr)

        kept = db.session.scalar(
            select(Membership.user_id).where(
                Membership.organization_id == org.id, Membership.role == Role.ACCOUNTING
            )
        )
        assert kept is None, "the import's revert left an ACCOUNTING member"

    backend = "PostgreSQL" if url.startswith("postgresql") else "SQLite"
    median = {name: statistics.median(values) for name, values in times.items()}
    print(f"\n{backend}, {n:,} members per change, {args.rounds} rounds (median, spread)\n")
    print("| step | seconds | spread | statements |\n|---|---|---|---|")
    for name, values in times.items():
        print(
            f"| {name} | {median[name]:.2f} | {min(values):.2f} to {max(values):.2f} "
            f"| {statements[name]} |"
        )
    ratios = [
        ("revert of the add ÷ bulk remove", "revert of the add", "bulk remove"),
        ("revert of the remove ÷ bulk add", "revert of the remove", "bulk add"),
        ("import preview ÷ bulk add", "import preview", "bulk add"),
        ("import apply ÷ bulk add", "import apply", "bulk add"),
        ("revert of the import ÷ bulk remove", "revert of the import", "bulk remove"),
    ]
    print("\n| ratio | value |\n|---|---|")
    for label, top, bottom in ratios:
        if top in median and bottom in median:
            print(f"| {label} | {median[top] / median[bottom]:.2f} |")
    if tmp is not None:
        tmp.cleanup()


if __name__ == "__main__":
    main()
