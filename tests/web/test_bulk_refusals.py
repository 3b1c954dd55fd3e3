"""A refused bulk change names the rows refused and why, and offers the change for the others
(DESIGN §9, last bullet)."""

from __future__ import annotations

import re
from html import unescape

from sqlalchemy import select

from webapp.extensions import db
from webapp.models import Membership, Role, Via
from webapp.services import members

OFFER = re.compile(r'<form class="refused-bar".*?</form>', re.S)


def _active(org_id: int) -> dict[int, bool]:
    rows = db.session.execute(
        select(Membership.user_id, Membership.is_active)
        .where(Membership.organization_id == org_id)
        .execution_options(populate_existing=True)
    )
    return dict(rows.all())


def _offer_fields(html: str) -> dict[str, str]:
    [bar] = OFFER.findall(html)
    return {
        name: unescape(value)
        for name, value in re.findall(r'<input type="hidden" name="(\w+)" value="([^"]*)"', bar)
    }


def test_an_admin_suspending_an_owner_among_others_is_offered_the_others(
    team, browser_for, make_user
):
    second_owner = make_user(name="Zoe Owner")
    members.add_members(team.owner, team.org.id, [second_owner.id], role=Role.OWNER, via=Via.API)
    browser = browser_for(team.admin)
    ids = [str(p.id) for p in team.people[:3]] + [str(second_owner.id)]
    answer = browser.post(
        f"/orgs/{team.org.id}/members/bulk",
        {"action": "suspend", "confirmed": "yes", "user_ids": ids},
        htmx=True,
    )
    assert answer.status_code == 403
    html = unescape(answer.text)
    assert "1 of the 4 selected cannot be changed:" in html
    assert (
        f"Zoe Owner ({second_owner.email}): Only an owner can grant OWNER or change an owner's"
        in html
    )
    assert "Suspend the other 3" in html
    assert all(_active(team.org.id).values())  # nothing changed yet
    fields = _offer_fields(answer.text)
    assert fields["user_ids"].split(",") == [str(p.id) for p in team.people[:3]]
    done = browser.post(f"/orgs/{team.org.id}/members/bulk", fields, htmx=True)
    assert done.status_code == 200
    active = _active(team.org.id)
    assert [active[p.id] for p in team.people[:3]] == [False, False, False]
    assert active[second_owner.id] is True


def test_the_last_active_owner_is_named_and_the_others_removed(team, browser_for):
    browser = browser_for(team.owner)
    ids = [str(team.owner.id), str(team.people[0].id), str(team.people[1].id)]
    answer = browser.post(
        f"/orgs/{team.org.id}/members/bulk",
        {"action": "remove", "confirmed": "yes", "user_ids": ids},
    )
    assert answer.status_code == 409
    html = unescape(answer.text)
    assert "This would leave the organization without an active owner." in html
    assert "Remove the other 2" in html
    fields = _offer_fields(answer.text)
    assert browser.post(f"/orgs/{team.org.id}/members/bulk", fields).status_code == 302
    left = _active(team.org.id)
    assert team.owner.id in left and team.people[0].id not in left and team.people[1].id not in left


def test_no_offer_when_nothing_else_could_go(team, browser_for):
    """A member removed meanwhile is named; alone, there is nothing to offer."""
    gone = team.people[0]
    members.remove_members(team.owner, team.org.id, [gone.id], via=Via.API)
    answer = browser_for(team.owner).post(
        f"/orgs/{team.org.id}/members/bulk",
        {"action": "activate", "user_ids": [str(gone.id)]},
    )
    assert answer.status_code == 422
    assert not OFFER.search(answer.text)


def test_a_member_removed_meanwhile_is_named_among_the_rows(team, browser_for):
    gone = team.people[0]
    members.remove_members(team.owner, team.org.id, [gone.id], via=Via.API)
    answer = browser_for(team.owner).post(
        f"/orgs/{team.org.id}/members/bulk",
        {"action": "role", "role": "VIEWER", "user_ids": [str(gone.id), str(team.people[1].id)]},
    )
    html = unescape(answer.text)
    assert f"Member #{gone.id}: No longer a member of this organization." in html
    assert "Change the role of the other 1 to VIEWER" in html
