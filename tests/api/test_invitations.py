"""The four invitation operations of DESIGN §8 over HTTP: shapes, problems, and the mail."""

from __future__ import annotations

import re

import pytest

from webapp.models import Role
from webapp.services import invitations
from webapp.services.errors import MalformedEmails

INVITATION_KEYS = {"id", "email", "role", "status", "invited_by", "created_at", "expires_at"}


def test_inviting_answers_the_invitations_and_mails_them(make_user, make_org, api, mailbox):
    owner = make_user(email="owner@example.org")
    org = make_org(owner)
    client = api(owner)
    answer = client.post(
        f"/api/organizations/{org.id}/invitations",
        json={"emails": "Ada@Example.org, grace@example.org", "role": "admin"},
    )
    assert answer.status_code == 201, answer.get_data(as_text=True)
    made = answer.get_json()
    assert [set(i) for i in made] == [INVITATION_KEYS] * 2
    assert [(i["email"], i["role"], i["status"]) for i in made] == [
        ("ada@example.org", "ADMIN", "PENDING"),
        ("grace@example.org", "ADMIN", "PENDING"),
    ]
    assert made[0]["invited_by"] == {"user_id": owner.id, "email": "owner@example.org"}
    assert made[0]["created_at"].endswith("Z") and made[0]["expires_at"].endswith("Z")
    assert sorted(r for m in mailbox.mails for r in m.recipients) == [
        "ada@example.org",
        "grace@example.org",
    ]
    assert all(re.search(r"http://roster\.test/invitations/\S+", m.text) for m in mailbox.mails)
    listed = client.get(f"/api/organizations/{org.id}/invitations").get_json()
    assert [i["id"] for i in listed] == [made[1]["id"], made[0]["id"]]  # newest first
    summary = client.get(f"/api/organizations/{org.id}/summary").get_json()
    assert {m["metric"]: m["value"] for m in summary}["invitations_pending"] == 2


def test_the_role_defaults_to_viewer(make_user, make_org, api, mailbox):
    owner = make_user()
    org = make_org(owner)
    answer = api(owner).post(
        f"/api/organizations/{org.id}/invitations", json={"emails": ["a@example.org"]}
    )
    assert answer.status_code == 201 and answer.get_json()[0]["role"] == "VIEWER"


def test_bad_batches_are_refused_whole_and_name_the_addresses(
    make_user, make_org, add_member, api, mailbox
):
    owner = make_user()
    org = make_org(owner)
    add_member(org, make_user(email="member@example.org"))
    client = api(owner)
    url = f"/api/organizations/{org.id}/invitations"
    assert client.post(url, json={"emails": ["pending@example.org"]}).status_code == 201
    mailbox.clear()

    malformed = client.post(url, json={"emails": ["ok@example.org", "nope"]})
    assert malformed.status_code == 400
    assert malformed.mimetype == "application/problem+json"
    assert (malformed.get_json()["code"], malformed.get_json()["emails"]) == (
        "malformed_emails",
        ["nope"],
    )

    taken = client.post(
        url, json={"emails": ["new@example.org", "MEMBER@example.org", "pending@example.org"]}
    )
    assert taken.status_code == 409
    body = taken.get_json()
    assert (body["code"], body["emails"]) == (
        "already_invited",
        ["member@example.org", "pending@example.org"],
    )
    for bad in (
        {"emails": []},
        {"emails": ""},
        {"emails": ["a@example.org"], "role": "KING"},
        {"emails": ["a@example.org"], "extra": 1},
        {"emails": [f"p{n}@example.org" for n in range(1_001)]},
    ):
        answer = client.post(url, json=bad)
        assert answer.status_code == 400, (bad, answer.get_data(as_text=True))
    listed = client.get(url).get_json()
    assert [i["email"] for i in listed] == ["pending@example.org"]
    assert mailbox.mails == []


def test_the_service_names_each_malformed_address() -> None:
    """Past the published pattern (the CLI, the dashboard) the service's own check lists them."""
    with pytest.raises(MalformedEmails) as error:
        invitations.parse_emails(["fine@example.org", "a@b", "x y@z.org"])
    assert error.value.emails == ["a@b", "x y@z.org"]


def test_revoke_resend_and_filters(make_user, make_org, api, mailbox):
    owner = make_user()
    org = make_org(owner)
    client = api(owner)
    url = f"/api/organizations/{org.id}/invitations"
    first, second = client.post(url, json={"emails": ["a@example.org", "b@example.org"]}).get_json()
    assert client.delete(f"{url}/{first['id']}").status_code == 204
    again = client.delete(f"{url}/{first['id']}")
    assert again.status_code == 409
    assert again.get_json()["code"] == "invitation_not_pending"
    assert [i["id"] for i in client.get(f"{url}?status=REVOKED").get_json()] == [first["id"]]
    assert [i["id"] for i in client.get(f"{url}?status=PENDING").get_json()] == [second["id"]]
    assert client.get(f"{url}?status=GONE").status_code == 400
    mailbox.clear()
    resent = client.post(f"{url}/{second['id']}/resend")
    assert resent.status_code == 200
    assert set(resent.get_json()) == INVITATION_KEYS
    assert resent.get_json()["expires_at"] >= second["expires_at"]
    assert [m.recipients for m in mailbox.mails] == [["b@example.org"]]
    assert client.post(f"{url}/{first['id']}/resend").status_code == 409
    assert client.delete(f"{url}/999999").status_code == 404


def test_only_owners_and_admins_manage_invitations(make_user, make_org, add_member, api, mailbox):
    owner, admin, viewer = make_user(), make_user(), make_user()
    org = make_org(owner)
    add_member(org, admin, Role.ADMIN)
    add_member(org, viewer, Role.VIEWER)
    url = f"/api/organizations/{org.id}/invitations"
    owner_invite = api(owner).post(url, json={"emails": ["boss@example.org"], "role": "OWNER"})
    assert owner_invite.status_code == 201
    boss = owner_invite.get_json()[0]["id"]
    as_admin = api(admin)
    assert (
        as_admin.post(url, json={"emails": ["x@example.org"], "role": "OWNER"}).status_code == 403
    )
    assert as_admin.delete(f"{url}/{boss}").status_code == 403
    assert as_admin.post(url, json={"emails": ["x@example.org"]}).status_code == 201
    as_viewer = api(viewer)
    assert as_viewer.get(url).status_code == 403
    assert as_viewer.post(url, json={"emails": ["y@example.org"]}).status_code == 403
    stranger = api(make_user())
    assert stranger.get(url).status_code == 404
    assert stranger.delete(f"{url}/{boss}").status_code == 404
