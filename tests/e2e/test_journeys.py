"""Journeys in real headless Chromium: the owner's from sign-up to deleting the org, and the
admin's refused OWNER grant. No console errors, no page errors, no CSP violations."""

from __future__ import annotations

import re

from playwright.sync_api import expect

from webapp.inputs import MemberQuery
from webapp.models import Role, Via
from webapp.services import member_list, members, organizations, users

PASSWORD = "correct horse battery"


def test_owner_journey(open_session, app, mailbox):
    people = [(f"m{n:02d}@e2e.test", f"Member {n:02d}") for n in range(30)]
    users.create_users(people, via=Via.CLI)
    s = open_session()
    page = s.page

    s.go("/")
    expect(page).to_have_url(re.compile(r"/login$"))
    s.shot("sign-in", full_page=False)
    page.get_by_role("link", name="Create an account").click()
    page.get_by_label("Name").fill("Olivia Owner")
    page.get_by_label("Email").fill("owner@e2e.test")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign up").click()
    expect(page.get_by_role("heading", name="Check your inbox")).to_be_visible()
    # The link in the mail (on the suite's SMTP server) confirms the address and signs in.
    link = re.search(r"https?://\S+(/verify/\S+)", mailbox.to("owner@e2e.test")[-1].text)
    s.go(link.group(1))
    page.get_by_role("button", name="Confirm and sign in").click()
    expect(page).to_have_url(re.compile(r"/orgs$"))
    expect(page.locator("#flashes")).to_contain_text("Welcome to Roster")

    page.get_by_label("Organization name").fill("Umbrella")
    page.get_by_role("button", name="Create organization").click()
    expect(page).to_have_url(re.compile(r"/orgs/\d+$"))
    org_id = int(page.url.rsplit("/", 1)[1])
    expect(page.locator("#flashes")).to_contain_text("Created Umbrella")

    # Add 30 people by pasting their addresses, one per line.
    page.get_by_role("tab", name="Members").or_(page.locator("nav.tabs >> text=Members")).click()
    expect(page).to_have_url(re.compile(rf"/orgs/{org_id}/members$"))
    page.locator("summary", has_text="Add members").click()
    page.get_by_label("Emails or user ids").fill("\n".join(email for email, _ in people))
    page.locator(".add-form").get_by_label("Role").select_option("VIEWER")
    page.get_by_role("button", name="Add members").click()
    expect(page.locator(".add-form .inline-ok")).to_have_text("Added 30 members.")
    expect(page.locator("#members-count")).to_contain_text("of 31 members")
    expect(page.locator("#org-lede")).to_contain_text("31 members")  # the header, too

    # Change one role inline: only that row is swapped.
    row = page.locator("tr", has_text="m03@e2e.test")
    row.get_by_label("Role of Member 03").select_option("CONTRIBUTOR")
    row.get_by_role("button", name="Save").click()
    expect(page.locator("#flashes")).to_contain_text("Member 03 (m03@e2e.test) is now CONTRIBUTOR.")
    expect(
        page.locator("tr", has_text="m03@e2e.test").get_by_label("Role of Member 03")
    ).to_have_value("CONTRIBUTOR")

    # Filter (kept in the URL), then suspend every matching member in one confirmed action.
    page.get_by_label("Search").fill("m1")
    expect(page).to_have_url(re.compile(r"q=m1"))
    expect(page.locator("#members-count")).to_contain_text("of 10 matching members")
    s.shot("members")
    page.get_by_label(re.compile(r"All 10 matching members")).check()
    page.locator("#bulk-form").get_by_role("button", name="Suspend").click()
    expect(page.locator(".confirm-bar")).to_contain_text("Suspend 10 members?")
    s.shot("members-bulk-confirm", full_page=False)
    page.get_by_role("button", name="Suspend 10 members").click()
    expect(page.locator("#flashes")).to_contain_text("Suspended 10 members.")
    expect(page).to_have_url(re.compile(r"q=m1"))
    expect(page.locator("tbody .status-suspended")).to_have_count(10)
    suspended = member_list.list_members(
        organizations_owner(app, org_id), org_id, MemberQuery(is_active=False)
    )
    assert sorted(m.email for m in suspended.items) == [f"m1{n}@e2e.test" for n in range(10)]

    # Back restores the unfiltered list from the server (no page HTML kept in sessionStorage).
    page.go_back()
    expect(page).not_to_have_url(re.compile(r"q=m1"))
    expect(page.locator("#members-count")).to_contain_text("of 31 members")
    assert page.evaluate("sessionStorage.getItem('htmx-history-cache')") is None

    # Sort by a column header, in place.
    page.locator("th a.sort", has_text="Email").click()
    expect(page).to_have_url(re.compile(r"sort_by=email"))
    expect(page.locator("tbody tr").first).to_contain_text("m00@e2e.test")

    page.locator("nav.tabs >> text=Settings").click()
    page.get_by_label("New name").fill("Umbrella Corp")
    page.get_by_role("button", name="Save name").click()
    expect(page.locator("#org-title")).to_have_text("Umbrella Corp")
    s.shot("settings")

    page.locator("nav.tabs >> text=Overview").click()
    chart = page.locator("svg.chart-svg")
    expect(chart).to_be_visible()
    expect(chart.locator("rect.bar-role_viewer")).to_have_count(1)
    expect(page.locator(".metric-members_inactive dd")).to_have_text("10")
    s.shot("overview")

    page.locator("nav.tabs >> text=Activity").click()
    expect(page.locator("#activity")).to_contain_text("renamed the organization")
    s.shot("activity", full_page=False)

    page.locator("nav.tabs >> text=Settings").click()
    page.get_by_label("Type the organization's name to confirm").fill("Umbrella Corp")
    page.get_by_role("button", name="Delete Umbrella Corp").click()
    expect(page).to_have_url(re.compile(r"/orgs$"))
    expect(page.locator("#flashes")).to_contain_text("Deleted Umbrella Corp.")
    s.shot("organizations", full_page=False)


def organizations_owner(app, org_id):
    owner = users.get_user_by_email("owner@e2e.test")
    assert owner is not None and organizations.get_my_role(owner, org_id) is Role.OWNER
    return owner


def test_admin_sees_a_stale_change_to_an_owner_refused_in_the_row(
    open_session, make_user, make_org
):
    owner = make_user(name="Olivia Owner")
    admin = make_user(email="admin@e2e.test", name="Adam Admin")
    person = make_user(email="pat@e2e.test", name="Pat Person")
    org = make_org(owner, "Initech")
    members.add_members(owner, org.id, [admin.id], role=Role.ADMIN, via=Via.CLI)
    members.add_members(owner, org.id, [person.id], role=Role.CONTRIBUTOR, via=Via.CLI)

    s = open_session()
    page = s.page
    s.go(f"/orgs/{org.id}/members")
    expect(page).to_have_url(re.compile(r"/login\?next="))
    page.get_by_label("Email").fill(admin.email)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    expect(page).to_have_url(re.compile(rf"/orgs/{org.id}/members$"))

    # The admin is never offered OWNER; but the owner makes Pat an owner while the admin's
    # page is open, so the admin's next change to Pat's row can only be refused.
    row = page.locator("tr", has_text="pat@e2e.test")
    expect(row.get_by_label("Role of Pat Person").locator("option[value=OWNER]")).to_have_count(0)
    members.update_members(owner, org.id, [person.id], role=Role.OWNER, via=Via.CLI)
    s.problems.allow_status(403)  # the refusal below is the point of this journey
    row.get_by_label("Role of Pat Person").select_option("VIEWER")
    row.get_by_role("button", name="Save").click()
    refused = page.locator("tr.has-error", has_text="pat@e2e.test")
    expect(refused.get_by_role("alert")).to_have_text(
        "Only an owner can grant OWNER or change an owner's membership."
    )
    # The row now shows the truth, and why it offers no controls.
    expect(refused.locator(".role-tag")).to_have_text("OWNER")
    expect(refused.locator(".hint")).to_have_count(1)  # said once, by the refusal above
    expect(refused.locator("select")).to_have_count(0)
    assert organizations.get_my_role(person, org.id) is Role.OWNER
    s.shot("members-refused", full_page=False)

    # The same page at a phone's width, and the tokens page.
    phone = open_session(width=390, height=844)
    phone.page.context.add_cookies(page.context.cookies())
    phone.go(f"/orgs/{org.id}/members")
    expect(phone.page.locator("#members-count")).to_contain_text("of 3 members")
    assert phone.page.evaluate("document.documentElement.scrollWidth") <= 390
    phone.shot("members-phone")
    for path in (f"/orgs/{org.id}", f"/orgs/{org.id}/activity", "/orgs", "/roles"):
        phone.go(path)  # the admin sees the summary and its chart on the overview
        width = phone.page.evaluate("document.documentElement.scrollWidth")
        assert width <= 390, (path, width)

    s.go("/settings/tokens")
    page.get_by_label("Token name").fill("CI sync")
    page.get_by_role("button", name="Create token").click()
    expect(page.locator("#new-token")).to_have_value(re.compile(r"^rst_"))
    s.shot("tokens", full_page=False)
