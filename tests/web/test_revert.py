"""Undo and Revert in the dashboard (DESIGN §9): the message after a change of members offers
Undo (in place with htmx, a plain form without), the activity log offers Revert per change set,
and a refusal says which members changed since."""

from __future__ import annotations

import re
from html import unescape

import pytest
from sqlalchemy import select

from webapp.extensions import db
from webapp.models import Membership, Role, Via
from webapp.services import members, organizations

from ..conftest import login

UNDO = re.compile(r'<form class="undo-form" method="post" action="([^"]+)"')
REVERT = re.compile(r'<form class="revert-form" method="post" action="([^"]+)"')


def _state(org_id: int) -> dict[int, tuple[Role, bool]]:
    rows = db.session.execute(
        select(Membership.user_id, Membership.role, Membership.is_active)
        .where(Membership.organization_id == org_id)
        .execution_options(populate_existing=True)
    )
    return {r.user_id: (r.role, r.is_active) for r in rows}


def test_bulk_suspend_then_undo_without_javascript(team, browser_for):
    browser = browser_for(team.owner)
    before = _state(team.org.id)
    ids = [str(p.id) for p in team.people[:3]]
    done = browser.post(
        f"/orgs/{team.org.id}/members/bulk?role=CONTRIBUTOR",
        {"action": "suspend", "confirmed": "yes", "user_ids": ids},
    )
    assert done.status_code == 302
    page = browser.get(done.headers["Location"]).text
    assert "Suspended 3 members." in page
    [undo] = UNDO.findall(page)
    undo = unescape(undo)
    assert "role=CONTRIBUTOR" in undo  # the Undo comes back to the same filtered list
    answer = browser.post(undo, {"back": "members"})
    assert answer.status_code == 302 and "role=CONTRIBUTOR" in answer.headers["Location"]
    assert _state(team.org.id) == before
    page = browser.get(answer.headers["Location"]).text
    assert "Reverted the change." in page
    # The revert's own message offers to undo it in turn: the suspension again.
    [redo] = UNDO.findall(page)
    browser.post(unescape(redo), {"back": "members"})
    assert all(not _state(team.org.id)[p.id][1] for p in team.people[:3])


def test_a_row_change_then_undo_in_place_with_htmx(team, browser_for):
    browser = browser_for(team.owner)
    person = team.people[0]
    answer = browser.post(f"/orgs/{team.org.id}/members/{person.id}", {"role": "VIEWER"}, htmx=True)
    assert answer.status_code == 200
    # In the row, where the change was made, and in the message swapped out of band.
    undos = UNDO.findall(answer.text)
    assert len(undos) == 2 and len(set(undos)) == 1 and '<div class="row-done">' in answer.text
    undo = undos[0]
    assert 'hx-target="#members-region"' in answer.text
    undone = browser.post(unescape(undo), {"back": "members"}, htmx=True)
    assert undone.status_code == 200
    assert 'id="members-region"' in undone.text and "<html" not in undone.text
    assert "Reverted the change." in undone.text
    assert _state(team.org.id)[person.id] == (Role.CONTRIBUTOR, True)


def test_the_activity_log_offers_revert_for_changes_of_members_only(app, team, browser_for):
    organizations.rename_organization(team.owner, team.org.id, "Acme Two", via=Via.API)
    gone = members.remove_members(
        team.owner, team.org.id, [p.id for p in team.people[3:]], via=Via.API
    )
    html = browser_for(team.owner).get(f"/orgs/{team.org.id}/activity").text
    bodies = re.findall(
        r'<tbody class="change-set[^"]*" data-change-id="(\w+)">(.*?)</tbody>', html, re.S
    )
    offered = {change for change, body in bodies if REVERT.search(body)}
    renamed = [change for change, body in bodies if "renamed the organization" in body]
    assert gone.change_id in offered
    assert renamed and not set(renamed) & offered
    # An admin sees the buttons too (who may revert what: the authorization matrix).
    admin = app.test_client()
    login(admin, team.admin)
    assert REVERT.search(admin.get(f"/orgs/{team.org.id}/activity").get_data(as_text=True))


def test_revert_from_the_activity_log_keeps_its_filters(team, browser_for):
    before = _state(team.org.id)
    gone = members.remove_members(
        team.owner, team.org.id, [p.id for p in team.people[3:]], via=Via.API
    )
    browser = browser_for(team.owner)
    html = browser.get(f"/orgs/{team.org.id}/activity?action=member.remove", htmx=True).text
    [revert] = REVERT.findall(html)
    assert gone.change_id in revert and "action=member.remove" in unescape(revert)
    answer = browser.post(unescape(revert), {"back": "activity"}, htmx=True)
    assert answer.status_code == 200 and 'id="activity-view"' in answer.text
    assert "Reverted the change." in answer.text
    assert _state(team.org.id) == before


def test_a_refused_revert_names_the_members_changed_since(team, browser_for):
    first = members.update_members(
        team.owner, team.org.id, [p.id for p in team.people], role=Role.VIEWER, via=Via.API
    )
    members.update_members(
        team.owner, team.org.id, [team.people[1].id], is_active=False, via=Via.API
    )
    before = _state(team.org.id)
    browser = browser_for(team.owner)
    answer = browser.post(
        f"/orgs/{team.org.id}/changes/{first.change_id}/revert", {"back": "activity"}
    )
    assert answer.status_code == 409
    text = unescape(answer.text)
    assert f"Changed since: Person 1 ({team.people[1].email})." in text
    assert _state(team.org.id) == before


def test_without_the_csrf_token_nothing_is_reverted(team, browser_for):
    gone = members.remove_members(team.owner, team.org.id, [team.people[0].id], via=Via.API)
    answer = browser_for(team.owner).post(
        f"/orgs/{team.org.id}/changes/{gone.change_id}/revert", {"back": "members"}, csrf=False
    )
    assert answer.status_code == 400
    assert team.people[0].id not in _state(team.org.id)


def test_an_unknown_change_is_said_on_the_page(team, browser_for):
    answer = browser_for(team.owner).post(
        f"/orgs/{team.org.id}/changes/{'0' * 32}/revert", {"back": "members"}
    )
    assert answer.status_code == 404
    assert "No change with this id in this organization." in answer.text


@pytest.mark.parametrize(
    ("query", "kept"),
    [
        ("action=member.remove&org_id=2&_external=1", "?action=member.remove"),
        ("since=not-a-day", ""),  # filters that do not parse: the page without them
    ],
)
def test_a_revert_without_javascript_goes_back_to_the_activity_filters_only(
    team, browser_for, query, kept
):
    gone = members.remove_members(team.owner, team.org.id, [team.people[3].id], via=Via.API)
    answer = browser_for(team.owner).post(
        f"/orgs/{team.org.id}/changes/{gone.change_id}/revert?{query}", {"back": "activity"}
    )
    assert answer.status_code == 302
    assert answer.headers["Location"] == f"/orgs/{team.org.id}/activity{kept}"
