"""Reverting a change set through the API (DESIGN §9): what a client sees and can rely on."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from webapp.extensions import db
from webapp.models import Membership, Role, Via
from webapp.services import members


def _members(org_id: int) -> dict[int, tuple[str, bool, str]]:
    rows = db.session.execute(
        select(Membership.user_id, Membership.role, Membership.is_active, Membership.created_at)
        .where(Membership.organization_id == org_id)
        .execution_options(populate_existing=True)
    )
    return {r.user_id: (r.role.name, r.is_active, r.created_at.isoformat()) for r in rows}


@pytest.fixture
def team(make_user, make_org, api):  # type: ignore[no-untyped-def]
    owner = make_user(email="olive@example.com")
    org = make_org(owner, name="Revertible")
    people = [make_user(email=f"p{n}@example.com") for n in range(5)]
    members.add_members(owner, org.id, [p.id for p in people], role=Role.CONTRIBUTOR, via=Via.CLI)
    return owner, org, people, api(owner)


def _last_change(client, org_id: int) -> str:  # type: ignore[no-untyped-def]
    response = client.get(f"/api/organizations/{org_id}/events?limit=1")
    return response.get_json()["items"][0]["change_id"]


def test_a_removal_found_in_the_events_is_reverted_exactly(team):
    _owner, org, people, client = team
    before = _members(org.id)
    ids = ",".join(str(p.id) for p in people[:3])
    assert client.delete(f"/api/organizations/{org.id}/users/{ids}").status_code == 204
    change_id = _last_change(client, org.id)
    response = client.post(f"/api/organizations/{org.id}/changes/{change_id}/revert")
    assert response.status_code == 200, response.get_data(as_text=True)
    answer = response.get_json()
    assert answer.keys() == {"change_id", "reverted"}
    assert answer["reverted"] == change_id and answer["change_id"] != change_id
    assert _members(org.id) == before
    # The revert is in the trail as one change set, one event per member brought back.
    events = client.get(f"/api/organizations/{org.id}/events?action=change.revert").get_json()
    assert {e["change_id"] for e in events["items"]} == {answer["change_id"]}
    assert sorted(e["user_id"] for e in events["items"]) == sorted(p.id for p in people[:3])
    assert {(e["old_role"], e["new_role"]) for e in events["items"]} == {(None, "CONTRIBUTOR")}


def test_a_member_changed_since_is_named_and_nothing_changes(team, assert_problem):
    _owner, org, people, client = team
    body = {"user_ids": [p.id for p in people], "role": "VIEWER"}
    assert client.put(f"/api/organizations/{org.id}/users", json=body).status_code == 200
    change_id = _last_change(client, org.id)
    client.put(
        f"/api/organizations/{org.id}/users", json={"user_ids": [people[4].id], "is_active": False}
    )
    before = _members(org.id)
    problem = assert_problem(
        client.post(f"/api/organizations/{org.id}/changes/{change_id}/revert"), 409, "changed_since"
    )
    assert problem["user_ids"] == [people[4].id]
    assert _members(org.id) == before


@pytest.mark.parametrize("change_id", ["0" * 32, "nothex", "F" * 32, "a" * 33])
def test_unknown_or_malformed_change_ids_are_404(team, assert_problem, change_id):
    _, org, _, client = team
    assert_problem(
        client.post(f"/api/organizations/{org.id}/changes/{change_id}/revert"),
        404,
        "change_not_found",
    )


def test_another_organizations_change_is_not_found_either_way(
    team, make_user, make_org, api, assert_problem
):
    _owner, org, people, client = team
    stranger = make_user(email="stranger@example.com")
    theirs = make_org(stranger, name="Theirs")
    added = members.add_members(stranger, theirs.id, [people[0].id], via=Via.API)
    # Through our organization: no such change here.
    assert_problem(
        client.post(f"/api/organizations/{org.id}/changes/{added.change_id}/revert"),
        404,
        "change_not_found",
    )
    # Through theirs: no such organization for us.
    assert_problem(
        client.post(f"/api/organizations/{theirs.id}/changes/{added.change_id}/revert"),
        404,
        "not_found",
    )
    assert people[0].id in _members(theirs.id)


def test_a_rename_is_not_revertible(team, assert_problem):
    _, org, _, client = team
    client.put(f"/api/organizations/{org.id}", json={"organization_name": "New name"})
    change_id = _last_change(client, org.id)
    assert_problem(
        client.post(f"/api/organizations/{org.id}/changes/{change_id}/revert"),
        409,
        "not_revertible",
    )


def test_a_viewer_and_an_admin_touching_owners_are_refused(team, make_user, api, assert_problem):
    owner, org, people, client = team
    members.update_members(owner, org.id, [people[0].id], role=Role.VIEWER, via=Via.API)
    members.update_members(owner, org.id, [people[1].id], role=Role.ADMIN, via=Via.API)
    promoted = members.update_members(owner, org.id, [people[2].id], role=Role.OWNER, via=Via.API)
    before = _members(org.id)
    path = f"/api/organizations/{org.id}/changes/{promoted.change_id}/revert"
    assert_problem(api(people[0]).post(path), 403, "forbidden")
    assert_problem(api(people[1]).post(path), 403, "forbidden")
    assert _members(org.id) == before
    assert client.post(path).status_code == 200
    assert _members(org.id)[people[2].id][0] == "CONTRIBUTOR"


def test_the_operation_is_in_the_openapi_document(client):
    spec = client.get("/api/openapi.json").get_json()
    operation = spec["paths"]["/organizations/{organization_id}/changes/{change_id}/revert"]["post"]
    assert set(operation["responses"]) >= {"200", "403", "404", "409"}
    assert spec["components"]["schemas"]["Reverted"]["required"] == ["change_id", "reverted"]
