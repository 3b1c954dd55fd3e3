"""Member-list benchmark: page 0 against the last page, for every sort key and direction.

Builds (or reuses) an organization of N members (default 200,000) through the services, next to
one of N/2 members so that the organization filter is selective, then
times ``services.member_list.list_members`` for page 0, the middle page and the last page (25 a
page), interleaved, and prints the medians and the ratio last/page 0. A naive query (a plain
join sorted on the users table where the key lives there, OFFSET applied to the joined rows)
is timed in the same run for contrast. The last column is EXPLAIN's account of how the inner
page query finds the page: the index it walks, and "SORTS" if that part sorts rows.

Ratios matter, not absolute times. Usage::

    .venv/bin/python scripts/bench_member_pages.py [--members 200000] [--runs 15]

The database is ROSTER_DATABASE_URL, or a SQLite file in the temporary directory when unset.
It must be the benchmark's own database: the script refuses to touch one that holds anything
but benchmark data, and rebuilds it when it holds another size.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from flask import Flask
from flask_migrate import upgrade
from sqlalchemy import Select, event, inspect, select, text
from sqlalchemy.engine import make_url

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from webapp import create_app, inputs
from webapp.extensions import db
from webapp.models import Membership, Organization, Role, User, Via, drop_schema
from webapp.services import member_list, members, organizations, users

BATCH = 10_000
PAGE_SIZE = 25
BENCH_PREFIX = "Roster bench"
ROLES = [Role.VIEWER, Role.CONTRIBUTOR, Role.ACCOUNTING, Role.ADMIN, Role.VIEWER]
FIRST = ["ada", "alan", "grace", "edsger", "barbara", "ken", "dennis", "margaret", "linus"]
LAST = ["lovelace", "turing", "hopper", "dijkstra", "liskov", "thompson", "ritchie", "hamilton"]

# For contrast: the query list_members replaced. It sorts on the users table (so no index of
# memberships can give the order) and applies OFFSET to the joined rows.
NAIVE_KEYS: dict[str, Any] = {
    "user_id": User.id,
    "email": User.email,
    "name": User.name,
    "role": Membership.role,
    "is_active": Membership.is_active,
    "joined_at": Membership.created_at,
}


def default_url() -> str:
    url = os.environ.get("ROSTER_DATABASE_URL")
    if url:
        return url
    return f"sqlite:///{Path(tempfile.gettempdir()) / 'roster-bench-members.sqlite3'}"


def org_name(size: int) -> str:
    return f"{BENCH_PREFIX} {size}"


def neighbours_name(size: int) -> str:
    return f"{BENCH_PREFIX} neighbours of {size}"


# -- building the data -----------------------------------------------------------------------


def find_bench_org(size: int) -> int | None:
    """The id of the benchmark organization of ``size`` members, if it was built completely."""
    if "organizations" not in inspect(db.engine).get_table_names():
        return None
    found = dict(
        db.session.execute(
            select(Organization.organization_name, Organization.member_count).where(
                Organization.organization_name.in_([org_name(size), neighbours_name(size)])
            )
        ).all()
    )
    org_id = db.session.scalar(
        select(Organization.id).where(Organization.organization_name == org_name(size))
    )
    db.session.rollback()
    complete = found == {org_name(size): size, neighbours_name(size): size // 2 + 1}
    return org_id if complete else None


def wipe_bench_database() -> None:
    """Drop every table, after checking the database holds only benchmark data."""
    tables = inspect(db.engine).get_table_names()
    if "organizations" in tables:
        names = db.session.scalars(select(Organization.organization_name)).all()
        db.session.rollback()
        foreign = [n for n in names if not n.startswith(BENCH_PREFIX)]
        if foreign:
            raise SystemExit(
                f"{db.engine.url.render_as_string()} holds organizations that are not "
                "benchmark data; give the benchmark a database of its own"
            )
    elif set(tables) - {"alembic_version"}:
        raise SystemExit("the database has tables that are not Roster's; refusing to wipe it")
    db.session.remove()
    drop_schema(db.engine)


def people(size: int) -> Iterator[tuple[str, str]]:
    """Deterministic, unsorted names and addresses: no sort key follows the user id."""
    rng = random.Random(size)
    for i in range(size):
        first, last = rng.choice(FIRST), rng.choice(LAST)
        tag = rng.getrandbits(32)
        yield f"{first}.{last}.{tag:08x}.{i}@bench.example", f"{last.title()} {first.title()} {i}"


def add_in_batches(actor: User, org_id: int, ids: list[int]) -> None:
    """Members in set-based batches of 10,000; role and active flag vary by batch."""
    for n, start in enumerate(range(0, len(ids), BATCH)):
        members.add_members(
            actor,
            org_id,
            ids[start : start + BATCH],
            role=ROLES[n % len(ROLES)],
            is_active=n % 3 != 2,
            via=Via.CLI,
        )


def build(size: int) -> int:
    """Users in batches, the organization, members in batches of 10,000 (set-based).

    A second organization holds half as many of the same users, so that, as in production,
    ``organization_id`` is selective and the planner has a wrong index to be tempted by.
    """
    everyone = list(people(size))
    ids: list[int] = []
    for start in range(0, size, BATCH):
        ids += users.create_users(everyone[start : start + BATCH], via=Via.CLI)
    owner = db.session.get(User, ids[0])
    neighbour = db.session.get(User, ids[-1])
    assert owner is not None and neighbour is not None
    neighbours = organizations.create_organization(neighbour, neighbours_name(size), via=Via.CLI)
    add_in_batches(neighbour, neighbours.id, ids[: size // 2])
    org = organizations.create_organization(owner, org_name(size), via=Via.CLI)
    add_in_batches(owner, org.id, ids[1:])
    db.session.remove()
    return org.id


def analyze() -> None:
    """Fresh planner statistics; on PostgreSQL VACUUM too, so index-only scans skip the heap."""
    if db.engine.dialect.name == "postgresql":
        with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.execute(text("VACUUM ANALYZE"))
    else:
        with db.engine.begin() as conn:
            conn.execute(text("ANALYZE"))


# -- measuring -------------------------------------------------------------------------------


@contextmanager
def captured() -> Iterator[list[tuple[str, Any]]]:
    """The statements (and their parameters) the engine runs inside the block."""
    log: list[tuple[str, Any]] = []

    def before(conn, cursor, statement, parameters, context, executemany):  # type: ignore[no-untyped-def]
        log.append((statement, parameters))

    event.listen(db.engine, "before_cursor_execute", before)
    try:
        yield log
    finally:
        event.remove(db.engine, "before_cursor_execute", before)


def inner_plan(statement: str, parameters: Any) -> str:
    """How the page query finds its rows: the inner scan, and "SORTS" if that part sorts.

    The outer query re-sorts the page's 25 joined rows; that is not reported.
    """
    with db.engine.connect() as conn:
        if conn.dialect.name == "postgresql":
            raw = conn.exec_driver_sql("EXPLAIN (FORMAT JSON) " + statement, parameters)
            return _pg_inner(raw.scalar_one())
        rows = conn.exec_driver_sql("EXPLAIN QUERY PLAN " + statement, parameters).all()
        return _sqlite_inner([(r[0], r[1], r[3]) for r in rows])


def _sqlite_inner(rows: list[tuple[int, int, str]]) -> str:
    subqueries = {i for i, _, d in rows if d.startswith(("MATERIALIZE", "CO-ROUTINE"))}
    inner: list[str] = []
    for i, parent, detail in rows:
        if parent in subqueries:
            subqueries.add(i)
            inner.append(detail)
    if not inner:
        return "NO INDEX-FIRST SUBQUERY: " + "; ".join(d for _, _, d in rows)
    scans = [d.split(" USING ")[-1].split(" (")[0] for d in inner if "memberships" in d]
    sorts = [d for d in inner if "TEMP B-TREE" in d]
    return ", ".join(scans) + ("; SORTS: " + "; ".join(sorts) if sorts else "")


def _pg_inner(raw: Any) -> str:
    plan = raw if isinstance(raw, list) else json.loads(raw)
    found: list[str] = []

    def walk(node: dict[str, Any], in_limit: bool) -> None:
        kind = node["Node Type"]
        if in_limit and kind in ("Sort", "Incremental Sort"):
            found.append("SORTS: " + ", ".join(node.get("Sort Key", [])))
        if in_limit and node.get("Relation Name") == "memberships":
            found.append(f"{kind} {node.get('Index Name', '')}".strip())
        for child in node.get("Plans", []):
            walk(child, in_limit or kind == "Limit")

    walk(plan[0]["Plan"], False)
    return "; ".join(found) or "NO INDEX-FIRST SUBQUERY"


def naive_page(org_id: int, key: str, ascending: bool, page: int) -> Select[Any]:
    column = NAIVE_KEYS[key]
    tiebreak = User.id if key != "user_id" else None
    order = [column.asc() if ascending else column.desc()]
    if tiebreak is not None:
        order.append(tiebreak.asc() if ascending else tiebreak.desc())
    return (
        select(Membership, User.email, User.name)
        .join(User, User.id == Membership.user_id)
        .where(Membership.organization_id == org_id)
        .order_by(*order)
        .limit(PAGE_SIZE)
        .offset(page * PAGE_SIZE)
    )


def timed(call: Callable[[], Any]) -> float:
    start = time.perf_counter()
    call()
    elapsed = time.perf_counter() - start
    db.session.close()  # as a new request would: a fresh session, objects forgotten
    return elapsed * 1000


def interleaved(calls: list[Callable[[], Any]], runs: int) -> list[float]:
    """Median milliseconds of each call, run in turn (rotating the order each round, after one
    warm-up each) so that drift on a shared machine hits them alike."""
    for call in calls:
        call()
    db.session.close()
    times: list[list[float]] = [[] for _ in calls]
    for i in range(runs):
        for j in range(len(calls)):
            k = (i + j) % len(calls)
            times[k].append(timed(calls[k]))
    return [statistics.median(t) for t in times]


@dataclass
class Row:
    key: str
    direction: str
    first_ms: float
    middle_ms: float
    last_ms: float
    naive_first_ms: float
    naive_last_ms: float
    plan: str

    def cells(self) -> list[str]:
        return [
            self.key,
            self.direction,
            f"{self.first_ms:.2f}",
            f"{self.middle_ms:.2f}",
            f"{self.last_ms:.2f}",
            f"{self.last_ms / self.first_ms:.1f}",
            f"{self.naive_first_ms:.1f}",
            f"{self.naive_last_ms:.1f}",
            f"{self.naive_last_ms / self.naive_first_ms:.1f}",
            f"{self.naive_last_ms / self.last_ms:.0f}",
            self.plan,
        ]


HEADER = [
    "key",
    "dir",
    "page0 ms",
    "mid ms",
    "last ms",
    "last/p0",
    "naive p0",
    "naive last",
    "naive last/p0",
    "naive last/last",
    "inner page scan (EXPLAIN)",
]
TEXT_COLUMNS = (0, 1, len(HEADER) - 1)


def measure(org_id: int, size: int, runs: int, naive_runs: int) -> list[Row]:
    owner_id = db.session.scalar(
        select(Membership.user_id).where(
            Membership.organization_id == org_id, Membership.role == Role.OWNER
        )
    )
    owner = db.session.get(User, owner_id)
    assert owner is not None
    db.session.close()  # owner stays loaded, detached: list_members only reads its id
    last_page = (size - 1) // PAGE_SIZE
    rows: list[Row] = []
    for key in member_list.SORT_KEYS:
        for ascending in (True, False):

            def page(n: int, key: str = key, ascending: bool = ascending) -> Callable[[], Any]:
                query = inputs.MemberQuery(
                    page_number=n, page_size=PAGE_SIZE, sort_by=key, sort_ascending=ascending
                )
                return lambda: member_list.list_members(owner, org_id, query)

            def naive(n: int, key: str = key, ascending: bool = ascending) -> Callable[[], Any]:
                stmt = naive_page(org_id, key, ascending, n)
                return lambda: db.session.execute(stmt).all()

            with captured() as log:
                got = page(last_page)()
            db.session.close()
            assert len(got.items) == size - last_page * PAGE_SIZE, "the last page is not full"
            statement, parameters = next((s, p) for s, p in log if "OFFSET" in s.upper())
            first_ms, middle_ms, last_ms = interleaved(
                [page(0), page(last_page // 2), page(last_page)], runs
            )
            naive_first, naive_last = interleaved([naive(0), naive(last_page)], naive_runs)
            rows.append(
                Row(
                    key,
                    "asc" if ascending else "desc",
                    first_ms,
                    middle_ms,
                    last_ms,
                    naive_first,
                    naive_last,
                    inner_plan(statement, parameters),
                )
            )
            print(" | ".join(rows[-1].cells()), file=sys.stderr, flush=True)
    return rows


def table(rows: list[Row]) -> str:
    cells = [HEADER, *(r.cells() for r in rows)]
    widths = [max(len(c[i]) for c in cells) for i in range(len(HEADER))]
    lines = [
        " | ".join(
            c.ljust(w) if i in TEXT_COLUMNS else c.rjust(w)
            for i, (c, w) in enumerate(zip(line, widths, strict=True))
        )
        for line in cells
    ]
    lines.insert(1, "-+-".join("-" * w for w in widths))
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--members", type=int, default=200_000, help="organization size")
    parser.add_argument("--runs", type=int, default=15, help="timed runs per page (median)")
    parser.add_argument("--naive-runs", type=int, default=5, help="timed runs, naive query")
    parser.add_argument("--database-url", default=default_url())
    parser.add_argument("--rebuild", action="store_true", help="rebuild even if present")
    args = parser.parse_args(argv)
    if args.members < PAGE_SIZE + 1:
        parser.error(f"--members must be more than {PAGE_SIZE}")

    os.environ.setdefault("ROSTER_SECRET_KEY", "bench-not-secret")
    url: str = args.database_url
    app: Flask = create_app({"SQLALCHEMY_DATABASE_URI": url, "TESTING": False})
    shown = make_url(url).render_as_string(hide_password=True)
    started = time.perf_counter()
    with app.app_context():
        org_id = None if args.rebuild else find_bench_org(args.members)
        if org_id is None:
            print(f"building {args.members:,} members in {shown} ...", file=sys.stderr)
            wipe_bench_database()
            upgrade(directory=app.extensions["migrate"].directory)
            org_id = build(args.members)
            analyze()
            how = f"built in {time.perf_counter() - started:.1f} s (incl. migrate + ANALYZE)"
        else:
            analyze()
            how = f"reused (ANALYZE {time.perf_counter() - started:.1f} s)"
        print(f"data: {how}", file=sys.stderr, flush=True)
        measuring = time.perf_counter()
        rows = measure(org_id, args.members, args.runs, args.naive_runs)
        took = time.perf_counter() - measuring
    print(
        f"\n{make_url(url).get_backend_name()} "
        f"{shown}: organization of {args.members:,} members, page size {PAGE_SIZE}, "
        f"last page {(args.members - 1) // PAGE_SIZE:,}; data {how}; "
        f"timing {took:.1f} s; medians of {args.runs} (naive {args.naive_runs}), alternating."
    )
    print(table(rows))


if __name__ == "__main__":
    main()
