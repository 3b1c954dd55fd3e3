"""Bulk editing as an admin does it in a real browser (DESIGN §9, last bullet): a selection
made across pages and filters, a bulk change on all of it, its Undo; "every member matching"
replacing the ticked rows visibly; the activity log's Revert."""

from __future__ import annotations

import re

from playwright.sync_api import expect
from sqlalchemy import select

from webapp.extensions import db
from webapp.models import Membership


def _active(org_id: int) -> dict[str, bool]:
    from webapp.models import User

    rows = db.session.execute(
        select(User.email, Membership.is_active)
        .join(User, User.id == Membership.user_id)
        .where(Membership.organization_id == org_id)
        .execution_options(populate_existing=True)
    )
    db.session.commit()
    return dict(rows.all())


def test_select_across_pages_and_filters_then_bulk_suspend_then_undo(owner_view):
    org, s, page = owner_view
    s.go(f"/orgs/{org.id}/members?page_size=10")
    count = page.locator(".js-selected-count")
    note = page.locator(".js-selection-note")
    expect(count).to_have_text("None")

    # Two on the first page, three on the second: the count is the whole selection.
    page.get_by_label("Select Person 00").check()
    page.get_by_label("Select Person 01").check()
    expect(count).to_have_text("2")
    page.locator("#page-next").click()
    expect(page.locator("#members-count")).to_contain_text(re.compile(r"Showing 11\D20"))
    expect(count).to_have_text("2")
    expect(note).to_have_text("(0 on this page)")
    for n in (9, 10, 11):
        page.get_by_label(f"Select Person {n:02d}").check()
    expect(count).to_have_text("5")
    expect(note).to_have_text("(3 on this page)")

    # A filter keeps it; ticked rows that match show ticked.
    page.get_by_label("Search").fill("Person 0")
    expect(page.locator("#members-count")).to_contain_text("matching members")
    expect(count).to_have_text("5")
    expect(page.get_by_label("Select Person 00")).to_be_checked()
    expect(page.get_by_label("Select Person 02")).not_to_be_checked()

    # The bulk change is on all five, named in the confirmation.
    page.locator("#bulk-form").get_by_role("button", name="Suspend").click()
    confirm = page.locator(".confirm-bar")
    expect(confirm).to_contain_text("Suspend 5 members?")
    for n in (0, 1, 9, 10, 11):
        expect(confirm).to_contain_text(f"Person {n:02d} (p{n:02d}@e2e.test)")
    page.get_by_role("button", name="Suspend 5 members").click()
    expect(page.locator("#flashes")).to_contain_text("Suspended 5 members.")
    expect(page.locator(".bulk-done")).to_contain_text("Suspended 5 members.")
    expect(count).to_have_text("None")  # done with: the selection is cleared
    chosen = {f"p{n:02d}@e2e.test" for n in (0, 1, 9, 10, 11)}
    state = _active(org.id)
    assert {email for email, active in state.items() if not active} == chosen

    # Undo, from the message where the change was made: everyone active again, in place.
    page.locator(".bulk-done").get_by_role("button", name="Undo").click()
    expect(page.locator("#flashes")).to_contain_text("Reverted the change.")
    expect(page).to_have_url(re.compile(r"q=Person(\+|%20)0"))
    assert all(_active(org.id).values())
    expect(page.locator("tbody .status-suspended")).to_have_count(0)


def test_every_matching_member_replaces_the_ticked_rows_visibly(owner_view):
    org, s, page = owner_view
    s.go(f"/orgs/{org.id}/members?page_size=10")
    page.get_by_label("Select Person 03").check()
    count = page.locator(".js-selected-count")
    expect(count).to_have_text("1")
    everyone = page.get_by_label(re.compile(r"All 32 members"))
    everyone.check()
    expect(count).to_have_text("All matching")
    expect(page.locator(".js-selection-note")).to_have_text("(instead of the 1 ticked)")
    expect(page.get_by_label("Select Person 04")).to_be_checked()
    expect(page.get_by_label("Select Person 04")).to_be_disabled()
    expect(page.locator("button.clear-selection")).to_be_hidden()
    everyone.uncheck()
    expect(count).to_have_text("1")
    expect(page.get_by_label("Select Person 04")).not_to_be_checked()
    expect(page.get_by_label("Select Person 03")).to_be_checked()
    page.locator("button.clear-selection").click()
    expect(count).to_have_text("None")
    expect(page.get_by_label("Select Person 03")).not_to_be_checked()


def test_revert_a_change_from_the_activity_log(owner_view):
    org, s, page = owner_view
    s.go(f"/orgs/{org.id}/members?page_size=10")
    page.get_by_label("Select Person 05").check()
    page.get_by_label("Select Person 06").check()
    page.locator("#bulk-form").get_by_role("button", name="Remove").click()
    page.get_by_role("button", name="Remove 2 members").click()
    expect(page.locator("#flashes")).to_contain_text("Removed 2 members.")
    assert "p05@e2e.test" not in _active(org.id)

    s.go(f"/orgs/{org.id}/activity?action=member.remove")
    group = page.locator("tbody.change-set").first
    expect(group).to_contain_text("removed")
    group.get_by_role("button", name=re.compile("^Revert")).click()
    expect(page.locator("#flashes")).to_contain_text("Reverted the change.")
    expect(page).to_have_url(re.compile(r"action=member\.remove"))
    state = _active(org.id)
    assert state["p05@e2e.test"] is True and state["p06@e2e.test"] is True
    # Reverting it again is refused, naming who changed since (they are back already).
    s.problems.allow_status(409)
    page.locator("tbody.change-set").first.get_by_role("button", name=re.compile("^Revert")).click()
    expect(page.locator("#flashes")).to_contain_text("Changed since: Person 05 (p05@e2e.test)")


def test_without_session_storage_the_bulk_change_is_on_the_ticked_rows(owner_view):
    """A browser that refuses sessionStorage (disabled, full) still changes what is ticked."""
    org, s, page = owner_view
    page.add_init_script(
        "Storage.prototype.getItem = function () { throw new Error('refused'); };"
        "Storage.prototype.setItem = function () { throw new Error('refused'); };"
    )
    s.go(f"/orgs/{org.id}/members?page_size=10")
    page.get_by_label("Select Person 03").check()
    page.get_by_label("Select Person 04").check()
    page.locator("#bulk-form").get_by_role("button", name="Suspend").click()
    expect(page.locator(".confirm-bar")).to_contain_text("Suspend 2 members?")
    page.get_by_role("button", name="Suspend 2 members").click()
    expect(page.locator("#flashes")).to_contain_text("Suspended 2 members.")
    state = _active(org.id)
    assert {email for email, active in state.items() if not active} == {
        "p03@e2e.test",
        "p04@e2e.test",
    }
