"""Leave: POST and DELETE, and the documented GET made safe (CSRF with a cookie, HEAD inert)."""

from __future__ import annotations

import pytest

from webapp.models import Role
from webapp.services import organizations

from ..conftest import csrf_token

METHODS = ["GET", "POST", "DELETE"]


def _path(team) -> str:  # type: ignore[no-untyped-def]
    return f"/api/organizations/{team.org.id}/leave"


def _is_member(team, user) -> bool:  # type: ignore[no-untyped-def]
    return any(a.id == team.org.id for a in organizations.list_my_organizations(user))


@pytest.mark.parametrize("method", METHODS)
def test_leave_with_a_token(team, api, method):
    response = api(team.viewer).open(method, _path(team))
    assert response.status_code == 200
    assert response.get_json() == {
        "organization_id": team.org.id,
        "user_id": team.viewer.id,
        "left": True,
    }
    assert response.headers["Cache-Control"] == "no-store"
    assert not _is_member(team, team.viewer)


def test_a_suspended_member_may_leave(team, api):
    assert api(team.suspended).post(_path(team)).status_code == 200
    assert not _is_member(team, team.suspended)


@pytest.mark.parametrize("method", METHODS)
def test_the_last_owner_cannot_leave(team, api, assert_problem, method):
    response = api(team.owner).open(method, _path(team))
    body = assert_problem(response, 409, "last_owner")
    assert "OWNER" in body["detail"]
    assert response.headers["Cache-Control"] == "no-store"
    assert _is_member(team, team.owner)


@pytest.mark.parametrize("method", METHODS)
def test_leave_with_a_cookie_needs_the_csrf_header_get_included(
    team, login_as, assert_problem, method
):
    client = login_as(team.viewer)
    refused = client.open(_path(team), method=method)
    assert_problem(refused, 400, "csrf_failed")
    assert refused.headers["Cache-Control"] == "no-store"
    assert _is_member(team, team.viewer)
    token = csrf_token(client, "/api/docs")
    accepted = client.open(_path(team), method=method, headers={"X-CSRFToken": token})
    assert accepted.status_code == 200
    assert not _is_member(team, team.viewer)


def test_a_cross_site_get_with_a_cookie_and_a_wrong_token_changes_nothing(
    team, login_as, assert_problem
):
    client = login_as(team.viewer)
    response = client.get(_path(team), headers={"X-CSRFToken": "forged"})
    assert_problem(response, 400, "csrf_failed")
    assert _is_member(team, team.viewer)


@pytest.mark.parametrize("auth", ["token", "cookie"])
def test_head_on_leave_changes_nothing(team, api, login_as, auth):
    client = api(team.viewer) if auth == "token" else login_as(team.viewer)
    response = client.head(_path(team))
    assert response.status_code == 200
    assert response.headers["Cache-Control"] == "no-store"
    assert response.data == b""
    assert _is_member(team, team.viewer)
    assert organizations.get_my_role(team.viewer, team.org.id) is Role.VIEWER


def test_head_on_leave_for_a_non_member_is_404(team, api):
    response = api(team.outsider).head(_path(team))
    assert response.status_code == 404
    assert response.headers["Cache-Control"] == "no-store"


def test_the_get_is_documented_as_deprecated_in_favour_of_post_and_delete(client):
    spec = client.get("/api/openapi.json").get_json()
    leave = spec["paths"]["/organizations/{organization_id}/leave"]
    assert leave["get"]["deprecated"] is True
    assert "POST" in leave["get"]["description"] and "DELETE" in leave["get"]["description"]
    assert "deprecated" not in leave["post"] and "deprecated" not in leave["delete"]
