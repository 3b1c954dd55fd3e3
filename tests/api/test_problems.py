"""Every error is RFC 9457 problem+json with a stable code; never an HTML page under /api."""

from __future__ import annotations

import pytest

from webapp import inputs
from webapp.api import problems
from webapp.models import Role
from webapp.services import audit, errors, member_list, organizations


def test_the_status_table_maps_every_domain_error():
    expected = {
        errors.InvalidInput: 400,
        errors.AuthenticationFailed: 401,
        errors.Forbidden: 403,
        errors.NotFound: 404,
        errors.Conflict: 409,
        errors.LastOwner: 409,
        errors.AlreadyMembers: 409,
        errors.TargetSuspended: 409,
        errors.EmailTaken: 409,
        errors.UnprocessableIds: 422,
        errors.UnknownUsers: 422,
        errors.NotMembers: 422,
    }
    for cls, status in expected.items():
        assert problems.status_of(cls()) == status, cls
    assert problems.status_of(errors.TooManyAttempts(retry_after=5)) == 429


@pytest.mark.parametrize(
    ("body", "content_type"),
    [
        (b"{", "application/json"),
        (b"", "application/json"),
        (b"[1,2]", "application/json"),
        (b'{"organization_name": "\\ud800"}', "application/json"),
        (b"\xff\xfe", "application/json"),
    ],
)
def test_malformed_json_is_400(make_user, api, assert_problem, body, content_type):
    response = api(make_user()).post(
        "/api/organizations", data=body, headers={"Content-Type": content_type}
    )
    assert_problem(response, 400, "invalid_input")


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"Content-Type": "text/plain"},
        {"Content-Type": "application/x-www-form-urlencoded"},
        # Decided: other JSON-based types follow other rules; only application/json is read.
        {"Content-Type": "application/vnd.x+json"},
        {"Content-Type": "application/merge-patch+json"},
        {"Content-Type": "application/json; charset=latin-1"},
    ],
)
def test_a_body_that_is_not_json_is_415(make_user, api, assert_problem, headers):
    user = make_user()
    response = api(user).post(
        "/api/organizations", data='{"organization_name": "X"}', headers=headers
    )
    assert_problem(response, 415, "unsupported_media_type")
    assert organizations.list_my_organizations(user) == []


@pytest.mark.parametrize(
    "content_type", ["application/json", "application/json; charset=utf-8", "Application/JSON"]
)
def test_application_json_is_read_with_or_without_its_charset(make_user, api, content_type):
    response = api(make_user()).post(
        "/api/organizations",
        data='{"organization_name": "X"}',
        headers={"Content-Type": content_type},
    )
    assert response.status_code == 201


def test_a_body_too_large_is_413(app, make_user, api, assert_problem):
    limit = app.config["MAX_CONTENT_LENGTH"]
    response = api(make_user()).post(
        "/api/organizations",
        data=b'{"organization_name": "' + b"x" * limit + b'"}',
        headers={"Content-Type": "application/json"},
    )
    assert_problem(response, 413, "body_too_large")


@pytest.mark.parametrize(
    ("role", "method", "path", "body"),
    [
        (Role.CONTRIBUTOR, "PUT", "/api/organizations/{org}", {"organization_name": "X"}),
        (Role.ADMIN, "DELETE", "/api/organizations/{org}", None),
        (Role.VIEWER, "GET", "/api/organizations/{org}/summary", None),
        (Role.ACCOUNTING, "POST", "/api/organizations/{org}/users", {"user_ids": [999]}),
        (
            Role.ADMIN,
            "PUT",
            "/api/organizations/{org}/users",
            {"user_ids": "{owner}", "role": "VIEWER"},
        ),
    ],
)
def test_missing_permission_is_403(every_role, api, assert_problem, role, method, path, body):
    fill = {"org": every_role.org.id, "owner": every_role.owner.id}
    if body is not None:
        body = {k: v.format(**fill) if isinstance(v, str) else v for k, v in body.items()}
    response = api(every_role.by_role(role)).open(method, path.format(**fill), json=body)
    assert_problem(response, 403, "forbidden")


def test_a_suspended_member_is_403_but_may_ask_its_role(every_role, api, assert_problem):
    client = api(every_role.suspended)
    assert_problem(client.get(f"/api/organizations/{every_role.org.id}"), 403, "forbidden")
    assert client.get(f"/api/organizations/{every_role.org.id}/role").get_json() == "VIEWER"


@pytest.mark.parametrize(
    "path",
    ["/api/organizations/{org}", "/api/organizations/{org}/role", "/api/organizations/{org}/users"],
)
def test_non_member_and_unknown_org_get_the_same_404(every_role, api, assert_problem, path):
    outsider = assert_problem(api(every_role.outsider).get(path.format(org=every_role.org.id)), 404)
    unknown = assert_problem(
        api(every_role.owner).get(path.format(org=every_role.org.id + 1000)), 404
    )
    beyond_64_bits = assert_problem(api(every_role.owner).get(path.format(org=2**63)), 404)
    assert outsider == unknown == beyond_64_bits


@pytest.mark.parametrize("path", ["/api", "/api/", "/api/nope", "/api/organizations/1/nope"])
def test_unknown_routes_under_api_are_problem_404(client, assert_problem, path):
    assert_problem(client.get(path), 404, "not_found")


def test_wrong_method_is_405_with_allow(every_role, api, assert_problem):
    response = api(every_role.owner).open("PATCH", f"/api/organizations/{every_role.org.id}")
    assert_problem(response, 405, "method_not_allowed")
    assert {"GET", "PUT", "DELETE"} <= set(response.headers["Allow"].replace(" ", "").split(","))


def test_already_members_is_409_listing_them(every_role, make_user, api, assert_problem):
    newcomer = make_user()
    response = api(every_role.owner).post(
        f"/api/organizations/{every_role.org.id}/users",
        json={"user_ids": [newcomer.id, every_role.viewer.id, every_role.admin.id]},
    )
    body = assert_problem(response, 409, "already_members")
    assert body["user_ids"] == sorted([every_role.viewer.id, every_role.admin.id])
    assert organizations.get_organization(every_role.owner, every_role.org.id).member_count == 6


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("PUT", "/api/organizations/{org}/users", {"user_ids": "{owner}", "role": "ADMIN"}),
        ("PUT", "/api/organizations/{org}/users", {"user_ids": "{owner}", "is_active": False}),
        ("DELETE", "/api/organizations/{org}/users/{owner}", None),
    ],
)
def test_last_owner_is_409(every_role, api, assert_problem, method, path, body):
    fill = {"org": every_role.org.id, "owner": every_role.owner.id}
    if body is not None:
        body = {k: v.format(**fill) if isinstance(v, str) else v for k, v in body.items()}
    response = api(every_role.owner).open(method, path.format(**fill), json=body)
    problem = assert_problem(response, 409, "last_owner")
    assert "OWNER" in problem["detail"]
    assert organizations.get_my_role(every_role.owner, every_role.org.id) is Role.OWNER


def test_unknown_users_are_422_listing_them(every_role, api, assert_problem):
    missing = [10_000_001, 10_000_002]
    response = api(every_role.owner).post(
        f"/api/organizations/{every_role.org.id}/users",
        json={"user_ids": [every_role.outsider.id, *missing]},
    )
    body = assert_problem(response, 422, "unknown_users")
    assert body["user_ids"] == missing
    assert organizations.get_organization(every_role.owner, every_role.org.id).member_count == 6


@pytest.mark.parametrize("method", ["PUT", "DELETE"])
def test_non_members_are_422_listing_them(every_role, api, assert_problem, method):
    org = every_role.org.id
    ids = f"{every_role.viewer.id},{every_role.outsider.id}"
    if method == "PUT":
        response = api(every_role.owner).put(
            f"/api/organizations/{org}/users", json={"user_ids": ids, "role": "ADMIN"}
        )
    else:
        response = api(every_role.owner).delete(f"/api/organizations/{org}/users/{ids}")
    body = assert_problem(response, 422, "not_members")
    assert body["user_ids"] == [every_role.outsider.id]
    assert organizations.get_my_role(every_role.viewer, org) is Role.VIEWER


def test_a_field_error_lists_field_and_message(make_user, api, assert_problem):
    response = api(make_user()).post("/api/organizations", json={})
    body = assert_problem(response, 400, "invalid_input")
    assert body["errors"] == [{"field": "organization_name", "message": "Field required"}]
    assert body["type"] == "about:blank" and body["title"] == "Bad Request"


def test_an_unexpected_error_is_500_without_trace_and_changes_nothing(
    every_role, make_user, api, assert_problem, monkeypatch
):
    newcomer = make_user()
    client = api(every_role.owner)

    def broken_audit(*args, **kwargs):  # type: ignore[no-untyped-def]
        raise RuntimeError("disk on fire /secret/path.py line 3")

    # The insert and the counters are written, then the audit fails inside the transaction.
    monkeypatch.setattr(audit, "record_targets", broken_audit)
    response = client.post(
        f"/api/organizations/{every_role.org.id}/users", json={"user_ids": [newcomer.id]}
    )
    body = assert_problem(response, 500, "internal_error")
    text = response.get_data(as_text=True)
    assert "disk on fire" not in text and "Traceback" not in text and "<html" not in text.lower()
    monkeypatch.undo()
    assert organizations.get_organization(every_role.owner, every_role.org.id).member_count == 6
    page = member_list.list_members(every_role.owner, every_role.org.id, inputs.MemberQuery())
    assert newcomer.id not in {m.user_id for m in page.items}
    assert "Nothing was changed" in body["detail"]
