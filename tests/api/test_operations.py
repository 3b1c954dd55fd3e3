"""The twelve operations of DESIGN §4: methods, paths, bodies, objects and success statuses."""

from __future__ import annotations

import re

from webapp.models import Role, Via
from webapp.services import audit, members, organizations, users

ISO_Z = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$")
ACCOUNT_KEYS = {
    "id",
    "organization_name",
    "created_at",
    "updated_at",
    "member_count",
    "role",
    "is_active",
}


def assert_account(body, *, role="OWNER", is_active=True):  # type: ignore[no-untyped-def]
    assert set(body) == ACCOUNT_KEYS
    assert ISO_Z.match(body["created_at"]) and ISO_Z.match(body["updated_at"])
    assert body["role"] == role and body["is_active"] is is_active


def test_my_accounts_lists_every_membership_suspended_included(every_role, api):
    response = api(every_role.suspended).get("/api/organizations")
    assert response.status_code == 200
    [account] = response.get_json()
    assert_account(account, role="VIEWER", is_active=False)
    assert account["member_count"] == 6


def test_create_account_answers_201_with_location(make_user, api):
    client = api(make_user())
    response = client.post("/api/organizations", json={"organization_name": "  Initech  "})
    assert response.status_code == 201
    body = response.get_json()
    assert_account(body)
    assert body["organization_name"] == "Initech"
    assert body["member_count"] == 1
    assert response.headers["Location"] == f"/api/organizations/{body['id']}"
    assert client.get(response.headers["Location"]).get_json() == body


def test_update_account_with_the_id_in_the_body(every_role, api):
    response = api(every_role.admin).put(
        "/api/organizations", json={"id": every_role.org.id, "organization_name": "Acme 2"}
    )
    assert response.status_code == 200
    assert_account(response.get_json(), role="ADMIN")
    assert response.get_json()["organization_name"] == "Acme 2"


def test_update_account_with_the_id_in_the_path_body_id_optional(every_role, api):
    client = api(every_role.owner)
    path = f"/api/organizations/{every_role.org.id}"
    without = client.put(path, json={"organization_name": "Acme 3"})
    assert without.status_code == 200 and without.get_json()["organization_name"] == "Acme 3"
    matching = client.put(path, json={"id": every_role.org.id, "organization_name": "Acme 4"})
    assert matching.status_code == 200 and matching.get_json()["organization_name"] == "Acme 4"


def test_update_account_refuses_a_body_id_that_differs_from_the_path(
    every_role, make_org, api, assert_problem
):
    other = make_org(every_role.owner, name="Other")
    response = api(every_role.owner).put(
        f"/api/organizations/{every_role.org.id}", json={"id": other.id, "organization_name": "X"}
    )
    body = assert_problem(response, 422, "id_mismatch")
    assert body["errors"][0]["field"] == "id"
    assert organizations.get_organization(every_role.owner, other.id).organization_name == "Other"
    assert (
        organizations.get_organization(every_role.owner, every_role.org.id).organization_name
        == "Acme"
    )


def test_get_account(every_role, api):
    response = api(every_role.contributor).get(f"/api/organizations/{every_role.org.id}")
    assert response.status_code == 200
    body = response.get_json()
    assert_account(body, role="CONTRIBUTOR")
    assert body["id"] == every_role.org.id and body["organization_name"] == "Acme"


def test_delete_account_answers_204(every_role, api, assert_problem):
    client = api(every_role.owner)
    response = client.delete(f"/api/organizations/{every_role.org.id}")
    assert response.status_code == 204 and response.data == b""
    assert_problem(client.get(f"/api/organizations/{every_role.org.id}"), 404, "not_found")


def test_my_role_is_a_bare_json_string(every_role, api):
    for role in Role:
        response = api(every_role.by_role(role)).get(f"/api/organizations/{every_role.org.id}/role")
        assert response.status_code == 200
        assert response.mimetype == "application/json"
        assert response.get_data(as_text=True).strip() == f'"{role.name}"'


def test_summary_is_an_array_of_metric_label_value(every_role, api):
    response = api(every_role.accounting).get(f"/api/organizations/{every_role.org.id}/summary")
    assert response.status_code == 200
    metrics = {m["metric"]: m for m in response.get_json()}
    assert all(set(m) == {"metric", "label", "value"} for m in metrics.values())
    assert {
        "members_total",
        "members_active",
        "members_inactive",
        "role_owner",
        "role_admin",
        "role_contributor",
        "role_accounting",
        "role_viewer",
        "joined_last_30_days",
    } <= metrics.keys()
    assert metrics["members_total"]["value"] == 6
    assert metrics["members_inactive"]["value"] == 1
    assert metrics["role_viewer"]["value"] == 2


def test_list_members_is_a_member_page_with_totals(every_role, api):
    response = api(every_role.viewer).get(
        f"/api/organizations/{every_role.org.id}/users?page_number=1&page_size=4&sort_by=user_id"
    )
    assert response.status_code == 200
    page = response.get_json()
    assert set(page) == {
        "items",
        "page_number",
        "page_size",
        "total_items",
        "total_pages",
        "sort_by",
        "sort_ascending",
        "next_cursor",
        "prev_cursor",
    }
    assert (page["page_number"], page["page_size"], page["total_items"], page["total_pages"]) == (
        1,
        4,
        6,
        2,
    )
    assert page["next_cursor"] is None  # the last page
    assert isinstance(page["prev_cursor"], str)
    assert page["sort_by"] == "user_id" and page["sort_ascending"] is True
    assert [m["user_id"] for m in page["items"]] == sorted(
        [every_role.viewer.id, every_role.suspended.id]
    )
    member = page["items"][0]
    assert set(member) == {
        "user_id",
        "email",
        "name",
        "role",
        "is_active",
        "joined_at",
        "updated_at",
    }
    assert ISO_Z.match(member["joined_at"]) and ISO_Z.match(member["updated_at"])


def test_list_members_defaults_and_a_page_past_the_end(every_role, api):
    client = api(every_role.owner)
    first = client.get(f"/api/organizations/{every_role.org.id}/users").get_json()
    assert (first["page_number"], first["page_size"], first["sort_by"]) == (0, 25, "name")
    assert first["sort_ascending"] is True
    names = [m["name"] for m in first["items"]]
    assert names == sorted(names, key=str.casefold)
    past = client.get(f"/api/organizations/{every_role.org.id}/users?page_number=99").get_json()
    assert past["items"] == [] and past["total_items"] == 6 and past["total_pages"] == 1


def test_add_members_defaults_to_active_viewers_and_answers_the_account(every_role, make_user, api):
    newcomers = [make_user(), make_user()]
    response = api(every_role.admin).post(
        f"/api/organizations/{every_role.org.id}/users",
        json={"user_ids": [u.id for u in newcomers]},
    )
    assert response.status_code == 200
    body = response.get_json()
    assert_account(body, role="ADMIN")
    assert body["member_count"] == 8
    for user in newcomers:
        assert organizations.get_my_role(user, every_role.org.id) is Role.VIEWER
        assert organizations.get_organization(user, every_role.org.id).is_active is True


def test_update_members_sets_role_and_active(every_role, api):
    ids = [every_role.viewer.id, every_role.suspended.id]
    response = api(every_role.owner).put(
        f"/api/organizations/{every_role.org.id}/users",
        json={"user_ids": ids, "role": "contributor", "is_active": True},
    )
    assert response.status_code == 200
    assert_account(response.get_json())
    for user in (every_role.viewer, every_role.suspended):
        account = organizations.get_organization(user, every_role.org.id)
        assert (account.role, account.is_active) == (Role.CONTRIBUTOR, True)


def test_remove_members_answers_204(every_role, api):
    ids = f"{every_role.viewer.id},{every_role.suspended.id}"
    path = f"/api/organizations/{every_role.org.id}/users/{ids}"
    response = api(every_role.admin).delete(path)
    assert response.status_code == 204 and response.data == b""
    assert organizations.get_organization(every_role.owner, every_role.org.id).member_count == 4


def test_changes_through_the_api_are_audited_as_api(every_role, make_user, api):
    newcomer = make_user()
    api(every_role.owner).post(
        f"/api/organizations/{every_role.org.id}/users", json={"user_ids": [newcomer.id]}
    )
    events = audit.list_audit_events(every_role.owner, every_role.org.id)
    latest = events.items[0]
    assert latest.action == "member.add" and latest.via == Via.API.value


def test_remove_by_body_takes_lists_no_url_can_carry_all_or_nothing(make_user, api, assert_problem):
    """POST .../users/remove: up to 10,000 ids in one request, with the DELETE form's rules."""
    owner = make_user()
    org = organizations.create_organization(owner, "Many", via=Via.CLI)
    ids = users.create_users(
        [(f"m{n}@example.com", f"Member {n}") for n in range(10_000)], via=Via.CLI
    )
    members.add_members(owner, org.id, ids, role=Role.VIEWER, via=Via.CLI)
    client = api(owner)
    path = f"/api/organizations/{org.id}/users/remove"

    # One id that is not a member: 422 naming it, and nobody removed.
    stranger = make_user()
    refused = client.post(path, json={"user_ids": [*ids[1:], stranger.id]})
    assert_problem(refused, 422, "not_members")
    assert refused.get_json()["user_ids"] == [stranger.id]
    # The last active owner among them: 409, and nobody removed.
    assert_problem(client.post(path, json={"user_ids": [owner.id, *ids[:5]]}), 409, "last_owner")
    assert organizations.get_organization(owner, org.id).member_count == 10_001

    assert client.post(path, json={"user_ids": ids}).status_code == 204
    assert organizations.get_organization(owner, org.id).member_count == 1
    # The comma-separated form is taken too, and bad ids are a 400 naming the field.
    assert_problem(client.post(path, json={"user_ids": "1,x"}), 400)
    assert client.post(path, data="user_ids=1").status_code == 415
