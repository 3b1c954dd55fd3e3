"""Issue 9's benchmark: Roster against the stack's ceiling, side by side, on a realistic dataset.

What it does, in order:

1. **Dataset**, built once through Roster's own services and cached: 200,000 users, 10,000
   organizations, 1,000,000 memberships, one organization of 200,000 members, an owner who
   belongs to 1,000 organizations, an admin of exactly one (the big one), and organizations of
   about 80 members (one of them, the owner's, is "the small org"). ``--scale 0.02`` makes
   everything 50 times smaller for quick runs. SQLite: ``instance/bench-<size>.db``;
   ``ROSTER_DATABASE_URL``: that database, marked as built by the big organization's final
   name. The build time is kept beside it in ``instance/bench-<...>.json``. Every run first
   migrates to head and refreshes the planner statistics.
2. **Bulk changes** (T7-T9), in-process through the JSON API (Flask's test client, a Bearer
   token), on a scratch organization that is deleted afterwards: statements per add / update /
   remove at N = 1, 100 and 10,000, and the time of one request of 1,000 and 10,000 ids.
3. **Load** (T1, T5, T10-T13): Roster and a bare Flask app, each under one gunicorn sync
   worker with otherwise ``roster serve``'s settings (``--worker roster``: ``roster serve``
   itself, its threaded RosterWorker, and the bare app under the same); ``wrk`` (Debian
   package ``wrk``) drives them in rounds, bare and Roster alternating, each Roster run
   divided by the mean of the bare runs just before and after it. T13's deep pages are
   reached by ``cursor`` when the API's MemberPage carries ``next_cursor``, else by
   ``page_number``; the report says which.

The report (stdout, the only thing printed there) is issue 9's table: target, goal, median
ratio over the rounds, spread (min-max), met?; then the bulk timings and statement counts, and
the dataset and build facts. Progress goes to stderr. Ratios matter, not absolute figures.

Usage::

    .venv/bin/python scripts/bench.py                 # full size, SQLite
    .venv/bin/python scripts/bench.py --scale 0.02    # 4,000 users: a quick look
    ROSTER_DATABASE_URL=postgresql+psycopg://postgres@127.0.0.1:5432/roster_bench \\
        .venv/bin/python scripts/bench.py             # PostgreSQL

The database must be the benchmark's own: it refuses to wipe one holding anything else unless
told ``--force-wipe``.
"""

from __future__ import annotations

import argparse
import contextlib
import html
import http.client
import json
import os
import random
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.parse
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

# -- what is measured, and the goals (issue 9's table) ------------------------------------------

FULL = {
    "users": 200_000,
    "organizations": 10_000,
    "memberships": 1_000_000,
    "big_org": 200_000,
    "owner_orgs": 1_000,
}
BULK_MAX = 10_000  # the API's ceiling on ids per request (DESIGN §4)
BATCH = 10_000  # set-based batches while building
DATASET_VERSION = 1  # bump when the dataset's shape changes: the cache is rebuilt

OWNER_EMAIL = "bench-owner@bench.example"
ADMIN_EMAIL = "bench-admin@bench.example"
PASSWORD = "bench-password-not-secret"
BIG_BUILDING = "Roster bench big org (building)"
SMALL_ORG = "Roster bench small org"
SCRATCH_ORG = "Roster bench scratch"
RARE_FIRST = "Quentin"  # one user in (users / 20) is a Quentin: 20 matches at any scale
Q_FEW = "quentin"
Q_MANY = "lovelace"  # a surname drawn for 1 in 8 users

FIRST = ["ada", "alan", "grace", "edsger", "barbara", "ken", "dennis", "margaret", "linus"]
LAST = ["lovelace", "turing", "hopper", "dijkstra", "liskov", "thompson", "ritchie", "hamilton"]
ADJECTIVES = ["Blue", "Swift", "Quiet", "Bright", "Bold", "Calm", "Clever", "Eager", "Brave"]
NOUNS = ["Harbor", "Falcon", "Garden", "Summit", "Forge", "Beacon", "Meadow", "River", "Orbit"]

# Which database kind a time goal depends on: (SQLite, PostgreSQL).
T8_GOAL_S = (1.0, 2.0)
T9_GOAL_S = (0.5, 1.0)
T8_RATIO_GOAL = 10.0
T7_GOAL = 6


@dataclass(frozen=True)
class Target:
    """One row of the load table: a Roster URL and what its requests per second are divided by.

    ``reference`` is ``"bare"`` (the ceiling) or another target's key, in which case the ratio
    is this target's (Roster ÷ bare) over the reference's (Roster ÷ bare) in the same round.
    """

    key: str
    label: str
    path: str
    auth: str  # "token" (the owner's Bearer token), "owner" or "admin" (session cookie), "none"
    reference: str = "bare"
    goal: float | None = None
    server: str = "roster"  # or "floor": the target's own SQL without Roster (bench_bare_app)


@dataclass(frozen=True)
class Sizes:
    """The dataset's dimensions at a scale (1.0 is issue 9's)."""

    users: int
    organizations: int
    memberships: int
    big_org: int
    owner_orgs: int

    @classmethod
    def at(cls, scale: float) -> Sizes:
        """Every dimension times ``scale``; the other organizations keep about 80 members."""
        if not 0 < scale <= 1:
            raise ValueError("scale must be in (0, 1]")
        users = max(200, round(FULL["users"] * scale))
        orgs = max(10, round(FULL["organizations"] * scale))
        return cls(
            users=users,
            organizations=orgs,
            memberships=max(users + 4 * orgs, round(FULL["memberships"] * scale)),
            big_org=min(users, max(100, round(FULL["big_org"] * scale))),
            owner_orgs=min(orgs, max(4, round(FULL["owner_orgs"] * scale))),
        )

    @property
    def tag(self) -> str:
        """A file-name-safe name for this size."""
        if self == Sizes.at(1.0):
            return "full"
        return f"{self.users}u-{self.organizations}o-{self.memberships}m"

    @property
    def marker(self) -> str:
        """The big organization's name once the build finished: the cache's proof."""
        return (
            f"Roster bench big org v{DATASET_VERSION} "
            f"{self.users}u {self.organizations}o {self.memberships}m"
        )

    def small_org_sizes(self) -> list[int]:
        """Members of each organization but the big one (the first is the small org)."""
        others = self.organizations - 1
        rest = self.memberships - self.big_org
        base, extra = divmod(rest, others)
        return [base + (1 if k < extra else 0) for k in range(others)]

    @property
    def bulk_n(self) -> int:
        """The large N of T7-T9: 10,000, or all but the sign-in users in a small dataset."""
        return min(BULK_MAX, self.users - 2)


# -- small pure helpers (tests/test_bench_harness.py) ----------------------------------------


@dataclass(frozen=True)
class Spread:
    """Median and range of a few measurements."""

    median: float
    low: float
    high: float

    @classmethod
    def of(cls, values: Sequence[float]) -> Spread:
        if not values:
            raise ValueError("no values")
        return cls(statistics.median(values), min(values), max(values))


def fmt_ratio(value: float) -> str:
    """Ratios as the issue writes them: 0.006, 0.028, 0.34, 1.13, 12.4."""
    if value >= 10:
        return f"{value:.1f}"
    if value >= 0.1:
        return f"{value:.2f}"
    return f"{value:.3f}"


def fmt_seconds(value: float) -> str:
    return f"{value:.2f} s" if value >= 0.1 else f"{value * 1000:.1f} ms"


def fmt_spread(spread: Spread, fmt: Callable[[float], str] = fmt_ratio) -> str:
    """``low-high``, the unit (if any) said once: ``0.52-0.61 s``."""
    low, high = fmt(spread.low), fmt(spread.high)
    low_number, _, low_unit = low.partition(" ")
    high_number, _, high_unit = high.partition(" ")
    if low_unit and low_unit == high_unit:
        return f"{low_number}-{high_number} {high_unit}"
    return f"{low}-{high}"


def norm_ratios(
    sequence: Sequence[tuple[str, float]],
) -> dict[str, float]:
    """Each target's requests/s over the mean of the bare runs just before and after it.

    ``sequence`` is one round: ``("bare", rps), (key, rps), ("bare", rps), ...`` starting and
    ending with bare. A target next to only one bare run (malformed round) uses that one.
    """
    ratios: dict[str, float] = {}
    for i, (key, rps) in enumerate(sequence):
        if key == "bare":
            continue
        around = [
            sequence[j][1]
            for j in (i - 1, i + 1)
            if 0 <= j < len(sequence) and sequence[j][0] == "bare"
        ]
        if not around:
            raise ValueError(f"{key} has no bare run beside it")
        ceiling = sum(around) / len(around)
        ratios[key] = rps / ceiling if ceiling > 0 else 0.0
    return ratios


def round_ratios(targets: Sequence[Target], normed: dict[str, float]) -> dict[str, float]:
    """One round's ratio per target: ÷ bare, or ÷ its reference target (both normed by bare)."""
    out: dict[str, float] = {}
    for target in targets:
        if target.key not in normed:
            continue
        if target.reference == "bare":
            out[target.key] = normed[target.key]
        elif normed.get(target.reference):
            out[target.key] = normed[target.key] / normed[target.reference]
    return out


@dataclass(frozen=True)
class WrkResult:
    """What one wrk run says."""

    requests: int
    seconds: float
    rps: float
    non_2xx_3xx: int
    bad_status: int
    socket_errors: int


_DURATION_UNITS = {"us": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0}


def parse_wrk(output: str) -> WrkResult:
    """Read wrk's summary (and the ``bad_status N`` line our Lua script adds)."""
    done = re.search(r"(\d+) requests in ([\d.]+)(us|ms|s|m|h),", output)
    rate = re.search(r"Requests/sec:\s+([\d.]+)", output)
    if not done or not rate:
        raise ValueError(f"not wrk output: {output[:200]!r}")
    non_2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", output)
    bad = re.search(r"^bad_status (\d+)$", output, re.M)
    sockets = re.search(
        r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", output
    )
    return WrkResult(
        requests=int(done.group(1)),
        seconds=float(done.group(2)) * _DURATION_UNITS[done.group(3)],
        rps=float(rate.group(1)),
        non_2xx_3xx=int(non_2xx.group(1)) if non_2xx else 0,
        bad_status=int(bad.group(1)) if bad else 0,
        socket_errors=sum(int(n) for n in sockets.groups()) if sockets else 0,
    )


def format_table(header: Sequence[str], rows: Sequence[Sequence[str]], left: int = 1) -> str:
    """A plain-text table: the first ``left`` columns left-aligned, the rest right-aligned."""
    cells = [list(header), *(list(r) for r in rows)]
    widths = [max(len(line[i]) for line in cells) for i in range(len(header))]

    def line(values: Sequence[str]) -> str:
        return " | ".join(
            v.ljust(w) if i < left else v.rjust(w)
            for i, (v, w) in enumerate(zip(values, widths, strict=True))
        ).rstrip()

    out = [line(cells[0]), "-+-".join("-" * w for w in widths)]
    out += [line(r) for r in cells[1:]]
    return "\n".join(out)


def met(value: float | None, goal: float | None, *, at_most: bool = False) -> str:
    """ "yes" / "NO" against a goal ("—" when there is none or nothing was measured)."""
    if value is None or goal is None:
        return "—"
    ok = value <= goal if at_most else value >= goal
    return "yes" if ok else "NO"


def progress(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


# -- the database ------------------------------------------------------------------------------


def default_url(sizes: Sizes) -> str:
    url = os.environ.get("ROSTER_DATABASE_URL")
    if url:
        return url
    return f"sqlite:///{ROOT / 'instance' / f'bench-{sizes.tag}.db'}"


def facts_path(url: str, sizes: Sizes) -> Path:
    """Where the build's facts (build time) are kept, beside the cache."""
    from sqlalchemy.engine import make_url

    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite" and parsed.database:
        return Path(parsed.database).with_suffix(".json")
    name = re.sub(r"[^A-Za-z0-9_.-]+", "_", f"{parsed.host}-{parsed.port}-{parsed.database}")
    return ROOT / "instance" / f"bench-{parsed.get_backend_name()}-{name}-{sizes.tag}.json"


@dataclass
class Dataset:
    """The ids a run needs, found (or made) in the benchmark database."""

    owner_id: int
    admin_id: int
    big_org: int
    small_org: int
    built: str  # "built in N s" / "cached (built in N s)"
    build_seconds: float | None = None


def is_built(sizes: Sizes) -> bool:
    from sqlalchemy import inspect, select

    from webapp.extensions import db
    from webapp.models import Organization

    if "organizations" not in inspect(db.engine).get_table_names():
        return False
    count = db.session.scalar(
        select(Organization.member_count).where(Organization.organization_name == sizes.marker)
    )
    db.session.rollback()
    return count == sizes.big_org


def wipe(url: str, force: bool) -> None:
    """Empty the benchmark database, after checking it holds nothing but benchmark data."""
    from sqlalchemy import inspect, select, text

    from webapp.extensions import db
    from webapp.models import Organization

    tables = set(inspect(db.engine).get_table_names())
    if not force and "organizations" in tables:
        names = db.session.scalars(select(Organization.organization_name).limit(50_000)).all()
        db.session.rollback()
        foreign = sorted({n for n in names if not n.startswith(("Bench ", "Roster bench"))})
        if foreign:
            raise SystemExit(
                f"{url} holds organizations that are not benchmark data ({', '.join(foreign[:3])}"
                "...): give the benchmark a database of its own, or pass --force-wipe"
            )
    elif not force and tables - {"alembic_version"}:
        raise SystemExit(f"{url} has tables that are not Roster's; refusing to wipe it")
    db.session.remove()
    if db.engine.dialect.name == "postgresql":
        with db.engine.begin() as conn:
            conn.execute(text("DROP SCHEMA public CASCADE"))
            conn.execute(text("CREATE SCHEMA public"))
    else:
        db.engine.dispose()
        path = Path(db.engine.url.database or "")
        for suffix in ("", "-wal", "-shm"):
            Path(f"{path}{suffix}").unlink(missing_ok=True)
    db.engine.dispose()


def people(count: int, rare_every: int) -> Iterator[tuple[str, str]]:
    """Deterministic, unsorted addresses and names; no sort key follows the user id."""
    rng = random.Random(count)
    for i in range(count):
        first, last = rng.choice(FIRST), rng.choice(LAST)
        if i % rare_every == 7:
            first = RARE_FIRST.lower()
        tag = rng.getrandbits(32)
        yield f"{first}.{last}.{tag:08x}.{i}@bench.example", f"{last.title()} {first.title()} {i}"


@contextlib.contextmanager
def quick_commits() -> Iterator[None]:
    """While building on PostgreSQL, commits that do not wait for their WAL flush
    (``synchronous_commit = off`` on this process's connections only, never the database's
    setting). The same rows are written; a crash mid-build can lose the last commits, and the
    marker, written last, is then missing, so the next run rebuilds."""
    from sqlalchemy import event

    from webapp.extensions import db

    engine = db.engine
    if engine.dialect.name != "postgresql":
        yield
        return

    def asynchronous(dbapi_connection, _record):  # type: ignore[no-untyped-def]
        cursor = dbapi_connection.cursor()
        cursor.execute("SET synchronous_commit TO OFF")
        cursor.close()
        dbapi_connection.commit()

    db.session.remove()
    engine.dispose()
    event.listen(engine, "connect", asynchronous)
    try:
        yield
    finally:
        db.session.remove()
        event.remove(engine, "connect", asynchronous)
        engine.dispose()


ROLES_CYCLE = ("VIEWER", "CONTRIBUTOR", "ACCOUNTING", "ADMIN", "VIEWER")
OWNER_ADDED_AS = ("ADMIN", "CONTRIBUTOR", "ACCOUNTING", "VIEWER")


def build(sizes: Sizes) -> Dataset:
    """The dataset, through the services only: users in batches, organizations one by one,
    members in set-based batches of at most 10,000; the big organization renamed last."""
    from webapp.extensions import db
    from webapp.models import Role, User, Via
    from webapp.services import members, organizations, users

    started = time.perf_counter()

    def say(what: str) -> None:
        progress(f"  build {time.perf_counter() - started:7.1f} s  {what}")

    owner = users.create_user(OWNER_EMAIL, "Bench Owner", PASSWORD, via=Via.CLI)
    admin = users.create_user(ADMIN_EMAIL, "Bench Admin", PASSWORD, via=Via.CLI)
    everyone = list(people(sizes.users - 2, max(1, sizes.users // 20)))
    pool: list[int] = []
    for start in range(0, len(everyone), BATCH):
        pool += users.create_users(everyone[start : start + BATCH], via=Via.CLI)
    del everyone
    say(f"{sizes.users:,} users")

    big = organizations.create_organization(owner, BIG_BUILDING, via=Via.CLI)
    members.add_members(owner, big.id, [admin.id], role=Role.ADMIN, via=Via.CLI)
    big_members = pool[: sizes.big_org - 2]
    for n, start in enumerate(range(0, len(big_members), BATCH)):
        members.add_members(
            owner,
            big.id,
            big_members[start : start + BATCH],
            role=Role[ROLES_CYCLE[n % len(ROLES_CYCLE)]],
            is_active=n % 3 != 2,
            via=Via.CLI,
        )
    say(f"big organization of {sizes.big_org:,}")

    rng = random.Random(sizes.memberships)
    owner_created = sizes.owner_orgs // 2 - 1  # besides the big one
    owner_added = sizes.owner_orgs - 1 - owner_created
    small_org = 0
    for k, size in enumerate(sizes.small_org_sizes()):
        if k < owner_created:
            creator = owner
        else:
            creator_user = db.session.get(User, pool[k % len(pool)])
            assert creator_user is not None
            creator = creator_user
        name = (
            SMALL_ORG
            if k == 0
            else f"Bench {ADJECTIVES[k % len(ADJECTIVES)]} "
            f"{NOUNS[(k // len(ADJECTIVES)) % len(NOUNS)]} {k:05d}"
        )
        org = organizations.create_organization(creator, name, via=Via.CLI)
        if k == 0:
            small_org = org.id
        wanted = size - 1
        if owner_created <= k < owner_created + owner_added:
            role = Role[OWNER_ADDED_AS[k % len(OWNER_ADDED_AS)]]
            members.add_members(creator, org.id, [owner.id], role=role, via=Via.CLI)
            wanted -= 1
        others = [u for u in rng.sample(pool, wanted + 1) if u != creator.id][:wanted]
        if others:
            members.add_members(
                creator,
                org.id,
                others,
                role=Role[ROLES_CYCLE[k % len(ROLES_CYCLE)]],
                is_active=k % 7 != 3,
                via=Via.CLI,
            )
        if k % 1000 == 999:
            db.session.remove()
            say(f"{k + 2:,} organizations")
    organizations.rename_organization(owner, big.id, sizes.marker, via=Via.CLI)
    seconds = time.perf_counter() - started
    say("done")
    db.session.remove()
    return Dataset(
        owner_id=owner.id,
        admin_id=admin.id,
        big_org=big.id,
        small_org=small_org,
        built=f"built in {seconds:.0f} s",
        build_seconds=seconds,
    )


def find_dataset(sizes: Sizes) -> Dataset:
    """The ids of a dataset built earlier."""
    from sqlalchemy import select

    from webapp.extensions import db
    from webapp.models import Organization, User

    def one(stmt: Any) -> int:
        value = db.session.scalar(stmt)
        if value is None:
            raise SystemExit("the cached dataset is incomplete; run with --rebuild")
        return int(value)

    found = Dataset(
        owner_id=one(select(User.id).where(User.email == OWNER_EMAIL)),
        admin_id=one(select(User.id).where(User.email == ADMIN_EMAIL)),
        big_org=one(select(Organization.id).where(Organization.organization_name == sizes.marker)),
        small_org=one(select(Organization.id).where(Organization.organization_name == SMALL_ORG)),
        built="cached",
    )
    db.session.rollback()
    return found


def refresh_statistics() -> float:
    """ANALYZE (SQLite) or VACUUM ANALYZE (PostgreSQL), then SQLite's WAL checkpoint; the
    seconds it took."""
    from bench_member_pages import analyze  # beside this script, on the path when it runs

    from webapp.extensions import db

    started = time.perf_counter()
    analyze()
    if db.engine.dialect.name != "postgresql":
        raw = db.engine.raw_connection()  # outside a transaction, which a checkpoint needs
        try:
            raw.cursor().execute("PRAGMA wal_checkpoint(TRUNCATE)")
        finally:
            raw.close()
    return time.perf_counter() - started


def dataset_facts(data: Dataset) -> dict[str, int]:
    """What the database holds, counted (not assumed)."""
    from sqlalchemy import func, select

    from webapp.extensions import db
    from webapp.models import Membership, Organization, User

    def count(stmt: Any) -> int:
        return int(db.session.scalar(stmt) or 0)

    def orgs_of(user_id: int) -> int:
        return count(
            select(func.count()).select_from(Membership).where(Membership.user_id == user_id)
        )

    def size_of(org_id: int) -> int:
        return count(select(Organization.member_count).where(Organization.id == org_id))

    facts = {
        "users": count(select(func.count()).select_from(User)),
        "organizations": count(select(func.count()).select_from(Organization)),
        "memberships": count(select(func.count()).select_from(Membership)),
        "big org members": size_of(data.big_org),
        "small org members": size_of(data.small_org),
        "owner's organizations": orgs_of(data.owner_id),
        "admin's organizations": orgs_of(data.admin_id),
    }
    db.session.rollback()
    return facts


# -- in-process: statements and bulk timings (T7-T9) ----------------------------------------

_NOT_COUNTED = re.compile(r"^\s*(BEGIN|COMMIT|ROLLBACK|PRAGMA|SAVEPOINT|RELEASE)\b", re.I)


@contextlib.contextmanager
def capturing_statements(engine: Any) -> Iterator[list[tuple[str, Any, bool]]]:
    """The statements ``engine`` runs inside the block with their DBAPI parameters, and whether
    psycopg prepared each (``transactions.runs_prepared``)."""
    from sqlalchemy import event

    from webapp.services.transactions import runs_prepared

    log: list[tuple[str, Any, bool]] = []

    def before(conn, cursor, statement, parameters, context, executemany):  # type: ignore[no-untyped-def]
        if not _NOT_COUNTED.match(statement):
            log.append((statement, parameters, runs_prepared(cursor, context)))

    event.listen(engine, "before_cursor_execute", before)
    try:
        yield log
    finally:
        event.remove(engine, "before_cursor_execute", before)


@contextlib.contextmanager
def counting_statements(engine: Any) -> Iterator[list[str]]:
    """The statements ``engine`` runs inside the block, each execute / executemany once (as
    tests/conftest.py's ``count_statements``).

    Test-client requests are made outside any app context of ours: a request reuses an app
    context it finds, and with it the database session, which it then does not end.
    """
    from sqlalchemy import event

    log: list[str] = []

    def before(conn, cursor, statement, parameters, context, executemany):  # type: ignore[no-untyped-def]
        if not _NOT_COUNTED.match(statement):
            log.append(statement)

    event.listen(engine, "before_cursor_execute", before)
    try:
        yield log
    finally:
        event.remove(engine, "before_cursor_execute", before)


def engine_of(app: Any) -> Any:
    """The app's SQLAlchemy engine, to listen on outside an app context."""
    from webapp.extensions import db

    with app.app_context():
        return db.engine


@dataclass
class BulkResult:
    """Statements (first run) and seconds (every run) of one bulk operation at one N."""

    op: str
    n: int
    statements: int = 0
    seconds: list[float] = field(default_factory=list)
    error: str | None = None


def has_remove_route(app: Any) -> bool:
    """Whether the API has DESIGN §9's ``POST .../users/remove``."""
    return any(
        rule.rule.endswith("/users/remove") and "POST" in (rule.methods or ())
        for rule in app.url_map.iter_rules()
    )


def run_bulk(
    app: Any, token: str, owner_id: int, sizes: Sizes, repeats: int
) -> tuple[list[BulkResult], str]:
    """T7-T9 through the API in-process, on a scratch organization deleted afterwards.

    Each repeat adds, updates (VIEWER → CONTRIBUTOR) and removes N ids for every N; the
    statements are counted on the first repeat. Returns the results and how removal was sent.
    """
    from sqlalchemy import select

    from webapp.extensions import db
    from webapp.models import Organization, User, Via
    from webapp.services import organizations

    client = app.test_client()
    engine = engine_of(app)
    auth = {"Authorization": f"Bearer {token}"}
    remove_by_post = has_remove_route(app)
    how = "POST .../users/remove (JSON body)" if remove_by_post else "DELETE .../users/{ids}"
    big_n = sizes.bulk_n
    sizes_n = sorted({1, 100, max(1, big_n // 10), big_n})
    with app.app_context():
        owner = db.session.get(User, owner_id)
        leftovers = db.session.scalars(
            select(Organization.id).where(Organization.organization_name == SCRATCH_ORG)
        ).all()
        for org_id in leftovers:
            organizations.delete_organization(owner, org_id, via=Via.CLI)
        ids = list(
            db.session.scalars(
                select(User.id)
                .where(User.email.not_in([OWNER_EMAIL, ADMIN_EMAIL]))
                .order_by(User.id.desc())
                .limit(big_n)
            )
        )
        db.session.remove()
    made = client.post("/api/organizations", json={"organization_name": SCRATCH_ORG}, headers=auth)
    if made.status_code != 201:
        raise SystemExit(f"creating the scratch organization: {made.status_code} {made.text}")
    scratch = made.get_json()["id"]
    base = f"/api/organizations/{scratch}/users"

    def add(chosen: list[int]) -> Any:
        return client.post(base, json={"user_ids": chosen, "role": "VIEWER"}, headers=auth)

    def update(chosen: list[int]) -> Any:
        return client.put(base, json={"user_ids": chosen, "role": "CONTRIBUTOR"}, headers=auth)

    def remove(chosen: list[int]) -> Any:
        if remove_by_post:
            return client.post(f"{base}/remove", json={"user_ids": chosen}, headers=auth)
        return client.delete(f"{base}/{','.join(map(str, chosen))}", headers=auth)

    results = {(op, n): BulkResult(op, n) for n in sizes_n for op in ("add", "update", "remove")}
    try:
        for repeat in range(repeats):
            for n in sizes_n:
                chosen = ids[:n]
                for op, call, ok in (
                    ("add", add, 200),
                    ("update", update, 200),
                    ("remove", remove, 204),
                ):
                    result = results[(op, n)]
                    with counting_statements(engine) as log:
                        started = time.perf_counter()
                        answer = call(chosen)
                        elapsed = time.perf_counter() - started
                    if answer.status_code != ok:
                        result.error = (
                            f"{answer.status_code}: {answer.get_data(as_text=True)[:200]}"
                        )
                        raise RuntimeError(f"{op} {n}: {result.error}")
                    if repeat == 0:
                        result.statements = len(log)
                    result.seconds.append(elapsed)
            progress(f"  bulk repeat {repeat + 1}/{repeats} done")
    except RuntimeError as error:
        progress(f"  bulk stopped: {error}")
    finally:
        gone = client.delete(f"/api/organizations/{scratch}", headers=auth)
        if gone.status_code != 204:
            progress(f"  could not delete the scratch organization: {gone.status_code}")
    return list(results.values()), how


def request_statements(
    app: Any, path: str, headers: dict[str, str]
) -> tuple[int, list[tuple[str, Any, bool]]]:
    """(status, statements with their parameters, prepared or not) of one GET in-process, with
    the same credentials as under load."""
    client = app.test_client()
    headers = dict(headers)
    cookie = headers.pop("Cookie", None)
    if cookie is not None:  # the test client sends its own jar's cookies, not a Cookie header
        name, _, value = cookie.partition("=")
        client.set_cookie(name, value)
    with capturing_statements(engine_of(app)) as log:
        answer = client.get(path, headers=headers)
    return answer.status_code, log


# -- serving and load ----------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Served:
    """A gunicorn server this script started (and stops)."""

    name: str
    port: int
    process: subprocess.Popen[bytes]
    log: Path

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def start_server(
    name: str, app: str, worker: str, threads: int, env: dict[str, str], logs: Path
) -> Served:
    """Roster (``roster serve`` itself with the roster worker) or the bare app, on a free port."""
    port = free_port()
    bind = f"127.0.0.1:{port}"
    roster_cmd = Path(sys.executable).with_name("roster")
    if app == "roster" and worker == "roster" and roster_cmd.exists():
        cmd = [
            str(roster_cmd),
            "serve",
            "--bind",
            bind,
            "--workers",
            "1",
            "--threads",
            str(threads),
        ]
    else:
        cmd = [
            sys.executable,
            str(ROOT / "scripts" / "bench_bare_app.py"),
            "--app",
            app,
            "--bind",
            bind,
            "--worker",
            worker,
            "--threads",
            str(threads),
        ]
    log = logs / f"{name}.log"
    with log.open("wb") as err:
        process = subprocess.Popen(
            cmd, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=err, start_new_session=True
        )
    served = Served(name, port, process, log)
    ready = "/healthz" if app == "roster" else "/"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"{name} exited: {log.read_text()[-2000:]}")
        with contextlib.suppress(OSError):
            if fetch(port, "GET", ready)[0] == 200:
                return served
        time.sleep(0.2)
    served.stop()
    raise SystemExit(f"{name} did not answer on {bind} within 60 s: {log.read_text()[-2000:]}")


def fetch(
    port: int,
    method: str,
    path: str,
    headers: dict[str, str] | None = None,
    body: bytes | None = None,
) -> tuple[int, http.client.HTTPMessage, bytes]:
    """One HTTP request; (status, headers, body). No redirects followed."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
    try:
        conn.request(method, path, body=body, headers=headers or {})
        answer = conn.getresponse()
        return answer.status, answer.headers, answer.read()
    finally:
        conn.close()


def _session_cookie(headers: http.client.HTTPMessage) -> str | None:
    for value in headers.get_all("Set-Cookie") or []:
        pair = value.split(";", 1)[0].strip()
        if pair.startswith("session="):
            return pair
    return None


def sign_in(port: int, email: str) -> str:
    """Sign in through the login form; the ``session=...`` cookie to send."""
    status, headers, body = fetch(port, "GET", "/login")
    cookie = _session_cookie(headers)
    found = re.search(rb'<meta name="csrf-token" content="([^"]+)"', body)
    if status != 200 or cookie is None or found is None:
        raise SystemExit(f"GET /login: {status}, no CSRF token or session cookie")
    form = urllib.parse.urlencode(
        {"email": email, "password": PASSWORD, "csrf_token": html.unescape(found.group(1).decode())}
    ).encode()
    status, headers, _ = fetch(
        port,
        "POST",
        "/login",
        {"Content-Type": "application/x-www-form-urlencoded", "Cookie": cookie},
        form,
    )
    signed_in = _session_cookie(headers)
    if status != 302 or signed_in is None:
        raise SystemExit(f"POST /login as {email}: {status}")
    return signed_in


WRK_SCRIPT = """
local threads = {}
function setup(thread) table.insert(threads, thread) end
function init(args) bad = 0 end
function response(status, headers, body) if status ~= 200 then bad = bad + 1 end end
function done(summary, latency, requests)
  local total = 0
  for _, t in ipairs(threads) do total = total + t:get("bad") end
  io.write(string.format("bad_status %d\\n", total))
end
"""


@dataclass(frozen=True)
class LoadSettings:
    duration: float
    warmup: float
    connections: int
    wrk_threads: int
    rounds: int


def run_wrk(
    url: str, headers: dict[str, str], seconds: float, settings: LoadSettings, script: Path
) -> WrkResult:
    cmd = [
        "wrk",
        f"-t{settings.wrk_threads}",
        f"-c{settings.connections}",
        f"-d{max(1, round(seconds))}s",
        "--timeout",
        "30s",
        "-s",
        str(script),
    ]
    for name, value in headers.items():
        cmd += ["-H", f"{name}: {value}"]
    done = subprocess.run([*cmd, url], capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"wrk failed: {done.stderr or done.stdout}")
    return parse_wrk(done.stdout)


@dataclass
class Measured:
    """A target's rounds."""

    target: Target
    rps: list[float] = field(default_factory=list)
    ratios: list[float] = field(default_factory=list)
    bare_ratios: list[float] = field(default_factory=list)
    bad: int = 0
    bytes: int = 0
    statements: int | None = None
    skipped: str | None = None


def drain(port: int) -> float:
    """Wait until the server has answered what wrk left queued; the seconds it took.

    wrk stops at its deadline, but a worker keeps serving the requests already sent (a slow
    page leaves up to one per connection, and each takes its full time). The next run must not
    start behind them, so a cheap request is sent and waited for: it is answered last.
    """
    started = time.perf_counter()
    fetch(port, "GET", "/healthz")
    return time.perf_counter() - started


def load_rounds(
    bare_port: int,
    roster_port: int,
    targets: list[Target],
    headers: dict[str, dict[str, str]],
    settings: LoadSettings,
    measured: dict[str, Measured],
    workdir: Path,
    floor_port: int | None = None,
) -> list[float]:
    """Warm every URL up, then ``rounds`` rounds of bare, T, bare, T', bare, ...; the order of
    the targets rotates each round; after each Roster run the server is drained (``drain``)
    before the next run starts. Fills ``measured``; returns bare's requests/s."""
    script = workdir / "count_status.lua"
    script.write_text(WRK_SCRIPT)
    bare_url = f"http://127.0.0.1:{bare_port}/"
    live = [t for t in targets if measured[t.key].skipped is None]
    progress(f"load: warming up {len(live) + 1} URLs, {settings.warmup:g} s each")
    run_wrk(bare_url, {}, settings.warmup, settings, script)

    def port_of(t: Target) -> int:
        if t.server == "floor":
            if floor_port is None:
                raise ValueError(f"{t.key} needs the floor app")
            return floor_port
        return roster_port

    for t in live:
        run_wrk(
            f"http://127.0.0.1:{port_of(t)}{t.path}",
            headers[t.key],
            settings.warmup,
            settings,
            script,
        )
        drain(port_of(t))
    bare_rps: list[float] = []
    for r in range(settings.rounds):
        shift = r % len(live)
        order = live[shift:] + live[:shift]
        sequence: list[tuple[str, float]] = []
        first = run_wrk(bare_url, {}, settings.duration, settings, script)
        sequence.append(("bare", first.rps))
        bare_rps.append(first.rps)
        for t in order:
            got = run_wrk(
                f"http://127.0.0.1:{port_of(t)}{t.path}",
                headers[t.key],
                settings.duration,
                settings,
                script,
            )
            m = measured[t.key]
            m.rps.append(got.rps)
            m.bad += got.bad_status + got.socket_errors
            sequence.append((t.key, got.rps))
            waited = drain(port_of(t))
            if waited > 1:
                progress(f"    {t.key}: {got.requests} requests, then {waited:.1f} s to drain")
            after = run_wrk(bare_url, {}, settings.duration, settings, script)
            sequence.append(("bare", after.rps))
            bare_rps.append(after.rps)
        normed = norm_ratios(sequence)
        this_round = round_ratios(live, normed)
        for key, value in this_round.items():
            measured[key].ratios.append(value)
        for key, value in normed.items():
            measured[key].bare_ratios.append(value)
        progress(
            f"  round {r + 1}/{settings.rounds}: bare {statistics.median(bare_rps):.0f} req/s; "
            + ", ".join(
                f"{t.key} {fmt_ratio(this_round[t.key]) if t.key in this_round else '—'}"
                for t in live
            )
        )
    return bare_rps


def delete_probe(
    port: int, headers: dict[str, str], org_id: int, ids: list[int], not_member: int
) -> tuple[int, int]:
    """The DELETE form's reach through the server: the most ids (at this width) whose request
    reaches the app, and the status for 10,000 (or all ``ids``).

    Every probe lists ``not_member`` first, so a request that reaches the app is refused whole
    (422) and changes nothing.
    """

    def status(n: int) -> int:
        listed = ",".join(map(str, [not_member, *ids[: n - 1]]))
        return fetch(port, "DELETE", f"/api/organizations/{org_id}/users/{listed}", headers)[0]

    at_most = status(len(ids))
    if at_most not in (414, 431, 400):
        return len(ids), at_most
    low, high = 1, len(ids)  # status(low) reaches the app, status(high) does not
    while high - low > 1:
        mid = (low + high) // 2
        if status(mid) in (414, 431, 400):
            high = mid
        else:
            low = mid
    return low, at_most


# -- the report ----------------------------------------------------------------------------


def load_rows(measured: dict[str, Measured], targets: list[Target]) -> list[list[str]]:
    rows = []
    for t in targets:
        m = measured[t.key]
        if m.skipped or not m.ratios:
            rows.append([t.label, _goal(t), "—", "—", "not measured: " + (m.skipped or "no data")])
            continue
        spread = Spread.of(m.ratios)
        rows.append(
            [
                t.label,
                _goal(t),
                fmt_ratio(spread.median),
                fmt_spread(spread),
                met(spread.median, t.goal),
                f"{statistics.median(m.rps):.0f}",
                fmt_ratio(statistics.median(m.bare_ratios)),
                f"{m.bytes:,}",
                "—" if m.statements is None else str(m.statements),
                str(m.bad),
            ]
        )
    return rows


def _goal(t: Target) -> str:
    return "info" if t.goal is None else f"≥ {t.goal:g}"


REFUSED_BY_SERVER = (400, 414, 431)  # gunicorn's own answers to a request line it will not read


def bulk_rows(
    results: list[BulkResult],
    sizes: Sizes,
    postgres: bool,
    how_removed: str,
    served_status: int | None = None,
) -> list[list[str]]:
    """T7-T9 rows of the main table.

    The bulk requests run in-process, where no request line is too long. ``served_status`` is
    what the server answered when the same DELETE of ``bulk_n`` ids was sent to it (``None``:
    not tried); a refusal there makes the removal row's goal unmet, whatever the time.
    """
    by = {(r.op, r.n): r for r in results}
    big = sizes.bulk_n
    small = max(1, big // 10)
    rows: list[list[str]] = []
    for op in ("add", "update", "remove"):
        runs = [by[(op, n)] for n in (1, 100, big) if (op, n) in by]
        counts = [r.statements for r in runs if r.seconds]
        failed = next((r.error for r in runs if r.error), None)
        worst = max(counts) if counts else None
        rows.append(
            [
                f"T7 statements per bulk {op}, N = 1 / 100 / {big:,}",
                f"≤ {T7_GOAL}",
                " / ".join(map(str, counts)) or "—",
                "constant" if len(set(counts)) == 1 else "varies with N",
                f"NO: {failed[:40]}" if failed else met(worst, T7_GOAL, at_most=True),
            ]
        )
    goal8 = T8_GOAL_S[postgres]
    add_big, add_small = by.get(("add", big)), by.get(("add", small))
    if add_big and add_big.seconds:
        s = Spread.of(add_big.seconds)
        rows.append(
            [
                f"T8 add {big:,} ids, one request",
                f"≤ {goal8:g} s",
                fmt_seconds(s.median),
                fmt_spread(s, fmt_seconds),
                met(s.median, goal8, at_most=True),
            ]
        )
    if add_big and add_small and add_big.seconds and add_small.seconds:
        pairs = [b / a for a, b in zip(add_small.seconds, add_big.seconds, strict=False)]
        s = Spread.of(pairs)
        rows.append(
            [
                f"T8 t({big:,}) / t({small:,}), add",
                f"≤ {T8_RATIO_GOAL:g}",
                fmt_ratio(s.median),
                fmt_spread(s),
                met(s.median, T8_RATIO_GOAL, at_most=True),
            ]
        )
    goal9 = T9_GOAL_S[postgres]
    by_delete = how_removed.startswith("DELETE")
    refused = by_delete and served_status in REFUSED_BY_SERVER
    removal = "DELETE, ids in the path" if by_delete else "POST .../remove"
    for op, label in (("update", "update"), ("remove", f"remove ({removal})")):
        r = by.get((op, big))
        if r and r.seconds:
            s = Spread.of(r.seconds)
            verdict = met(s.median, goal9, at_most=True)
            if op == "remove" and refused:
                verdict = f"NO: server {served_status}"
            elif op == "remove" and by_delete and served_status is None:
                verdict += " (server not tried)"
            rows.append(
                [
                    f"T9 {label}, {big:,} ids",
                    f"≤ {goal9:g} s",
                    fmt_seconds(s.median),
                    fmt_spread(s, fmt_seconds),
                    verdict,
                ]
            )
    for op, n in ((op, n) for op in ("add", "update", "remove") for n in (small, big)):
        r = by.get((op, n))
        if r and r.error and not r.seconds:
            rows.append([f"{op} {n:,} ids", "", "—", "—", f"not measured: {r.error[:60]}"])
    return rows


def bulk_detail(results: list[BulkResult]) -> str:
    rows = []
    for r in sorted(results, key=lambda r: (("add", "update", "remove").index(r.op), r.n)):
        s = Spread.of(r.seconds) if r.seconds else None
        rows.append(
            [
                r.op,
                f"{r.n:,}",
                str(r.statements) if r.seconds else "—",
                fmt_seconds(s.median) if s else "—",
                fmt_spread(s, fmt_seconds) if s else "—",
                str(len(r.seconds)),
                r.error or "",
            ]
        )
    return format_table(
        ["operation", "N", "statements", "median", "min-max", "runs", "error"], rows, left=1
    )


# -- the targets, and what was measured ------------------------------------------------------


def make_targets(
    data: Dataset, page0: dict[str, Any], facts: dict[str, int], *, by_cursor: bool = False
) -> list[Target]:
    """Issue 9's load rows, from what page 0 of the big organization says of itself.

    T13's goal sits on the ``page_number`` rows unless the deep pages are measured by cursor
    (``by_cursor``, see ``cursor_targets``); then those rows are shown for information."""
    deep_goal = None if by_cursor else 0.9
    big = f"/api/organizations/{data.big_org}"
    pages = int(page0["total_pages"])
    middle, last = (pages - 1) // 2, pages - 1
    members = f"/orgs/{data.big_org}/members?page_size=50"
    owner_orgs = facts["owner's organizations"]
    small_total = facts["small org members"]
    return [
        Target("T1", "T1 JSON member page 0 (25 rows) ÷ bare", f"{big}/users", "token", goal=0.20),
        Target(
            "T5a", "T5 50-row HTML members page ÷ bare, admin in 1 org", members, "admin", goal=0.08
        ),
        Target("T5b", f"T5 same page, owner in {owner_orgs:,} orgs", members, "owner", goal=0.08),
        Target(
            "T10",
            f"T10 summary of the {facts['big org members']:,}-member org ÷ bare",
            f"{big}/summary",
            "token",
            goal=0.20,
        ),
        Target(
            "T11",
            f"T11 GET /api/organizations, owner in {owner_orgs:,} orgs ÷ bare",
            "/api/organizations",
            "token",
            goal=0.05,
        ),
        Target(
            "T12f",
            f"T12 q={Q_FEW} (few) ÷ unfiltered page 0",
            f"{big}/users?q={Q_FEW}",
            "token",
            "T1",
            0.5,
        ),
        Target(
            "T12m",
            f"T12 q={Q_MANY} (many) ÷ unfiltered page 0",
            f"{big}/users?q={Q_MANY}",
            "token",
            "T1",
            0.5,
        ),
        Target(
            "T13m",
            f"T13 middle page ({middle:,}) by page_number ÷ page 0",
            f"{big}/users?page_number={middle}",
            "token",
            "T1",
            deep_goal,
        ),
        Target(
            "T13l",
            f"T13 last page ({last:,}) by page_number ÷ page 0",
            f"{big}/users?page_number={last}",
            "token",
            "T1",
            deep_goal,
        ),
        Target(
            "S80",
            f"page 0 of the {small_total}-member org ÷ big org's page 0",
            f"/api/organizations/{data.small_org}/users",
            "token",
            "T1",
            None,
        ),
    ]


FLOORED = ("T1", "T5a", "T10", "T11", "T12f", "T12m")
"""Targets whose SQL the floor app replays: the JSON rows below goal, and the HTML page."""


def floor_target(target: Target) -> Target:
    """The floor row of ``target``: its own statements, replayed without Roster, ÷ bare."""
    return Target(
        f"F{target.key}",
        f"floor of {target.key}: its SQL alone, no Roster code ÷ bare",
        f"/{target.key}",
        "none",
        server="floor",
    )


def cursor_targets(port: int, data: Dataset, token_headers: dict[str, str]) -> list[Target]:
    """T13 by keyset, when the API answers ``next_cursor`` (DESIGN §4): the cursor that leads
    to the middle page and to the last page, found from the pages before them."""
    big = f"/api/organizations/{data.big_org}/users"
    status, _, body = fetch(port, "GET", big, token_headers)
    page0 = json.loads(body)
    if status != 200 or "next_cursor" not in page0:
        return []
    pages = int(page0["total_pages"])
    found: list[Target] = []
    for key, label, page in (("T13cm", "middle", (pages - 1) // 2), ("T13cl", "last", pages - 1)):
        before = max(page - 1, 0)
        _, _, body = fetch(port, "GET", f"{big}?page_number={before}", token_headers)
        cursor = json.loads(body).get("next_cursor")
        if not cursor:
            progress(f"  no next_cursor on page {before}: cursor {label} page not measured")
            continue
        path = f"{big}?cursor={urllib.parse.quote(str(cursor), safe='')}"
        found.append(
            Target(key, f"T13 cursor to the {label} page ÷ page 0", path, "token", "T1", 0.9)
        )
    return found


def versions() -> dict[str, str]:
    """Versions and the commit measured."""
    from importlib.metadata import version

    from sqlalchemy import text

    from webapp.extensions import db

    with db.engine.connect() as conn:
        if db.engine.dialect.name == "postgresql":
            server = conn.execute(text("SHOW server_version")).scalar_one()
            database = f"PostgreSQL {server}"
        else:
            database = f"SQLite {conn.exec_driver_sql('select sqlite_version()').scalar_one()}"
    wrk = subprocess.run(["wrk", "--version"], capture_output=True, text=True, check=False)
    commit = subprocess.run(
        ["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"],
        capture_output=True,
        text=True,
        check=False,
    ).stdout.strip()
    dirty = subprocess.run(
        ["git", "-C", str(ROOT), "status", "--porcelain", "--untracked-files=no", "webapp"],
        capture_output=True,
        text=True,
        check=False,
    ).stdout.strip()
    return {
        "database": database,
        "python": sys.version.split()[0],
        "gunicorn": version("gunicorn"),
        "flask": version("flask"),
        "sqlalchemy": version("sqlalchemy"),
        "wrk": (wrk.stdout or wrk.stderr).split("[")[0].removeprefix("wrk").strip() or "?",
        "commit": commit + (" + uncommitted changes in webapp/" if dirty else ""),
    }


@dataclass
class Prepared:
    """The dataset, ready to measure, and the facts the report gives about it."""

    data: Dataset
    facts: dict[str, int]
    migrate_seconds: float
    analyze_seconds: float
    versions: dict[str, str]


def prepare(app: Any, sizes: Sizes, url: str, rebuild: bool, force_wipe: bool) -> Prepared:
    """Build the dataset if it is not cached; migrate to head; refresh planner statistics."""
    from flask_migrate import upgrade

    from webapp.extensions import db

    shown = _shown(url)
    facts_file = facts_path(url, sizes)
    directory = app.extensions["migrate"].directory
    with app.app_context():
        started = time.perf_counter()
        if rebuild or not is_built(sizes):
            progress(f"building the dataset in {shown}: {sizes}")
            load = round(os.getloadavg()[0], 1)
            wipe(shown, force_wipe)
            upgrade(directory=directory)
            migrate_seconds = time.perf_counter() - started
            with quick_commits():
                data = build(sizes)
            data.built += f", load average {load} at the start"
            facts_file.parent.mkdir(parents=True, exist_ok=True)
            facts_file.write_text(
                json.dumps(
                    {
                        "build_seconds": data.build_seconds,
                        "load_average": load,
                        "url": shown,
                        "sizes": str(sizes),
                    }
                )
            )
        else:
            upgrade(directory=directory)
            migrate_seconds = time.perf_counter() - started
            data = find_dataset(sizes)
            recorded = json.loads(facts_file.read_text()) if facts_file.exists() else {}
            data.build_seconds = recorded.get("build_seconds")
            if data.build_seconds:
                data.built = (
                    f"cached (built in {data.build_seconds:.0f} s, load average "
                    f"{recorded.get('load_average')} at the start)"
                )
        progress(f"dataset {data.built}; refreshing planner statistics")
        analyze_seconds = refresh_statistics()
        facts = dataset_facts(data)
        progress("dataset: " + ", ".join(f"{k} {v:,}" for k, v in facts.items()))
        about = versions()
        db.session.remove()
    return Prepared(data, facts, migrate_seconds, analyze_seconds, about)


@contextlib.contextmanager
def run_token(app: Any, owner_id: int) -> Iterator[str]:
    """A Bearer token of the owner for this run, revoked afterwards."""
    from webapp.extensions import db
    from webapp.models import User, Via
    from webapp.services import tokens

    with app.app_context():
        owner = db.session.get(User, owner_id)
        assert owner is not None
        row, text = tokens.create_token(owner, "bench run", via=Via.CLI)
        token_id = row.id
        db.session.remove()
    try:
        yield text
    finally:
        with app.app_context():
            owner = db.session.get(User, owner_id)
            assert owner is not None
            tokens.revoke_token(owner, token_id, via=Via.CLI)
            db.session.remove()


@dataclass
class LoadOutcome:
    """What the load phase measured."""

    targets: list[Target] = field(default_factory=list)
    measured: dict[str, Measured] = field(default_factory=dict)
    bare_rps: list[float] = field(default_factory=list)
    probe: tuple[int, int, int] | None = None  # ids that fit, status for bulk_n ids, digits
    load_average: tuple[float, float] = (0.0, 0.0)
    deep_pages: str = ""  # how T13 reached the deep pages
    profiles: list[Any] = field(default_factory=list)  # bench_profile.Profiled, --profile


def measure_load(
    app: Any,
    prepared: Prepared,
    sizes: Sizes,
    url: str,
    token: str,
    args: argparse.Namespace,
) -> LoadOutcome:
    """Serve Roster and the bare app, sign in, check every URL answers 200, count each one's
    statements in-process, run the rounds, then probe the DELETE form's reach."""
    from sqlalchemy import select

    from webapp.extensions import db
    from webapp.models import User

    data = prepared.data
    settings = LoadSettings(
        args.duration, args.warmup, args.connections, args.wrk_threads, args.rounds
    )
    # PYTHONPATH: the servers import this checkout's webapp, not whichever one the virtualenv's
    # editable install points at (a git worktree shares its main checkout's venv).
    env = dict(os.environ, ROSTER_ENV="production", ROSTER_DATABASE_URL=url, PYTHONPATH=str(ROOT))
    env.pop("ROSTER_REDIS_URL", None)  # one worker either way; no shared state needed
    outcome = LoadOutcome()
    servers: list[Served] = []
    with tempfile.TemporaryDirectory(prefix="roster-bench-") as tmp:
        workdir = Path(tmp)
        try:
            progress(f"serving Roster and the bare app, one {args.worker} worker each")
            for name in ("roster", "bare"):
                servers.append(start_server(name, name, args.worker, args.threads, env, workdir))
            roster, bare = servers
            token_headers = {"Authorization": f"Bearer {token}"}
            headers = {
                "token": token_headers,
                "owner": {"Cookie": sign_in(roster.port, OWNER_EMAIL)},
                "admin": {"Cookie": sign_in(roster.port, ADMIN_EMAIL)},
            }
            big_page = f"/api/organizations/{data.big_org}/users"
            status, _, body = fetch(roster.port, "GET", big_page, token_headers)
            if status != 200:
                raise SystemExit(f"GET {big_page}: {status} {body[:300]!r}")
            by_cursor = cursor_targets(roster.port, data, token_headers)
            targets = make_targets(
                data, json.loads(body), prepared.facts, by_cursor=bool(by_cursor)
            )
            targets += by_cursor
            outcome.deep_pages = (
                "by cursor (the API's MemberPage has next_cursor); page_number rows for information"
                if by_cursor
                else "by page_number (the API's MemberPage has no next_cursor)"
            )
            by_key = {t.key: headers[t.auth] for t in targets}
            measured = {t.key: Measured(t) for t in targets}
            replay: dict[str, list[tuple[str, Any, bool]]] = {}
            for t in targets:
                m = measured[t.key]
                status, _, body = fetch(roster.port, "GET", t.path, by_key[t.key])
                m.bytes = len(body)
                if status != 200:
                    m.skipped = f"{status} {body[:120]!r}"
                    continue
                in_status, log = request_statements(app, t.path, by_key[t.key])
                m.statements = len(log) if in_status == 200 else None
                if in_status == 200 and t.key in FLOORED:
                    replay[t.key] = log
            for t in targets:
                if t.reference != "bare" and measured[t.reference].skipped:
                    measured[t.key].skipped = measured[t.key].skipped or "reference not measured"
            floor_port = None
            if replay:
                import bench_bare_app as bare_app

                replay_file = workdir / "replay.json"
                replay_file.write_text(bare_app.dump_replay(replay))
                floor_env = dict(env, ROSTER_BENCH_REPLAY=str(replay_file))
                servers.append(
                    start_server("floor", "floor", args.worker, args.threads, floor_env, workdir)
                )
                floor_port = servers[-1].port
                for key in replay:
                    floor = floor_target(next(t for t in targets if t.key == key))
                    status, _, body = fetch(floor_port, "GET", floor.path)
                    targets.append(floor)
                    by_key[floor.key] = {}
                    measured[floor.key] = Measured(floor, bytes=len(body))
                    if status != 200:
                        measured[floor.key].skipped = f"{status} {body[:120]!r}"
            before = os.getloadavg()[0]
            bare_rps = load_rounds(
                bare.port, roster.port, targets, by_key, settings, measured, workdir, floor_port
            )
            outcome = LoadOutcome(
                targets,
                measured,
                bare_rps,
                None,
                (before, os.getloadavg()[0]),
                outcome.deep_pages,
            )
            with app.app_context():
                ids = list(
                    db.session.scalars(select(User.id).order_by(User.id.desc()).limit(sizes.bulk_n))
                )
                db.session.remove()
            fits, status = delete_probe(
                roster.port, token_headers, data.small_org, ids, data.admin_id
            )
            outcome.probe = (fits, status, len(str(max(ids))))
            if args.profile:
                outcome.profiles = profile_targets(app, outcome, by_key, args.profile_requests)
        finally:
            for served in reversed(servers):
                served.stop()
    return outcome


def profile_targets(
    app: Any, load: LoadOutcome, headers: dict[str, dict[str, str]], requests: int
) -> list[Any]:
    """Each measured target in-process: unprofiled time, then its cProfile by area, with the
    time a whole request may take at the target's goal (``bench_profile``)."""
    import bench_profile

    bare = statistics.median(load.bare_rps) if load.bare_rps else None
    found = []
    for t in load.targets:
        m = load.measured[t.key]
        if m.skipped or t.server != "roster":
            continue
        client = app.test_client()
        sent = dict(headers[t.key])
        cookie = sent.pop("Cookie", None)
        if cookie is not None:
            name, _, value = cookie.partition("=")
            client.set_cookie(name, value)

        def request(client: Any = client, path: str = t.path, sent: dict[str, str] = sent) -> int:
            return int(client.get(path, headers=sent).status_code)

        progress(f"  profiling {t.key}: {requests} requests in-process")
        profiled = bench_profile.profile(t.key, t.label, request, requests)
        reference = (
            bare
            if t.reference == "bare"
            else statistics.median(load.measured[t.reference].rps)
            if load.measured[t.reference].rps
            else None
        )
        if t.goal and reference:
            profiled.budget_ms = 1e3 / (t.goal * reference)
        found.append(profiled)
    return found


def profile_report(profiles: list[Any], bare_rps: list[float], requests: int) -> str:
    """The --profile section of the report."""
    import bench_profile

    header, rows = bench_profile.table(profiles)
    bare = f"{1e3 / statistics.median(bare_rps):.2f} ms" if bare_rps else "?"
    lines = [
        f"Where the time goes (--profile): each target {requests} times in-process (Flask test "
        "client) unprofiled for ms/req, then under cProfile for calls and each area's share of "
        "the own time. 'at goal': what one served request may take at the goal (1 ÷ (goal x "
        f"reference req/s)); a served bare request takes {bare}, which the in-process time "
        "does not pay.",
        format_table(header, rows, left=1),
        "",
        "Roster's functions with the most cumulative ms per request (profiled):",
    ]
    for p in profiles:
        top = "; ".join(f"{name} {ms:.2f}" for name, ms in p.top)
        lines.append(f"  {p.key}: {top}")
    return "\n".join(lines)


def report(
    args: argparse.Namespace,
    sizes: Sizes,
    url: str,
    prepared: Prepared,
    load: LoadOutcome,
    bulk: list[BulkResult],
    how_removed: str,
    bulk_load: tuple[float, float] | None = None,
) -> str:
    """The report: the goals table, how it was measured, the bulk detail, the dataset.

    ``bulk_load``: the load average before and after the bulk runs, whose times are absolute.
    """
    postgres = _is_postgres(url)
    out = [f"Roster benchmark (issue 9) on {'PostgreSQL' if postgres else 'SQLite'}: {_shown(url)}"]
    out.append("")
    header = ["target", "goal", "median", "spread", "met?"]
    header += ["Roster req/s", "÷ bare", "bytes", "stmts", "errors"]
    rows = load_rows(load.measured, load.targets) if load.targets else []
    if bulk:
        served = load.probe[1] if load.probe is not None else None
        rows += bulk_rows(bulk, sizes, postgres, how_removed, served)
    if rows:
        out.append(format_table(header, [r + [""] * (len(header) - len(r)) for r in rows], left=2))
        out.append("")
    if load.targets:
        bare = Spread.of(load.bare_rps)
        before, after = load.load_average
        out.append(
            f"Load: wrk, {args.rounds} rounds; each Roster run ({args.duration:g} s, "
            f"{args.connections} connections, {args.wrk_threads} wrk thread) is divided by the "
            f"mean of the bare runs just before and after it; rows '÷ page 0' divide that by "
            f"page 0's in the same round; median and spread (min-max) over the rounds. Bare: "
            f"{bare.median:.0f} req/s ({bare.low:.0f}-{bare.high:.0f}). Load average "
            f"{before:.1f} before, {after:.1f} after (other work on these CPUs widens spreads)."
        )
        worker = (
            f"roster serve itself: RosterWorker (gunicorn gthread), 1 worker x {args.threads} "
            "threads; the bare app under the same webapp.serving.gunicorn_options"
            if args.worker == "roster"
            else "one gunicorn sync worker each, otherwise webapp.serving.gunicorn_options"
        )
        out.append(
            f"Servers: {worker}; ROSTER_ENV=production. Bare: GET / → a small JSON dict. "
            "'÷ bare' is Roster ÷ bare for every row; 'stmts' one request's statements, counted "
            "in-process; 'errors' non-200 answers and socket errors under load."
        )
        out.append(f"T13 deep pages measured {load.deep_pages}.")
        if load.probe is not None:
            fits, status, digits = load.probe
            out.append(
                f"DELETE .../users/{{ids}} through the server: {sizes.bulk_n:,} ids → {status}; "
                f"at most {fits:,} ids of {digits} digits reach the app."
            )
        out.append("")
    if load.profiles:
        out.append(profile_report(load.profiles, load.bare_rps, args.profile_requests))
        out.append("")
    if bulk:
        out.append(
            "Bulk changes (T7-T9), in-process through the API (Flask test client, Bearer "
            "token) on a scratch organization, deleted afterwards; statements counted on the "
            f"first of {args.bulk_repeats} runs; removal via {how_removed}."
            + (
                f" Load average {bulk_load[0]:.1f} before, {bulk_load[1]:.1f} after: these "
                "times are absolute, and other work on the CPUs lengthens them."
                if bulk_load
                else ""
            )
        )
        out.append(bulk_detail(bulk))
        out.append("")
    data = prepared.data
    out.append("Dataset: " + ", ".join(f"{k} {v:,}" for k, v in prepared.facts.items()) + ".")
    out.append(
        f"Built through the services, {data.built}; migrations {prepared.migrate_seconds:.1f} s, "
        f"planner statistics {prepared.analyze_seconds:.1f} s this run. "
        f"Searches: q={Q_FEW} and q={Q_MANY}."
    )
    about = ", ".join(f"{k} {v}" for k, v in prepared.versions.items())
    out.append(f"Versions: {about}; {os.cpu_count()} CPUs.")
    return "\n".join(out)


def _shown(url: str) -> str:
    from sqlalchemy.engine import make_url

    return make_url(url).render_as_string(hide_password=True)


def _is_postgres(url: str) -> bool:
    from sqlalchemy.engine import make_url

    return make_url(url).get_backend_name() == "postgresql"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--scale", type=float, default=1.0, help="dataset size (1.0 = issue 9's)")
    parser.add_argument("--database-url", help="default: ROSTER_DATABASE_URL, else SQLite file")
    parser.add_argument("--rebuild", action="store_true", help="rebuild the cached dataset")
    parser.add_argument("--force-wipe", action="store_true", help="wipe even non-bench data")
    parser.add_argument("--rounds", type=int, default=5, help="load rounds (median, spread)")
    parser.add_argument("--duration", type=float, default=3, help="seconds of each wrk run")
    parser.add_argument("--warmup", type=float, default=1, help="seconds of warm-up per URL")
    parser.add_argument("--connections", type=int, default=4, help="wrk connections")
    parser.add_argument("--wrk-threads", type=int, default=1, help="wrk threads")
    parser.add_argument(
        "--worker",
        choices=("roster", "sync"),
        default="sync",
        help="sync (issue 9's): both under one gunicorn sync worker, otherwise roster serve's "
        "settings; roster: roster serve itself (RosterWorker, --threads) and the bare app "
        "under the same settings",
    )
    parser.add_argument("--threads", type=int, default=8, help="threads of the roster worker")
    parser.add_argument("--bulk-repeats", type=int, default=3, help="timed runs of T8/T9")
    parser.add_argument("--skip-load", action="store_true", help="no servers, no wrk")
    parser.add_argument("--skip-bulk", action="store_true", help="no T7-T9")
    parser.add_argument(
        "--profile",
        action="store_true",
        help="after the load, profile each target in-process: where its time goes",
    )
    parser.add_argument(
        "--profile-requests", type=int, default=200, help="requests per target when profiling"
    )
    args = parser.parse_args(argv)
    if not args.skip_load and shutil.which("wrk") is None:
        raise SystemExit("wrk is missing: apt-get install wrk (make bench does)")

    sizes = Sizes.at(args.scale)
    url = args.database_url or default_url(sizes)
    os.environ.setdefault("ROSTER_SECRET_KEY", "bench-not-secret")
    os.environ["ROSTER_DATABASE_URL"] = url  # what the servers read

    from webapp import create_app

    app = create_app({"SQLALCHEMY_DATABASE_URI": url})
    prepared = prepare(app, sizes, url, args.rebuild, args.force_wipe)
    bulk: list[BulkResult] = []
    how_removed = ""
    load = LoadOutcome()
    bulk_load = None
    with run_token(app, prepared.data.owner_id) as token:
        if not args.skip_bulk:
            progress(f"bulk (T7-T9) in-process, {args.bulk_repeats} repeats")
            # What is loaded by now is frozen, as a roster serve worker forks from a frozen app
            # (webapp.serving.freeze_before_fork): full collections scan only what requests make.
            from webapp import serving

            serving.freeze_before_fork(None, None)
            before = os.getloadavg()[0]
            bulk, how_removed = run_bulk(
                app, token, prepared.data.owner_id, sizes, args.bulk_repeats
            )
            bulk_load = (before, os.getloadavg()[0])
        if not args.skip_load:
            load = measure_load(app, prepared, sizes, url, token, args)
    print(report(args, sizes, url, prepared, load, bulk, how_removed, bulk_load))


if __name__ == "__main__":
    main()
