"""What Okta and Microsoft Entra ID send to /scim/v2, replayed from their public docs (issue 12
point 3), and the organization's member list as its owner sees it afterwards (DESIGN §10).

Sources, cited again at each sequence:

- Okta, "SCIM 2.0 Protocol Reference":
  https://developer.okta.com/docs/reference/scim/scim-20/
  (okta/okta-developer-docs, packages/@okta/vuepress-site/docs/reference/scim/scim-20/index.md)
- Microsoft, "Tutorial: Develop and plan provisioning for a SCIM endpoint in Microsoft Entra ID",
  section "SCIM protocol requests and responses":
  https://learn.microsoft.com/en-us/entra/identity/app-provisioning/use-scim-to-provision-users-and-groups
  (MicrosoftDocs/entra-docs, docs/identity/app-provisioning/, same file name, .md)
- Microsoft, "Known issues and resolutions with SCIM 2.0 protocol compliance of the Microsoft
  Entra user provisioning service" (what Entra sends without and with the aadOptscim062020 flag:
  ``"value": "False"`` as a string, capitalised ops, member removal with a value):
  https://learn.microsoft.com/en-us/entra/identity/app-provisioning/application-provisioning-config-problem-scim-compatibility

The bodies are the documented ones, with these changes only, each said where it is made:
addresses are ``example.com`` ones (``okta.local`` is a special-use domain an address may not
have; Entra's sample ``userName`` is not an address, and Roster's ``userName`` is the account's
email); ids are the ones this server gave. Bodies carry what the docs show even where Roster
does not keep it (Okta's ``locale`` and ``password``, Entra's enterprise extension and
``roles``): accepted and not kept. The Okta lifecycle's PUT leaves ``name.middleName`` out, and
``test_okta_put_with_the_documented_body`` sends it as documented.

The member list is read as a user sees it: ``GET /api/organizations/{id}/users`` with the
owner's API token.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

import pytest
from flask.testing import FlaskClient

from webapp.extensions import db
from webapp.models import User, Via
from webapp.services.service_tokens import create_service_token

SCIM_JSON = "application/scim+json"
PATCH_OP = "urn:ietf:params:scim:api:messages:2.0:PatchOp"
USER_SCHEMA = "urn:ietf:params:scim:schemas:core:2.0:User"
ENTERPRISE_USER = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"
ERROR_SCHEMA = "urn:ietf:params:scim:api:messages:2.0:Error"
LIST_RESPONSE = "urn:ietf:params:scim:api:messages:2.0:ListResponse"

OWNER_EMAIL = "owner@example.com"


@dataclass
class Scim:
    """The identity provider: requests to /scim/v2 with the organization's scim token."""

    client: FlaskClient
    token: str

    def send(self, method: str, path: str, body: Any = None) -> Any:
        response = self.client.open(
            "/scim/v2" + path,
            method=method,
            headers={"Authorization": f"Bearer {self.token}", "Content-Type": SCIM_JSON},
            data=None if body is None else json.dumps(body),
        )
        if response.status_code != 204:
            assert response.mimetype == SCIM_JSON, (method, path, response.headers)
        return response

    def get(self, path: str) -> Any:
        return self.send("GET", path)

    def post(self, path: str, body: Any) -> Any:
        return self.send("POST", path, body)

    def put(self, path: str, body: Any) -> Any:
        return self.send("PUT", path, body)

    def patch(self, path: str, *operations: dict[str, Any]) -> Any:
        return self.send("PATCH", path, {"schemas": [PATCH_OP], "Operations": list(operations)})

    def delete(self, path: str) -> Any:
        return self.send("DELETE", path)


@dataclass
class Provisioned:
    """An organization with its owner, its identity provider and the owner's view of it."""

    org_id: int
    scim: Scim
    owner_api: Any

    def members(self) -> dict[str, tuple[str, bool]]:
        """email → (role, is_active), as the owner lists the members."""
        answer = self.owner_api.get(f"/api/organizations/{self.org_id}/users?page_size=100")
        assert answer.status_code == 200, answer.get_json()
        page = answer.get_json()
        assert page["total_items"] == len(page["items"])
        return {item["email"]: (item["role"], item["is_active"]) for item in page["items"]}


@pytest.fixture
def idp(
    app: Any,
    client: FlaskClient,
    make_user: Callable[..., User],
    make_org: Callable[..., Any],
    api: Callable[[User], Any],
) -> Provisioned:
    owner = make_user(email=OWNER_EMAIL, name="Olive Owner")
    org = make_org(owner, name="Provisioned")
    token = create_service_token(owner, org.id, name="IdP", scope="scim", via=Via.CLI).token
    db.session.commit()
    return Provisioned(org.id, Scim(client, token), api(owner))


def _filter(expression: str) -> str:
    """A filter as the identity providers put it in the query string: percent-encoded."""
    return quote(expression, safe="")


def _eq(attribute: str, value: str) -> str:
    """``filter=<attribute> eq "<value>"``, percent-encoded."""
    return "filter=" + _filter(f'{attribute} eq "{value}"')


def _error(response: Any, status: int, scim_type: str | None = None) -> dict[str, Any]:
    """The SCIM error ``response`` must be (RFC 7644 §3.12: ``status`` is a string)."""
    body = response.get_json()
    assert response.status_code == status, body
    assert body["schemas"] == [ERROR_SCHEMA] and body["status"] == str(status), body
    if scim_type is not None:
        assert body.get("scimType") == scim_type, body
    return body


OWNER_ROW = (OWNER_EMAIL, ("OWNER", True))


# -- Okta -------------------------------------------------------------------------------------
# https://developer.okta.com/docs/reference/scim/scim-20/ ("Okta and SCIM Version 2.0")

OKTA_EMAIL = "test.user@okta.example.com"  # the docs' test.user@okta.local, at a usable domain


def okta_create_body(email: str = OKTA_EMAIL, external_id: str = "00ujl29u0le5T6Aj10h7") -> dict:
    """ "Create the User", the documented body."""
    return {
        "schemas": [USER_SCHEMA],
        "userName": email,
        "name": {"givenName": "Test", "familyName": "User"},
        "emails": [{"primary": True, "value": email, "type": "work"}],
        "displayName": "Test User",
        "locale": "en-US",
        "externalId": external_id,
        "groups": [],
        "password": "1mz050nq",
        "active": True,
    }


def okta_deactivate(active: bool) -> dict[str, Any]:
    """ "Update a specific User (PATCH)": replace without a path, the value an object."""
    return {"op": "replace", "value": {"active": active}}


def test_okta_creates_updates_deactivates_and_reactivates_a_user(idp: Provisioned) -> None:
    """Okta's user lifecycle (Okta sends no DELETE: a user it deprovisions is deactivated)."""
    scim = idp.scim
    by_user_name = f"/Users?{_eq('userName', OKTA_EMAIL)}&startIndex=1&count=100"

    # "Determine if the User already exists": an empty ListResponse (integers, not strings).
    found = scim.get(by_user_name)
    assert found.status_code == 200
    assert found.get_json() == {
        "schemas": [LIST_RESPONSE],
        "totalResults": 0,
        "startIndex": 1,
        "itemsPerPage": 0,
        "Resources": [],
    }

    # "Create the User": 201 with the User, an active VIEWER in the member list.
    created = scim.post("/Users", okta_create_body())
    assert created.status_code == 201, created.get_json()
    user = created.get_json()
    user_id = user["id"]
    assert user["userName"] == OKTA_EMAIL and user["active"] is True
    assert user["externalId"] == "00ujl29u0le5T6Aj10h7"
    assert user["name"] == {"givenName": "Test", "familyName": "User"}
    assert created.headers["Location"].endswith(f"/scim/v2/Users/{user_id}")
    assert idp.members() == dict([OWNER_ROW, (OKTA_EMAIL, ("VIEWER", True))])
    # locale and password are not kept: an account SCIM makes has no password (DESIGN §10).
    assert "locale" not in user and "password" not in user
    account = db.session.execute(db.select(User).where(User.email == OKTA_EMAIL)).scalar_one()
    assert account.password_hash is None

    # The same query now finds the user.
    found = scim.get(by_user_name).get_json()
    assert found["totalResults"] == 1 and found["itemsPerPage"] == 1
    assert [r["id"] for r in found["Resources"]] == [user_id]

    # Okta creating a user that already exists must be stopped with a 409.
    _error(scim.post("/Users", okta_create_body()), 409, "uniqueness")

    # "Update a specific User (PUT)": Okta GETs the user, changes the profile, PUTs it whole.
    got = scim.get(f"/Users/{user_id}")
    assert got.status_code == 200 and got.get_json() == user
    replaced = scim.put(
        f"/Users/{user_id}",
        {
            "schemas": [USER_SCHEMA],
            "id": user_id,
            "userName": OKTA_EMAIL,
            # The documented body also has "middleName": "Excited": sent by the test below.
            "name": {"givenName": "Another", "familyName": "User"},
            "emails": [
                {"primary": True, "value": OKTA_EMAIL, "type": "work", "display": OKTA_EMAIL}
            ],
            "active": True,
            "groups": [],
            "meta": {"resourceType": "User"},
        },
    )
    assert replaced.status_code == 200, replaced.get_json()
    after_put = replaced.get_json()
    assert after_put["name"] == {"givenName": "Another", "familyName": "User"}
    # A PUT replaces: what the body leaves out (displayName, externalId) is no longer asserted
    # (RFC 7644 §3.5.1); the read-only emails and groups are Roster's, ignored in the body.
    assert "displayName" not in after_put and "externalId" not in after_put
    assert after_put["emails"] == [{"value": OKTA_EMAIL, "type": "work", "primary": True}]
    assert [g["value"] for g in after_put["groups"]] == ["viewer"]
    assert idp.members() == dict([OWNER_ROW, (OKTA_EMAIL, ("VIEWER", True))])

    # Deactivate: PATCH replace {"active": false} without a path. The user is still returned
    # (suspended, not removed) and the member list shows the suspension.
    deactivated = scim.patch(f"/Users/{user_id}", okta_deactivate(False))
    assert deactivated.status_code == 200, deactivated.get_json()
    assert deactivated.get_json()["active"] is False
    assert scim.get(f"/Users/{user_id}").get_json()["active"] is False
    assert scim.get(by_user_name).get_json()["totalResults"] == 1
    assert idp.members() == dict([OWNER_ROW, (OKTA_EMAIL, ("VIEWER", False))])

    # Reactivate: the same with true.
    reactivated = scim.patch(f"/Users/{user_id}", okta_deactivate(True))
    assert reactivated.status_code == 200, reactivated.get_json()
    assert reactivated.get_json()["active"] is True
    assert reactivated.get_json()["name"] == {"givenName": "Another", "familyName": "User"}
    assert idp.members() == dict([OWNER_ROW, (OKTA_EMAIL, ("VIEWER", True))])


def test_okta_cannot_deactivate_the_last_active_owner(idp: Provisioned) -> None:
    """Okta deactivating the organization's only active owner: SCIM 409, nothing changes."""
    scim = idp.scim
    listed = scim.get(f"/Users?{_eq('userName', OWNER_EMAIL)}").get_json()
    (owner,) = listed["Resources"]
    _error(scim.patch(f"/Users/{owner['id']}", okta_deactivate(False)), 409)
    assert idp.members() == dict([OWNER_ROW])


def test_okta_put_with_the_documented_body(idp: Provisioned) -> None:
    """ "Update the User" (PUT) exactly as documented, with ``name.middleName``.

    RFC 7643 §4.1.1's ``name.middleName`` is an attribute Roster does not keep; the server's own
    rule (webapp/scim/service.py) is that such attributes are accepted and not kept.

    Regression: Roster answered 400 invalidSyntax "Extra inputs are not permitted:
    name.middleName" (the rule covered top-level attributes only), refusing the profile update
    Okta documents whole."""
    user_id = idp.scim.post("/Users", okta_create_body()).get_json()["id"]
    replaced = idp.scim.put(
        f"/Users/{user_id}",
        {
            "schemas": [USER_SCHEMA],
            "id": user_id,
            "userName": OKTA_EMAIL,
            "name": {"givenName": "Another", "middleName": "Excited", "familyName": "User"},
            "emails": [
                {"primary": True, "value": OKTA_EMAIL, "type": "work", "display": OKTA_EMAIL}
            ],
            "active": True,
            "groups": [],
            "meta": {"resourceType": "User"},
        },
    )
    assert replaced.status_code == 200, replaced.get_json()
    assert replaced.get_json()["name"] == {"givenName": "Another", "familyName": "User"}


def test_okta_group_push_changes_roles(idp: Provisioned) -> None:
    """Okta's Group Push onto a role, "Update specific Group membership" (PATCH).

    A role cannot be created (Okta's "Create Groups" POST gets 403 mutability), so an Okta admin
    links the pushed group to the existing one, found by displayName. Okta then sends its
    "Update a specific Group name" PATCH with each membership update: with the same name it
    changes nothing and must succeed."""
    scim = idp.scim
    alice = "alice@okta.example.com"
    bob = "bob@okta.example.com"
    a = scim.post("/Users", okta_create_body(alice, "00ualice")).get_json()["id"]
    b = scim.post("/Users", okta_create_body(bob, "00ubob")).get_json()["id"]

    refused = scim.post(
        "/Groups",
        {"schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"], "displayName": "ADMIN"},
    )
    _error(refused, 403, "mutability")

    found = scim.get(f"/Groups?{_eq('displayName', 'ADMIN')}").get_json()
    assert found["totalResults"] == 1
    (group,) = found["Resources"]
    assert (group["id"], group["displayName"]) == ("admin", "ADMIN")
    group_path = f"/Groups/{group['id']}"

    renamed_to_itself = scim.patch(
        group_path, {"op": "replace", "value": {"id": "admin", "displayName": "ADMIN"}}
    )
    assert renamed_to_itself.status_code in (200, 204), renamed_to_itself.get_json()
    assert idp.members() == dict([OWNER_ROW, (alice, ("VIEWER", True)), (bob, ("VIEWER", True))])

    # The documented membership PATCH: remove one member by filter, add another.
    pushed = scim.patch(
        group_path,
        {"op": "remove", "path": f'members[value eq "{b}"]'},
        {"op": "add", "path": "members", "value": [{"value": a, "display": alice}]},
    )
    assert pushed.status_code in (200, 204), pushed.get_json()
    assert idp.members() == dict([OWNER_ROW, (alice, ("ADMIN", True)), (bob, ("VIEWER", True))])

    # "a full push of the membership ... using the replace operation".
    full_push = scim.patch(
        group_path,
        {
            "op": "replace",
            "path": "members",
            "value": [{"value": a, "display": alice}, {"value": b, "display": bob}],
        },
    )
    assert full_push.status_code in (200, 204), full_push.get_json()
    assert idp.members() == dict([OWNER_ROW, (alice, ("ADMIN", True)), (bob, ("ADMIN", True))])

    # Removed from the group of their role, a member becomes VIEWER.
    removed = scim.patch(group_path, {"op": "remove", "path": f'members[value eq "{a}"]'})
    assert removed.status_code in (200, 204), removed.get_json()
    assert idp.members() == dict([OWNER_ROW, (alice, ("VIEWER", True)), (bob, ("ADMIN", True))])
    members = scim.get(group_path).get_json()["members"]
    assert [m["value"] for m in members] == [b]

    # A full push that would leave no owner: SCIM 409, nothing changes.
    _error(scim.patch("/Groups/owner", {"op": "replace", "path": "members", "value": []}), 409)
    assert idp.members() == dict([OWNER_ROW, (alice, ("VIEWER", True)), (bob, ("ADMIN", True))])


# -- Microsoft Entra ID -------------------------------------------------------------------------
# https://learn.microsoft.com/en-us/entra/identity/app-provisioning/use-scim-to-provision-users-and-groups
# ("SCIM protocol requests and responses"), and for what Entra sends by default (without the
# aadOptscim062020 flag):
# https://learn.microsoft.com/en-us/entra/identity/app-provisioning/application-provisioning-config-problem-scim-compatibility

# Entra's sample userName ("Test_User_00aa00aa-...") is not an address: Roster's userName is the
# account's email, so it takes the sample's work address (a UPN is shaped like one).
ENTRA_USER_NAME = "Test_User_11bb11bb-cc22-dd33-ee44-55ff55ff55ff@testuser.example.com"
ENTRA_EMAIL = ENTRA_USER_NAME.lower()  # addresses are kept lower-cased (caseExact false)


def entra_create_body(user_name: str = ENTRA_USER_NAME) -> dict[str, Any]:
    """ "Create User", the documented body (``userName`` aside)."""
    return {
        "schemas": [USER_SCHEMA, ENTERPRISE_USER],
        "externalId": "0a21f0f2-8d2a-4f8e-bf98-7363c4aed4ef",
        "userName": user_name,
        "active": True,
        "emails": [{"primary": True, "type": "work", "value": user_name}],
        "meta": {"resourceType": "User"},
        "name": {
            "formatted": "givenName familyName",
            "familyName": "familyName",
            "givenName": "givenName",
        },
        "roles": [],
    }


def test_entra_creates_updates_disables_and_deletes_a_user(idp: Provisioned) -> None:
    scim = idp.scim

    # "Get User by query - Zero results", by userName and by the work address (Entra's two
    # matching attributes: both must be filterable).
    for expression in (
        f'userName eq "{ENTRA_USER_NAME}"',
        f'emails[type eq "work"].value eq "{ENTRA_USER_NAME}"',
    ):
        found = scim.get(f"/Users?filter={_filter(expression)}")
        assert found.status_code == 200, found.get_json()
        assert found.get_json()["totalResults"] == 0 and found.get_json()["Resources"] == []

    # Entra's sample userName is not an address: Roster refuses it (DESIGN §10).
    sample = entra_create_body() | {"userName": "Test_User_00aa00aa-bb11-cc22-dd33-44ee44ee44ee"}
    _error(scim.post("/Users", sample), 400, "invalidValue")
    assert idp.members() == dict([OWNER_ROW])

    # "Create User".
    created = scim.post("/Users", entra_create_body())
    assert created.status_code == 201, created.get_json()
    user = created.get_json()
    user_id = user["id"]
    assert user["userName"] == ENTRA_EMAIL and user["active"] is True
    assert user["emails"] == [{"value": ENTRA_EMAIL, "type": "work", "primary": True}]
    assert idp.members() == dict([OWNER_ROW, (ENTRA_EMAIL, ("VIEWER", True))])

    # "Get User by query" finds it, case aside, by either attribute; "Get User" by id.
    for expression in (
        f'userName eq "{ENTRA_USER_NAME}"',
        f'emails[type eq "work"].value eq "{ENTRA_USER_NAME}"',
    ):
        found = scim.get(f"/Users?filter={_filter(expression)}").get_json()
        assert [r["id"] for r in found["Resources"]] == [user_id], expression
    assert scim.get(f"/Users/{user_id}").get_json() == user

    # Single-valued replaces, as Entra sends them by default (capitalised op).
    patched = scim.patch(
        f"/Users/{user_id}", {"op": "Replace", "path": "displayName", "value": "Pvlo"}
    )
    assert patched.status_code == 200, patched.get_json()
    assert patched.get_json()["displayName"] == "Pvlo"

    # "Update User [Multi-valued properties]" restating the work address (Entra sends its whole
    # mapping with each change): the address changes nothing, the family name is applied.
    restated = scim.patch(
        f"/Users/{user_id}",
        {"op": "Replace", "path": 'emails[type eq "work"].value', "value": ENTRA_USER_NAME},
        {"op": "Replace", "path": "name.familyName", "value": "updatedFamilyName"},
    )
    assert restated.status_code == 200, restated.get_json()
    assert restated.get_json()["name"]["familyName"] == "updatedFamilyName"
    assert restated.get_json()["emails"] == [
        {"value": ENTRA_EMAIL, "type": "work", "primary": True}
    ]

    # The same with a different work address (the documented value): refused whole,
    # 400 mutability. Decision: the address is the account's email (DESIGN §10: userName, and
    # the one work email that mirrors it, never change through SCIM); the family name in the
    # same PATCH is not applied either.
    moved = scim.patch(
        f"/Users/{user_id}",
        {
            "op": "Replace",
            "path": 'emails[type eq "work"].value',
            "value": "updatedEmail@example.com",
        },
        {"op": "Replace", "path": "name.familyName", "value": "anotherFamilyName"},
    )
    _error(moved, 400, "mutability")
    assert scim.get(f"/Users/{user_id}").get_json()["name"]["familyName"] == "updatedFamilyName"

    # "Update User [Single-valued properties]" replaces userName: immutable, 400 mutability.
    renamed = scim.patch(
        f"/Users/{user_id}",
        {"op": "Replace", "path": "userName", "value": "5b50642d@testuser.example.com"},
    )
    _error(renamed, 400, "mutability")

    # "Requests to add a single-value string attribute" (Add, capitalised): the documented
    # nickName, which Roster does not keep (accepted, not kept), and externalId, which it does.
    nick = scim.patch(f"/Users/{user_id}", {"op": "Add", "path": "nickName", "value": "Babs"})
    assert nick.status_code == 200, nick.get_json()
    assert "nickName" not in nick.get_json()
    added = scim.patch(f"/Users/{user_id}", {"op": "Add", "path": "externalId", "value": "Eqpj"})
    assert added.status_code == 200, added.get_json()
    assert added.get_json()["externalId"] == "Eqpj"

    # "Requests to replace multiple attributes", without the flag (one Replace per attribute,
    # the enterprise extension's employeeNumber among them: accepted, not kept) ...
    employee_number = f"{ENTERPRISE_USER}:employeeNumber"
    multi = scim.patch(
        f"/Users/{user_id}",
        {"op": "Replace", "path": "displayName", "value": "Pvlo"},
        {"op": "Replace", "path": 'emails[type eq "work"].value', "value": ENTRA_USER_NAME},
        {"op": "Replace", "path": "name.givenName", "value": "Gtfd"},
        {"op": "Replace", "path": "name.familyName", "value": "Pkqf"},
        {"op": "Replace", "path": "externalId", "value": "Eqpj"},
        {"op": "Replace", "path": employee_number, "value": "Eqpj"},
    )
    assert multi.status_code == 200, multi.get_json()
    assert multi.get_json()["name"] == {
        "formatted": "givenName familyName",
        "familyName": "Pkqf",
        "givenName": "Gtfd",
    }
    assert employee_number not in multi.get_json()

    # ... and with it: the address by its path, the rest in one replace without a path, with
    # dotted keys.
    flagged = scim.patch(
        f"/Users/{user_id}",
        {"op": "replace", "path": 'emails[type eq "work"].value', "value": ENTRA_USER_NAME},
        {
            "op": "replace",
            "value": {
                "displayName": "Bjfe",
                "name.givenName": "Kkom",
                "name.familyName": "Unua",
                employee_number: "Aklq",
            },
        },
    )
    assert flagged.status_code == 200, flagged.get_json()
    assert flagged.get_json()["displayName"] == "Bjfe"
    assert flagged.get_json()["name"] == {
        "formatted": "givenName familyName",
        "familyName": "Unua",
        "givenName": "Kkom",
    }
    assert flagged.get_json()["externalId"] == "Eqpj"
    assert idp.members() == dict([OWNER_ROW, (ENTRA_EMAIL, ("VIEWER", True))])

    # "Requests made to disable users", without the flag: active as the STRING "False". Entra
    # requires the user to be returned still, active false, by id and by query.
    disabled = scim.patch(
        f"/Users/{user_id}", {"op": "Replace", "path": "active", "value": "False"}
    )
    assert disabled.status_code == 200, disabled.get_json()
    assert disabled.get_json()["active"] is False
    assert scim.get(f"/Users/{user_id}").get_json()["active"] is False
    query = f"/Users?{_eq('userName', ENTRA_USER_NAME)}"
    assert [r["active"] for r in scim.get(query).get_json()["Resources"]] == [False]
    assert idp.members() == dict([OWNER_ROW, (ENTRA_EMAIL, ("VIEWER", False))])

    # Reassigned: Entra PATCHes active back (same form), and with the flag a real boolean.
    enabled = scim.patch(f"/Users/{user_id}", {"op": "Replace", "path": "active", "value": "True"})
    assert enabled.status_code == 200 and enabled.get_json()["active"] is True
    assert idp.members() == dict([OWNER_ROW, (ENTRA_EMAIL, ("VIEWER", True))])
    boolean = scim.patch(f"/Users/{user_id}", {"op": "replace", "path": "active", "value": False})
    assert boolean.status_code == 200 and boolean.get_json()["active"] is False
    assert idp.members() == dict([OWNER_ROW, (ENTRA_EMAIL, ("VIEWER", False))])

    # "Delete User": 204; the member is gone (not found by id, nor listed); the account stays.
    deleted = scim.delete(f"/Users/{user_id}")
    assert deleted.status_code == 204 and deleted.get_data() == b""
    _error(scim.get(f"/Users/{user_id}"), 404)
    assert scim.get(query).get_json()["totalResults"] == 0
    assert idp.members() == dict([OWNER_ROW])
    assert db.session.scalar(db.select(User.id).where(User.email == ENTRA_EMAIL)) == int(user_id)


def test_entra_cannot_disable_or_delete_the_last_active_owner(idp: Provisioned) -> None:
    scim = idp.scim
    listed = scim.get(f"/Users?{_eq('userName', OWNER_EMAIL)}").get_json()
    (owner,) = listed["Resources"]
    path = f"/Users/{owner['id']}"
    _error(scim.patch(path, {"op": "Replace", "path": "active", "value": "False"}), 409)
    _error(scim.delete(path), 409)
    assert idp.members() == dict([OWNER_ROW])


def test_entra_group_push_changes_roles(idp: Provisioned) -> None:
    """Entra's group operations on a role: "Get Group by displayName" and "Get Group" without
    members, "Update Group [Add Members]", member removal as the flag sends it, and "Update
    Group [Non-member attributes]" (a rename, refused)."""
    scim = idp.scim
    user_id = scim.post("/Users", entra_create_body()).get_json()["id"]

    found = scim.get(
        f"/Groups?excludedAttributes=members&{_eq('displayName', 'ACCOUNTING')}"
    ).get_json()
    assert found["totalResults"] == 1
    (group,) = found["Resources"]
    assert (group["id"], group["displayName"]) == ("accounting", "ACCOUNTING")
    assert "members" not in group
    got = scim.get("/Groups/accounting?excludedAttributes=members").get_json()
    assert got["displayName"] == "ACCOUNTING" and "members" not in got

    added = scim.patch(
        "/Groups/accounting",
        {"op": "Add", "path": "members", "value": [{"$ref": None, "value": user_id}]},
    )
    assert added.status_code in (200, 204), added.get_json()  # Entra prefers 204; 200 is valid
    assert idp.members() == dict([OWNER_ROW, (ENTRA_EMAIL, ("ACCOUNTING", True))])

    # Added to a lower group, the member keeps the higher role.
    lower = scim.patch(
        "/Groups/viewer", {"op": "Add", "path": "members", "value": [{"value": user_id}]}
    )
    assert lower.status_code in (200, 204), lower.get_json()
    assert idp.members() == dict([OWNER_ROW, (ENTRA_EMAIL, ("ACCOUNTING", True))])

    # "Requests to remove a group member", with the flag: the member named by a filter.
    removed = scim.patch(
        "/Groups/accounting", {"op": "remove", "path": f'members[value eq "{user_id}"]'}
    )
    assert removed.status_code in (200, 204), removed.get_json()
    assert idp.members() == dict([OWNER_ROW, (ENTRA_EMAIL, ("VIEWER", True))])

    # A rename is refused with scimType mutability and changes nothing. Decision: 400, as RFC
    # 7644 §3.5.2 answers a PATCH of a read-only attribute; the 403 of DESIGN §10 is for
    # creating, replacing or deleting a group.
    rename = scim.patch(
        "/Groups/accounting",
        {"op": "Replace", "path": "displayName", "value": "1879db59updatedDisplayName"},
    )
    _error(rename, 400, "mutability")
    assert scim.get("/Groups/accounting").get_json()["displayName"] == "ACCOUNTING"

    # "Delete Group" is refused: the roles are fixed.
    _error(scim.delete("/Groups/accounting"), 403, "mutability")
    assert idp.members() == dict([OWNER_ROW, (ENTRA_EMAIL, ("VIEWER", True))])


def test_entra_removes_a_group_member_as_it_does_by_default(idp: Provisioned) -> None:
    """ "Update Group [Remove Members]" as Entra sends it by default (and as the tutorial
    documents it): ``Remove`` with path ``members`` and the members to remove as the value. Only
    those members leave the group; the member becomes VIEWER. (Read as RFC 7644's "remove all
    members" it would demote everyone: the value names whom.) Refused with 400 invalidValue
    until bb611e8."""
    scim = idp.scim
    user_id = scim.post("/Users", entra_create_body()).get_json()["id"]
    other = scim.post("/Users", entra_create_body("other@testuser.example.com")).get_json()["id"]
    for member in (user_id, other):
        added = scim.patch(
            "/Groups/accounting",
            {"op": "Add", "path": "members", "value": [{"$ref": None, "value": member}]},
        )
        assert added.status_code in (200, 204), added.get_json()

    removed = scim.patch(
        "/Groups/accounting",
        {"op": "Remove", "path": "members", "value": [{"$ref": None, "value": user_id}]},
    )
    assert removed.status_code in (200, 204), removed.get_json()
    assert idp.members() == dict(
        [
            OWNER_ROW,
            (ENTRA_EMAIL, ("VIEWER", True)),
            ("other@testuser.example.com", ("ACCOUNTING", True)),
        ]
    )
