"""The exports in a real browser: the members page's Export CSV saves the filtered list, and the
activity page filters in place and saves what it shows. Downloads go through the browser's
session cookie, as a person's would."""

from __future__ import annotations

import csv
import io
import re
from pathlib import Path

from playwright.sync_api import expect

from webapp.models import Role, Via
from webapp.services import members


def _saved_rows(download) -> list[dict[str, str]]:  # type: ignore[no-untyped-def]
    text = Path(download.path()).read_text(encoding="utf-8")
    return list(csv.DictReader(io.StringIO(text, newline="")))


def test_the_members_export_saves_what_the_filter_shows(owner_view):
    org, s, page = owner_view
    s.go(f"/orgs/{org.id}/members?page_size=10")
    page.get_by_label("Search").fill("Person 1")
    expect(page).to_have_url(re.compile(r"q=Person"))  # the table was filtered in place
    expect(page.locator("#members-count")).to_contain_text("10")
    with page.expect_download() as info:
        page.get_by_role("link", name=re.compile("Export CSV")).click()
    download = info.value
    assert download.suggested_filename == f"roster-{org.id}-members.csv"
    rows = _saved_rows(download)
    assert [r["name"] for r in rows] == [f"Person {n}" for n in range(10, 20)]


def test_the_activity_page_filters_in_place_and_exports(owner_view, crowd_org):
    org, s, page = owner_view
    _, owner, admin = crowd_org
    members.update_members(owner, org.id, [admin.id], role=Role.CONTRIBUTOR, via=Via.WEB)
    s.go(f"/orgs/{org.id}/activity")
    groups = page.locator("tbody.change-set.is-group")
    expect(groups.first).to_contain_text("(30 members, 24 on this page)")  # one bulk add

    page.get_by_label("Member").fill("admin@e2e")
    page.get_by_label("Action").select_option("member.update")
    page.get_by_role("button", name="Filter").click()
    expect(page).to_have_url(re.compile(r"action=member\.update"))
    expect(page.locator("#activity")).to_contain_text("1 event matches")
    expect(page.locator("#activity tbody tr")).to_have_count(1)

    page.get_by_label("From").fill("2999-01-01")
    page.get_by_label("To (included)").fill("2000-01-01")
    s.problems.allow_status(400)
    page.get_by_role("button", name="Filter").click()
    expect(page.locator("#until-error")).to_contain_text("must not be before the first day")
    page.get_by_label("From").fill("")
    page.get_by_label("To (included)").fill("")
    page.get_by_role("button", name="Filter").click()
    expect(page.locator("#activity")).to_contain_text("1 event matches")

    with page.expect_download() as info:
        page.get_by_role("link", name=re.compile("Export CSV")).click()
    rows = _saved_rows(info.value)
    assert [(r["email"], r["old_role"], r["new_role"]) for r in rows] == [
        ("admin@e2e.test", "ADMIN", "CONTRIBUTOR")
    ]
