"""Real headless Chromium against the app served from a thread, on the suite's test database.

Playwright drives Debian's /usr/bin/chromium (``scripts/ensure_chromium.sh`` installs it);
Playwright's own browser download is not used. Every page records console errors, page errors
and CSP violations (Chromium reports those on the console); a test fails if any appear.
"""

from __future__ import annotations

import os
import re
import tempfile
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from flask import Flask
from playwright.sync_api import Browser, ConsoleMessage, Page, expect, sync_playwright
from werkzeug.serving import WSGIRequestHandler, make_server

from webapp.models import Role, User, Via
from webapp.services import members, users

from ..conftest import PASSWORD

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
ROOT = Path(__file__).resolve().parents[2]


class _QuietHandler(WSGIRequestHandler):
    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        """Requests are not logged: the journeys' assertions say what happened."""


@contextmanager
def served(app: Flask) -> Iterator[str]:
    """``app`` on 127.0.0.1 and a free port, served from a thread while the block runs."""
    server = make_server("127.0.0.1", 0, app, threaded=True, request_handler=_QuietHandler)
    thread = threading.Thread(target=server.serve_forever, name="e2e-server", daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        thread.join(timeout=10)
        server.server_close()


@pytest.fixture
def live_server(app: Flask) -> Iterator[str]:
    """The ``app`` fixture's app (same database URL) on 127.0.0.1 and a free port."""
    with served(app) as url:
        yield url


@pytest.fixture(scope="session")
def browser() -> Iterator[Browser]:
    if not os.path.exists(CHROMIUM):
        pytest.fail(f"{CHROMIUM} is missing: run scripts/ensure_chromium.sh")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


_HTTP_STATUS = re.compile(r"^Failed to load resource: the server responded with a status of (\d+)")


@dataclass
class Problems:
    """Console errors, page errors and CSP violations ("Refused to ..." on the console).

    A refusal the test provokes on purpose (a 403 in the row) is logged by Chromium as a failed
    resource; ``allow_status`` accepts exactly those statuses and nothing else.
    """

    messages: list[str] = field(default_factory=list)
    allowed_statuses: set[int] = field(default_factory=set)

    def allow_status(self, status: int) -> None:
        self.allowed_statuses.add(status)

    def console(self, message: ConsoleMessage) -> None:
        text = message.text
        if message.type != "error" and "Content Security Policy" not in text:
            return
        status = _HTTP_STATUS.match(text)
        if status and int(status.group(1)) in self.allowed_statuses:
            return
        self.messages.append(f"console {message.type}: {text} at {message.location}")

    def page_error(self, error: Exception) -> None:
        self.messages.append(f"page error: {error}")


@dataclass
class Session:
    page: Page
    base: str
    problems: Problems
    shots: Path

    def go(self, path: str) -> None:
        self.page.goto(self.base + path)

    def shot(self, name: str, *, full_page: bool = True) -> None:
        # caret="initial": hiding the caret makes Playwright inject a <style>, which the CSP
        # rightly refuses, and which would then count as a violation of ours.
        self.page.screenshot(
            path=str(self.shots / f"{name}.png"), full_page=full_page, caret="initial"
        )


@pytest.fixture(scope="session")
def screenshot_dir() -> Iterator[Path]:
    """docs/screenshots only when ROSTER_UPDATE_SCREENSHOTS=1, so CI never dirties the tree."""
    if os.environ.get("ROSTER_UPDATE_SCREENSHOTS") == "1":
        target = ROOT / "docs" / "screenshots"
        target.mkdir(parents=True, exist_ok=True)
        yield target
    else:
        with tempfile.TemporaryDirectory(prefix="roster-shots-") as tmp:
            yield Path(tmp)


@pytest.fixture
def open_session(
    browser: Browser, live_server: str, screenshot_dir: Path
) -> Iterator[Callable[..., Session]]:
    """``open_session(width=1280)``: a fresh browser context (its own cookies) and page;
    ``javascript=False`` for a browser that runs none."""
    contexts = []
    sessions: list[Session] = []

    def open_(width: int = 1280, height: int = 900, *, javascript: bool = True) -> Session:
        context = browser.new_context(
            viewport={"width": width, "height": height}, java_script_enabled=javascript
        )
        context.set_default_timeout(10_000)
        contexts.append(context)
        page = context.new_page()
        problems = Problems()
        page.on("console", problems.console)
        page.on("pageerror", problems.page_error)
        session = Session(page, live_server, problems, screenshot_dir)
        sessions.append(session)
        return session

    yield open_
    for context in contexts:
        context.close()
    reported = [m for s in sessions for m in s.problems.messages]
    assert reported == [], "browser reported problems:\n" + "\n".join(reported)


# -- shared worlds ---------------------------------------------------------------------------


def sign_in(s: Session, user: User) -> None:
    s.go("/login")
    s.page.get_by_label("Email").fill(user.email)
    s.page.get_by_label("Password").fill(PASSWORD)
    s.page.get_by_role("button", name="Sign in").click()
    expect(s.page).to_have_url(re.compile(r"/orgs$"))


@pytest.fixture
def crowd_org(make_user, make_org):
    owner = make_user(email="owner@e2e.test", name="Olivia Owner")
    admin = make_user(email="admin@e2e.test", name="Adam Admin")
    org = make_org(owner, "Initech")
    members.add_members(owner, org.id, [admin.id], role=Role.ADMIN, via=Via.CLI)
    ids = users.create_users(
        [(f"p{n:02d}@e2e.test", f"Person {n:02d}") for n in range(30)], via=Via.CLI
    )
    members.add_members(owner, org.id, ids, role=Role.CONTRIBUTOR, via=Via.CLI)
    return org, owner, admin


@pytest.fixture
def owner_view(open_session, crowd_org):
    """The crowd's organization, and a browser signed in as its owner: (org, session, page)."""
    org, owner, _ = crowd_org
    s = open_session()
    sign_in(s, owner)
    return org, s, s.page
