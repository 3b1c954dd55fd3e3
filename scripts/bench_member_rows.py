"""Members page benchmark: the 50-row HTML page against a trivial JSON route, in one process.

Builds an organization of N members (default 250, mixed roles and states) in a fresh
database, signs in as its admin (``--as owner`` for the owner's view), then times, in rounds,
``/orgs/<id>/members?page_size=50`` against a bare ``jsonify`` route added to the same app,
both through Flask's test client (so each pays the same WSGI, cookie and client costs). Each
page request is followed by ten bare ones, so that load from other processes falls on both
alike. It prints, for wall time and for this process's CPU time, the medians per request and
the spread over rounds, and the ratio bare/page (1.0 would be a page as cheap as the bare
route); and the page's HTML bytes and how many ``url_for`` calls one page makes.

On a shared machine trust the CPU-time ratio more than the wall-clock one, and ratios more
than times. Usage::

    .venv/bin/python scripts/bench_member_rows.py [--members 250] [--rows 50] [--rounds 15]
        [--as owner] [--profile 40 [--sort tottime]] [--dump page.html]

The database is a SQLite file in a temporary directory unless ``--database-url`` names one,
which must be empty: the script builds the schema there.
"""

from __future__ import annotations

import argparse
import cProfile
import io
import os
import pstats
import re
import statistics
import sys
import tempfile
import time
from pathlib import Path

from argon2 import PasswordHasher, profiles
from flask import Flask, jsonify
from flask.testing import FlaskClient
from flask_migrate import upgrade
from sqlalchemy import inspect

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import webapp
from webapp import create_app
from webapp.extensions import db
from webapp.models import Role, Via
from webapp.services import members, organizations, users

PASSWORD = "bench password 123"
PAGE_SIZE = 50
ROLES = [Role.VIEWER, Role.CONTRIBUTOR, Role.ACCOUNTING, Role.ADMIN, Role.OWNER]


def build(size: int) -> tuple[int, str, str]:
    """An organization of ``size`` members: its id, its owner's and its admin's emails."""
    owner = users.create_user("owner@bench.example", "Owner Bench", PASSWORD, via=Via.CLI)
    admin = users.create_user("admin@bench.example", "Admin Bench", PASSWORD, via=Via.CLI)
    org = organizations.create_organization(owner, "Bench organization", via=Via.CLI)
    members.add_members(owner, org.id, [admin.id], role=Role.ADMIN, via=Via.CLI)
    people = [(f"person{n:05d}@bench.example", f"Person {n:05d}") for n in range(size - 2)]
    ids = users.create_users(people, via=Via.CLI)
    for n, role in enumerate(ROLES):
        chunk = ids[n :: len(ROLES)]
        members.add_members(owner, org.id, chunk, role=role, is_active=n != 2, via=Via.CLI)
    db.session.remove()
    return org.id, owner.email, admin.email


def signed_in(app: Flask, email: str) -> FlaskClient:
    client = app.test_client()
    page = client.get("/login").get_data(as_text=True)
    token = re.search(r'<meta name="csrf-token" content="([^"]+)"', page)
    assert token, "no csrf meta tag on /login"
    answer = client.post(
        "/login", data={"email": email, "password": PASSWORD, "csrf_token": token.group(1)}
    )
    assert answer.status_code == 302, answer.status_code
    return client


def batch(client: FlaskClient, url: str, n: int) -> float:
    """Milliseconds per request over ``n`` requests (warming up, profiling)."""
    start = time.perf_counter()
    for _ in range(n):
        get(client, url)
    return (time.perf_counter() - start) * 1000 / n


def get(client: FlaskClient, url: str) -> None:
    response = client.get(url)
    assert response.status_code == 200, (url, response.status_code)
    response.close()


CLOCKS = {"wall": time.perf_counter, "cpu": time.process_time}


def one_round(client: FlaskClient, page_url: str, n: int) -> dict[str, tuple[float, float]]:
    """Per clock, (page ms, bare ms) per request: each page request is followed by ten bare
    ones, so that load from other processes falls on both alike."""
    spent = {clock: [0.0, 0.0] for clock in CLOCKS}
    for _ in range(n):
        for slot, (url, times) in enumerate(((page_url, 1), ("/_bench/bare", 10))):
            started = {clock: now() for clock, now in CLOCKS.items()}
            for _ in range(times):
                get(client, url)
            for clock, now in CLOCKS.items():
                spent[clock][slot] += now() - started[clock]
    return {
        clock: (page * 1000 / n, bare * 1000 / (10 * n)) for clock, (page, bare) in spent.items()
    }


def count_url_for(app: Flask, client: FlaskClient, url: str) -> int:
    calls = 0
    real = app.url_for

    def counting(*args: object, **kwargs: object) -> str:
        nonlocal calls
        calls += 1
        return real(*args, **kwargs)  # type: ignore[arg-type]

    # Templates call the bound method the Jinja environment holds; views go through the app.
    app.jinja_env.globals["url_for"] = counting
    app.url_for = counting  # type: ignore[method-assign]
    try:
        client.get(url)
    finally:
        app.jinja_env.globals["url_for"] = real
        del app.url_for
    return calls


def spread(values: list[float]) -> str:
    return f"{min(values):.3f} to {max(values):.3f}"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--members", type=int, default=250, help="organization size")
    parser.add_argument("--rounds", type=int, default=15)
    parser.add_argument("--batch", type=int, default=20, help="requests per batch")
    parser.add_argument("--rows", type=int, default=PAGE_SIZE, help="page size")
    parser.add_argument("--as", dest="who", choices=("admin", "owner"), default="admin")
    parser.add_argument("--profile", type=int, default=0, metavar="N", help="print N top lines")
    parser.add_argument("--sort", default="cumulative", help="the profile's order")
    parser.add_argument("--dump", type=Path, help="write the page's HTML here")
    parser.add_argument("--database-url")
    args = parser.parse_args(argv)

    os.environ.setdefault("ROSTER_SECRET_KEY", "bench-not-secret")
    users.password_hasher = PasswordHasher.from_parameters(profiles.CHEAPEST)
    with tempfile.TemporaryDirectory(prefix="roster-bench-rows-") as tmp:
        url = args.database_url or f"sqlite:///{Path(tmp) / 'bench.sqlite3'}"
        app = create_app(
            {"SQLALCHEMY_DATABASE_URI": url, "TESTING": False, "RATELIMIT_STORAGE_URI": "memory://"}
        )

        @app.get("/_bench/bare")
        def bare():  # type: ignore[no-untyped-def]
            return jsonify(ok=True)

        with app.app_context():
            if inspect(db.engine).get_table_names():
                raise SystemExit("the benchmark needs an empty database of its own")
            upgrade(directory=app.extensions["migrate"].directory)
            org_id, owner_email, admin_email = build(args.members)
        client = signed_in(app, owner_email if args.who == "owner" else admin_email)
        page_url = f"/orgs/{org_id}/members?page_size={args.rows}"
        html = client.get(page_url).get_data()
        if args.dump:
            args.dump.write_bytes(html)
        rows = html.count(b'<tr id="member-')
        assert rows == args.rows, rows
        url_fors = count_url_for(app, client, page_url)
        batch(client, page_url, 5)  # warm up
        batch(client, "/_bench/bare", 50)
        rounds = [one_round(client, page_url, args.batch) for _ in range(args.rounds)]
        print(
            f"{args.who} of {args.members:,} members, {args.rows} rows; "
            f"{args.rounds} rounds of {args.batch} page and {args.batch * 10} bare requests, "
            "interleaved"
        )
        print(f"code             {Path(webapp.__file__).parent.parent}")
        print(f"HTML bytes       {len(html):,}")
        print(f"url_for calls    {url_fors}")
        for clock in CLOCKS:
            pages = [r[clock][0] for r in rounds]
            bares = [r[clock][1] for r in rounds]
            ratios = [r[clock][1] / r[clock][0] for r in rounds]
            print(
                f"{clock:4} page ms {statistics.median(pages):7.3f} ({spread(pages)}); "
                f"bare ms {statistics.median(bares):6.3f} ({spread(bares)}); "
                f"bare/page {statistics.median(ratios):.3f} ({spread(ratios)})"
            )
        if args.profile:
            profiler = cProfile.Profile()
            profiler.enable()
            batch(client, page_url, args.batch)
            profiler.disable()
            out = io.StringIO()
            pstats.Stats(profiler, stream=out).sort_stats(args.sort).print_stats(args.profile)
            print(out.getvalue())
        with app.app_context():
            db.engine.dispose()


if __name__ == "__main__":
    main()
