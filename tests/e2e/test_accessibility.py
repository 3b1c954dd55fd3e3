"""axe-core finds no accessibility violation on any page, at a desktop's and a phone's width,
signed in as an OWNER, as a VIEWER, and signed out (issue 7.4).

axe-core comes from npm (``package.json``; ``npm ci`` puts it in ``node_modules``). It runs its
default rule set, which is what "0 violations" means: ``axe.run`` with no ``runOnly``, i.e. the
WCAG 2.0 / 2.1 A and AA rules, the WCAG 2.2 ones axe enables by default, and axe's best
practices (90 rules in axe 4.14; AAA, experimental, deprecated and ``target-size`` are off).
It is injected with ``page.add_script_tag`` in a browser context created with
``bypass_csp=True``, for the scan only; the journeys check the CSP itself.

One test per page x width x user, so a failure names its page. The data, the server and the
sign-ins are built once for the module. ``ROSTER_AXE_REPORT=<file>`` appends one JSON line per
scan (its violations, with their nodes) for before/after tables.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from argon2 import PasswordHasher, profiles
from flask import Flask
from playwright.sync_api import Browser, Page, expect
from sqlalchemy import update

from tests.conftest import _schema_ready, empty_tables, reset_schema
from tests.e2e.conftest import served
from tests.mailbox import SmtpServer
from webapp import create_app
from webapp.extensions import db
from webapp.models import Invitation, Role, Via
from webapp.services import invitations, members, organizations, tokens, users

ROOT = Path(__file__).resolve().parents[2]
AXE = ROOT / "node_modules" / "axe-core" / "axe.min.js"
PASSWORD = "correct horse battery"
WIDTHS = {1280: 900, 390: 844}  # width: height

# The role and state of member n. 60 members plus the owner and the viewer: three pages of 25,
# page 1 with every role below OWNER and suspended rows, page 3 with the owner and the viewer.
MEMBER_ROLES = [Role.VIEWER, Role.CONTRIBUTOR, Role.ACCOUNTING, Role.ADMIN]


def _suspended(n: int) -> bool:
    return n % 7 == 3


@dataclass(frozen=True)
class World:
    """What the module's data is: the org everyone is in, and one where both are suspended."""

    org_id: int
    suspended_org_id: int
    emails: dict[str, str]  # "owner" / "viewer" -> email
    reset_token: str  # a password reset link's token (for Gina, who is never signed in here)


# -- what each page needs before the scan ---------------------------------------------------


def _htmx_idle(page: Page) -> None:
    busy = ".htmx-request, .htmx-swapping, .htmx-settling, .htmx-added"
    page.wait_for_function(f"() => !document.querySelector({busy!r})")


def _open_add_form(page: Page) -> None:
    page.locator("summary", has_text="Add members").click()
    expect(page.get_by_label("Emails or user ids")).to_be_visible()


def _confirm_bar(page: Page) -> None:
    rows = page.locator("input.select-row")
    rows.nth(1).check()
    rows.nth(2).check()
    page.locator("#bulk-form button[value=suspend]").click()
    expect(page.locator(".confirm-bar")).to_contain_text("Suspend 2 members?")


def _bulk_error(page: Page) -> None:
    page.locator("#bulk-form button[value=suspend]").click()
    expect(page.locator("#bulk-form [role=alert]")).to_contain_text("Select at least one")


def _new_token(page: Page) -> None:
    page.get_by_label("Token name").fill("Deploy bot")
    page.get_by_role("button", name="Create token").click()
    expect(page.locator("#new-token")).to_have_value(re.compile(r"^rst_"))


def _new_service_token(page: Page) -> None:
    page.get_by_label("Name", exact=True).fill("HR sync")
    page.get_by_label("Scope").select_option("write")
    page.get_by_role("button", name="Create service token").click()
    expect(page.locator("#new-service-token")).to_have_value(re.compile(r"^rss_"))


def _service_token_error(page: Page) -> None:
    page.get_by_role("button", name="Create service token").click()
    expect(page.locator(".field-error").first).to_be_visible()


def _failed_sign_in(page: Page) -> None:
    page.get_by_label("Email").fill("nobody@a11y.test")
    page.get_by_label("Password").fill("not the password")
    page.locator("main").get_by_role("button", name="Sign in").click()
    expect(page.locator(".form-errors")).to_be_visible()


def _empty_sign_up(page: Page) -> None:
    page.locator("main").get_by_role("button", name="Sign up").click()
    expect(page.locator(".field-error").first).to_be_visible()


def _empty_name(page: Page) -> None:
    page.get_by_role("textbox", name="Name").fill("")
    page.get_by_role("button", name="Save name").click()
    expect(page.locator(".field-error").first).to_be_visible()


def _import_preview(page: Page, extra: bytes = b"") -> None:
    page.get_by_label("CSV file", exact=True).set_input_files(
        files=[
            {
                "name": "people.csv",
                "mimeType": "text/csv",
                "buffer": b"email,role\nm01@a11y.test,ADMIN\nnew.person@a11y.test,VIEWER\n" + extra,
            }
        ]
    )
    page.get_by_role("button", name="Preview the import").click()
    expect(page.get_by_role("heading", name="Preview of people.csv")).to_be_visible()
    for summary in page.locator("#import-region summary").all():
        summary.click()  # the rows of each kind, unfolded


def _import_preview_errors(page: Page) -> None:
    _import_preview(page, b"not-an-address,NOPE\n")
    expect(page.locator("#import-errors")).to_be_visible()


def _import_bad_file(page: Page) -> None:
    page.get_by_label("CSV file", exact=True).set_input_files(
        files=[{"name": "photo.csv", "mimeType": "text/csv", "buffer": b"\x89PNG\x00\x00"}]
    )
    page.get_by_role("button", name="Preview the import").click()
    expect(page.locator("#import-file-error")).to_be_visible()


@dataclass(frozen=True)
class Case:
    """A page in one state. ``paths`` maps each user who can reach it to its URL ("{org}" and
    "{suspended_org}", "{reset}" are filled in), ``status`` is the answer expected on loading it."""

    name: str
    paths: dict[str, str]
    prepare: Callable[[Page], None] | None = None
    status: int = 200


OWNER, VIEWER, ANONYMOUS = "owner", "viewer", "anonymous"
MEMBERS = "/orgs/{org}/members"
IMPORT = "/orgs/{org}/members/import"
INVITATION_TOKEN = "a11y-invitation-link-token-0123456789abcdef"
INVITATION = f"/invitations/{INVITATION_TOKEN}"
SERVICE_TOKENS = "/orgs/{org}/settings/tokens"
CASES = [
    Case("login", {ANONYMOUS: "/login"}),
    Case("login-failed", {ANONYMOUS: "/login"}, _failed_sign_in),
    Case("signup", {ANONYMOUS: "/signup"}),
    Case("signup-errors", {ANONYMOUS: "/signup"}, _empty_sign_up),
    Case("roles", {ANONYMOUS: "/roles", OWNER: "/roles", VIEWER: "/roles"}),
    Case("api-docs", {ANONYMOUS: "/api/docs", OWNER: "/api/docs", VIEWER: "/api/docs"}),
    Case("orgs", {OWNER: "/orgs", VIEWER: "/orgs"}),
    Case("overview", {OWNER: "/orgs/{org}", VIEWER: "/orgs/{org}"}),
    Case("members", {OWNER: MEMBERS, VIEWER: MEMBERS}),
    Case("members-last-page", {OWNER: MEMBERS + "?page=3", VIEWER: MEMBERS + "?page=3"}),
    Case("members-no-match", {OWNER: MEMBERS + "?q=zz-nobody", VIEWER: MEMBERS + "?q=zz-nobody"}),
    Case("members-add-open", {OWNER: MEMBERS}, _open_add_form),
    Case("members-confirm", {OWNER: MEMBERS}, _confirm_bar),
    Case("members-bulk-error", {OWNER: MEMBERS}, _bulk_error),
    Case("settings", {OWNER: "/orgs/{org}/settings"}),  # a viewer is refused (403)
    Case("activity", {OWNER: "/orgs/{org}/activity"}),
    Case("import", {OWNER: IMPORT}),  # a viewer is refused (403)
    Case("import-preview", {OWNER: IMPORT}, _import_preview),
    Case("import-preview-errors", {OWNER: IMPORT}, _import_preview_errors),
    Case("import-bad-file", {OWNER: IMPORT}, _import_bad_file),
    Case("tokens", {OWNER: "/settings/tokens", VIEWER: "/settings/tokens"}),
    Case("invitations", {OWNER: "/orgs/{org}/invitations"}),  # a viewer is refused (403)
    Case("invitation-link", {ANONYMOUS: INVITATION}),
    Case("invitation-wrong-person", {OWNER: INVITATION, VIEWER: INVITATION}, status=403),
    Case("invitation-signup", {ANONYMOUS: INVITATION + "/signup"}),
    Case("invitation-gone", {ANONYMOUS: "/invitations/" + "x" * 43}, status=404),
    Case("signup-sent", {ANONYMOUS: "/signup/sent"}),
    Case("verify", {ANONYMOUS: "/verify/a-link-from-a-mail"}),
    Case("outbox", {ANONYMOUS: "/dev/outbox"}),
    Case("tokens-new", {OWNER: "/settings/tokens", VIEWER: "/settings/tokens"}, _new_token),
    Case("service-tokens", {OWNER: SERVICE_TOKENS}),  # a viewer is refused (403)
    Case("service-tokens-new", {OWNER: SERVICE_TOKENS}, _new_service_token),
    Case("service-tokens-error", {OWNER: SERVICE_TOKENS}, _service_token_error),
    # The owner is Umbrella's only owner: the page lists it beside the delete form.
    Case("account", {OWNER: "/settings/account", VIEWER: "/settings/account"}),
    Case("account-error", {VIEWER: "/settings/account"}, _empty_name),
    Case("forgot", {ANONYMOUS: "/password/forgot"}),
    Case("reset", {ANONYMOUS: "/password/reset/{reset}"}),
    Case("reset-gone", {ANONYMOUS: "/password/reset/not-a-link"}, status=410),
    Case(
        "error-404",
        {ANONYMOUS: "/no-such-page", OWNER: "/no-such-page", VIEWER: "/no-such-page"},
        status=404,
    ),
    # A viewer may not read the activity log; a suspended member may not open the org.
    Case(
        "error-403",
        {OWNER: "/orgs/{suspended_org}", VIEWER: "/orgs/{org}/activity"},
        status=403,
    ),
]
SCANS = [
    pytest.param(case, width, user, id=f"{case.name}-{width}-{user}")
    for case in CASES
    for width in WIDTHS
    for user in case.paths
]


# -- module fixtures: one database, one server, one sign-in per user -------------------------


@pytest.fixture(scope="module")
def axe_script() -> Path:
    if not AXE.is_file():
        pytest.fail(f"{AXE} is missing: run `npm ci` in {ROOT} (axe-core is in package.json)")
    return AXE


@pytest.fixture(scope="module")
def scan_app(
    database_url: str, smtp_server: SmtpServer, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Flask]:
    """The app on the suite's database, emptied and filled once for this module."""
    config = {
        "TESTING": True,
        "SECRET_KEY": "test-secret-key",
        "SQLALCHEMY_DATABASE_URI": database_url,
        "RATELIMIT_STORAGE_URI": "memory://",
        "ROSTER_SMTP_URL": smtp_server.url,
        "ROSTER_OUTBOX_DIR": str(tmp_path_factory.mktemp("scan-outbox")),
    }
    app = create_app(config)
    with pytest.MonkeyPatch.context() as patch, app.app_context():
        patch.setattr(users, "password_hasher", PasswordHasher.from_parameters(profiles.CHEAPEST))
        _fresh_schema(database_url)
        yield app
        db.session.remove()
        db.engine.dispose()


def _fresh_schema(url: str) -> None:
    """Empty tables at the current schema: what the suite's ``app`` fixture does."""
    if url in _schema_ready:
        empty_tables()
    else:
        reset_schema()
        _schema_ready.add(url)


@pytest.fixture(scope="module")
def world(scan_app: Flask) -> World:
    owner = users.create_user("owner@a11y.test", "Olivia Owner", PASSWORD, via=Via.CLI)
    viewer = users.create_user("viewer@a11y.test", "Victor Viewer", PASSWORD, via=Via.CLI)
    other = users.create_user("gina@a11y.test", "Gina Globex", PASSWORD, via=Via.CLI)
    org = organizations.create_organization(owner, "Umbrella", via=Via.CLI)
    people = [(f"m{n:02d}@a11y.test", f"Member {n:02d}") for n in range(60)]
    ids = users.create_users(people, via=Via.CLI)
    groups: dict[tuple[Role, bool], list[int]] = {}
    for n, user_id in enumerate(ids):
        key = (MEMBER_ROLES[n % len(MEMBER_ROLES)], not _suspended(n))
        groups.setdefault(key, []).append(user_id)
    for (role, active), group in groups.items():
        members.add_members(owner, org.id, group, role=role, is_active=active, via=Via.CLI)
    members.add_members(owner, org.id, [viewer.id], role=Role.VIEWER, via=Via.CLI)
    organizations.rename_organization(owner, org.id, "Umbrella Corp", via=Via.CLI)

    # Both are suspended in another org: the org list shows it, opening it is refused.
    globex = organizations.create_organization(other, "Globex", via=Via.CLI)
    members.add_members(
        other, globex.id, [owner.id, viewer.id], role=Role.VIEWER, is_active=False, via=Via.CLI
    )
    for person in (owner, viewer):  # the token table: one live token, one revoked
        tokens.create_token(person, "CI sync", via=Via.CLI)
        revoked, _ = tokens.create_token(person, "Old laptop", via=Via.CLI)
        tokens.revoke_token(person, revoked.id, via=Via.CLI)
    made = invitations.invite(
        owner, org.id, ["new.hire@a11y.test", "cfo@a11y.test"], Role.ACCOUNTING, via=Via.CLI
    )
    invitations.invite(owner, org.id, ["co.owner@a11y.test"], Role.OWNER, via=Via.CLI)
    invitations.revoke(owner, org.id, made.invitations[1].id, via=Via.CLI)
    # The first invitation's link, known to the scan (the mailed one is random).
    db.session.execute(
        update(Invitation)
        .where(Invitation.id == made.invitations[0].id)
        .values(token_hash=invitations.hash_token(INVITATION_TOKEN))
    )
    db.session.commit()
    return World(
        org.id,
        globex.id,
        {OWNER: owner.email, VIEWER: viewer.email},
        users.password_reset_token(other),
    )


@pytest.fixture(scope="module")
def scan_server(scan_app: Flask) -> Iterator[str]:
    with served(scan_app) as url:
        yield url


@pytest.fixture(scope="module")
def signed_in(browser: Browser, scan_server: str, world: World) -> dict[str, Any]:
    """Each user's cookies after signing in through the form (a context with the CSP on)."""
    states: dict[str, Any] = {ANONYMOUS: None}
    for user, email in world.emails.items():
        context = browser.new_context()
        try:
            page = context.new_page()
            page.goto(scan_server + "/login")
            page.get_by_label("Email").fill(email)
            page.get_by_label("Password").fill(PASSWORD)
            page.locator("main").get_by_role("button", name="Sign in").click()
            page.wait_for_url(scan_server + "/orgs")
            states[user] = context.storage_state()
        finally:
            context.close()
    return states


# -- the scan ---------------------------------------------------------------------------------

_RUN_AXE = """async () => {
  const result = await axe.run(document, {resultTypes: ["violations"]});
  return result.violations.map((v) => ({
    id: v.id,
    impact: v.impact,
    help: v.help,
    nodes: v.nodes.map((n) => ({
      target: n.target.map(String).join(" "),
      data: (n.any.find((c) => c.data && c.data.contrastRatio) || {}).data || null,
    })),
  }));
}"""


def _describe(where: str, violation: dict[str, Any]) -> str:
    nodes = []
    for node in violation["nodes"]:
        data = node["data"]
        contrast = (
            f" [{data['fgColor']} on {data['bgColor']} = {data['contrastRatio']}:1,"
            f" needs {data['expectedContrastRatio']}]"
            if data
            else ""
        )
        nodes.append(node["target"] + contrast)
    return (
        f"{where}: {violation['id']} ({violation['impact']}) {violation['help']}\n    "
        + "\n    ".join(nodes)
    )


def _report(where: str, violations: list[dict[str, Any]]) -> None:
    target = os.environ.get("ROSTER_AXE_REPORT")
    if target:
        with open(target, "a", encoding="utf-8") as out:
            out.write(json.dumps({"scan": where, "violations": violations}) + "\n")


@pytest.mark.parametrize(("case", "width", "user"), SCANS)
def test_no_axe_violations(
    case: Case,
    width: int,
    user: str,
    browser: Browser,
    scan_server: str,
    world: World,
    signed_in: dict[str, Any],
    axe_script: Path,
) -> None:
    context = browser.new_context(
        viewport={"width": width, "height": WIDTHS[width]},
        bypass_csp=True,  # only so that axe can be injected
        storage_state=signed_in[user],
    )
    context.set_default_timeout(10_000)
    try:
        page = context.new_page()
        path = case.paths[user].format(
            org=world.org_id, suspended_org=world.suspended_org_id, reset=world.reset_token
        )
        response = page.goto(scan_server + path)
        assert response is not None and response.status == case.status, (path, response)
        if case.prepare:
            case.prepare(page)
        _htmx_idle(page)
        violations = _axe(page, axe_script)
    finally:
        context.close()
    _assert_none(f"{case.name} at {width}px as {user}", violations)


def _axe(page: Page, axe_script: Path) -> list[dict[str, Any]]:
    page.add_script_tag(path=str(axe_script))
    violations: list[dict[str, Any]] = page.evaluate(_RUN_AXE)
    return violations


def _assert_none(where: str, violations: list[dict[str, Any]]) -> None:
    _report(where, violations)
    assert violations == [], f"axe found {len(violations)} violation(s):\n" + "\n".join(
        _describe(where, v) for v in violations
    )


def test_a_known_violation_is_reported(
    browser: Browser, scan_server: str, axe_script: Path
) -> None:
    """The scan can fail: an image without alternative text on a page is found."""
    context = browser.new_context(bypass_csp=True)
    try:
        page = context.new_page()
        page.goto(scan_server + "/login")
        page.evaluate(
            "() => document.querySelector('main').append(Object.assign("
            "document.createElement('img'), {src: '/static/favicon.svg'}))"
        )
        violations = _axe(page, axe_script)
    finally:
        context.close()
    assert "image-alt" in [v["id"] for v in violations]


def _fault_page(scan_app: Flask) -> str:
    """The page of a 503 as the error handler renders it (from the fault layout alone)."""
    from webapp.errors import UNAVAILABLE_DETAIL
    from webapp.web.errors import _error_page

    with scan_app.test_request_context("/orgs"):
        return _error_page(503, "Service Unavailable", UNAVAILABLE_DETAIL, fault=True)


def _server_page() -> str:
    """The page ``roster serve`` answers itself for a request too long to reach the app."""
    from webapp.serving import error_answer

    return error_answer(414, "Request-URI Too Long", api=False).partition(b"\r\n\r\n")[2].decode()


@pytest.mark.parametrize("width", list(WIDTHS))
@pytest.mark.parametrize("which", ["fault", "server"])
def test_no_axe_violations_on_pages_made_without_the_app(
    which: str,
    width: int,
    browser: Browser,
    scan_app: Flask,
    scan_server: str,
    axe_script: Path,
) -> None:
    """The 500/503 page (drawn when the database may be down) and gunicorn's own error page
    in Roster's form: neither can be reached on purpose, so each is served at a URL of the
    scan server (its stylesheet loads from there) and scanned like the others."""
    html = _fault_page(scan_app) if which == "fault" else _server_page()
    context = browser.new_context(
        viewport={"width": width, "height": WIDTHS[width]}, bypass_csp=True
    )
    try:
        page = context.new_page()
        page.route(
            scan_server + "/error-page",
            lambda route: route.fulfill(status=503, content_type="text/html", body=html),
        )
        page.goto(scan_server + "/error-page")
        expect(page.locator(".error-status")).to_be_visible()
        violations = _axe(page, axe_script)
    finally:
        context.close()
    _assert_none(f"{which} error page at {width}px", violations)
