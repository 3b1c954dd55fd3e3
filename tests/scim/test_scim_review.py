"""Regressions from a review of SCIM tried as an attacker would: each test failed before its
fix (a wrong role, another organization's view rewritten, two change sets, an unaudited
account, a 500)."""

from __future__ import annotations

import threading
from typing import Any

import pytest
from flask.testing import FlaskClient
from sqlalchemy import select

from webapp.extensions import db
from webapp.models import AuditEvent, Membership, Role, User, Via
from webapp.services import members, users

from .test_scim_users import (
    BASE,
    SCIM_JSON,
    assert_scim_error,
    tenant_factory,
    user_row,
)


@pytest.fixture
def make_tenant(app, make_user, make_org, api):  # type: ignore[no-untyped-def]
    return tenant_factory(app, make_user, make_org, api)


def _roles(org_id: int) -> dict[int, tuple[Role, bool]]:
    db.session.rollback()  # what the requests committed
    rows = db.session.execute(
        select(Membership.user_id, Membership.role, Membership.is_active).where(
            Membership.organization_id == org_id
        )
    )
    return {user_id: (role, active) for user_id, role, active in rows}


@pytest.mark.parametrize(
    "value", ["12", "2", 12, 1.5, True, {"value": "2"}, None, "", [2], [{"value": 2}], [None]]
)
@pytest.mark.parametrize("op", ["add", "replace"])
def test_a_members_value_that_is_not_a_list_of_objects_is_400_and_changes_nothing(
    make_tenant, make_user, op, value
):
    """Read as a list, the string "12" named members 1 and 2: a PATCH adding "12" to the owner
    group made user 2 an OWNER; a number was a 500."""
    acme = make_tenant("Acme")
    people = [make_user() for _ in range(12)]
    members.add_members(acme.owner, acme.org.id, [p.id for p in people], via=Via.CLI)
    before = _roles(acme.org.id)
    for group in ("owner", "admin"):
        answer = acme.scim.patch(f"/Groups/{group}", {"op": op, "path": "members", "value": value})
        assert_scim_error(answer, 400, "invalidValue")
        answer = acme.scim.patch(f"/Groups/{group}", {"op": op, "value": {"members": value}})
        assert_scim_error(answer, 400)
    assert _roles(acme.org.id) == before


def test_one_organizations_provider_never_renames_the_account_another_one_made(make_tenant):
    """B's provider made bob@ (unverified: he has not reset his password yet); A's provider
    then provisions him under another name. B's member list keeps its name, sort and search."""
    a, b = make_tenant("Alpha"), make_tenant("Beta")
    b.scim.create("bob@corp.example", displayName="Aaron Bob")
    b.scim.create("mid@corp.example", displayName="Mike Middle")
    made = a.scim.create("bob@corp.example", displayName="Zed Renamed")
    assert made["displayName"] == "Zed Renamed"  # A's own profile of him
    assert user_row("bob@corp.example").name == "Aaron Bob"  # type: ignore[union-attr]
    listed = b.owner_api.get(f"/api/organizations/{b.org.id}/users?sort_by=name").get_json()
    assert [m["name"] for m in listed["items"]] == ["Aaron Bob", "Beta Owner", "Mike Middle"]
    found = b.owner_api.get(f"/api/organizations/{b.org.id}/users?q=zed").get_json()
    assert found["items"] == []


def test_a_group_patch_is_one_change_set_that_one_revert_undoes(make_tenant, make_user):
    acme = make_tenant("Acme")
    ana, ben = make_user(), make_user()
    members.add_members(acme.owner, acme.org.id, [ana.id, ben.id], via=Via.CLI)
    before = _roles(acme.org.id)
    answer = acme.scim.patch(
        "/Groups/admin",
        {"op": "add", "path": "members", "value": [{"value": str(ana.id)}]},
        {"op": "replace", "path": "members", "value": [{"value": str(ben.id)}]},
    )
    assert answer.status_code == 204, answer.get_data(as_text=True)
    assert _roles(acme.org.id)[ben.id] == (Role.ADMIN, True)
    assert _roles(acme.org.id)[ana.id] == (Role.VIEWER, True)
    changes = {e["change_id"] for e in acme.events(actor="token okta")}
    assert len(changes) == 1, changes
    (change_id,) = changes
    reverted = acme.owner_api.post(
        f"/api/organizations/{acme.org.id}/changes/{change_id}/revert", json={}
    )
    assert reverted.status_code == 200, reverted.get_data(as_text=True)
    assert _roles(acme.org.id) == before


def test_an_account_made_or_taken_back_by_scim_is_audited(make_tenant):
    """The account's own event (``user.create``, through scim, by the token), beside the
    organization's ``member.add``: for an account made, and for one taken back from someone
    who signed up with the address and never proved it."""
    acme = make_tenant("Acme")
    users.sign_up("squatted@example.org", "Not Them", "a squatter's password 1")
    for email in ("new.person@example.org", "squatted@example.org"):
        acme.scim.create(email, displayName="Their Real Name")
        db.session.rollback()
        events = db.session.scalars(
            select(AuditEvent).where(
                AuditEvent.action == "user.create", AuditEvent.target_email == email
            )
        ).all()
        assert [(e.actor_email, e.via, e.details) for e in events] == [
            ("token okta", "scim", {"through": "scim"})
        ], email
        assert next(e["email"] for e in acme.events(action="member.add")) == email


@pytest.mark.parametrize(
    "path",
    [
        "/Users/" + "9" * 5000,
        "/Users/" + "1" * 20,
        "/Users?filter=" + "id%20eq%20%22" + "9" * 5000 + "%22",
    ],
)
def test_an_id_of_thousands_of_digits_is_not_found_not_a_500(make_tenant, path):
    acme = make_tenant("Acme")
    answer = acme.scim.get(path)
    assert answer.status_code in (200, 404), answer.status_code
    assert answer.mimetype == SCIM_JSON
    if answer.status_code == 200:
        assert answer.get_json()["totalResults"] == 0


@pytest.mark.parametrize(
    "moment", ["9999-12-31T23:59:59-14:00", "0001-01-01T00:00:00+14:00", "garbage"]
)
@pytest.mark.parametrize("attribute", ["meta.created", "meta.lastModified"])
def test_a_date_out_of_range_is_an_invalid_filter(make_tenant, attribute, moment):
    acme = make_tenant("Acme")
    answer = acme.scim.get("/Users", filter=f'{attribute} gt "{moment}"')
    assert_scim_error(answer, 400, "invalidFilter")


@pytest.mark.parametrize("field", ["displayName", "externalId", "name"])
def test_control_characters_in_what_the_provider_writes_are_400(make_tenant, field):
    acme = make_tenant("Acme")
    value: Any = {"givenName": "A\x00B"} if field == "name" else "A\x00B"
    answer = acme.scim.post(
        "/Users",
        {
            "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
            "userName": "nul@example.org",
            field: value,
        },
    )
    assert_scim_error(answer, 400)
    assert user_row("nul@example.org") is None


def test_a_nul_in_a_filter_value_and_a_filter_of_a_thousand_terms_are_400(make_tenant):
    acme = make_tenant("Acme")
    assert_scim_error(
        acme.scim.get("/Users", filter='displayName eq "a\x00b"'), 400, "invalidFilter"
    )
    many = " or ".join(f'userName eq "u{n}@example.org"' for n in range(1000))
    assert_scim_error(acme.scim.get("/Users", filter=many), 400, "invalidFilter")
    some = " or ".join(f'userName eq "u{n}@example.org"' for n in range(100))
    assert acme.scim.get("/Users", filter=some).status_code == 200


def test_two_organizations_provisioning_one_new_address_at_once_both_get_it(make_tenant):
    """Both providers create the same new address in the same instant: one makes the account,
    the other joins it (before: a 409 "uniqueness", which a provider reads as "exists")."""
    for round_ in range(3):
        a, b = (
            make_tenant(f"A{round_}", token=f"a{round_}"),
            make_tenant(f"B{round_}", token=f"b{round_}"),
        )
        email = f"same.{round_}@example.org"
        db.session.commit()
        barrier = threading.Barrier(2)
        statuses = [0, 0]

        def send(
            index: int,
            token: str,
            client: FlaskClient,
            barrier: threading.Barrier = barrier,
            email: str = email,
            statuses: list[int] = statuses,
        ) -> None:
            barrier.wait()
            answer = FlaskClient.open(
                client,
                BASE + "/Users",
                method="POST",
                json={"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"], "userName": email},
                headers={"Authorization": f"Bearer {token}"},
            )
            statuses[index] = answer.status_code

        threads = [
            threading.Thread(target=send, args=(i, t.scim.token, t.scim.client))
            for i, t in enumerate((a, b))
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=60)
        assert statuses == [201, 201], (round_, statuses)
        db.session.rollback()
        users = db.session.scalars(select(User.id).where(User.email == email)).all()
        assert len(users) == 1
        for tenant in (a, b):
            assert _roles(tenant.org.id)[users[0]] == (Role.VIEWER, True)
