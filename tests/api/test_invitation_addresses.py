"""The API's answer to addresses that are not addresses (DESIGN §8, README): 400 with the code
``malformed_emails`` and the malformed ones listed in the problem's ``emails``, in both forms
of the body, with nothing invited and no mail sent."""

from __future__ import annotations

from typing import Any

import pytest

INVITATIONS = "/api/organizations/{id}/invitations"
TOO_LONG = "x" * 250 + "@example.org"  # 262 characters, past the 254 an address may have


@pytest.fixture
def inviting(make_user, make_org, api, mailbox):  # type: ignore[no-untyped-def]
    """An owner's API client and their organization's invitations URL."""
    owner = make_user()
    org = make_org(owner)
    return api(owner), INVITATIONS.format(id=org.id), org


def _nothing_invited(client: Any, url: str, org: Any, mailbox: Any) -> None:
    assert client.get(url).get_json() == []
    summary = client.get(f"/api/organizations/{org.id}/summary").get_json()
    assert {m["metric"]: m["value"] for m in summary}["invitations_pending"] == 0
    assert mailbox.mails == []


@pytest.mark.parametrize(
    ("emails", "malformed"),
    [
        pytest.param(["ada@example.org", "nope", "grace@example.org"], ["nope"], id="array-one"),
        pytest.param(
            ["fine@example.org", "a@b", "x y@z.org", TOO_LONG],
            sorted(["a@b", "x y@z.org", TOO_LONG]),
            id="array-several",
        ),
        pytest.param("ada@example.org, nope ,grace@example.org", ["nope"], id="text-one"),
        pytest.param(
            "ada@example.org;a@b\nnope, grace@example.org", ["a@b", "nope"], id="text-two"
        ),
    ],
)
def test_malformed_addresses_are_listed_in_emails_and_nobody_is_invited(
    inviting, mailbox, assert_problem, emails, malformed
):
    client, url, org = inviting
    answer = client.post(url, json={"emails": emails, "role": "ADMIN"})
    body = assert_problem(answer, 400, "malformed_emails")
    assert body["emails"] == malformed
    assert [e["field"] for e in body["errors"]] == ["emails"]
    assert all(address in body["detail"] for address in malformed)
    _nothing_invited(client, url, org, mailbox)


def test_other_field_errors_are_kept_beside_the_malformed_addresses(
    inviting, mailbox, assert_problem
):
    client, url, org = inviting
    answer = client.post(url, json={"emails": ["ok@example.org", "nope"], "role": "KING"})
    body = assert_problem(answer, 400, "malformed_emails")
    assert body["emails"] == ["nope"]
    assert sorted(e["field"] for e in body["errors"]) == ["emails", "role"]
    _nothing_invited(client, url, org, mailbox)


@pytest.mark.parametrize(
    "emails",
    [
        pytest.param([], id="empty-array"),
        pytest.param("", id="empty-text"),
        pytest.param(" , ;", id="separators-only"),
        pytest.param(["ok@example.org", 5], id="not-a-string"),
        pytest.param([f"p{n}@example.org" for n in range(1_001)], id="too-many"),
        pytest.param({"a": "b@example.org"}, id="object"),
    ],
)
def test_a_list_of_the_wrong_shape_is_invalid_input_without_emails(
    inviting, mailbox, assert_problem, emails
):
    """No address in it is malformed: it is the list that is wrong, said per field."""
    client, url, org = inviting
    body = assert_problem(client.post(url, json={"emails": emails}), 400, "invalid_input")
    assert "emails" not in body
    assert {e["field"].split(".")[0] for e in body["errors"]} == {"emails"}
    _nothing_invited(client, url, org, mailbox)


def test_the_document_describes_the_answer(client):
    spec = client.get("/api/openapi.json").get_json()
    operation = spec["paths"]["/organizations/{organization_id}/invitations"]["post"]
    assert operation["responses"]["400"] == {"$ref": "#/components/responses/400"}
    refused = spec["components"]["responses"]["400"]
    schema = refused["content"]["application/problem+json"]["schema"]
    assert schema == {"$ref": "#/components/schemas/Problem"}
    problem = spec["components"]["schemas"]["Problem"]["properties"]
    assert {"code", "errors", "emails"} <= problem.keys()
    assert "`malformed_emails`" in refused["description"]
    assert "`emails`" in refused["description"]
    assert "malformed" in operation["description"] and "`emails`" in operation["description"]
