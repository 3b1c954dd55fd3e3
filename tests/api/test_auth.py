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


def _fill(value, team):  # type: ignore[no-untyped-def]
    if isinstance(value, dict):
        return {k: _fill(v, team) for k, v in value.items()}
    if isinstance(value, str):
        text = value.format(org=team.org.id, outsider=team.outsider.id, viewer=team.viewer.id)
        return int(text) if value == "{org}" else text
    return value


@pytest.mark.parametrize(("method", "path", "body", "status"), UNSAFE)
def test_bearer_needs_no_csrf_token(team, api, method, path, body, status):
    response = api(team.owner).open(method, _fill(path, team), json=_fill(body, team))
    assert response.status_code == status, response.get_data(as_text=True)


@pytest.mark.parametrize(("method", "path", "body", "status"), UNSAFE)
def test_session_cookie_needs_the_csrf_header_on_unsafe_methods(
    team, login_as, assert_problem, method, path, body, status
):
    client = login_as(team.owner)
    refused = client.open(_fill(path, team), method=method, json=_fill(body, team))
    assert_problem(refused, 400, "csrf_failed")
    assert organizations.get_organization(team.owner, team.org.id).organization_name == "Acme"
    assert organizations.get_organization(team.owner, team.org.id).member_count == 6
    token = csrf_token(client, "/api/docs")
    accepted = client.open(
        _fill(path, team), method=method, json=_fill(body, team), headers={"X-CSRFToken": token}
    )
    assert accepted.status_code == status, accepted.get_data(as_text=True)


@pytest.mark.parametrize("path", SAFE)
def test_session_cookie_reads_without_csrf_token(team, login_as, path):
    response = login_as(team.owner).get(_fill(path, team))
    assert response.status_code == 200


@pytest.mark.parametrize("path", SAFE)
def test_no_credentials_is_401_with_www_authenticate(team, client, assert_problem, path):
    response = client.get(_fill(path, team))
    assert_problem(response, 401, "not_authenticated")
    assert response.headers["WWW-Authenticate"].startswith("Bearer")


@pytest.mark.parametrize(
    "header",
    ["Bearer rst_abc_def", "Bearer ", "Basic dXNlcjpwYXNz", "Bearer not-a-token", "Bearer"],
)
def test_a_bad_authorization_header_is_401(team, client, assert_problem, header):
    response = client.get("/api/organizations", headers={"Authorization": header})
    assert_problem(response, 401, "not_authenticated")
    assert response.headers["WWW-Authenticate"].startswith("Bearer")


def test_authorization_header_decides_even_with_a_session_cookie(team, login_as, assert_problem):
    client = login_as(team.owner)
    assert client.get("/api/organizations").status_code == 200
    response = client.get("/api/organizations", headers={"Authorization": "Bearer rst_x_y"})
    assert_problem(response, 401)


def test_a_revoked_token_is_401(team, app, assert_problem):
    row, text = tokens.create_token(team.owner, "soon revoked", via=Via.CLI)
    tokens.revoke_token(team.owner, row.id, via=Via.CLI)
    client = app.test_client()
    response = client.get("/api/organizations", headers={"Authorization": f"Bearer {text}"})
    assert_problem(response, 401)


@pytest.fixture
def app_config(app_config):  # type: ignore[no-untyped-def]
    return {**app_config, "ROSTER_TOKEN_LIMIT_PER_ADDRESS": "3 per minute"}


def test_failed_tokens_are_limited_per_address_with_retry_after(team, api, assert_problem):
    client = api(team.owner)
    bad = {"Authorization": "Bearer rst_nope_nope"}
    for _ in range(3):
        assert_problem(client.client.get("/api/organizations", headers=bad), 401)
    limited = client.client.get("/api/organizations", headers=bad)
    assert_problem(limited, 429, "too_many_attempts")
    assert int(limited.headers["Retry-After"]) >= 1
    # A valid token is never refused by the failure limit.
    assert client.get("/api/organizations").status_code == 200
