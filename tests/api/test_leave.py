"""Leave: POST and DELETE, and the documented GET made safe (CSRF with a cookie, HEAD inert)."""

from __future__ import annotations

import pytest

from webapp.models import Role
from webapp.services import organizations

from ..conftest import csrf_token

METHODS = ["GET", "POST", "DELETE"]


def _path(every_role) -> str:  # type: ignore[no-untyped-def]
    return f"/api/organizations/{every_role.org.id}/leave"


def _is_member(every_role, user) -> bool:  # type: ignore[no-untyped-def]
    return any(a.id == every_role.org.id for a in organizations.list_my_organizations(user))


@pytest.mark.parametrize("method", METHODS)
def test_leave_with_a_token(every_role, api, method):
    response = api(every_role.viewer).open(method, _path(every_role))
    assert response.status_code == 200
    assert response.get_json() == {
        "organization_id": every_role.org.id,
        "user_id": every_role.viewer.id,
        "left": True,
    }
    assert response.headers["Cache-Control"] == "no-store"
    assert not _is_member(every_role, every_role.viewer)


def test_a_suspended_member_may_leave(every_role, api):
    assert api(every_role.suspended).post(_path(every_role)).status_code == 200
    assert not _is_member(every_role, every_role.suspended)


@pytest.mark.parametrize("method", METHODS)
def test_the_last_owner_cannot_leave(every_role, api, assert_problem, method):
    response = api(every_role.owner).open(method, _path(every_role))
    body = assert_problem(response, 409, "last_owner")
    assert "OWNER" in body["detail"]
    assert response.headers["Cache-Control"] == "no-store"
    assert _is_member(every_role, every_role.owner)


@pytest.mark.parametrize("method", METHODS)
def test_leave_with_a_cookie_needs_the_csrf_header_get_included(
    every_role, login_as, assert_problem, method
):
    client = login_as(every_role.viewer)
    refused = client.open(_path(every_role), method=method)
    assert_problem(refused, 400, "csrf_failed")
    assert refused.headers["Cache-Control"] == "no-store"
    assert _is_member(every_role, every_role.viewer)
    token = csrf_token(client, "/api/docs")
    accepted = client.open(_path(every_role), method=method, headers={"X-CSRFToken": token})
    assert accepted.status_code == 200
    assert not _is_member(every_role, every_role.viewer)


def test_a_cross_site_get_with_a_cookie_and_a_wrong_token_changes_nothing(
    every_role, login_as, assert_problem
):
    client = login_as(every_role.viewer)
    response = client.get(_path(every_role), headers={"X-CSRFToken": "forged"})
    assert_problem(response, 400, "csrf_failed")
    assert _is_member(every_role, every_role.viewer)


@pytest.mark.parametrize("auth", ["token", "cookie"])
def test_head_on_leave_changes_nothing(every_role, api, login_as, auth):
    client = api(every_role.viewer) if auth == "token" else login_as(every_role.viewer)
    response = client.head(_path(every_role))
    assert response.status_code == 200
    assert response.headers["Cache-Control"] == "no-store"
    assert response.data == b""
    assert _is_member(every_role, every_role.viewer)
    assert organizations.get_my_role(every_role.viewer, every_role.org.id) is Role.VIEWER


def test_head_on_leave_for_a_non_member_is_404(every_role, api):
    response = api(every_role.outsider).head(_path(every_role))
    assert response.status_code == 404
    assert response.headers["Cache-Control"] == "no-store"


def test_the_get_is_documented_as_deprecated_in_favour_of_post_and_delete(client):
    spec = client.get("/api/openapi.json").get_json()
    leave = spec["paths"]["/organizations/{organization_id}/leave"]
    assert leave["get"]["deprecated"] is True
    assert "POST" in leave["get"]["description"] and "DELETE" in leave["get"]["description"]
    assert "deprecated" not in leave["post"] and "deprecated" not in leave["delete"]
