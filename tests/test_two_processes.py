"""Two ``roster serve`` processes on one database and one Redis act as one (DESIGN §1, §7).

Both servers run with several workers against the suite's database (SQLite file or PostgreSQL)
and the test Redis, under a key prefix of this run. A session cookie from one works on the
other and dies on both at sign-out; failed sign-ins split across them count once; and
concurrent requests through both never leave an organization without an active owner.

The servers start once for the module and read the database per request, so every test makes
its own data through the services (the ``app`` fixture empties the tables first) and commits it
before its first request.
"""

from __future__ import annotations

import http.client
import json
import random
import threading
import uuid
from collections.abc import Callable, Iterator
from contextlib import ExitStack

import pytest

from webapp.extensions import db
from webapp.models import Role, User, Via
from webapp.services import tokens

from .cli.test_serve import (
    REDIS_URL,
    SECRET_KEY,
    Answer,
    Browser,
    Served,
    http_request,
    serve_env,
    serving,
)
from .services.test_last_owner import PLAN, RaceReport, active_owners, judge_round, run_threads

WORKERS = 2  # per server: allowed, since the limits are kept in Redis
LIMIT = 4  # wrong passwords per email per minute
ROUNDS = 10


@pytest.fixture(scope="module")
def servers(database_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[list[Served]]:
    env = serve_env(
        database_url,
        ROSTER_SECRET_KEY=SECRET_KEY,
        ROSTER_REDIS_URL=REDIS_URL,
        ROSTER_RATELIMIT_KEY_PREFIX=f"roster-test-{uuid.uuid4().hex}",
        ROSTER_LOGIN_LIMIT_PER_EMAIL=f"{LIMIT} per minute",
        # Every request comes from 127.0.0.1; the per-email limit is the one under test.
        ROSTER_LOGIN_LIMIT_PER_ADDRESS="1000 per minute",
    )
    logs = tmp_path_factory.mktemp("two-servers")
    with ExitStack() as stack:
        yield [
            stack.enter_context(serving(env, "--workers", str(WORKERS), log=logs / f"{n}.log"))
            for n in (1, 2)
        ]


def _unique_email() -> str:
    # Redis may hold counts from other runs if the prefix setting is missing: keys never repeat.
    return f"{uuid.uuid4().hex}@example.com"


def test_a_session_works_on_both_servers_and_sign_out_ends_it_on_both(
    servers: list[Served], make_user: Callable[..., User], password: str
) -> None:
    one, two = servers
    user = make_user(email=_unique_email())
    browser = Browser()
    assert browser.sign_in(one.port, user.email, password).status == 302
    copied = dict(browser.cookies)
    for server in servers:
        assert Browser(dict(copied)).request(server.port, "GET", "/orgs").status == 200

    token = browser.csrf_token(two.port, "/orgs")
    assert browser.request(two.port, "POST", "/logout", form={"csrf_token": token}).status == 302
    for server in servers:
        answer = Browser(dict(copied)).request(server.port, "GET", "/orgs")
        assert answer.status == 302, server
        assert answer.headers["Location"].startswith("/login")


def test_failed_sign_ins_on_both_servers_count_once(
    servers: list[Served], make_user: Callable[..., User], password: str
) -> None:
    """Split across two servers (four workers), the limit is reached at LIMIT, not later."""
    user = make_user(email=_unique_email())
    statuses = [
        Browser().sign_in(servers[n % 2].port, user.email, "wrong password!").status
        for n in range(LIMIT + 1)
    ]
    assert statuses == [401] * LIMIT + [429]
    for server in servers:  # the right password too, on either server, until the window passes
        assert Browser().sign_in(server.port, user.email, password).status == 429


# -- the last-owner invariant across processes -------------------------------------------------


def _request(change: str, org_id: int, target_id: int) -> tuple[str, str, bytes | None]:
    """The JSON API request for a change of ``PLAN``: method, path, body."""
    users = f"/api/organizations/{org_id}/users"
    if change == "demote":
        return "PUT", users, json.dumps({"user_ids": [target_id], "role": "ADMIN"}).encode()
    if change == "deactivate":
        return "PUT", users, json.dumps({"user_ids": [target_id], "is_active": False}).encode()
    if change == "remove":
        return "DELETE", f"{users}/{target_id}", None
    return "POST", f"/api/organizations/{org_id}/leave", None


def _outcome(answer: Answer) -> str:
    """ "ok", or the problem's code ("last_owner", "forbidden", "not_found", "not_members"...)."""
    if answer.status in (200, 204):
        return "ok"
    try:
        return str(answer.json()["code"])
    except (ValueError, KeyError, TypeError):
        return f"error: {answer.status} {answer.body[:120]!r}"


def _race(
    servers: list[Served],
    org_id: int,
    people: dict[str, tuple[int, str]],
    plan: list[tuple[str, str, str]],
) -> list[str]:
    """Send the plan's requests at once, alternately to each server, one connection each."""
    barrier = threading.Barrier(len(plan))
    outcomes = [""] * len(plan)

    def send(index: int, change: str, actor_key: str, target_key: str) -> None:
        port = servers[index % len(servers)].port
        method, path, body = _request(change, org_id, people[target_key][0])
        headers = {"Authorization": f"Bearer {people[actor_key][1]}"}
        if body is not None:
            headers["Content-Type"] = "application/json"
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        try:
            connection.connect()
            barrier.wait(timeout=60)
            outcomes[index] = _outcome(
                http_request(port, method, path, headers, body, connection=connection)
            )
        except Exception as error:  # the report is the point: name whatever went wrong
            outcomes[index] = f"error: {type(error).__name__}: {str(error)[:120]}"

    run_threads(send, plan, timeout=120)
    return outcomes


def test_concurrent_changes_through_both_servers_keep_an_active_owner(
    servers: list[Served], make_user, make_org, add_member
) -> None:
    """Eight clients race demote / suspend / remove / leave of the two owners, each round.

    A refusal is explained as in tests/services/test_last_owner.py: 409 ``last_owner``; 403/404
    when the actor's ownership or membership went first; 422 ``not_members`` when the target
    had already left. Anything else (a 500, a 503 "database is locked") is unexplained.
    """
    rounds = []
    for _ in range(ROUNDS):
        a, b = make_user(), make_user()
        org = make_org(a)
        add_member(org, b, Role.OWNER)
        people = {
            key: (user.id, tokens.create_token(user, "race", via=Via.CLI)[1])
            for key, user in (("A", a), ("B", b))
        }
        rounds.append((org.id, people))
    db.session.commit()

    report = RaceReport()
    rng = random.Random(20261202)
    for org_id, people in rounds:
        plan = PLAN[:]
        rng.shuffle(plan)
        results = _race(servers, org_id, people, plan)
        if active_owners(org_id) == 0:
            report.violations += 1
        judge_round(report, org_id, {key: uid for key, (uid, _) in people.items()}, plan, results)
    report.assert_held(ROUNDS, f"two servers, {db.engine.dialect.name}")
