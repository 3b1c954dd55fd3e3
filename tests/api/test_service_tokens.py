"""Service tokens through the API (DESIGN §10): the three routes, and what a token may do."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select, update

from tests.conftest import ApiClient
from webapp.extensions import db
from webapp.models import Membership, Role, ServiceToken, User, Via, utcnow
from webapp.services import service_tokens

TOKEN_KEYS = {"id", "name", "scope", "created_at", "expires_at", "last_used_at"}


@pytest.fixture
def acme(every_role, api):  # type: ignore[no-untyped-def]
    return every_role, api(every_role.owner)


def _tokens(org_id: int) -> str:
    return f"/api/organizations/{org_id}/service-tokens"


def _service_client(app, owner, org_id: int, scope: str, name: str = "sync") -> ApiClient:  # type: ignore[no-untyped-def]
    made = service_tokens.create_service_token(owner, org_id, name, scope, via=Via.CLI)
    return ApiClient(app.test_client(), made.token)


def test_create_shows_the_token_once_then_list_and_revoke(acme, app):
    world, owner = acme
    answer = owner.post(
        _tokens(world.org.id),
        json={"name": "CI", "scope": "write", "expires_at": "2099-01-01T00:00:00Z"},
    )
    assert answer.status_code == 201, answer.get_data(as_text=True)
    made = answer.get_json()
    assert made.keys() == TOKEN_KEYS | {"token"}
    assert (made["name"], made["scope"], made["expires_at"]) == (
        "CI",
        "write",
        "2099-01-01T00:00:00Z",
    )
    assert made["token"].startswith("rss_") and made["last_used_at"] is None
    listed = owner.get(_tokens(world.org.id)).get_json()
    assert [t.keys() for t in listed] == [TOKEN_KEYS | {"revoked_at", "created_by"}]
    assert (listed[0]["revoked_at"], listed[0]["created_by"]) == (None, world.owner.email)
    assert made["token"] not in str(listed)
    token = ApiClient(app.test_client(), made["token"])
    assert token.get(f"/api/organizations/{world.org.id}").status_code == 200
    assert owner.get(_tokens(world.org.id)).get_json()[0]["last_used_at"] is not None
    assert owner.delete(f"{_tokens(world.org.id)}/{made['id']}").status_code == 204
    assert owner.get(_tokens(world.org.id)).get_json()[0]["revoked_at"] is not None
    assert token.get(f"/api/organizations/{world.org.id}").status_code == 401


@pytest.mark.parametrize(
    ("body", "fields"),
    [
        ({"name": "", "scope": "read"}, ["name"]),
        ({"name": "x" * 101, "scope": "read"}, ["name"]),
        ({"name": "CI", "scope": "admin"}, ["scope"]),
        ({"name": "CI", "scope": "read", "expires_at": "soon"}, ["expires_at"]),
        ({"name": "CI", "scope": "read", "expires_at": "2020-01-01"}, ["expires_at"]),
    ],
)
def test_bad_values_are_422_with_their_field(acme, assert_problem, body, fields):
    world, owner = acme
    problem = assert_problem(
        owner.post(_tokens(world.org.id), json=body), 422, "invalid_service_token"
    )
    assert [e["field"] for e in problem["errors"]] == fields


def test_a_wrong_type_is_400_as_everywhere(acme, assert_problem):
    world, owner = acme
    assert_problem(owner.post(_tokens(world.org.id), json={"name": 5, "scope": "read"}), 400)


def test_unknown_or_other_organizations_token_is_404(acme, make_org, assert_problem, app):
    world, owner = acme
    other = make_org(name="Other")
    theirs = service_tokens.create_service_token(
        _owner_of(other.id), other.id, "x", "read", via=Via.CLI
    )
    assert_problem(owner.delete(f"{_tokens(world.org.id)}/{theirs.id}"), 404)
    assert_problem(owner.delete(f"{_tokens(world.org.id)}/999999"), 404)


def _owner_of(org_id: int) -> User | None:
    user_id = db.session.scalar(
        select(Membership.user_id).where(
            Membership.organization_id == org_id, Membership.role == Role.OWNER
        )
    )
    return db.session.get(User, user_id)


@pytest.mark.parametrize("who", ["contributor", "accounting", "viewer"])
def test_members_below_admin_cannot_manage_tokens(acme, api, assert_problem, who):
    world, _ = acme
    client = api(getattr(world, who))
    assert_problem(client.get(_tokens(world.org.id)), 403)
    assert_problem(client.post(_tokens(world.org.id), json={"name": "a", "scope": "read"}), 403)


# -- a token at work ----------------------------------------------------------------------------


def _org_routes(app, org_id: int) -> list[tuple[str, str]]:  # type: ignore[no-untyped-def]
    """(method, path) of every /api route about one organization, for this organization."""
    fill = {"user_ids": "1", "invitation_id": 1, "change_id": "0" * 32, "token_id": 1}
    found = []
    adapter = app.url_map.bind("localhost")
    for rule in app.url_map.iter_rules():
        if not rule.endpoint.startswith("api.") or "organization_id" not in rule.arguments:
            continue
        values = {name: fill.get(name, org_id) for name in rule.arguments}
        values["organization_id"] = org_id
        for method in sorted((rule.methods or set()) - {"OPTIONS"}):
            found.append((method, adapter.build(rule.endpoint, values, method=method)))
    return found


@pytest.mark.parametrize("scope", ["read", "write", "scim"])
def test_a_token_on_another_organization_gets_what_a_stranger_gets(acme, app, api, make_org, scope):
    world, _ = acme
    mine = make_org(name="Mine")
    token = _service_client(app, _owner_of(mine.id), mine.id, scope)
    stranger = api(world.outsider)
    routes = _org_routes(app, world.org.id)
    assert len(routes) >= 20
    statuses = []
    for method, path in routes:
        # An empty body: a malformed one is 400 before the organization is looked up, for the
        # stranger too; the tenant-isolation test sends valid bodies.
        body = {"json": {}} if method in ("POST", "PUT") else {}
        got, expected = token.open(method, path, **body), stranger.open(method, path, **body)
        assert got.status_code == expected.status_code, (method, path)
        assert got.get_data() == expected.get_data(), (method, path)
        statuses.append(got.status_code)
    assert statuses.count(404) >= len(routes) - 8


def test_read_token_reads_and_cannot_write(acme, app, assert_problem):
    world, _ = acme
    token = _service_client(app, world.owner, world.org.id, "read")
    org = f"/api/organizations/{world.org.id}"
    for path in ("", "/summary", "/users", "/users.csv", "/events"):
        assert token.get(org + path).status_code == 200, path
    problem = assert_problem(
        token.put(org + "/users", json={"user_ids": [world.viewer.id], "role": "CONTRIBUTOR"}),
        403,
        "token_scope",
    )
    assert "read" in problem["detail"]
    assert_problem(token.get(org + "/leave"), 403)


def test_write_token_manages_members_but_no_owner_nor_the_organization(acme, app, assert_problem):
    world, _ = acme
    token = _service_client(app, world.owner, world.org.id, "write")
    org = f"/api/organizations/{world.org.id}"
    ok = token.put(org + "/users", json={"user_ids": [world.viewer.id], "role": "CONTRIBUTOR"})
    assert ok.status_code == 200, ok.get_data(as_text=True)
    assert ok.get_json()["role"] == "ADMIN"  # its effective role
    for method, path, body in [
        ("PUT", "/users", {"user_ids": [world.owner.id], "role": "ADMIN"}),
        ("PUT", "/users", {"user_ids": [world.viewer.id], "role": "OWNER"}),
        ("POST", "/users", {"user_ids": [world.outsider.id], "role": "OWNER"}),
        ("DELETE", f"/users/{world.owner.id}", None),
        ("PUT", "", {"organization_name": "Renamed"}),
        ("DELETE", "", None),
        ("POST", "/transfer", {"user_id": world.admin.id, "my_new_role": "ADMIN"}),
        ("POST", "/service-tokens", {"name": "more", "scope": "write"}),
    ]:
        assert_problem(token.open(method, org + path, json=body), 403)
    assert (
        db.session.scalar(select(Membership.role).where(Membership.user_id == world.owner.id))
        is Role.OWNER
    )


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/api/organizations"),
        ("POST", "/api/organizations"),
        ("GET", "/api/organizations/{org}"),
        ("GET", "/api/organizations/{org}/users"),
    ],
)
def test_scim_token_is_refused_on_every_api_route(acme, app, assert_problem, method, path):
    world, _ = acme
    token = _service_client(app, world.owner, world.org.id, "scim")
    body = {"organization_name": "X"} if method == "POST" else None
    problem = assert_problem(token.open(method, path.format(org=world.org.id), json=body), 403)
    assert "scim" in problem["detail"]


def test_routes_not_about_one_organization(acme, app, assert_problem):
    """Its own organization is its list; creating one is for a person."""
    world, _ = acme
    token = _service_client(app, world.owner, world.org.id, "write")
    listed = token.get("/api/organizations")
    assert [a["id"] for a in listed.get_json()] == [world.org.id]
    problem = assert_problem(
        token.post("/api/organizations", json={"organization_name": "Mine"}), 403, "not_a_person"
    )
    assert "not a person" in problem["detail"]


@pytest.mark.parametrize("state", ["revoked", "expired"])
def test_revoked_or_expired_token_is_401(acme, app, assert_problem, state):
    world, _ = acme
    token = _service_client(app, world.owner, world.org.id, "read")
    change = {"revoked_at": utcnow()} if state == "revoked" else {"expires_at": utcnow()}
    db.session.execute(update(ServiceToken).values(**change))
    db.session.commit()
    answer = token.get(f"/api/organizations/{world.org.id}")
    assert_problem(answer, 401, "not_authenticated")
    assert answer.headers["WWW-Authenticate"].startswith("Bearer")


def test_events_show_the_token_as_actor(acme, app):
    world, owner = acme
    token = _service_client(app, world.owner, world.org.id, "write", name="HR sync")
    org = f"/api/organizations/{world.org.id}"
    token.put(org + "/users", json={"user_ids": [world.viewer.id], "is_active": False})
    latest = owner.get(org + "/events").get_json()["items"][0]
    assert (latest["actor"], latest["actor_id"], latest["action"]) == (
        "token HR sync",
        None,
        "member.update",
    )
    by_token = owner.get(org + "/events?actor=TOKEN%20hr%20SYNC").get_json()["items"]
    assert [e["id"] for e in by_token] == [latest["id"]]
    created = owner.get(org + "/events?action=service_token.create").get_json()["items"]
    assert created and created[0]["actor"] == world.owner.email


def test_expiry_in_an_hour_still_works(acme, app):
    world, _ = acme
    made = service_tokens.create_service_token(
        world.owner, world.org.id, "x", "read", utcnow() + timedelta(hours=1), via=Via.CLI
    )
    token = ApiClient(app.test_client(), made.token)
    assert token.get(f"/api/organizations/{world.org.id}").status_code == 200
