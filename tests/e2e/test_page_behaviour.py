"""What people hit on the pages when Roster was tried by hand, each kept fixed in a real browser.

Every test here failed before its fix. The session fixture also fails a test on any console
error, page error or CSP violation (htmx reports a bad selector as a console error).
"""

from __future__ import annotations

import re
import time

import pytest
from playwright.sync_api import Page, expect

from webapp.extensions import db
from webapp.models import Role, Via
from webapp.services import members, organizations, users

from .conftest import sign_in


def focused(page: Page) -> dict[str, str | None]:
    """Where focus is once the swap has settled (htmx settles 20 ms after swapping)."""
    # Polled from here: wait_for_function would evaluate a string in the page, which the CSP
    # (rightly) refuses.
    deadline = time.monotonic() + 5
    while page.evaluate("document.activeElement === document.body") and time.monotonic() < deadline:
        time.sleep(0.05)
    return page.evaluate(
        """() => {
            const el = document.activeElement;
            const row = el && el.closest ? el.closest("tr[data-user-id]") : null;
            return {tag: el ? el.tagName : null, id: el ? el.id : null,
                    row: row ? row.dataset.userId : null,
                    inFlash: !!(el && el.closest && el.closest("#flashes"))};
        }"""
    )


def test_rename_in_place_updates_every_place_that_shows_the_name(owner_view):
    org, s, page = owner_view
    s.go(f"/orgs/{org.id}/settings")
    page.get_by_label("New name").fill("Initrode")
    page.get_by_role("button", name="Save name").click()
    expect(page.locator("#flashes")).to_contain_text("Renamed to Initrode.")
    expect(page).to_have_title("Settings · Initrode · Roster")
    expect(page.locator("#org-title")).to_have_text("Initrode")
    expect(page.locator(".switcher summary")).to_contain_text("Initrode")
    field = page.get_by_label("Type the organization's name to confirm")
    expect(field).to_have_attribute("placeholder", "Initrode")
    # Typing the name shown deletes it (before the fix the form still wanted the old name).
    field.fill("Initrode")
    page.get_by_role("button", name="Delete Initrode").click()
    expect(page).to_have_url(re.compile(r"/orgs$"))
    expect(page.locator("#flashes")).to_contain_text("Deleted Initrode.")


@pytest.mark.parametrize("javascript", [True, False], ids=["htmx", "no-js"])
def test_transfer_shows_its_errors_in_the_form_then_hands_over(open_session, crowd_org, javascript):
    org, owner, admin = crowd_org
    s = open_session(javascript=javascript)
    s.problems.allow_status(400)  # the unconfirmed try below is refused on purpose
    sign_in(s, owner)
    page = s.page
    s.go(f"/orgs/{org.id}/settings")
    form = page.locator("#transfer-form")
    expect(form.get_by_label("Your role afterwards")).to_have_value("ADMIN")
    form.get_by_label("New owner").fill("admin@e2e.test")
    form.get_by_role("button", name="Transfer ownership").click()
    expect(page.locator("#transfer-confirmed-error")).to_have_text(
        "tick the box to confirm the handover"
    )
    # With htmx the form was swapped in place; without, the answer is the page with the form.
    where = "settings" if javascript else "transfer"
    expect(page).to_have_url(re.compile(rf"/orgs/{org.id}/{where}$"))
    expect(form.get_by_label("New owner")).to_have_value("admin@e2e.test")
    assert organizations.get_my_role(admin, org.id) is Role.ADMIN
    form.get_by_label("I understand").check()
    form.get_by_role("button", name="Transfer ownership").click()
    expect(page.locator("#flashes")).to_contain_text(
        "admin@e2e.test is now an owner of Initech; your role is now ADMIN."
    )
    expect(page).to_have_url(re.compile(rf"/orgs/{org.id}/settings$"))
    expect(page.locator("#transfer-form")).to_have_count(0)
    db.session.rollback()  # end the read above: see what the server committed since
    assert organizations.get_my_role(admin, org.id) is Role.OWNER


def test_cancel_on_a_bulk_confirmation_is_clean_and_returns_focus(owner_view):
    org, s, page = owner_view
    s.go(f"/orgs/{org.id}/members?q=person+0")
    page.get_by_label("Select Person 01").check()
    page.locator("#bulk-form").get_by_role("button", name="Suspend").click()
    expect(page.locator(".confirm-bar")).to_contain_text("Suspend 1 member?")
    page.locator(".confirm-bar").get_by_role("link", name="Cancel").click()
    expect(page.locator(".confirm-bar")).to_have_count(0)
    expect(page.locator("#bulk-form button[value=suspend]")).to_be_focused()
    assert s.problems.messages == []  # no "hx-disabled-elt ... returned no matches"


def test_keyboard_changes_keep_focus_on_the_row_or_the_message(owner_view):
    org, s, page = owner_view
    s.go(f"/orgs/{org.id}/members?q=person+0")
    person = users.get_user_by_email("p03@e2e.test")

    # Inline role change with the keyboard: focus the menu, pick, Tab to Save, Enter.
    select = page.get_by_label("Role of Person 03")
    select.focus()
    select.select_option("ACCOUNTING")
    page.keyboard.press("Tab")
    expect(page.locator("tr", has_text="p03@e2e.test").locator("button.save")).to_be_focused()
    page.keyboard.press("Enter")
    expect(page.locator("#flashes")).to_contain_text("ACCOUNTING")
    expect(page.locator("#flashes")).to_have_attribute("aria-live", "polite")
    state = focused(page)
    assert state["row"] == str(person.id) and state["tag"] != "BODY", state

    # Suspend from the row by keyboard: the row asks first, focus on its confirm button; then
    # focus stays on that row's (now Activate) button.
    page.get_by_role("button", name="Suspend Person 03").focus()
    page.keyboard.press("Enter")
    confirm = page.get_by_role("button", name="Confirm: suspend Person 03")
    expect(confirm).to_be_focused()
    page.keyboard.press("Enter")
    activate = page.get_by_role("button", name="Activate Person 03")
    expect(activate).to_be_visible()
    expect(activate).to_be_focused()

    # A bulk change by keyboard: focus goes to the message, which the live region announces.
    page.get_by_label("Select Person 04").focus()
    page.keyboard.press("Space")
    page.locator("#bulk-form").get_by_role("button", name="Change role").focus()
    page.keyboard.press("Enter")
    expect(page.locator("#flashes")).to_contain_text("Changed the role of 1 member")
    state = focused(page)
    assert state["inFlash"], state


def test_a_row_changed_out_of_the_filter_is_named_and_the_count_follows(owner_view):
    org, s, page = owner_view
    s.go(f"/orgs/{org.id}/members?role=CONTRIBUTOR")
    expect(page.locator("#members-count")).to_contain_text("of 30 matching members")
    row = page.locator("tr", has_text="p05@e2e.test")
    row.get_by_label("Role of Person 05").select_option("VIEWER")
    row.get_by_role("button", name="Save").click()
    expect(page.locator("tr.row-gone")).to_contain_text(
        "Person 05 (p05@e2e.test) no longer matches this list."
    )
    expect(page.locator("#members-count")).to_contain_text("of 29 matching members")
    expect(page.locator("#all-matching-text")).to_have_text("All 29 matching members")


def test_every_row_gets_the_tables_role_menu_again_after_a_change(owner_view):
    """The page draws one role menu; each row it may change shows a copy with its own role,
    and the row that answers a change gets one too."""
    org, s, page = owner_view
    s.go(f"/orgs/{org.id}/members?page_size=50")
    expect(page.locator("tbody select.role-select")).to_have_count(32)  # the owner's too
    expect(page.locator("tbody button.set-role")).to_have_count(0)  # the no-JS fallback went
    expect(page.get_by_label("Role of Adam Admin")).to_have_value("ADMIN")
    row = page.locator("tr", has_text="p03@e2e.test")
    menu = row.get_by_label("Role of Person 03")
    expect(menu).to_have_value("CONTRIBUTOR")
    expect(menu.locator("option")).to_have_text(
        ["OWNER", "ADMIN", "CONTRIBUTOR", "ACCOUNTING", "VIEWER"]
    )
    expect(row.get_by_role("button", name="Save the role of Person 03")).to_be_hidden()
    menu.select_option("VIEWER")
    row.get_by_role("button", name="Save the role of Person 03").click()
    expect(page.locator("#flashes")).to_contain_text("Person 03 (p03@e2e.test) is now VIEWER.")
    answered = page.locator("tr", has_text="p03@e2e.test").get_by_label("Role of Person 03")
    expect(answered).to_have_value("VIEWER")
    expect(answered.locator("option")).to_have_count(5)
    expect(page.get_by_role("button", name="Save the role of Person 03")).to_be_hidden()
    expect(page.locator("tbody select.role-select")).to_have_count(32)


def test_without_javascript_rows_show_their_role_and_change_by_plain_posts(open_session, crowd_org):
    org, owner, _ = crowd_org
    s = open_session(javascript=False)
    sign_in(s, owner)
    page = s.page
    s.go(f"/orgs/{org.id}/members?q=person+0")
    expect(page.locator("select.role-select")).to_have_count(0)
    expect(page.locator("tbody .role-tag")).to_have_text(["CONTRIBUTOR"] * 10)
    row = page.locator("tr", has_text="p03@e2e.test")
    # The role: chosen in the table's one menu (the bulk bar's), set on the row.
    page.locator("#bulk-form").get_by_label("New role").select_option("ACCOUNTING")
    row.get_by_role("button", name="Set role: Person 03").click()
    expect(page).to_have_url(re.compile(rf"/orgs/{org.id}/members\?q=person\+0$"))
    expect(page.locator("#flashes")).to_contain_text("Person 03 (p03@e2e.test) is now ACCOUNTING.")
    expect(row.locator(".role-tag")).to_have_text("ACCOUNTING")
    # The status: the row's own button.
    row.get_by_role("button", name="Suspend Person 03").click()
    row.get_by_role("button", name="Confirm: suspend Person 03").click()
    expect(page.locator("#flashes")).to_contain_text("Person 03 (p03@e2e.test) is now suspended.")
    expect(row.locator(".status")).to_have_text("Suspended")
    person = users.get_user_by_email("p03@e2e.test")
    assert organizations.get_my_role(person, org.id) is Role.ACCOUNTING


def test_an_old_message_goes_with_the_next_navigation(owner_view):
    org, s, page = owner_view
    s.go(f"/orgs/{org.id}/members")
    row = page.locator("tr", has_text="p07@e2e.test")
    row.get_by_role("button", name="Suspend Person 07").click()
    row.get_by_role("button", name="Confirm: suspend Person 07").click()
    expect(page.locator("#flashes .flash")).to_contain_text(re.compile("suspended", re.I))
    page.locator("th a.sort", has_text="Email").click()
    expect(page).to_have_url(re.compile(r"sort_by=email"))
    expect(page.locator("#flashes .flash")).to_have_count(0)


def test_the_filter_form_keeps_defaults_out_of_the_url(owner_view):
    org, s, page = owner_view
    s.go(f"/orgs/{org.id}/members")
    page.get_by_label("Search").fill("person 1")
    expect(page.locator("#members-count")).to_contain_text("of 10 matching members")
    expect(page).to_have_url(re.compile(rf"/orgs/{org.id}/members\?q=person(\+|%20)1$"))
    page.get_by_label("Per page").select_option("500")
    expect(page).to_have_url(re.compile(r"page_size=500"))
    assert "sort_by" not in page.url and "sort_ascending" not in page.url
    page.get_by_label("Sort by").select_option("email")
    expect(page).to_have_url(re.compile(r"sort_by=email"))
    expect(page.locator("tbody tr").first).to_contain_text("p10@e2e.test")


def test_escape_closes_the_organization_switcher(owner_view):
    org, s, page = owner_view
    s.go(f"/orgs/{org.id}")
    switcher = page.locator("details.switcher")
    switcher.locator("summary").click()
    expect(switcher).to_have_attribute("open", "")
    page.keyboard.press("Escape")
    expect(switcher).not_to_have_attribute("open", "")
    expect(switcher.locator("summary")).to_be_focused()


def test_an_admin_sees_no_control_that_could_only_be_refused(open_session, crowd_org):
    org, _, admin = crowd_org
    s = open_session()
    sign_in(s, admin)
    page = s.page
    s.go(f"/orgs/{org.id}/members")
    owner_row = page.locator("tr", has_text="owner@e2e.test")
    expect(owner_row.locator("select")).to_have_count(0)
    expect(owner_row.get_by_role("button")).to_have_count(0)
    expect(owner_row.get_by_role("checkbox")).to_be_disabled()
    expect(owner_row).to_contain_text(
        "Only an owner can grant OWNER or change an owner's membership."
    )
    # Every member matching the (unfiltered) list includes the owner: offered disabled, with why.
    expect(page.get_by_label(re.compile(r"All \d+ members"))).to_be_disabled()
    expect(page.locator("#all-matching-why")).to_contain_text("These include 1 OWNER member.")
    for menu in (page.locator("#bulk-role"), page.locator(".add-form select[name=role]")):
        expect(menu.locator("option[value=OWNER]")).to_have_count(0)


LONG = "x" * 100


@pytest.mark.parametrize("width", [1280, 390])
def test_long_unbroken_names_never_widen_the_page(open_session, make_user, make_org, width):
    person = make_user(email=f"{LONG[:90]}@e2e.test", name=LONG)
    org = make_org(person, LONG)
    other = make_user(email=f"{'y' * 90}@e2e.test", name="y" * 100)
    members.add_members(person, org.id, [other.id], role=Role.VIEWER, via=Via.CLI)
    organizations.rename_organization(person, org.id, "z" * 100, via=Via.CLI)
    s = open_session(width=width, height=900)
    sign_in(s, person)
    wide = []
    for path in (
        "/orgs",
        f"/orgs/{org.id}",
        f"/orgs/{org.id}/members",
        f"/orgs/{org.id}/settings",
        f"/orgs/{org.id}/activity",
        "/settings/tokens",
    ):
        s.go(path)
        scroll = s.page.evaluate("document.documentElement.scrollWidth")
        if scroll > width:
            wide.append((path, scroll))
    assert wide == []


def test_every_tab_is_visible_on_a_phone(open_session, crowd_org):
    org, owner, _ = crowd_org
    s = open_session(width=390, height=844)
    sign_in(s, owner)
    s.go(f"/orgs/{org.id}/members")
    tabs = s.page.locator("nav.tabs a")
    expect(tabs).to_have_count(5)  # Overview, Members, Invitations, Activity, Settings
    for i in range(5):
        box = tabs.nth(i).bounding_box()
        assert box and box["x"] >= 0 and box["x"] + box["width"] <= 390, (i, box)
    assert s.page.evaluate(
        "(() => { const n = document.querySelector('nav.tabs');"
        " return n.scrollWidth <= n.clientWidth; })()"
    )
    # The email sort, whose column a phone does not show, is in the filter form.
    s.page.get_by_label("Sort by").select_option("email")
    expect(s.page).to_have_url(re.compile(r"sort_by=email"))


def test_paging_by_keyboard_keeps_focus_and_announces_the_new_count(owner_view):
    org, s, page = owner_view
    s.go(f"/orgs/{org.id}/members?page_size=10")
    page.locator("#page-next").focus()
    page.keyboard.press("Enter")
    expect(page.locator(".pager-pos")).to_have_text("Page 2 of 4")
    expect(page.locator("#page-next")).to_be_focused()
    # The live region outside the swapped list says what it shows now.
    expect(page.locator("#list-status")).to_have_text(
        re.compile(r"Showing 11\u201320 of 32 members")
    )
    page.locator("#page-last").focus()
    page.keyboard.press("Enter")
    expect(page.locator(".pager-pos")).to_have_text("Page 4 of 4")
    expect(page.locator("#members-count")).to_be_focused()  # no Next link on the last page


def test_the_switcher_leads_to_a_search_that_finds_any_organization(owner_view, crowd_org):
    """A member of 12 organizations: the switcher shows the current one and the 8 joined last;
    its "All organizations" link leads to the list, whose search narrows as one types."""
    org, s, page = owner_view
    _, owner, _ = crowd_org
    for n in range(11):
        organizations.create_organization(owner, f"Branch {n:02d}", via=Via.CLI)
    s.go(f"/orgs/{org.id}")
    switcher = page.locator("details.switcher")
    switcher.locator("summary").click()
    expect(switcher.locator("li")).to_have_count(9)
    expect(switcher.locator("li").first).to_contain_text("Initech")
    switcher.get_by_role("link", name=re.compile(r"All organizations \(12\)")).click()
    expect(page).to_have_url(re.compile(r"/orgs$"))
    search = page.get_by_label("Find an organization")
    search.fill("branch 0")
    # Enter as well: on a loaded machine the typing can come before htmx has bound the form,
    # and then only the submit (by htmx, or the plain GET without it) searches.
    search.press("Enter")
    expect(page.locator("#org-count")).to_contain_text("10 of your organizations match")
    expect(page).to_have_url(re.compile(r"/orgs\?q=branch(\+|%20)0$"))
    page.get_by_role("link", name="Branch 00").click()
    expect(page).to_have_url(re.compile(r"/orgs/\d+$"))
    expect(page.locator(".switcher summary")).to_contain_text("Branch 00")


def test_a_quick_keyboard_answer_to_the_row_confirmation_goes_through_htmx(owner_view):
    """Answering the confirmation as soon as it has focus, on a slow machine (every settle
    late): the answer is an htmx request and focus stays on the row, not a page reload."""
    org, s, page = owner_view
    s.go(f"/orgs/{org.id}/members?q=person+0")
    page.evaluate("htmx.config.defaultSettleDelay = 400")
    page.evaluate("window.rosterMark = 'no reload'")
    page.get_by_role("button", name="Suspend Person 04").focus()
    page.keyboard.press("Enter")
    confirm = page.get_by_role("button", name="Confirm: suspend Person 04")
    expect(confirm).to_be_focused()
    page.keyboard.press("Enter")  # at once
    activate = page.get_by_role("button", name="Activate Person 04")
    expect(activate).to_be_visible()
    expect(activate).to_be_focused()
    assert page.evaluate("window.rosterMark") == "no reload"
