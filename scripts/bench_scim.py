"""How fast SCIM provisions 1,000 users, and what each request costs: issue 12 point 5.

Each round, on a fresh database (SQLite in a temporary file, or the database
``ROSTER_DATABASE_URL`` names, which is wiped), with an owner, an organization and its ``scim``
service token made through the services:

1. **Live**: a real ``roster serve`` (gunicorn, started as a subprocess on a free port with the
   workers and threads it picks itself; the settings it reports are printed) is sent, one at a
   time over one keep-alive connection (httpx2), ``--size`` ``POST /scim/v2/Users`` bodies
   shaped like Okta's; then the whole organization is listed in ``count=100`` pages
   (``startIndex`` 1, 101, ...; the owner makes it ``--size`` + 1); then ``--sample`` users
   are looked up by ``filter=userName eq "..."`` (what an identity provider asks before each
   create). Every status is checked (201, 200), the listing's ``totalResults`` is ``--size`` + 1
   on every page and the pages together hold every ``userName`` exactly once; each lookup
   finds its one user.
2. **Statements**, once the server has stopped, in this process (Flask's test client, a
   ``before_cursor_execute`` listener on ``db.engine``) on the same database: a second
   organization with its own ``scim`` token gets the same ``--size`` creates (new addresses,
   so each makes an account as the live ones did), then its pages and lookups are asked as
   above. Every statement that goes through SQLAlchemy's cursor is counted, transaction
   control too (SAVEPOINT and RELEASE; on SQLite Roster's BEGIN and BEGIN IMMEDIATE, while
   psycopg begins on its own, unseen); the token's last-use write, made at most once a minute
   whatever the request, is counted apart. A warm-up GET comes first, as an identity
   provider's connection test does.

On PostgreSQL the tables are new each round, so until autovacuum analyzes them (if it is on)
the planner has no statistics for the pages and lookups; ``--analyze`` takes them after the
creates, to see the plans a settled database gets.

Prints each round, then the medians over the rounds: requests, seconds, requests per second,
median and 95th-percentile latency per kind; and the statements of the 1st, middle and last
create, of the first, middle and last page and of a lookup, with whether each kind's count is
constant (over every request of the kind, in every round). Exits non-zero if one is not. Not a
test: it measures a machine (and CI does not run it).

Usage::

    .venv/bin/python scripts/bench_scim.py [--rounds 3] [--size 1000] [--sample 100] \\
        [--analyze] [--show-statements]
    ROSTER_DATABASE_URL=postgresql+psycopg://postgres@127.0.0.1:5432/roster_bench_changes \\
        .venv/bin/python scripts/bench_scim.py
"""

from __future__ import annotations

import argparse
import itertools
import math
import os
import re
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx2
from sqlalchemy import event, text
from sqlalchemy.engine import make_url

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

ROSTER = str(Path(sys.executable).parent / "roster")
SECRET_KEY = "bench-not-secret-" + "s" * 32
SCIM_JSON = "application/scim+json"
USER_SCHEMA = "urn:ietf:params:scim:schemas:core:2.0:User"
PAGE = 100
# The token's last use is written at most once a minute, whatever the request (services.tokens).
LAST_USE = re.compile(r"^\s*UPDATE\s+service_tokens\b", re.IGNORECASE)
KINDS = ("create", "list", "lookup")
LABELS = {
    "create": "create: POST /Users",
    "list": f"list: GET /Users?startIndex=N&count={PAGE}",
    "lookup": 'lookup: GET /Users?filter=userName eq "..."',
}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def address(tag: str, n: int) -> str:
    return f"{tag}{n:04d}@scim-bench.example"


def okta_body(tag: str, n: int) -> dict[str, Any]:
    """A create as Okta sends it (its SCIM 2.0 guide), for the ``n``-th person."""
    email = address(tag, n)
    return {
        "schemas": [USER_SCHEMA],
        "userName": email,
        "name": {"givenName": "Person", "familyName": f"{tag.title()} {n:04d}"},
        "emails": [{"primary": True, "value": email, "type": "work"}],
        "displayName": f"Person {tag.title()} {n:04d}",
        "locale": "en-US",
        "externalId": f"00u{tag}{n:013d}",
        "groups": [],
        "active": True,
    }


def lookup_params(user_name: str) -> dict[str, str]:
    return {"filter": f'userName eq "{user_name}"', "startIndex": "1", "count": "100"}


def sample_of(size: int, sample: int) -> list[int]:
    """``sample`` indexes spread evenly over ``range(size)``."""
    sample = min(sample, size)
    return [i * size // sample for i in range(sample)]


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    rank = max(0, math.ceil(p / 100 * len(ordered)) - 1)  # the nearest rank
    return ordered[rank]


# -- the database --------------------------------------------------------------------------------


def make_app(url: str) -> Any:
    os.environ.setdefault("ROSTER_SECRET_KEY", SECRET_KEY)
    os.environ.setdefault("ROSTER_MAIL", "off")
    from webapp import create_app

    return create_app({"SQLALCHEMY_DATABASE_URI": url})


def fresh_database(app: Any) -> None:
    """Wipe the database and migrate it to the head, as the other benchmarks do."""
    from flask_migrate import upgrade

    from webapp.extensions import db
    from webapp.models import drop_schema

    with app.app_context():
        db.session.remove()
        db.engine.dispose()
        drop_schema(db.engine)
        upgrade(directory=app.extensions["migrate"].directory)


@dataclass
class Org:
    id: int
    token: str
    owner_email: str


def make_org(app: Any, tag: str) -> Org:
    """An owner (verified, by the CLI), an organization and its scim token, committed."""
    from webapp.extensions import db
    from webapp.models import Via
    from webapp.services import organizations, users
    from webapp.services.service_tokens import create_service_token

    with app.app_context():
        email = f"owner-{tag}@scim-bench.example"
        owner = users.create_user(email, f"Owner {tag.title()}", via=Via.CLI)
        org = organizations.create_organization(owner, f"SCIM bench {tag}", via=Via.CLI)
        token = create_service_token(owner, org.id, "bench", "scim", via=Via.CLI).token
        db.session.commit()
        result = Org(org.id, token, email)
        db.session.remove()
    return result


def analyze(app: Any, args: argparse.Namespace) -> None:
    """``--analyze``: the planner's statistics, taken now (PostgreSQL)."""
    from webapp.extensions import db

    if not args.analyze:
        return
    with app.app_context():
        if db.engine.dialect.name == "postgresql":
            with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
                conn.execute(text("ANALYZE"))
        else:
            with db.engine.begin() as conn:
                conn.execute(text("ANALYZE"))
        db.session.remove()


def autovacuum(app: Any) -> str | None:
    """PostgreSQL's autovacuum setting (which takes the statistics the planner uses)."""
    from webapp.extensions import db

    with app.app_context():
        if db.engine.dialect.name != "postgresql":
            return None
        with db.engine.connect() as conn:
            value = str(conn.execute(text("SHOW autovacuum")).scalar())
        db.session.remove()
    return value


# -- the live server -----------------------------------------------------------------------------


@dataclass
class Server:
    port: int
    log: Path

    def text(self) -> str:
        return self.log.read_text(errors="replace")


@contextmanager
def serving(url: str, log: Path) -> Iterator[Server]:
    """``roster serve`` on a free port, with nothing set but the database and the secret key
    (as ``tests/cli/test_serve.py`` starts it), until the block ends; ready once it answers."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("ROSTER_")}
    env.update(ROSTER_DATABASE_URL=url, ROSTER_SECRET_KEY=SECRET_KEY)
    port = free_port()
    with log.open("w") as err, log.with_suffix(".access.log").open("w") as out:
        # Files, not pipes: a full pipe would stall the server.
        process = subprocess.Popen(
            [ROSTER, "serve", "--bind", f"127.0.0.1:{port}"], env=env, stdout=out, stderr=err
        )
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx2.get(f"http://127.0.0.1:{port}/healthz", timeout=5).status_code == 200:
                    break
            except httpx2.TransportError:
                pass
            if process.poll() is not None:
                raise SystemExit(f"roster serve exited:\n{log.read_text()}")
            if time.monotonic() > deadline:
                raise SystemExit(f"roster serve did not answer in 60 s:\n{log.read_text()}")
            time.sleep(0.2)  # waiting for start-up
        yield Server(port, log)
    finally:
        process.terminate()
        process.wait(timeout=30)


def server_settings(log: str) -> list[str]:
    """What ``roster serve`` and gunicorn said of how they serve."""
    wanted = ("Serving Roster on", "Rate limits:", "Using worker:", "Starting gunicorn", "Mail:")
    lines = []
    for line in log.splitlines():
        for mark in wanted:
            if mark in line:
                lines.append(line[line.index(mark) :].strip())
    return lines


def server_problems(log: str) -> list[str]:
    """Lines of the server's stderr that speak of trouble."""
    marks = ("Traceback", "[ERROR]", "[CRITICAL]", "WORKER TIMEOUT", "Exception", "Error:")
    return [line for line in log.splitlines() if any(mark in line for mark in marks)]


def check(condition: bool, what: str, answer: Any = None) -> None:
    if not condition:
        detail = f": {answer.status_code} {answer.text[:500]}" if answer is not None else ""
        raise SystemExit(f"FAILED: {what}{detail}")


def live_round(
    port: int, org: Org, size: int, sample: int, tag: str, after_creates: Callable[[], None]
) -> dict[str, list[float]]:
    """The live requests; the latency of each, by kind (seconds)."""
    latency: dict[str, list[float]] = defaultdict(list)
    client = httpx2.Client(
        base_url=f"http://127.0.0.1:{port}/scim/v2",
        headers={
            "Authorization": f"Bearer {org.token}",
            "Accept": SCIM_JSON,
            "Content-Type": SCIM_JSON,
        },
        limits=httpx2.Limits(max_connections=1, max_keepalive_connections=1),
        timeout=60,
    )
    peers: set[Any] = set()

    def send(kind: str, method: str, path: str, **kwargs: Any) -> Any:
        started = time.perf_counter()
        answer = client.request(method, path, **kwargs)
        latency[kind].append(time.perf_counter() - started)
        stream = answer.extensions.get("network_stream")
        if stream is not None:
            peers.add(stream.get_extra_info("client_addr"))
        return answer

    with client:
        # The connection test an identity provider makes first; not timed with the rest.
        answer = client.get("/Users", params={"count": "1"})
        check(answer.status_code == 200, "warm-up GET /Users", answer)
        peers.clear()

        for n in range(size):
            answer = send("create", "POST", "/Users", json=okta_body(tag, n))
            check(answer.status_code == 201, f"create {n + 1}", answer)
            check(answer.json().get("userName") == address(tag, n), f"create {n + 1}", answer)

        after_creates()
        total = size + 1
        seen: list[str] = []
        for start in range(1, total + 1, PAGE):
            answer = send(
                "list", "GET", "/Users", params={"startIndex": str(start), "count": str(PAGE)}
            )
            check(answer.status_code == 200, f"page at {start}", answer)
            page = answer.json()
            check(
                page.get("totalResults") == total,
                f"page at {start}: totalResults {page.get('totalResults')} not {total}",
            )
            check(page.get("startIndex") == start, f"page at {start}: startIndex", answer)
            seen += [r["userName"] for r in page.get("Resources", [])]
        expected = [address(tag, n) for n in range(size)] + [org.owner_email]
        check(len(seen) == len(set(seen)), "the pages repeat a userName")
        check(
            sorted(seen) == sorted(expected),
            f"the pages hold {len(seen)} userNames, not the {total} created "
            f"(missing {sorted(set(expected) - set(seen))[:5]}, "
            f"extra {sorted(set(seen) - set(expected))[:5]})",
        )

        for n in sample_of(size, sample):
            answer = send("lookup", "GET", "/Users", params=lookup_params(address(tag, n)))
            check(answer.status_code == 200, f"lookup of {n}", answer)
            found = answer.json()
            check(
                found.get("totalResults") == 1
                and [r["userName"] for r in found.get("Resources", [])] == [address(tag, n)],
                f"lookup of {address(tag, n)}",
                answer,
            )
    check(len(peers) == 1, f"the requests went over {len(peers)} connections, not one")
    return latency


# -- statements, in-process ----------------------------------------------------------------------


class Statements:
    """Counts what the app sends to the database, the token's last-use write apart."""

    def __init__(self) -> None:
        self.seen: list[str] = []

    def __call__(self, conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        self.seen.append(statement)

    @contextmanager
    def counting(self, engine: Any) -> Iterator[None]:
        event.listen(engine, "before_cursor_execute", self)
        try:
            yield
        finally:
            event.remove(engine, "before_cursor_execute", self)

    def take(self) -> tuple[int, int]:
        """(statements, of which token last-use writes) since the last take."""
        seen, self.seen = self.seen, []
        last_use = sum(1 for s in seen if LAST_USE.match(s))
        return len(seen) - last_use, last_use


@dataclass
class Counted:
    """Statements per request, by kind, in request order; the last-use writes seen."""

    by_kind: dict[str, list[int]] = field(default_factory=lambda: defaultdict(list))
    last_use: int = 0


def count_round(app: Any, org: Org, size: int, sample: int, tag: str) -> Counted:
    from webapp.extensions import db

    client = app.test_client()
    headers = {"Authorization": f"Bearer {org.token}", "Accept": SCIM_JSON}
    counted = Counted()
    statements = Statements()
    with app.app_context():
        engine = db.engine
        db.session.remove()
    answer = client.get("/scim/v2/Users", query_string={"count": "1"}, headers=headers)
    check(answer.status_code == 200, "in-process warm-up", _Answer(answer))

    with statements.counting(engine):
        statements.take()
        for n in range(size):
            answer = client.post(
                "/scim/v2/Users",
                json=okta_body(tag, n),
                headers=headers | {"Content-Type": SCIM_JSON},
            )
            number, last_use = statements.take()
            check(answer.status_code == 201, f"in-process create {n + 1}", _Answer(answer))
            counted.by_kind["create"].append(number)
            counted.last_use += last_use
        total = size + 1
        for start in range(1, total + 1, PAGE):
            answer = client.get(
                "/scim/v2/Users",
                query_string={"startIndex": str(start), "count": str(PAGE)},
                headers=headers,
            )
            number, last_use = statements.take()
            check(answer.status_code == 200, f"in-process page at {start}", _Answer(answer))
            check(answer.json["totalResults"] == total, f"in-process page at {start}: total")
            counted.by_kind["list"].append(number)
            counted.last_use += last_use
        for n in sample_of(size, sample):
            answer = client.get(
                "/scim/v2/Users", query_string=lookup_params(address(tag, n)), headers=headers
            )
            number, last_use = statements.take()
            check(answer.status_code == 200, f"in-process lookup {n}", _Answer(answer))
            check(answer.json["totalResults"] == 1, f"in-process lookup {n}: total")
            counted.by_kind["lookup"].append(number)
            counted.last_use += last_use
    with app.app_context():
        db.session.remove()
    return counted


class _Answer:
    """A test-client answer as ``check`` prints it."""

    def __init__(self, response: Any) -> None:
        self.status_code = response.status_code
        self.text = response.get_data(as_text=True)


def statements_of(app: Any, org: Org, tag: str) -> dict[str, list[str]]:
    """The statements of one create, one page and one lookup (more of each, for the record)."""
    from webapp.extensions import db

    client = app.test_client()
    headers = {"Authorization": f"Bearer {org.token}", "Accept": SCIM_JSON}
    statements = Statements()
    with app.app_context():
        engine = db.engine
    shown: dict[str, list[str]] = {}
    with statements.counting(engine):
        client.post(
            "/scim/v2/Users",
            json=okta_body(tag, 9999),
            headers=headers | {"Content-Type": SCIM_JSON},
        )
        shown["create"], statements.seen = statements.seen, []
        client.get("/scim/v2/Users", query_string={"count": str(PAGE)}, headers=headers)
        shown["list"], statements.seen = statements.seen, []
        client.get("/scim/v2/Users", query_string=lookup_params(address(tag, 0)), headers=headers)
        shown["lookup"], statements.seen = statements.seen, []
    with app.app_context():
        db.session.remove()
    return shown


# -- reporting -----------------------------------------------------------------------------------


def summary(latency: list[float]) -> dict[str, float]:
    total = sum(latency)
    return {
        "requests": len(latency),
        "seconds": total,
        "per_second": len(latency) / total,
        "median_ms": statistics.median(latency) * 1000,
        "p95_ms": percentile(latency, 95) * 1000,
    }


def short(statement: str) -> str:
    return " ".join(statement.split())[:110]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--size", type=int, default=1000, help="users created per round")
    parser.add_argument("--sample", type=int, default=100, help="filtered lookups per round")
    parser.add_argument(
        "--show-statements", action="store_true", help="print the statements of each kind"
    )
    parser.add_argument(
        "--analyze",
        action="store_true",
        help="PostgreSQL: ANALYZE once the creates are done, before the pages and lookups (as "
        "autovacuum would in time); without it their plans are made on the fresh tables' "
        "missing statistics",
    )
    args = parser.parse_args()

    url = os.environ.get("ROSTER_DATABASE_URL")
    tmp = tempfile.TemporaryDirectory(prefix="roster-scim-bench-")
    if not url:
        url = f"sqlite:///{tmp.name}/scim.db"
    backend = "PostgreSQL" if make_url(url).get_backend_name() == "postgresql" else "SQLite"
    app = make_app(url)

    rounds: list[dict[str, Any]] = []
    counts: list[Counted] = []
    settings: list[str] = []
    problems: list[str] = []
    for round_ in range(args.rounds):
        fresh_database(app)
        live = make_org(app, "live")
        log = Path(tmp.name) / f"serve-{round_ + 1}.log"
        with serving(url, log) as server:
            latency = live_round(
                server.port, live, args.size, args.sample, "live", lambda: analyze(app, args)
            )
        log_text = log.read_text(errors="replace")
        settings = server_settings(log_text) or settings
        problems += [f"round {round_ + 1}: {line}" for line in server_problems(log_text)]
        stats: dict[str, Any] = {kind: summary(latency[kind]) for kind in KINDS}
        window = min(100, args.size)
        stats["create_first_ms"] = statistics.median(latency["create"][:window]) * 1000
        stats["create_last_ms"] = statistics.median(latency["create"][-window:]) * 1000
        pages_ms = [t * 1000 for t in latency["list"]]
        stats["page_first_ms"] = pages_ms[0]
        stats["page_middle_ms"] = pages_ms[len(pages_ms) // 2]
        stats["page_last_ms"] = pages_ms[-1]
        rounds.append(stats)

        counted_org = make_org(app, "counted")
        counted = count_round(app, counted_org, args.size, args.sample, "counted")
        counts.append(counted)
        shown = (
            statements_of(app, counted_org, "counted")
            if args.show_statements and round_ == 0
            else {}
        )
        print(
            f"round {round_ + 1} of {args.rounds}: "
            + "; ".join(
                f"{kind} {s['requests']} in {s['seconds']:.2f} s ({s['per_second']:.0f}/s, "
                f"median {s['median_ms']:.1f} ms, p95 {s['p95_ms']:.1f} ms)"
                for kind, s in stats.items()
                if kind in KINDS
            )
            + "; statements "
            + ", ".join(f"{k} {sorted(set(v))}" for k, v in counted.by_kind.items()),
            file=sys.stderr,
            flush=True,
        )
        for kind, lines in shown.items():
            print(f"\n{kind}: {len(lines)} statements", file=sys.stderr)
            for line in lines:
                print(f"  {short(line)}", file=sys.stderr)

    shown_url = make_url(url).render_as_string(hide_password=True)
    print(f"\n{backend} ({shown_url}), {args.rounds} rounds, each on a fresh database")
    vacuum = autovacuum(app)
    if vacuum is not None:
        print(
            f"PostgreSQL's autovacuum: {vacuum}; "
            + (
                "ANALYZE ran after the creates (--analyze)."
                if args.analyze
                else "no ANALYZE by the benchmark (--analyze runs one after the creates)."
            )
        )
    print("Server: `roster serve` as it starts with nothing set but the database and the key:")
    for line in settings:
        print(f"  {line}")
    print(
        f"Client: httpx2 {httpx2.__version__}, one request at a time over one keep-alive "
        "connection (checked: every answer came over the same client port), on loopback."
    )

    print(f"\nLive, medians over {args.rounds} rounds (requests/s: median, then each round's)\n")
    print("| request | requests | seconds | requests/s | rounds' requests/s | median ms | p95 ms |")
    print("|---|---|---|---|---|---|---|")
    for kind in KINDS:
        each = [r[kind] for r in rounds]
        median = {key: statistics.median(s[key] for s in each) for key in each[0]}
        spread = ", ".join(f"{s['per_second']:.0f}" for s in each)
        print(
            f"| {LABELS[kind]} | {int(median['requests']):,} | {median['seconds']:.2f} "
            f"| {median['per_second']:.0f} | {spread} | {median['median_ms']:.1f} "
            f"| {median['p95_ms']:.1f} |"
        )

    window = min(100, args.size)
    first = statistics.median(r["create_first_ms"] for r in rounds)
    last = statistics.median(r["create_last_ms"] for r in rounds)
    print(
        f"\nCreates as the organization grows: median latency of the first {window} "
        f"{first:.1f} ms, of the last {window} {last:.1f} ms (medians over the rounds)."
    )
    page_ms = {
        key: statistics.median(r[f"page_{key}_ms"] for r in rounds)
        for key in ("first", "middle", "last")
    }
    print(
        f"Pages as the offset grows: the first {page_ms['first']:.1f} ms, the middle "
        f"{page_ms['middle']:.1f} ms, the last {page_ms['last']:.1f} ms (medians over the rounds)."
    )

    size = args.size
    pages = len(counts[0].by_kind["list"])
    print(
        f"\nStatements per request, in-process on the same database after each live run (a "
        f"second organization, {size:,} creates through the same SCIM requests, then its "
        f"{pages} pages and {len(counts[0].by_kind['lookup'])} lookups); every statement "
        "through SQLAlchemy's cursor, SAVEPOINT/RELEASE included"
        + (
            " (psycopg's implicit BEGIN is not one)"
            if backend == "PostgreSQL"
            else " and Roster's BEGIN / BEGIN IMMEDIATE"
        )
        + "; the token's last-use write (at most once a minute) apart\n"
    )
    last_users = size + 1 - (pages - 1) * PAGE
    print("| request | statements | constant? |\n|---|---|---|")
    varying = []
    rows = [
        ("create", 0, "create: 1st"),
        ("create", size // 2 - 1, f"create: {size // 2:,}th"),
        ("create", size - 1, f"create: {size:,}th"),
        ("list", 0, "list: first page"),
        ("list", pages // 2, f"list: middle page ({pages // 2 + 1} of {pages})"),
        ("list", pages - 1, f"list: last page ({pages} of {pages}, {last_users} user(s))"),
        ("lookup", 0, "lookup: filter=userName eq"),
    ]
    for kind, index, label in rows:
        values = sorted({n for c in counts for n in c.by_kind[kind]})
        constant = len(values) == 1
        every = [c.by_kind[kind][index] for c in counts]
        shown = str(every[0]) if len(set(every)) == 1 else " / ".join(map(str, every))
        verdict = (
            f"yes: every one of the {sum(len(c.by_kind[kind]) for c in counts):,} in "
            f"{len(counts)} rounds"
            if constant
            else f"NO: {values}"
        )
        print(f"| {label} | {shown} | {verdict} |")
        if not constant and kind not in varying:
            varying.append(kind)
    last_use = [c.last_use for c in counts]
    print(
        f"\nThe token's last-use write (an UPDATE of service_tokens) came on top "
        f"{' / '.join(map(str, last_use))} times in the rounds' counted requests, as the minutes "
        "turned."
    )
    if problems:
        print(f"\nServer stderr spoke of trouble ({len(problems)} lines):")
        for line in problems[:40]:
            print(f"  {line}")
    else:
        print("\nServer stderr: no traceback, error or worker timeout.")
    tmp.cleanup()
    if varying:
        for kind in varying:
            per_request = [n for c in counts for n in c.by_kind[kind]]
            changes = [
                (i + 1, a, b) for i, (a, b) in enumerate(itertools.pairwise(per_request)) if a != b
            ][:10]
            print(f"{kind}: the count changes at (request, from, to) {changes}", file=sys.stderr)
        raise SystemExit(f"Statements per request are not constant for: {', '.join(varying)}")


if __name__ == "__main__":
    main()
