"""Both ways in: a Bearer token, or the session cookie with X-CSRFToken on unsafe requests."""

from __future__ import annotations

import pytest

from webapp.models import Via
from webapp.services import organizations, tokens

from ..conftest import csrf_token

# Every unsafe method needs the CSRF token with a session cookie (leave: test_leave.py).
UNSAFE = [
    ("POST", "/api/organizations", {"organization_name": "New"}, 201),
    ("PUT", "/api/organizations", {"id": "{org}", "organization_name": "Renamed"}, 200),
    ("PUT", "/api/organizations/{org}", {"organization_name": "Renamed"}, 200),
    ("POST", "/api/organizations/{org}/users", {"user_ids": "{outsider}"}, 200),
    ("PUT", "/api/organizations/{org}/users", {"user_ids": "{viewer}", "role": "ADMIN"}, 200),
    ("DELETE", "/api/organizations/{org}/users/{viewer}", None, 204),
    ("DELETE", "/api/organizations/{org}", None, 204),
]
SAFE = [
    "/api/organizations",
    "/api/organizations/{org}",
    "/api/organizations/{org}/role",
    "/api/organizations/{org}/summary",
    "/api/organizations/{org}/users",
]


def _fill(value, every_role):  # type: ignore[no-untyped-def]
    if isinstance(value, dict):
        return {k: _fill(v, every_role) for k, v in value.items()}
    if isinstance(value, str):
        text = value.format(
            org=every_role.org.id, outsider=every_role.outsider.id, viewer=every_role.viewer.id
        )
        return int(text) if value == "{org}" else text
    return value


@pytest.mark.parametrize(("method", "path", "body", "status"), UNSAFE)
def test_bearer_needs_no_csrf_token(every_role, api, method, path, body, status):
    response = api(every_role.owner).open(
        method, _fill(path, every_role), json=_fill(body, every_role)
    )
    assert response.status_code == status, response.get_data(as_text=True)


@pytest.mark.parametrize(("method", "path", "body", "status"), UNSAFE)
def test_session_cookie_needs_the_csrf_header_on_unsafe_methods(
    every_role, login_as, assert_problem, method, path, body, status
):
    client = login_as(every_role.owner)
    refused = client.open(_fill(path, every_role), method=method, json=_fill(body, every_role))
    assert_problem(refused, 400, "csrf_failed")
    assert (
        organizations.get_organization(every_role.owner, every_role.org.id).organization_name
        == "Acme"
    )
    assert organizations.get_organization(every_role.owner, every_role.org.id).member_count == 6
    token = csrf_token(client, "/api/docs")
    accepted = client.open(
        _fill(path, every_role),
        method=method,
        json=_fill(body, every_role),
        headers={"X-CSRFToken": token},
    )
    assert accepted.status_code == status, accepted.get_data(as_text=True)


@pytest.mark.parametrize("path", SAFE)
def test_session_cookie_reads_without_csrf_token(every_role, login_as, path):
    response = login_as(every_role.owner).get(_fill(path, every_role))
    assert response.status_code == 200


@pytest.mark.parametrize("path", SAFE)
def test_no_credentials_is_401_with_www_authenticate(every_role, client, assert_problem, path):
    response = client.get(_fill(path, every_role))
    assert_problem(response, 401, "not_authenticated")
    assert response.headers["WWW-Authenticate"].startswith("Bearer")


@pytest.mark.parametrize(
    "header",
    ["Bearer rst_abc_def", "Bearer ", "Basic dXNlcjpwYXNz", "Bearer not-a-token", "Bearer"],
)
def test_a_bad_authorization_header_is_401(every_role, client, assert_problem, header):
    response = client.get("/api/organizations", headers={"Authorization": header})
    assert_problem(response, 401, "not_authenticated")
    assert response.headers["WWW-Authenticate"].startswith("Bearer")


def test_authorization_header_decides_even_with_a_session_cookie(
    every_role, login_as, assert_problem
):
    client = login_as(every_role.owner)
    assert client.get("/api/organizations").status_code == 200
    response = client.get("/api/organizations", headers={"Authorization": "Bearer rst_x_y"})
    assert_problem(response, 401)


def test_a_revoked_token_is_401(every_role, app, assert_problem):
    row, text = tokens.create_token(every_role.owner, "soon revoked", via=Via.CLI)
    tokens.revoke_token(every_role.owner, row.id, via=Via.CLI)
    client = app.test_client()
    response = client.get("/api/organizations", headers={"Authorization": f"Bearer {text}"})
    assert_problem(response, 401)


@pytest.fixture
def app_config(app_config):  # type: ignore[no-untyped-def]
    return {**app_config, "ROSTER_TOKEN_LIMIT_PER_ADDRESS": "3 per minute"}


def test_failed_tokens_are_limited_per_address_with_retry_after(every_role, api, assert_problem):
    client = api(every_role.owner)
    bad = {"Authorization": "Bearer rst_nope_nope"}
    for _ in range(3):
        assert_problem(client.client.get("/api/organizations", headers=bad), 401)
    limited = client.client.get("/api/organizations", headers=bad)
    assert_problem(limited, 429, "too_many_attempts")
    assert int(limited.headers["Retry-After"]) >= 1
    # A valid token is never refused by the failure limit.
    assert client.get("/api/organizations").status_code == 200
