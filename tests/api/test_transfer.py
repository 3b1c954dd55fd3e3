"""POST /api/organizations/{id}/transfer (DESIGN §8): 200 Account as the caller now sees it, the
refusals as problem+json with their codes, strict bodies, and its OpenAPI description."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import select

from webapp.extensions import db
from webapp.models import AuditEvent, Role, Via
from webapp.services import organizations, users

from .test_operations import assert_account


def _path(org_id: int) -> str:
    return f"/api/organizations/{org_id}/transfer"


def _roles(every_role: Any) -> dict[str, Role]:
    """Everyone's role, read through the service, to compare before and after."""
    return {
        name: organizations.get_my_role(getattr(every_role, name), every_role.org.id)
        for name in ("owner", "admin", "contributor", "accounting", "viewer", "suspended")
    }


def test_the_owner_hands_over_and_gets_the_account_as_they_now_see_it(every_role, api):
    response = api(every_role.owner).post(
        _path(every_role.org.id),
        json={"user_id": every_role.contributor.id, "my_new_role": "admin"},  # any letter case
    )
    assert response.status_code == 200, response.get_data(as_text=True)
    body = response.get_json()
    assert_account(body, role="ADMIN")
    assert (body["id"], body["member_count"]) == (every_role.org.id, 6)
    role = api(every_role.contributor).get(f"/api/organizations/{every_role.org.id}/role")
    assert role.get_json() == "OWNER"
    assert api(every_role.owner).get(f"/api/organizations/{every_role.org.id}").get_json() == body
    vias = set(
        db.session.scalars(select(AuditEvent.via).where(AuditEvent.action == "ownership.transfer"))
    )
    assert vias == {"api"}


def test_keeping_owner_makes_two_owners(every_role, api):
    response = api(every_role.owner).post(
        _path(every_role.org.id), json={"user_id": every_role.admin.id, "my_new_role": "OWNER"}
    )
    assert_account(response.get_json(), role="OWNER")
    roles = _roles(every_role)
    assert roles["owner"] is roles["admin"] is Role.OWNER


@pytest.mark.parametrize("role", [Role.ADMIN, Role.CONTRIBUTOR, Role.ACCOUNTING, Role.VIEWER])
def test_anyone_but_an_owner_is_403(every_role, api, assert_problem, role):
    before = _roles(every_role)
    response = api(every_role.by_role(role)).post(
        _path(every_role.org.id), json={"user_id": every_role.viewer.id, "my_new_role": "VIEWER"}
    )
    assert_problem(response, 403, "forbidden")
    assert _roles(every_role) == before


def test_a_suspended_member_is_403(every_role, api, assert_problem):
    response = api(every_role.suspended).post(
        _path(every_role.org.id), json={"user_id": every_role.admin.id, "my_new_role": "VIEWER"}
    )
    assert "suspended" in assert_problem(response, 403, "forbidden")["detail"]


def test_a_stranger_gets_the_404_of_an_unknown_organization(every_role, api, assert_problem):
    body = {"user_id": every_role.admin.id, "my_new_role": "ADMIN"}
    stranger = assert_problem(
        api(every_role.outsider).post(_path(every_role.org.id), json=body), 404
    )
    unknown = assert_problem(
        api(every_role.owner).post(_path(every_role.org.id + 99), json=body), 404
    )
    assert stranger == unknown


@pytest.mark.parametrize("who", ["outsider", "unknown"])
def test_a_non_member_is_422_listing_the_id(every_role, api, assert_problem, who):
    user_id = every_role.outsider.id if who == "outsider" else 10_000_001
    before = _roles(every_role)
    response = api(every_role.owner).post(
        _path(every_role.org.id), json={"user_id": user_id, "my_new_role": "ADMIN"}
    )
    problem = assert_problem(response, 422, "not_members")
    assert problem["user_ids"] == [user_id]
    assert problem["errors"] == [
        {"field": "user_id", "message": "is not a member of this organization"}
    ]
    assert _roles(every_role) == before


def test_a_suspended_member_cannot_take_over_409(every_role, api, assert_problem):
    before = _roles(every_role)
    response = api(every_role.owner).post(
        _path(every_role.org.id), json={"user_id": every_role.suspended.id, "my_new_role": "ADMIN"}
    )
    problem = assert_problem(response, 409, "member_suspended")
    assert every_role.suspended.email in problem["detail"]
    assert _roles(every_role) == before


def test_a_member_whose_account_is_deactivated_cannot_take_over_409(
    every_role, api, assert_problem
):
    users.set_user_active(every_role.admin.id, False, via=Via.CLI)
    response = api(every_role.owner).post(
        _path(every_role.org.id), json={"user_id": every_role.admin.id, "my_new_role": "ADMIN"}
    )
    assert_problem(response, 409, "account_deactivated")


def test_handing_over_to_myself_is_422(every_role, api, assert_problem):
    response = api(every_role.owner).post(
        _path(every_role.org.id), json={"user_id": every_role.owner.id, "my_new_role": "ADMIN"}
    )
    problem = assert_problem(response, 422, "self_transfer")
    assert problem["user_ids"] == [every_role.owner.id]
    assert [e["field"] for e in problem["errors"]] == ["user_id"]
    assert _roles(every_role)["owner"] is Role.OWNER


@pytest.mark.parametrize(
    ("body", "fields"),
    [
        ({}, ["user_id", "my_new_role"]),
        ({"user_id": 5}, ["my_new_role"]),
        ({"my_new_role": "ADMIN"}, ["user_id"]),
        ({"user_id": "{admin}", "my_new_role": "ADMIN"}, ["user_id"]),  # a string, not an id
        ({"user_id": True, "my_new_role": "ADMIN"}, ["user_id"]),
        ({"user_id": 1.5, "my_new_role": "ADMIN"}, ["user_id"]),
        ({"user_id": 0, "my_new_role": "ADMIN"}, ["user_id"]),
        ({"user_id": 2**63, "my_new_role": "ADMIN"}, ["user_id"]),
        ({"user_id": None, "my_new_role": "ADMIN"}, ["user_id"]),
        ({"user_id": [5], "my_new_role": "ADMIN"}, ["user_id"]),
        ({"user_id": 5, "my_new_role": "BOSS"}, ["my_new_role"]),
        ({"user_id": 5, "my_new_role": None}, ["my_new_role"]),
        ({"user_id": 5, "my_new_role": "ADMIN", "role": "OWNER"}, ["role"]),  # unknown field
    ],
)
def test_bodies_are_strict_400_naming_each_field(every_role, api, assert_problem, body, fields):
    body = {k: str(every_role.admin.id) if v == "{admin}" else v for k, v in body.items()}
    before = _roles(every_role)
    response = api(every_role.owner).post(_path(every_role.org.id), json=body)
    problem = assert_problem(response, 400, "invalid_input")
    assert [e["field"] for e in problem["errors"]] == fields
    assert _roles(every_role) == before


def test_an_integral_number_is_an_id(every_role, api):
    """As for every id of the API: 11.0 is the integer 11 (JSON Schema's reading)."""
    response = api(every_role.owner).post(
        _path(every_role.org.id),
        data=f'{{"user_id": {every_role.admin.id}.0, "my_new_role": "VIEWER"}}',
        headers={"Content-Type": "application/json"},
    )
    assert response.status_code == 200
    assert response.get_json()["role"] == "VIEWER"


def test_a_body_that_is_not_json_is_415_and_one_too_large_413(app, every_role, api, assert_problem):
    client = api(every_role.owner)
    path = _path(every_role.org.id)
    assert_problem(
        client.post(path, data="user_id=1", headers={"Content-Type": "text/plain"}),
        415,
        "unsupported_media_type",
    )
    big = b'{"user_id": 1, "my_new_role": "' + b"x" * app.config["MAX_CONTENT_LENGTH"] + b'"}'
    assert_problem(
        client.post(path, data=big, headers={"Content-Type": "application/json"}),
        413,
        "body_too_large",
    )
    assert _roles(every_role)["owner"] is Role.OWNER


def test_the_operation_is_documented_with_its_errors(client):
    spec = client.get("/api/openapi.json").get_json()
    operation = spec["paths"]["/organizations/{organization_id}/transfer"]["post"]
    assert operation["operationId"] == "transfer_ownership_post"
    assert operation["summary"] == "Transfer ownership"
    assert set(operation["responses"]) == {
        "200", "400", "401", "403", "404", "409", "413", "415", "422", "429", "500", "503",
    }  # fmt: skip
    assert operation["responses"]["200"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/Account"
    }
    body = spec["components"]["schemas"]["TransferOwnership"]
    assert body["required"] == ["user_id", "my_new_role"]
    assert body["additionalProperties"] is False
