"""Organizations in the browser: create, overview and its chart, leave, rename, delete with a
typed confirmation, the activity log and the role guide generated from the permission table."""

from __future__ import annotations

import re

import pytest

from webapp.models import Role, Via
from webapp.services import members, organizations, users
from webapp.services.errors import NotFound
from webapp.services.permissions import PERMISSIONS


def test_create_organization_makes_me_its_owner(browser_for, make_user):
    user = make_user()
    browser = browser_for(user)
    response = browser.post("/orgs", {"organization_name": "  Globex  "})
    assert response.status_code == 302
    [account] = organizations.list_my_organizations(user)
    assert account.organization_name == "Globex" and account.role is Role.OWNER
    assert response.headers["Location"] == f"/orgs/{account.id}"
    listing = browser.get("/orgs").text
    assert "Globex" in listing and "OWNER" in listing


def test_create_with_htmx_navigates_to_the_new_org(browser_for, make_user):
    response = browser_for(make_user()).post("/orgs", {"organization_name": "Initech"}, htmx=True)
    assert response.status_code == 200
    assert re.fullmatch(r"/orgs/\d+", response.headers["HX-Redirect"])


@pytest.mark.parametrize("name", ["", "x" * 101, "bad\x07name"])
def test_invalid_organization_name_is_shown_in_the_form(browser_for, make_user, name):
    response = browser_for(make_user()).post("/orgs", {"organization_name": name}, htmx=True)
    assert response.status_code == 400
    assert response.text.lstrip().startswith("<form")
    assert 'aria-invalid="true"' in response.text


def test_overview_draws_the_chart_in_svg_without_style_attributes(browser_for, team):
    html = browser_for(team.owner).get(f"/orgs/{team.org.id}").text
    svg = re.search(r"<svg viewBox.*?</svg>", html, re.S).group(0)
    assert 'role="img"' in svg and "<title" in svg
    assert "Contributor: 5." in svg and "Active: 8." in svg
    assert len(re.findall(r'class="chart-bar bar-role_', svg)) == 5
    assert "style=" not in svg
    assert "single owner" in html
    assert "You are <span" in html and "OWNER" in html


def test_no_single_owner_warning_with_two_owners(browser_for, team, add_member, make_user):
    second = make_user()
    add_member(team.org, second, Role.OWNER)
    assert "single owner" not in browser_for(team.owner).get(f"/orgs/{team.org.id}").text


def test_a_suspended_second_owner_does_not_lift_the_single_owner_warning(
    browser_for, team, add_member, make_user
):
    add_member(team.org, make_user(), Role.OWNER, is_active=False)
    assert "single owner" in browser_for(team.owner).get(f"/orgs/{team.org.id}").text


def test_viewer_sees_no_summary_and_no_settings(browser_for, team):
    html = browser_for(team.viewer).get(f"/orgs/{team.org.id}").text
    assert "<svg viewBox" not in html and "Your role here is <strong>VIEWER" in html
    assert "/settings" not in re.search(r'<nav class="tabs".*?</nav>', html, re.S).group(0)


def test_suspended_member_is_refused_the_org_but_may_leave_from_the_list(
    browser_for, team, make_user, add_member
):
    suspended = make_user()
    add_member(team.org, suspended, Role.ADMIN, is_active=False)
    browser = browser_for(suspended)
    page = browser.get(f"/orgs/{team.org.id}")
    assert page.status_code == 403 and "suspended" in page.text
    assert "suspended" in browser.get("/orgs").text
    left = browser.post(f"/orgs/{team.org.id}/leave", {"from": "orgs"})
    assert left.status_code == 302 and left.headers["Location"] == "/orgs"
    with pytest.raises(NotFound):
        organizations.get_my_role(suspended, team.org.id)


def test_member_leaves(browser_for, team):
    browser = browser_for(team.viewer)
    response = browser.post(f"/orgs/{team.org.id}/leave", htmx=True)
    assert response.headers["HX-Redirect"] == "/orgs"
    assert "You left the organization." in browser.get("/orgs").text
    assert browser.get(f"/orgs/{team.org.id}").status_code == 404


def test_last_owner_cannot_leave_and_the_leave_card_says_why(browser_for, team):
    response = browser_for(team.owner).post(f"/orgs/{team.org.id}/leave", htmx=True)
    assert response.status_code == 409
    assert response.text.lstrip().startswith("<section")
    assert "Promote another member to OWNER first" in response.text
    assert organizations.get_my_role(team.owner, team.org.id) is Role.OWNER


def test_rename_with_htmx_updates_everything_that_shows_the_name(browser_for, team):
    """The heading, the delete form (whose confirmation is the name typed), the switcher and the
    tab title all follow a rename made in place, so typing the name shown works."""
    browser = browser_for(team.owner)
    response = browser.post(
        f"/orgs/{team.org.id}/settings", {"rename-organization_name": "Acme Corp"}, htmx=True
    )
    assert response.status_code == 200
    html = response.text
    assert '<h1 id="org-title" hx-swap-oob="true">Acme Corp</h1>' in html
    assert "<title>Settings · Acme Corp · Roster</title>" in html
    delete = re.search(r'<form id="delete-form".*?</form>', html, re.S)
    assert delete and 'hx-swap-oob="true"' in delete.group(0)
    assert 'placeholder="Acme Corp"' in delete.group(0) and "Delete Acme Corp" in delete.group(0)
    switcher = re.search(
        r'<details class="switcher" id="switcher" hx-swap-oob="true">.*?</details>', html, re.S
    )
    assert switcher and "Current: </span>Acme Corp</summary>" in switcher.group(0)
    assert '>Acme Corp <span class="role-tag' in switcher.group(0)  # the list of orgs too
    assert "Renamed to Acme Corp." in html
    assert "Acme<" not in html.replace("Acme Corp", "")  # the old name is nowhere
    assert organizations.get_organization(team.owner, team.org.id).organization_name == "Acme Corp"
    done = browser.post(f"/orgs/{team.org.id}/delete", {"delete-confirm_name": "Acme Corp"})
    assert done.headers["Location"] == "/orgs"


def test_an_admins_rename_leaves_out_the_delete_form_it_cannot_use(browser_for, team):
    response = browser_for(team.admin).post(
        f"/orgs/{team.org.id}/settings", {"rename-organization_name": "Acme Corp"}, htmx=True
    )
    assert response.status_code == 200
    assert '<h1 id="org-title" hx-swap-oob="true">Acme Corp</h1>' in response.text
    assert 'id="delete-form"' not in response.text


@pytest.mark.parametrize("who", ["viewer", "contributor", "accounting"])
@pytest.mark.parametrize("htmx", [False, True], ids=["page", "htmx"])
def test_settings_are_refused_to_whoever_can_neither_rename_nor_delete(
    browser_for, team, make_user, add_member, who, htmx
):
    if who == "viewer":
        user = team.viewer
    elif who == "contributor":
        user = team.people[0]
    else:
        user = make_user()
        add_member(team.org, user, Role.ACCOUNTING)
    response = browser_for(user).get(f"/orgs/{team.org.id}/settings", htmx=htmx)
    assert response.status_code == 403
    message = "Only OWNER and ADMIN can change this organization"
    if htmx:
        assert message in response.headers["HX-Trigger"]
    else:
        assert message in response.text and "rename-organization_name" not in response.text


def test_deleting_an_org_of_one_says_its_only_membership(browser_for, make_user, make_org):
    owner = make_user()
    org = make_org(owner, "Solo")
    html = browser_for(owner).get(f"/orgs/{org.id}/settings").text
    assert "This removes its only membership at once" in html
    assert "all 1 memberships" not in html


def test_rename_without_javascript_redirects_with_a_flash(browser_for, team):
    browser = browser_for(team.owner)
    response = browser.post(f"/orgs/{team.org.id}/settings", {"rename-organization_name": "Zeta"})
    assert response.headers["Location"] == f"/orgs/{team.org.id}/settings"
    assert "Renamed to Zeta." in browser.get(response.headers["Location"]).text


def test_rename_refused_for_a_contributor_in_the_form(browser_for, team):
    response = browser_for(team.people[0]).post(
        f"/orgs/{team.org.id}/settings", {"rename-organization_name": "Mine"}, htmx=True
    )
    assert response.status_code == 403
    assert "Only OWNER and ADMIN can change" in response.headers["HX-Trigger"]
    assert organizations.get_organization(team.owner, team.org.id).organization_name == "Acme"


def test_delete_needs_the_name_typed(browser_for, team):
    browser = browser_for(team.owner)
    wrong = browser.post(f"/orgs/{team.org.id}/delete", {"delete-confirm_name": "acme"}, htmx=True)
    assert wrong.status_code == 400
    assert "does not match" in wrong.text
    assert organizations.get_organization(team.owner, team.org.id)
    done = browser.post(f"/orgs/{team.org.id}/delete", {"delete-confirm_name": "Acme"})
    assert done.headers["Location"] == "/orgs"
    assert "Deleted Acme." in browser.get("/orgs").text
    assert browser.get(f"/orgs/{team.org.id}").status_code == 404


def test_admin_cannot_delete(browser_for, team):
    browser = browser_for(team.admin)
    settings = browser.get(f"/orgs/{team.org.id}/settings").text
    assert "Rename" in settings  # the settings page itself, as an admin sees it
    assert f'action="/orgs/{team.org.id}/delete"' not in settings
    response = browser.post(
        f"/orgs/{team.org.id}/delete", {"delete-confirm_name": "Acme"}, htmx=True
    )
    assert response.status_code == 403
    assert "does not allow this" in response.text


def test_activity_lists_changes_newest_first_and_filters_by_member(browser_for, team):
    browser = browser_for(team.owner)
    html = browser.get(f"/orgs/{team.org.id}/activity").text
    assert html.index("added") < html.index("created the organization")
    person = team.people[0]
    only = browser.get(f"/orgs/{team.org.id}/activity?user_id={person.id}", htmx=True)
    assert only.text.lstrip().startswith('<div id="activity-view">')
    assert person.email in only.text and team.people[1].email not in only.text
    assert "1 event matches" in only.text


def test_activity_is_paginated(browser_for, team):
    ids = users.create_users([(f"p{n}@example.com", f"P {n}") for n in range(30)], via=Via.CLI)
    members.add_members(team.owner, team.org.id, ids, role=Role.VIEWER, via=Via.CLI)
    browser = browser_for(team.owner)
    first = browser.get(f"/orgs/{team.org.id}/activity").text
    assert "38 events" in first and "Page 1 of 2" in first
    second = browser.get(f"/orgs/{team.org.id}/activity?page=2", htmx=True).text
    assert "Page 2 of 2" in second and "created the organization" in second
    assert browser.get(f"/orgs/{team.org.id}/activity?page=0").status_code == 400


def test_activity_is_refused_to_a_viewer(browser_for, team):
    assert browser_for(team.viewer).get(f"/orgs/{team.org.id}/activity").status_code == 403


def test_role_guide_is_the_permission_table(client):
    html = client.get("/roles").text
    rows = re.findall(r"<tr>\s*<th scope=\"row\">.*?</tr>", html, re.S)
    assert len(rows) == len(PERMISSIONS)
    for row, roles in zip(rows, PERMISSIONS.values(), strict=True):
        marks = re.findall(r'<span class="visually-hidden">(yes|no)</span>', row)
        assert marks[:5] == ["yes" if role in roles else "no" for role in Role]
