"""``POST /api/organizations/{id}/imports`` (DESIGN §9): the answer's shape for preview and
apply, the two ways to send the file, every refusal as problem+json, and nothing changed by
any of them."""

from __future__ import annotations

import io
from typing import Any

import pytest
from sqlalchemy import func, select

from webapp.extensions import db
from webapp.models import AuditEvent, Invitation, Membership, Role
from webapp.services.member_import import IMPORT_BYTES_MAX

FILE = (
    b"email,role,is_active\r\n"
    b"newcomer@example.com,CONTRIBUTOR,true\r\n"
    b"stranger@nowhere.example,VIEWER,\r\n"
)
KEYS = {
    "rows",
    "add",
    "update",
    "invite",
    "remove",
    "unchanged",
    "errors",
    "refused",
    "applied",
    "change_id",
}


def _url(org_id: int, query: str = "") -> str:
    return f"/api/organizations/{org_id}/imports" + (f"?{query}" if query else "")


def _totals() -> tuple[int, ...]:
    db.session.commit()
    return tuple(
        db.session.scalar(select(func.count()).select_from(model))
        for model in (Membership, Invitation, AuditEvent)
    )


@pytest.fixture
def newcomer(make_user):
    return make_user("newcomer@example.com")


def test_preview_is_the_default_and_changes_nothing(api, every_role, newcomer):
    client = api(every_role.owner)
    before = _totals()
    response = client.post(_url(every_role.org.id), data=FILE, headers={"Content-Type": "text/csv"})
    assert response.status_code == 200, response.get_data(as_text=True)
    body = response.get_json()
    assert body.keys() == KEYS
    assert body | {"unchanged": 0} == {
        "rows": 2,
        "add": ["newcomer@example.com"],
        "update": [],
        "invite": ["stranger@nowhere.example"],
        "remove": [],
        "unchanged": 0,
        "errors": [],
        "refused": [],
        "applied": False,
        "change_id": None,
    }
    assert _totals() == before


def test_apply_by_multipart_upload_then_revert(api, every_role, newcomer, mailbox):
    client = api(every_role.owner)
    preview = client.post(
        _url(every_role.org.id, "sync=true"),
        data={"file": (io.BytesIO(FILE), "members.csv", "text/csv")},
    ).get_json()
    # Sync removes the members the file leaves out, never an owner: here every other member.
    assert len(preview["remove"]) == 5 and every_role.owner.email not in preview["remove"]
    before = _totals()
    response = client.post(
        _url(every_role.org.id, "mode=apply&sync=true"),
        data={"file": (io.BytesIO(FILE), "members.csv", "text/csv")},
    )
    assert response.status_code == 200, response.get_data(as_text=True)
    done = response.get_json()
    assert done["applied"] is True and len(done["change_id"]) == 32
    assert {k: v for k, v in done.items() if k not in ("applied", "change_id")} == {
        k: v for k, v in preview.items() if k not in ("applied", "change_id")
    }
    members = client.get(f"/api/organizations/{every_role.org.id}/users?page_size=50").get_json()
    assert {m["email"]: m["role"] for m in members["items"]} == {
        every_role.owner.email: "OWNER",
        "newcomer@example.com": "CONTRIBUTOR",
    }
    reverted = client.post(
        f"/api/organizations/{every_role.org.id}/changes/{done['change_id']}/revert"
    )
    assert reverted.status_code == 200
    members = client.get(f"/api/organizations/{every_role.org.id}/users?page_size=50").get_json()
    assert members["total_items"] == 6
    assert _totals()[0] == before[0]
    invitations = client.get(f"/api/organizations/{every_role.org.id}/invitations").get_json()
    assert [(i["email"], i["status"]) for i in invitations] == [
        ("stranger@nowhere.example", "REVOKED")
    ]


def test_apply_with_an_error_answers_200_not_applied(api, every_role, newcomer):
    client = api(every_role.admin)
    before = _totals()
    response = client.post(
        _url(every_role.org.id, "mode=apply"),
        data=FILE + b"x@example.com,CHIEF,\r\n" + b"y@example.com,OWNER,\r\n",
        headers={"Content-Type": "text/csv; charset=utf-8"},
    )
    assert response.status_code == 200
    body = response.get_json()
    assert body["applied"] is False and body["change_id"] is None
    assert [(e["line"], e["field"]) for e in body["errors"]] == [(4, "role")]
    assert [(r["line"], r["email"]) for r in body["refused"]] == [(5, "y@example.com")]
    assert _totals() == before


def _big(n: int) -> bytes:
    return b"email\n" + b"".join(b"p%d@example.com\n" % i for i in range(n))


@pytest.mark.parametrize(
    ("data", "headers", "status", "code"),
    [
        (b"email\n" + b"\n" * (IMPORT_BYTES_MAX - 5), {}, 413, "file_too_large"),
        (_big(10_001), {}, 413, "file_too_large"),
        (b"\x89PNG\r\n\x1a\n\x00\x00", {}, 400, "bad_file"),
        ("email\nrené@example.com\n".encode("latin-1"), {}, 400, "bad_file"),
        (b"name,role\nAda,ADMIN\n", {}, 400, "missing_header"),
        (b"", {}, 400, "missing_header"),
        (FILE, {"Content-Type": "application/json"}, 415, "unsupported_media_type"),
        (FILE, {"Content-Type": "text/plain"}, 415, "unsupported_media_type"),
        (FILE, {"Content-Type": "multipart/form-data; boundary=x"}, 400, None),
    ],
    ids=[
        "5MB+1",
        "10001-rows",
        "binary",
        "latin-1",
        "no-email",
        "empty",
        "json",
        "plain",
        "no-file",
    ],
)
@pytest.mark.parametrize("mode", ["preview", "apply"])
def test_a_bad_file_is_a_problem_and_changes_nothing(
    api, every_role, assert_problem, data, headers, status, code, mode
):
    client = api(every_role.owner)
    before = _totals()
    response = client.post(
        _url(every_role.org.id, f"mode={mode}"),
        data=data,
        headers={"Content-Type": "text/csv", **headers},
    )
    body = assert_problem(response, status, code)
    assert body["detail"]
    assert _totals() == before


def test_a_multipart_without_the_file_field_names_it(api, every_role, assert_problem):
    response = api(every_role.owner).post(
        _url(every_role.org.id), data={"other": "x"}, content_type="multipart/form-data"
    )
    body = assert_problem(response, 400, "invalid_input")
    assert body["errors"] == [
        {"field": "file", "message": "send the CSV file as the multipart field 'file'"}
    ]


def test_a_bigger_body_than_the_global_cap_is_read_up_to_the_import_limit(app, api, every_role):
    """The app caps bodies at 1 MiB; this route reads up to 5 MB."""
    assert app.config["MAX_CONTENT_LENGTH"] < 2 * 1024 * 1024
    data = _big(9_000) + b"\n" * (2 * 1024 * 1024)
    response = api(every_role.owner).post(
        _url(every_role.org.id), data=data, headers={"Content-Type": "text/csv"}
    )
    assert response.status_code == 200, response.get_data(as_text=True)
    assert response.get_json()["invite"][:1] == ["p0@example.com"]


@pytest.mark.parametrize(
    "query", ["mode=later", "sync=perhaps", "mode=apply&x=1"], ids=["mode", "sync", "unknown"]
)
def test_bad_query_parameters_are_400(api, every_role, assert_problem, query):
    client = api(every_role.owner)
    before = _totals()
    response = client.post(
        _url(every_role.org.id, query), data=FILE, headers={"Content-Type": "text/csv"}
    )
    assert_problem(response, 400, "invalid_input")
    assert _totals() == before


@pytest.mark.parametrize(
    ("who", "status"),
    [
        ("contributor", 403),
        ("accounting", 403),
        ("viewer", 403),
        ("suspended", 403),
        ("outsider", 404),
    ],
)
def test_only_owners_and_admins_may_import(api, every_role, assert_problem, who, status):
    client = api(getattr(every_role, who))
    before = _totals()
    for mode in ("preview", "apply"):
        response = client.post(
            _url(every_role.org.id, f"mode={mode}"), data=FILE, headers={"Content-Type": "text/csv"}
        )
        assert_problem(response, status)
    assert _totals() == before


def test_the_answer_is_documented(client):
    spec: dict[str, Any] = client.get("/api/openapi.json").get_json()
    op = spec["paths"]["/organizations/{organization_id}/imports"]["post"]
    assert set(op["requestBody"]["content"]) == {"text/csv", "multipart/form-data"}
    assert {p["name"] for p in op["parameters"]} == {"organization_id", "mode", "sync"}
    schema = spec["components"]["schemas"]["ImportResult"]
    assert set(schema["properties"]) == KEYS
    assert {"413", "415", "400"} <= op["responses"].keys()
    assert Role.OWNER.name in spec["info"]["description"]


def test_a_multipart_file_part_without_a_file_name_is_read_as_the_file(api, every_role, newcomer):
    response = api(every_role.owner).post(
        _url(every_role.org.id), data={"file": FILE.decode()}, content_type="multipart/form-data"
    )
    assert response.status_code == 200, response.get_data(as_text=True)
    assert response.get_json()["add"] == ["newcomer@example.com"]
