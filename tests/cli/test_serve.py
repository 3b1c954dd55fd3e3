"""``roster serve`` in production: real gunicorn processes, spoken to over real sockets.

It refuses to start without a secret key, or with several workers and no Redis (each would count
failures on its own); it trusts forwarded headers only from as many proxies as configured; and
the errors gunicorn answers itself (a request line or headers too long) look like the app's:
problem+json under /api, an HTML page elsewhere. The helpers here also serve
``tests/test_two_processes.py``.
"""

from __future__ import annotations

import http.client
import json
import os
import re
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from email.message import Message
from http.cookies import SimpleCookie
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import pytest

from webapp.cli import _redacted
from webapp.config import REQUEST_LINE_MAX
from webapp.services.values import ID_MAX
from webapp.serving import wants_problem

ROSTER = str(Path(sys.executable).parent / "roster")
SECRET_KEY = "s" * 40
REDIS_URL = os.environ.get("ROSTER_TEST_REDIS_URL", "redis://127.0.0.1:6379/15")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def serve_env(database_url: str, **extra: str) -> dict[str, str]:
    """This process's environment without any ROSTER_ setting, plus the database and ``extra``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("ROSTER_")}
    env["ROSTER_DATABASE_URL"] = database_url
    env.update(extra)
    return env


def roster(env: dict[str, str], *args: str, stdin: str | None = None) -> str:
    """Run a ``roster`` command to completion; its stdout, stripped."""
    result = subprocess.run(
        [ROSTER, *args], env=env, input=stdin, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    return result.stdout.strip()


# -- HTTP over a real socket -----------------------------------------------------------------


@dataclass
class Answer:
    status: int
    headers: Message
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


def http_request(
    port: int,
    method: str,
    target: str,
    headers: dict[str, str] | None = None,
    body: bytes | None = None,
    connection: http.client.HTTPConnection | None = None,
) -> Answer:
    """One request on a fresh connection (or the one given, already connected)."""
    conn = connection or http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        conn.request(method, target, body=body, headers=headers or {})
        response = conn.getresponse()
        return Answer(response.status, response.headers, response.read())
    finally:
        conn.close()


_META_CSRF = re.compile(rb'<meta name="csrf-token" content="([^"]+)"')


@dataclass
class Browser:
    """A cookie jar shared by every server on 127.0.0.1 (cookies ignore ports); no redirects."""

    cookies: dict[str, str] = field(default_factory=dict)

    def request(
        self,
        port: int,
        method: str,
        path: str,
        form: dict[str, str] | None = None,
        headers: dict[str, str] | None = None,
    ) -> Answer:
        headers = dict(headers or {})
        if self.cookies:
            headers["Cookie"] = "; ".join(f"{k}={v}" for k, v in self.cookies.items())
        body = None
        if form is not None:
            body = urlencode(form).encode()
            headers["Content-Type"] = "application/x-www-form-urlencoded"
        answer = http_request(port, method, path, headers, body)
        for header in answer.headers.get_all("Set-Cookie") or []:
            cookie: SimpleCookie = SimpleCookie()
            cookie.load(header)
            for name, morsel in cookie.items():
                if morsel.value and morsel["max-age"] != "0":
                    self.cookies[name] = morsel.value
                else:
                    self.cookies.pop(name, None)
        return answer

    def csrf_token(self, port: int, path: str = "/login", **headers: str) -> str:
        page = self.request(port, "GET", path, headers=headers)
        match = _META_CSRF.search(page.body)
        assert match, f"no csrf meta tag on {path}: {page.status}"
        return match.group(1).decode()

    def sign_in(self, port: int, email: str, password: str, **headers: str) -> Answer:
        token = self.csrf_token(port, **headers)
        form = {"email": email, "password": password, "csrf_token": token}
        return self.request(port, "POST", "/login", form=form, headers=headers)


# -- a running server ------------------------------------------------------------------------


@dataclass
class Served:
    port: int
    log: Path
    token: str = ""  # an API token, when the fixture made one

    def stderr(self) -> str:
        return self.log.read_text()


@contextmanager
def serving(env: dict[str, str], *args: str, log: Path) -> Iterator[Served]:
    """``roster serve *args`` on a free port until the block ends; ready once it answers."""
    port = _free_port()
    with log.open("w") as file:  # a file, not a pipe: a full pipe would stall the server
        server = subprocess.Popen(
            [ROSTER, "serve", "--bind", f"127.0.0.1:{port}", *args],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=file,
        )
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                http_request(port, "GET", "/login")
                break
            except OSError:
                assert server.poll() is None, log.read_text()
                assert time.monotonic() < deadline, "roster serve did not answer in 60 s"
                time.sleep(0.2)  # polling for start-up, not a condition under test
        yield Served(port, log)
    finally:
        server.terminate()
        server.wait(timeout=30)


@pytest.fixture(scope="module")
def database_file(tmp_path_factory: pytest.TempPathFactory) -> str:
    """A migrated SQLite database of this module's own, for its servers."""
    url = f"sqlite:///{tmp_path_factory.mktemp('serve') / 'serve.db'}"
    roster(serve_env(url), "init-db")
    return url


# Low enough to reach in a few requests; only the per-address limit is under test.
FAILURE_LIMITS = {
    "ROSTER_LOGIN_LIMIT_PER_ADDRESS": "3 per minute",
    "ROSTER_LOGIN_LIMIT_PER_EMAIL": "100 per minute",
}


@pytest.fixture(scope="module")
def server(database_file, tmp_path_factory) -> Iterator[Served]:
    """``roster serve`` as it starts with nothing set: no Redis, no proxy, no --workers.

    Its ``token`` is a valid API token, made through the CLI before the server starts.
    """
    env = serve_env(database_file, ROSTER_SECRET_KEY=SECRET_KEY, **FAILURE_LIMITS)
    roster(env, "users", "create", "serve-api@example.com", "--name", "Serve API")
    token = roster(env, "tokens", "create", "serve-api@example.com")
    with serving(env, log=tmp_path_factory.mktemp("server") / "serve.log") as served:
        served.token = token
        yield served


@pytest.fixture(scope="module")
def shared_server(database_file, tmp_path_factory) -> Iterator[Served]:
    """``roster serve`` with Redis and one trusted proxy, still without --workers."""
    env = serve_env(
        database_file,
        ROSTER_SECRET_KEY=SECRET_KEY,
        ROSTER_REDIS_URL=REDIS_URL,
        ROSTER_RATELIMIT_KEY_PREFIX=f"roster-test-serve-{uuid.uuid4().hex}",
        ROSTER_TRUSTED_PROXIES="1",
        **FAILURE_LIMITS,
    )
    with serving(env, log=tmp_path_factory.mktemp("shared") / "serve.log") as served:
        yield served


# -- starting ----------------------------------------------------------------------------------


def test_serve_refuses_without_a_secret_key(tmp_path):
    result = subprocess.run(
        [ROSTER, "serve", "--bind", f"127.0.0.1:{_free_port()}", "--workers", "1"],
        env=serve_env(f"sqlite:///{tmp_path / 'serve.db'}"),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode != 0
    assert "ROSTER_SECRET_KEY must be set" in result.stderr


def test_serve_answers_with_gunicorn(server):
    page = http_request(server.port, "GET", "/login")
    assert page.status == 200
    assert "Content-Security-Policy" in page.headers
    # Static files go out through the socket's sendfile, past the worker's socket wrapper.
    css = http_request(server.port, "GET", "/static/app.css")
    assert css.status == 200 and css.body and int(css.headers["Content-Length"]) == len(css.body)
    log = server.stderr()
    assert "gunicorn" in log.lower() and "Using worker: RosterWorker" in log


@pytest.mark.parametrize(
    ("setting", "said"),
    [
        ({"ROSTER_SIGNUP": "closed"}, "ROSTER_SIGNUP must be open, invite or domains:"),
        ({"ROSTER_SIGNUP": "domains:"}, "ROSTER_SIGNUP must be open, invite or domains:"),
        ({"ROSTER_SMTP_URL": "http://mail.example"}, "ROSTER_SMTP_URL must look like"),
    ],
)
def test_serve_refuses_mail_and_sign_up_settings_it_cannot_read(tmp_path, setting, said):
    result = subprocess.run(
        [ROSTER, "serve", "--bind", f"127.0.0.1:{_free_port()}", "--workers", "1"],
        env=serve_env(
            f"sqlite:///{tmp_path / 'serve.db'}", ROSTER_SECRET_KEY=SECRET_KEY, **setting
        ),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 1
    assert said in result.stderr and "Traceback" not in result.stderr


@pytest.mark.parametrize(
    ("args", "extra"),
    [(["--workers", "2"], {}), ([], {"ROSTER_WORKERS": "3"})],
    ids=["option", "environment"],
)
def test_serve_refuses_several_workers_without_redis(tmp_path, args, extra):
    """Memory storage counts per process: N workers would allow N times each failure limit."""
    result = subprocess.run(
        [ROSTER, "serve", "--bind", f"127.0.0.1:{_free_port()}", *args],
        env=serve_env(f"sqlite:///{tmp_path / 'serve.db'}", ROSTER_SECRET_KEY=SECRET_KEY, **extra),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 1
    assert "Set ROSTER_REDIS_URL" in result.stderr and "one worker" in result.stderr
    assert "Listening at" not in result.stderr


@pytest.mark.parametrize("which", ["server", "shared_server"])
def test_serve_picks_the_workers_and_says_how_limits_hold(request, which):
    """Without --workers: one worker without Redis, 2 x CPUs + 1 with it; said on stderr."""
    served: Served = request.getfixturevalue(which)
    redis = which == "shared_server"
    expected = len(os.sched_getaffinity(0)) * 2 + 1 if redis else 1
    deadline = time.monotonic() + 60
    while served.stderr().count("Booting worker") < expected:
        assert time.monotonic() < deadline, served.stderr()
        time.sleep(0.2)  # waiting for workers to boot, not a condition under test
    log = served.stderr()
    assert f"with {expected} worker{'s' if expected > 1 else ''} of 8 threads" in log
    assert log.count("Booting worker") == expected
    assert "Mail: no ROSTER_SMTP_URL; mails go to the log only (nobody receives them)." in log
    assert "Sign-up: open to anyone, with a verified address (ROSTER_SIGNUP=open)." in log
    assert "Links in mails start with http://localhost." in log
    if redis:
        assert f"Rate limits: in Redis at {REDIS_URL}, shared" in log
    else:
        assert "Rate limits: in this process's memory" in log
        assert "One worker: without ROSTER_REDIS_URL" in log


def test_clients_that_never_finish_their_request_do_not_stall_the_server(server):
    """One worker (the default without Redis) serves with threads: connections that send half a
    request and wait hold a thread each, and everyone else is still answered at once."""
    stalled = []
    try:
        for _ in range(3):
            sock = socket.create_connection(("127.0.0.1", server.port), timeout=5)
            sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n")  # never finished
            stalled.append(sock)
        started = time.monotonic()
        quick = http.client.HTTPConnection("127.0.0.1", server.port, timeout=5)
        answer = http_request(server.port, "GET", "/healthz", connection=quick)
        assert answer.status == 200
        assert time.monotonic() - started < 3
    finally:
        for sock in stalled:
            sock.close()


def test_the_redis_password_is_not_printed():
    assert _redacted("redis://:hunter2@cache:6379/0") == "redis://:***@cache:6379/0"
    assert _redacted("redis://app:hunter2@cache/1") == "redis://app:***@cache/1"
    assert _redacted("redis://cache:6379/0") == "redis://cache:6379/0"


# -- forwarded headers -------------------------------------------------------------------------


@pytest.mark.parametrize("which", ["server", "shared_server"])
def test_forwarded_headers_count_only_from_trusted_proxies(request, which):
    """By default a client reaching the port cannot pick its address or scheme by header.

    Each wrong password comes with a new ``X-Forwarded-For``. Trusting no proxy (``server``),
    they all count against the connecting address and the fourth is refused; trusting one proxy
    (``shared_server``; the test plays the proxy), each is its own address. ``X-Forwarded-Proto:
    https`` likewise makes the answer HTTPS (HSTS, a ``Secure`` cookie) only from a trusted
    proxy: neither ProxyFix nor gunicorn may take it from anyone else.
    """
    served: Served = request.getfixturevalue(which)
    trusted = which == "shared_server"
    # Addresses of this run only (2001:db8::/32 is for documentation), should Redis hold others'.
    run = uuid.uuid4().hex[:4]
    statuses = [
        Browser()
        .sign_in(
            served.port,
            f"nobody{n}@example.com",
            "wrong password!",
            **{"X-Forwarded-For": f"2001:db8::{run}:{n + 1}"},
        )
        .status
        for n in range(4)
    ]
    page = http_request(served.port, "GET", "/login", {"X-Forwarded-Proto": "https"})
    assert statuses == ([401] * 4 if trusted else [401, 401, 401, 429])
    assert ("Strict-Transport-Security" in page.headers) is trusted
    assert ("Secure" in page.headers["Set-Cookie"]) is trusted
    log = served.stderr()
    assert ("Trusted proxies: 1;" if trusted else "Trusted proxies: none;") in log


# -- what gunicorn answers itself ---------------------------------------------------------------


def _id_list(length: int) -> str:
    """Distinct valid user ids, comma-separated, exactly ``length`` characters long."""
    parts: list[str] = []
    next_id = 100_000
    while True:
        used = sum(map(len, parts)) + len(parts)  # the ids and a comma after each
        room = length - used
        if room <= 19:  # the last id takes what is left: 1 to 19 digits, none seen before
            parts.append("8" * room)
            return ",".join(parts)
        parts.append(str(next_id))
        next_id += 1


def _documented_max(port: int) -> tuple[int, str]:
    document = http_request(port, "GET", "/api/openapi.json").json()
    operation = document["paths"]["/organizations/{organization_id}/users/{user_ids}"]
    (parameter,) = [p for p in operation["delete"]["parameters"] if p["name"] == "user_ids"]
    return parameter["schema"]["maxLength"], parameter["description"]


def test_the_documented_id_list_is_what_the_server_takes(server):
    """A DELETE at the documented maximum reaches the app; one byte more is 414 problem+json."""
    max_length, description = _documented_max(server.port)
    assert f"{(max_length + 1) // 20:,} ids of 19 digits" in description
    assert f"{(max_length + 1) // 7:,} of 6 digits" in description
    auth = {"Authorization": f"Bearer {server.token}"}
    longest = f"/api/organizations/{ID_MAX}/users/{_id_list(max_length)}"
    assert len(f"DELETE {longest} HTTP/1.1") == REQUEST_LINE_MAX  # the bound is exact

    reached = http_request(server.port, "DELETE", longest, auth)
    assert reached.status == 404, reached.body[:300]  # the app's answer: no such organization
    assert reached.headers["Content-Type"] == "application/problem+json"
    assert reached.json()["code"] == "not_found"

    too_long = http_request(server.port, "DELETE", longest + "8", auth)
    assert too_long.status == 414
    assert too_long.headers["Content-Type"] == "application/problem+json"
    assert too_long.json()["code"] == "uri_too_long"


@pytest.mark.parametrize(
    ("target", "headers", "status", "api"),
    [
        ("/api/organizations", {"X-Filler": "a" * 9000}, 431, True),
        ("/api/organizations?q=" + "a" * 9000, {}, 414, True),
        ("/%61pi/organizations?q=" + "a" * 9000, {}, 414, True),  # the app routes it to /api
        ("/orgs?q=" + "a" * 9000, {}, 414, False),
        ("/orgs", {"X-Filler": "a" * 9000}, 431, False),
        ("/apiary?q=" + "a" * 9000, {}, 414, False),
    ],
    ids=["api-header", "api-url", "api-encoded", "page-url", "page-header", "not-api"],
)
def test_what_gunicorn_refuses_looks_like_the_app(server, target, headers, status, api):
    answer = http_request(server.port, "GET", target, headers)
    assert answer.status == status
    assert answer.headers["X-Content-Type-Options"] == "nosniff"
    assert "frame-ancestors 'none'" in answer.headers["Content-Security-Policy"]
    if api:
        assert answer.headers["Content-Type"] == "application/problem+json"
        problem = answer.json()
        assert set(problem) == {"type", "title", "status", "detail", "code"}
        assert problem["status"] == status
        assert problem["code"] == {414: "uri_too_long", 431: "headers_too_large"}[status]
    else:
        assert answer.headers["Content-Type"] == "text/html; charset=utf-8"
        page = answer.body.decode()
        assert page.startswith("<!doctype html>") and f">{status}<" in page


@pytest.mark.parametrize(
    ("head", "problem"),
    [
        (b"GET /api/organizations HTTP/1.1\r\nHost: x\r\n", True),
        (b"GET /api HTTP/1.1\r\n", True),
        (b"GET /api?x=1 HTTP/1.1\r\n", True),
        (b"GET /%61pi/x HTTP/1.1\r\n", True),
        (b"GET http://roster.test/api/x HTTP/1.1\r\n", True),
        (b"DELETE /api/organizations/1/users/1,2,3", True),  # cut short, but under /api
        (b"GET /orgs HTTP/1.1\r\n", False),
        (b"GET /apiary HTTP/1.1\r\n", False),
        (b"GET /orgs/1/members?q=aaaa", False),  # cut short, known to be elsewhere
        (b"GET http://roster.test/orgs HTTP/1.1\r\n", False),
        (b"GET /ap", True),  # cut before the target can be told apart
        (b"GET /%6", True),
        (b"GET http://roster.te", True),
        (b"GARBAGE", True),
        (b"", True),
    ],
)
def test_an_unreadable_target_gets_problem_json(head, problem):
    """HTML only for a target known to be outside /api; anything unsure is problem+json."""
    assert wants_problem(head) is problem


def test_workers_fork_from_a_frozen_app(app):
    """gunicorn takes the hook (it checks its arity), and the hook moves the loaded app's
    objects out of reach of a worker's full collections (T8 of issue 9)."""
    import gc

    from webapp import serving

    server = serving.Server(app, serving.gunicorn_options("127.0.0.1:0", 1, 1))
    assert server.cfg.pre_fork is serving.freeze_before_fork
    gc.unfreeze()
    try:
        server.cfg.pre_fork(None, None)
        assert gc.get_freeze_count() > 10_000
    finally:
        gc.unfreeze()
