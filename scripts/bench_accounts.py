"""Accounts benchmark: what an organization's size or a user's number of organizations costs.

In process, side by side in rounds (the order rotates each round, after a warm-up each):

- ``get_summary`` of an organization of N members (default 200,000) against one of 80, and,
  for contrast, the two statements the summary used before issue 9 (the active-owner count
  joined with users, the 30-day join count over the index) on the big one; plus the new
  summary's worst case, read when the window's first, partly covered day is the day all N
  joined (then it counts that day on the index);
- ``GET /api/organizations`` (Flask test client, Bearer token) for a user in M organizations
  (default 1,000) against a user in 1, and its service against the ORM query it replaced;
- the members page ``/orgs/<id>/members`` (test client, signed-in session: the whole page with
  its switcher) for an owner in M organizations against an owner in 1, with the page's size.

Prints median, interquartile range and min-max in milliseconds, and the statements each call
issues. Ratios matter, not absolute times. Usage::

    .venv/bin/python scripts/bench_accounts.py [--members 200000] [--orgs 1000] [--runs 21]

The database is ROSTER_DATABASE_URL, or a SQLite file in the temporary directory when unset.
It must be the benchmark's own: the script refuses to wipe one holding other organizations
unless given ``--wipe`` (for a scratch test database).
"""

from __future__ import annotations

import argparse
import contextvars
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from flask import Flask
from flask.testing import FlaskClient
from flask_migrate import upgrade
from sqlalchemy import event, func, inspect, select
from sqlalchemy.engine import make_url

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench_member_pages import analyze  # beside this script, on the path when it runs

from webapp import create_app
from webapp.extensions import db
from webapp.models import Membership, Organization, Role, User, Via, drop_schema, utcnow
from webapp.services import members, organizations, tokens, users

PREFIX = "Roster accounts bench"
BATCH = 10_000
SMALL = 80


def default_url() -> str:
    url = os.environ.get("ROSTER_DATABASE_URL")
    if url:
        return url
    return f"sqlite:///{Path(tempfile.gettempdir()) / 'roster-bench-accounts.sqlite3'}"


# -- building the data -----------------------------------------------------------------------


def wipe(force: bool) -> None:
    tables = inspect(db.engine).get_table_names()
    if "organizations" in tables and not force:
        names = db.session.scalars(select(Organization.organization_name)).all()
        db.session.rollback()
        if any(not n.startswith(PREFIX) for n in names):
            raise SystemExit("the database holds other organizations; pass --wipe to wipe it")
    db.session.remove()
    drop_schema(db.engine)


def people(prefix: str, n: int) -> list[tuple[str, str]]:
    return [(f"{prefix}{i}@bench.example", f"{prefix.title()} Person {i:06d}") for i in range(n)]


@dataclass
class Data:
    """Ids: the organizations, and the users who look at them."""

    big: int
    small: int
    big_owner: int
    small_owner: int
    joiner: int  # in M organizations (owner of each); the last one has SMALL members
    solo: int  # in 1 organization of SMALL members
    joiner_org: int
    solo_org: int
    built_at: datetime


def build(n_members: int, n_orgs: int) -> Data:
    """Users and members through the services, set-based, in batches of 10,000."""
    built_at = utcnow()
    everyone = people("big", n_members)
    ids: list[int] = []
    for start in range(0, n_members, BATCH):
        ids += users.create_users(everyone[start : start + BATCH], via=Via.CLI)
    big_owner = db.session.get(User, ids[0])
    assert big_owner is not None
    big = organizations.create_organization(big_owner, f"{PREFIX} big", via=Via.CLI)
    roles = [Role.VIEWER, Role.CONTRIBUTOR, Role.ACCOUNTING, Role.ADMIN, Role.VIEWER]
    for n, start in enumerate(range(1, n_members, BATCH)):
        batch = ids[start : start + BATCH]
        members.add_members(big_owner, big.id, batch, role=roles[n % 5], via=Via.CLI)
    # A second, suspended owner and one whose account is deactivated, as in real orgs.
    members.update_members(big_owner, big.id, ids[1:3], role=Role.OWNER, via=Via.CLI)
    members.update_members(big_owner, big.id, ids[2:3], is_active=False, via=Via.CLI)

    small_ids = users.create_users(people("small", SMALL * 3), via=Via.CLI)
    small_owner, joiner, solo = (db.session.get(User, i) for i in small_ids[:3])
    assert small_owner is not None and joiner is not None and solo is not None
    small = organizations.create_organization(small_owner, f"{PREFIX} small", via=Via.CLI)
    members.add_members(small_owner, small.id, small_ids[3 : SMALL + 2], via=Via.CLI)
    org_id = 0
    for i in range(n_orgs):
        org_id = organizations.create_organization(joiner, f"{PREFIX} {i:05d}", via=Via.CLI).id
    members.add_members(joiner, org_id, small_ids[SMALL + 2 : 2 * SMALL + 1], via=Via.CLI)
    solo_org = organizations.create_organization(solo, f"{PREFIX} solo", via=Via.CLI).id
    members.add_members(solo, solo_org, small_ids[2 * SMALL + 1 : 3 * SMALL], via=Via.CLI)
    user_ids = (u.id for u in (big_owner, small_owner, joiner, solo))
    data = Data(big.id, small.id, *user_ids, org_id, solo_org, built_at)
    db.session.remove()
    return data


# -- measuring -------------------------------------------------------------------------------


@contextmanager
def counted() -> Iterator[list[str]]:
    log: list[str] = []

    def before(conn, cursor, statement, parameters, context, executemany):  # type: ignore[no-untyped-def]
        if not statement.lstrip().upper().startswith(("BEGIN", "COMMIT", "ROLLBACK", "PRAGMA")):
            log.append(statement)

    event.listen(db.engine, "before_cursor_execute", before)
    try:
        yield log
    finally:
        event.remove(db.engine, "before_cursor_execute", before)


@dataclass
class Result:
    name: str
    times: list[float]
    statements: int
    note: str = ""

    def cells(self) -> list[str]:
        t = sorted(self.times)
        q = statistics.quantiles(t, n=4)
        return [
            self.name,
            f"{statistics.median(t):.2f}",
            f"{q[0]:.2f}-{q[2]:.2f}",
            f"{t[0]:.2f}-{t[-1]:.2f}",
            str(self.statements),
            self.note,
        ]


def rounds(calls: dict[str, Callable[[], Any]], runs: int) -> dict[str, Result]:
    """Each call once to warm up (and count its statements), then ``runs`` rounds in turn."""
    names = list(calls)
    results: dict[str, Result] = {}
    for name in names:
        with counted() as log:
            note = calls[name]()
        db.session.remove()
        results[name] = Result(name, [], len(log), note if isinstance(note, str) else "")
    for i in range(runs):
        for j in range(len(names)):
            name = names[(i + j) % len(names)]
            start = time.perf_counter()
            calls[name]()
            results[name].times.append((time.perf_counter() - start) * 1000)
            db.session.remove()  # as a new request would: a fresh session
    return results


def old_owner_count(org_id: int) -> int:
    """The active-owner count before issue 9: bound parameters, no partial index to use."""
    return db.session.scalar(
        select(func.count())
        .select_from(Membership)
        .join(User, User.id == Membership.user_id)
        .where(
            Membership.organization_id == org_id,
            Membership.role == Role.OWNER,
            Membership.is_active.is_(True),
            User.is_active.is_(True),
        )
    )


def old_joined_count(org_id: int) -> int:
    since = utcnow() - timedelta(days=30)
    return db.session.scalar(
        select(func.count())
        .select_from(Membership)
        .where(Membership.organization_id == org_id, Membership.created_at >= since)
    )


class RequestClient(FlaskClient):
    """Each request in a context of its own, as in production: the bench's app context (kept
    open for the service calls) would otherwise share ``g``, and the signed-in user, between
    requests."""

    def open(self, *args: Any, **kwargs: Any) -> Any:
        db.session.remove()
        return contextvars.Context().run(super().open, *args, **kwargs)


def old_my_accounts(actor: User) -> list[organizations.Account]:
    """GET /api/organizations' service before issue 9: ORM objects, then the dataclass."""
    rows = db.session.execute(
        select(Organization, Membership)
        .join(Membership, Membership.organization_id == Organization.id)
        .where(Membership.user_id == actor.id)
        .order_by(func.lower(Organization.organization_name), Organization.id)
    ).all()
    return [organizations.Account.of(org, membership) for org, membership in rows]


def signed_in(app: Flask, user: User) -> FlaskClient:
    client = app.test_client()
    with client.session_transaction() as session:
        session["_user_id"] = user.get_id()
        session["_fresh"] = True
    return client


def measure(app: Flask, data: Data, runs: int) -> dict[str, Result]:
    big_owner, small_owner, joiner, solo = (
        db.session.get(User, i) for i in (data.big_owner, data.small_owner, data.joiner, data.solo)
    )
    assert big_owner and small_owner and joiner and solo
    db.session.close()  # the users stay loaded, detached: the services read their ids

    def summary(owner: User, org_id: int) -> Callable[[], str]:
        def call() -> str:
            got = {m.metric: m.value for m in organizations.get_summary(owner, org_id)}
            return (
                f"{got['members_total']:,} members, {got['owners_active']} active owners, "
                f"{got['joined_last_30_days']:,} joined in 30 days"
            )

        return call

    def summary_at_window_edge() -> str:
        # 30 days after the build began, the window's first, partly covered day is the day
        # everyone joined, and it starts before the first of them: all N are counted on the
        # index (unless the build ran over midnight).
        real = organizations.utcnow
        organizations.utcnow = lambda: data.built_at + timedelta(days=30)
        try:
            return summary(big_owner, data.big)()
        finally:
            organizations.utcnow = real

    _, joiner_token = tokens.create_token(joiner, "bench", via=Via.CLI)
    _, solo_token = tokens.create_token(solo, "bench", via=Via.CLI)
    joiner_web, solo_web = signed_in(app, joiner), signed_in(app, solo)
    api = app.test_client()

    def my_accounts(token: str) -> Callable[[], str]:
        def call() -> str:
            response = api.get("/api/organizations", headers={"Authorization": f"Bearer {token}"})
            assert response.status_code == 200, response.status_code
            return f"{len(response.get_json()):,} accounts, {len(response.data):,} bytes"

        return call

    def members_page(client: FlaskClient, org_id: int) -> Callable[[], str]:
        def call() -> str:
            response = client.get(f"/orgs/{org_id}/members")
            assert response.status_code == 200, response.status_code
            return f"{len(response.data):,} bytes"

        return call

    for token in (joiner_token, solo_token):  # the first use of a token writes last_used_at
        my_accounts(token)()
    big_org = {"summary, org of N": summary(big_owner, data.big)}
    results = rounds(
        {
            **big_org,
            f"summary, org of {SMALL}": summary(small_owner, data.small),
            "summary, org of N, window edge on their join day": summary_at_window_edge,
            "before: active owners, org of N": lambda: str(old_owner_count(data.big)),
            "before: joined in 30 days, org of N": lambda: str(old_joined_count(data.big)),
        },
        runs,
    )
    results |= rounds(
        {
            "GET /api/organizations, in M orgs": my_accounts(joiner_token),
            "GET /api/organizations, in 1 org": my_accounts(solo_token),
            "list_my_organizations, M orgs": lambda: str(
                len(organizations.list_my_organizations(joiner))
            ),
            "before: ORM list, M orgs": lambda: str(len(old_my_accounts(joiner))),
        },
        runs,
    )
    results |= rounds(
        {
            "members page, owner in M orgs": members_page(joiner_web, data.joiner_org),
            "members page, owner in 1 org": members_page(solo_web, data.solo_org),
        },
        runs,
    )
    return results


HEADER = ["call", "median ms", "IQR ms", "min-max ms", "statements", "answer"]


def table(results: list[Result]) -> str:
    cells = [HEADER, *(r.cells() for r in results)]
    widths = [max(len(c[i]) for c in cells) for i in range(len(HEADER))]
    lines = [
        " | ".join(
            c.ljust(w) if i in (0, len(HEADER) - 1) else c.rjust(w)
            for i, (c, w) in enumerate(zip(line, widths, strict=True))
        )
        for line in cells
    ]
    lines.insert(1, "-+-".join("-" * w for w in widths))
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--members", type=int, default=200_000, help="N: the big organization")
    parser.add_argument("--orgs", type=int, default=1_000, help="M: one user's organizations")
    parser.add_argument("--runs", type=int, default=21, help="timed rounds")
    parser.add_argument("--database-url", default=default_url())
    parser.add_argument("--wipe", action="store_true", help="wipe a database with other data")
    args = parser.parse_args(argv)

    os.environ.setdefault("ROSTER_SECRET_KEY", "bench-not-secret")
    url: str = args.database_url
    app = create_app({"SQLALCHEMY_DATABASE_URI": url, "TESTING": False})
    app.test_client_class = RequestClient
    shown = make_url(url).render_as_string(hide_password=True)
    started = time.perf_counter()
    with app.app_context():
        print(f"building N={args.members:,}, M={args.orgs:,} in {shown} ...", file=sys.stderr)
        wipe(args.wipe)
        upgrade(directory=app.extensions["migrate"].directory)
        data = build(args.members, args.orgs)
        analyze()
        built = time.perf_counter() - started
        measuring = time.perf_counter()
        results = measure(app, data, args.runs)
        took = time.perf_counter() - measuring
    print(
        f"\n{make_url(url).get_backend_name()} {shown}: N = {args.members:,} members, "
        f"M = {args.orgs:,} organizations; data built in {built:.1f} s; timing {took:.1f} s; "
        f"{args.runs} rounds, order rotating."
    )
    print(table(list(results.values())))


if __name__ == "__main__":
    main()
