"""Importing members as an owner does it in a real browser (DESIGN §9 Import): upload a CSV,
read the preview, Apply, read the result, Undo from it, and find the members as they were. The
same without JavaScript, as plain forms."""

from __future__ import annotations

import re
from typing import Any

from playwright.sync_api import expect
from sqlalchemy import select

from webapp.extensions import db
from webapp.models import Invitation, Membership, User


def _members(org_id: int) -> dict[str, tuple[Any, ...]]:
    db.session.commit()  # a new snapshot: what the server has committed since
    rows = db.session.execute(
        select(User.email, Membership.role, Membership.is_active, Membership.created_at)
        .join(User, User.id == Membership.user_id)
        .where(Membership.organization_id == org_id)
        .execution_options(populate_existing=True)
    ).all()
    db.session.commit()
    return {r.email: (r.role.name, r.is_active, r.created_at) for r in rows}


def _file() -> bytes:
    """An add (newbie), an update (p00 to ADMIN, suspended), an invitation (an address without
    an account), everyone else as they are, and p29 left out: sync removes them."""
    lines = ["Email;Role;Is_Active"]  # semicolons and any case, as a spreadsheet may save it
    lines += ["newbie@e2e.test;viewer;", "p00@e2e.test;ADMIN;no", "unknown@nowhere.e2e;VIEWER;"]
    lines += [f"p{n:02d}@e2e.test;CONTRIBUTOR;yes" for n in range(1, 29)]
    lines += ["admin@e2e.test;ADMIN;true", "owner@e2e.test;OWNER;true"]
    return ("\r\n".join(lines) + "\r\n").encode()


def _upload(page: Any, *, sync: bool) -> None:
    page.get_by_label("CSV file", exact=True).set_input_files(
        files=[{"name": "people.csv", "mimeType": "text/csv", "buffer": _file()}]
    )
    if sync:
        page.get_by_label(re.compile("Also remove the members the file leaves out")).check()
    page.get_by_role("button", name="Preview the import").click()


def test_owner_imports_with_a_preview_then_undoes_it(owner_view, make_user):
    org, s, page = owner_view
    make_user(email="newbie@e2e.test", name="Nina Newbie")
    before = _members(org.id)

    s.go(f"/orgs/{org.id}/members")
    page.get_by_role("link", name="Import CSV").click()
    expect(page).to_have_url(re.compile(rf"/orgs/{org.id}/members/import$"))
    expect(page.get_by_role("heading", name="Import members from a CSV file")).to_be_visible()
    _upload(page, sync=True)

    # The preview: counts by kind, then the rows of each kind; nothing has changed yet.
    region = page.locator("#import-region")
    expect(region.get_by_role("heading", name="Preview of people.csv")).to_be_visible()
    counts = region.locator(".import-counts").first
    for text in ("1 to add", "1 to update", "1 to invite", "1 to remove", "30 unchanged"):
        expect(counts).to_contain_text(text)
    region.locator("summary", has_text="to update").click()
    expect(region).to_contain_text("p00@e2e.test: ADMIN, suspended")
    region.locator("summary", has_text="to remove").click()
    expect(region).to_contain_text("p29@e2e.test")
    region.locator("summary", has_text="to invite").click()
    expect(region).to_contain_text("unknown@nowhere.e2e: VIEWER")
    assert _members(org.id) == before

    # Apply: the result, with its Undo.
    region.get_by_role("button", name="Apply the import").click()
    expect(region.get_by_role("heading", name="Import applied")).to_be_visible()
    expect(region.locator(".import-done")).to_contain_text(
        "Import done: added 1, updated 1, invited 1, removed 1."
    )
    after = _members(org.id)
    assert after["newbie@e2e.test"][:2] == ("VIEWER", True)
    assert after["p00@e2e.test"][:2] == ("ADMIN", False)
    assert "p29@e2e.test" not in after
    assert db.session.scalar(select(Invitation.email)) == "unknown@nowhere.e2e"
    s.shot("import-result")

    # Undo from the result: the members page, as it was before the import.
    region.locator(".import-done").get_by_role("button", name="Undo").click()
    expect(page).to_have_url(re.compile(rf"/orgs/{org.id}/members$"))
    expect(page.locator("#flashes")).to_contain_text("Reverted the change.")
    page.get_by_label("Search").fill("p29")
    expect(page.locator("#members-region")).to_contain_text("p29@e2e.test")
    page.get_by_label("Search").fill("newbie")
    expect(page.locator("#members-count")).to_contain_text("No members")
    assert _members(org.id) == before  # roles, flags and joined_at
    db.session.commit()
    assert db.session.scalar(select(Invitation.status)) == "REVOKED"


def test_without_javascript_the_same_forms_post_and_the_activity_log_reverts(
    open_session, crowd_org, make_user
):
    from .conftest import sign_in

    org, owner, _ = crowd_org
    make_user(email="newbie@e2e.test", name="Nina Newbie")
    before = _members(org.id)
    s = open_session(javascript=False)
    sign_in(s, owner)
    page = s.page
    s.go(f"/orgs/{org.id}/members/import")
    _upload(page, sync=False)
    expect(page.get_by_role("heading", name="Preview of people.csv")).to_be_visible()
    expect(page.locator(".import-counts").first).to_contain_text("0 to remove")
    page.get_by_role("button", name="Apply the import").click()
    expect(page.get_by_role("heading", name="Import applied")).to_be_visible()
    assert _members(org.id)["p00@e2e.test"][:2] == ("ADMIN", False)

    # Reverted from the activity log, as any change set.
    s.go(f"/orgs/{org.id}/activity")
    page.get_by_role("button", name=re.compile("^Revert")).first.click()
    expect(page.locator("#flashes")).to_contain_text("Reverted the change.")
    assert _members(org.id) == before
