"""Paths and refusals at the edges: odd ids, doubled slashes, empty answers, and that every
refused request leaves the organization exactly as it was."""

from __future__ import annotations

import pytest

from webapp.inputs import MemberQuery
from webapp.models import Role
from webapp.services import member_list, organizations
from webapp.services.values import ID_MAX


def _state(every_role):
    """Everything a refused request could have changed."""
    account = organizations.get_organization(every_role.owner, every_role.org.id)
    page = member_list.list_members(every_role.owner, every_role.org.id, MemberQuery(page_size=500))
    return (
        account.organization_name,
        sorted((m.user_id, m.role, m.is_active) for m in page.items),
    )


@pytest.mark.parametrize(
    "path",
    [
        "/api//organizations",
        "/api/organizations//role",
        "/api/organizations/%D9%A3",  # an Arabic-Indic three
        "/api/organizations/%EF%BC%91",  # a full-width one
    ],
)
def test_odd_paths_are_404_problems_not_html(api, every_role, assert_problem, path):
    assert_problem(api(every_role.owner).get(path), 404)


@pytest.mark.parametrize("method", ["GET", "PUT", "DELETE"])
@pytest.mark.parametrize("org_id", ["9" * 5000, str(ID_MAX + 1), "0", str(ID_MAX)])
def test_ids_no_organization_can_have_are_404_after_auth(
    api, every_role, assert_problem, method, org_id
):
    client = api(every_role.owner)
    body = {"organization_name": "X"} if method == "PUT" else None
    assert_problem(client.open(method, f"/api/organizations/{org_id}", json=body), 404)
    assert_problem(client.client.open(f"/api/organizations/{org_id}", method=method), 401)


def test_largest_user_id_is_accepted_and_reported_unknown(api, every_role, assert_problem):
    response = api(every_role.owner).post(
        f"/api/organizations/{every_role.org.id}/users", json={"user_ids": [ID_MAX]}
    )
    assert assert_problem(response, 422, "unknown_users")["user_ids"] == [ID_MAX]


def test_empty_answers_carry_no_content_type(api, every_role):
    client = api(every_role.owner)
    options = client.open("OPTIONS", "/api/organizations")
    assert options.status_code == 200 and "Content-Type" not in options.headers
    assert "POST" in options.headers["Allow"]
    gone = client.delete(f"/api/organizations/{every_role.org.id}/users/{every_role.viewer.id}")
    assert gone.status_code == 204 and "Content-Type" not in gone.headers


@pytest.mark.parametrize(
    ("who", "status", "code"),
    [
        ("outsider", 404, "not_found"),
        ("suspended", 403, "forbidden"),
        ("owner", 422, "id_mismatch"),
    ],
)
def test_a_mismatched_body_id_is_judged_after_access(
    api, every_role, assert_problem, who, status, code
):
    before = _state(every_role)
    response = api(getattr(every_role, who)).put(
        f"/api/organizations/{every_role.org.id}",
        json={"id": every_role.org.id + 1, "organization_name": "Other"},
    )
    assert_problem(response, status, code)
    assert _state(every_role) == before


def _mutations(every_role):
    org, uid = every_role.org.id, every_role.viewer.id
    return [
        ("PUT", "/api/organizations", {"id": org, "organization_name": "Renamed"}),
        ("PUT", f"/api/organizations/{org}", {"organization_name": "Renamed"}),
        ("DELETE", f"/api/organizations/{org}", None),
        ("POST", f"/api/organizations/{org}/users", {"user_ids": [every_role.outsider.id]}),
        ("PUT", f"/api/organizations/{org}/users", {"user_ids": [uid], "role": "ADMIN"}),
        ("DELETE", f"/api/organizations/{org}/users/{uid}", None),
    ]  # leave is allowed to every member, suspended or not: test_leave.py


@pytest.mark.parametrize("index", range(6))
@pytest.mark.parametrize(
    ("who", "status"),
    [("outsider", 404), ("suspended", 403), ("contributor", 403)],
)
def test_refused_changes_change_nothing(api, every_role, assert_problem, index, who, status):
    method, path, body = _mutations(every_role)[index]
    before = _state(every_role)
    assert_problem(api(getattr(every_role, who)).open(method, path, json=body), status)
    assert _state(every_role) == before


def test_admin_cannot_delete_and_the_org_stays(api, every_role, assert_problem):
    response = api(every_role.admin).delete(f"/api/organizations/{every_role.org.id}")
    assert_problem(response, 403, "forbidden")
    assert organizations.get_organization(every_role.owner, every_role.org.id).member_count == 6


def test_last_owner_cannot_be_suspended(api, every_role, assert_problem):
    response = api(every_role.owner).put(
        f"/api/organizations/{every_role.org.id}/users",
        json={"user_ids": [every_role.owner.id], "is_active": False},
    )
    assert_problem(response, 409, "last_owner")
    account = organizations.get_organization(every_role.owner, every_role.org.id)
    assert (account.role, account.is_active) == (Role.OWNER, True)


def test_a_body_too_large_creates_nothing(api, every_role, assert_problem, app):
    before = organizations.list_my_organizations(every_role.owner)
    name = "x" * (app.config["MAX_CONTENT_LENGTH"] + 1)
    response = api(every_role.owner).post("/api/organizations", json={"organization_name": name})
    assert_problem(response, 413)
    assert organizations.list_my_organizations(every_role.owner) == before
