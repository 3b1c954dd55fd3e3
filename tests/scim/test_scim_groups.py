"""SCIM 2.0 Groups through HTTP (DESIGN §10): the five roles as groups. Their members' PATCH
changes roles (a member in several groups holds the highest; removed from the group of their
role, a member becomes VIEWER); the groups themselves cannot be created, replaced or deleted.
What the identity provider gets back, and the roles the organization then sees through /api.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest

from webapp.models import Role, User, Via
from webapp.services import members

from .test_scim_users import (
    GROUP_SCHEMA,
    LIST_SCHEMA,
    USER_SCHEMA,
    Tenant,
    assert_scim_error,
    tenant_factory,
)

GROUP_IDS = ["owner", "admin", "contributor", "accounting", "viewer"]


@pytest.fixture
def make_tenant(app, make_user, make_org, api):  # type: ignore[no-untyped-def]
    return tenant_factory(app, make_user, make_org, api)


@dataclass
class Staffed:
    """An organization with a member of each role, a suspended viewer, and an outsider."""

    tenant: Tenant
    owner: User
    admin: User
    contributor: User
    accounting: User
    viewer: User
    suspended: User
    outsider: User

    def roles(self) -> dict[str, tuple[str, bool]]:
        """Each member's (role, is_active) by email, as the owner sees them through /api."""
        return {email: (m.role, m.is_active) for email, m in self.tenant.seen().items()}

    def role_of(self, user: User) -> str:
        return self.tenant.seen()[user.email].role


@pytest.fixture
def staffed(make_tenant, make_user) -> Staffed:  # type: ignore[no-untyped-def]
    tenant = make_tenant("Acme", owner_email="olivia@example.com")
    people = {}
    for role in (Role.ADMIN, Role.CONTRIBUTOR, Role.ACCOUNTING, Role.VIEWER):
        user = make_user(email=f"{role.name.lower()}@example.org", name=f"{role.name.title()} P")
        members.add_members(tenant.owner, tenant.org.id, [user.id], role=role, via=Via.CLI)
        people[role] = user
    suspended = make_user(email="suspended@example.org")
    members.add_members(tenant.owner, tenant.org.id, [suspended.id], is_active=False, via=Via.CLI)
    return Staffed(
        tenant,
        tenant.owner,
        people[Role.ADMIN],
        people[Role.CONTRIBUTOR],
        people[Role.ACCOUNTING],
        people[Role.VIEWER],
        suspended,
        make_user(email="outsider@example.org"),
    )


def _patch(staffed: Staffed, group: str, *operations: dict[str, Any]) -> Any:
    """PATCH a group; a success is 200 with the group or 204 (RFC 7644 §3.5.2)."""
    return staffed.tenant.scim.patch(f"/Groups/{group}", *operations)


def _patched(staffed: Staffed, group: str, *operations: dict[str, Any]) -> None:
    answer = _patch(staffed, group, *operations)
    assert answer.status_code in (200, 204), answer.get_data(as_text=True)


def _members(group: dict[str, Any]) -> list[int]:
    return sorted(int(m["value"]) for m in group.get("members") or [])


def _group(staffed: Staffed, group: str, **query: Any) -> dict[str, Any]:
    return staffed.tenant.scim.ok(staffed.tenant.scim.get(f"/Groups/{group}", **query))


def _add(*users: User) -> dict[str, Any]:
    return {"op": "add", "path": "members", "value": [{"value": str(u.id)} for u in users]}


def _remove(user: User | int | str) -> dict[str, Any]:
    value = user.id if isinstance(user, User) else user
    return {"op": "remove", "path": f'members[value eq "{value}"]'}


# -- reading ------------------------------------------------------------------------------------


def test_the_five_roles_are_listed_as_groups_with_their_members(staffed):
    page = staffed.tenant.scim.ok(staffed.tenant.scim.get("/Groups"))
    assert page["schemas"] == [LIST_SCHEMA]
    assert (page["totalResults"], page["itemsPerPage"], page["startIndex"]) == (5, 5, 1)
    groups = page["Resources"]
    assert [g["id"] for g in groups] == GROUP_IDS
    assert [g["displayName"] for g in groups] == [r.upper() for r in GROUP_IDS]
    assert all(g["schemas"] == [GROUP_SCHEMA] for g in groups)
    by_id = {g["id"]: _members(g) for g in groups}
    assert by_id == {
        "owner": [staffed.owner.id],
        "admin": [staffed.admin.id],
        "contributor": [staffed.contributor.id],
        "accounting": [staffed.accounting.id],
        "viewer": sorted([staffed.viewer.id, staffed.suspended.id]),  # suspended, still a viewer
    }


def test_get_a_group_by_id(staffed):
    answer = staffed.tenant.scim.get("/Groups/admin")
    admin = staffed.tenant.scim.ok(answer)
    assert (admin["id"], admin["displayName"]) == ("admin", "ADMIN")
    assert admin["meta"]["resourceType"] == "Group"
    assert admin["meta"]["location"] == "http://localhost/scim/v2/Groups/admin"
    [member] = admin["members"]
    assert member["value"] == str(staffed.admin.id)
    assert member["$ref"].endswith(f"/Users/{staffed.admin.id}")


@pytest.mark.parametrize("group", ["root", "Admin", "ADMIN", "6", ""])
def test_there_is_no_other_group(staffed, group):
    answer = staffed.tenant.scim.get(f"/Groups/{group}" if group else "/Groups/%20")
    assert_scim_error(answer, 404)


def test_filter_groups_by_display_name(staffed):
    scim = staffed.tenant.scim
    page = scim.ok(scim.get("/Groups", filter='displayName eq "ADMIN"'))
    assert (page["totalResults"], [g["id"] for g in page["Resources"]]) == (1, ["admin"])
    assert _members(page["Resources"][0]) == [staffed.admin.id]
    none = scim.ok(scim.get("/Groups", filter='displayName eq "Engineering"'))
    assert none["totalResults"] == 0


def test_groups_page_like_users(staffed):
    scim = staffed.tenant.scim
    page = scim.ok(scim.get("/Groups", startIndex=2, count=2))
    assert (page["totalResults"], page["itemsPerPage"], page["startIndex"]) == (5, 2, 2)
    assert [g["id"] for g in page["Resources"]] == ["admin", "contributor"]
    assert scim.ok(scim.get("/Groups", count=0))["totalResults"] == 5


def test_members_can_be_left_out_of_a_group(staffed):
    scim = staffed.tenant.scim
    bare = _group(staffed, "viewer", excludedAttributes="members")
    assert "members" not in bare and bare["displayName"] == "VIEWER"
    page = scim.ok(scim.get("/Groups", attributes="displayName"))
    assert [set(g) for g in page["Resources"]] == [{"schemas", "id", "displayName"}] * 5


def test_a_users_groups_say_its_role(staffed):
    user = staffed.tenant.scim.user(staffed.accounting.id)
    assert [(g["value"], g["display"]) for g in user["groups"]] == [("accounting", "ACCOUNTING")]


# -- PATCH: roles change ------------------------------------------------------------------------


def test_added_to_a_group_a_member_takes_its_role_when_higher(staffed):
    _patched(staffed, "admin", _add(staffed.contributor, staffed.viewer, staffed.owner))
    assert staffed.role_of(staffed.contributor) == "ADMIN"
    assert staffed.role_of(staffed.viewer) == "ADMIN"
    assert staffed.role_of(staffed.owner) == "OWNER"  # the highest wins: an owner stays one
    admin = _group(staffed, "admin")
    assert _members(admin) == sorted([staffed.admin.id, staffed.contributor.id, staffed.viewer.id])
    assert _members(_group(staffed, "owner")) == [staffed.owner.id]
    assert [g["value"] for g in staffed.tenant.scim.user(staffed.viewer.id)["groups"]] == ["admin"]


def test_added_to_a_lower_group_a_member_keeps_the_higher_role(staffed):
    _patched(staffed, "viewer", _add(staffed.admin))
    _patched(staffed, "accounting", _add(staffed.contributor, staffed.viewer))
    assert staffed.role_of(staffed.admin) == "ADMIN"
    assert staffed.role_of(staffed.contributor) == "CONTRIBUTOR"
    assert staffed.role_of(staffed.viewer) == "ACCOUNTING"


def test_adding_a_suspended_member_keeps_them_suspended(staffed):
    _patched(staffed, "contributor", _add(staffed.suspended))
    assert staffed.roles()["suspended@example.org"] == ("CONTRIBUTOR", False)


def test_removed_from_the_group_of_their_role_a_member_becomes_viewer(staffed):
    _patched(staffed, "admin", _remove(staffed.admin))
    assert staffed.role_of(staffed.admin) == "VIEWER"
    assert "members" not in _group(staffed, "admin") or _members(_group(staffed, "admin")) == []
    assert staffed.admin.id in _members(_group(staffed, "viewer"))


def test_removed_from_a_group_they_are_not_in_a_member_keeps_their_role(staffed):
    before = staffed.roles()
    answer = _patch(staffed, "contributor", _remove(staffed.admin))
    assert answer.status_code in (200, 204), answer.get_data(as_text=True)
    assert staffed.roles() == before


def test_replace_members_sets_exactly_who_holds_the_role(staffed):
    _patched(
        staffed,
        "accounting",
        {
            "op": "replace",
            "path": "members",
            "value": [{"value": str(staffed.viewer.id)}, {"value": str(staffed.contributor.id)}],
        },
    )
    roles = staffed.roles()
    assert roles["viewer@example.org"] == ("ACCOUNTING", True)
    assert roles["contributor@example.org"] == ("CONTRIBUTOR", True)  # higher already: kept
    assert roles["accounting@example.org"] == ("VIEWER", True)  # left out: dropped to VIEWER
    assert roles["admin@example.org"] == ("ADMIN", True)
    assert _members(_group(staffed, "accounting")) == [staffed.viewer.id]


def test_replace_without_a_path_sets_the_members_too(staffed):
    _patched(
        staffed,
        "admin",
        {"op": "replace", "value": {"members": [{"value": str(staffed.accounting.id)}]}},
    )
    assert staffed.role_of(staffed.accounting) == "ADMIN"
    assert staffed.role_of(staffed.admin) == "VIEWER"


def test_several_operations_in_one_patch(staffed):
    _patched(
        staffed,
        "admin",
        _add(staffed.viewer),
        _remove(staffed.admin),
        _add(staffed.accounting),
    )
    roles = staffed.roles()
    assert roles["viewer@example.org"][0] == "ADMIN"
    assert roles["accounting@example.org"][0] == "ADMIN"
    assert roles["admin@example.org"][0] == "VIEWER"


# -- PATCH: refusals ----------------------------------------------------------------------------


@pytest.mark.parametrize("who", ["outsider", "unknown", "not a number", "other org"])
def test_ids_that_are_not_members_are_400_invalid_value_and_change_nothing(
    staffed, make_tenant, make_user, who
):
    if who == "outsider":
        value: str = str(staffed.outsider.id)
    elif who == "unknown":
        value = "999999"
    elif who == "not a number":
        value = "abc"
    else:
        other = make_tenant("Other", token="other")
        value = str(other.owner.id)
    before, trail = staffed.roles(), staffed.tenant.events()
    answer = _patch(
        staffed,
        "admin",
        _add(staffed.viewer),  # a valid first operation, not applied either
        {
            "op": "add",
            "path": "members",
            "value": [{"value": str(staffed.contributor.id)}, {"value": value}],
        },
    )
    assert_scim_error(answer, 400, "invalidValue")
    assert staffed.roles() == before
    assert staffed.tenant.events() == trail
    replace = _patch(
        staffed, "accounting", {"op": "replace", "path": "members", "value": [{"value": value}]}
    )
    assert_scim_error(replace, 400, "invalidValue")
    assert staffed.roles() == before


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("POST", "/Groups"),
        ("PUT", "/Groups/admin"),
        ("DELETE", "/Groups/admin"),
        ("DELETE", "/Groups/viewer"),
    ],
)
def test_groups_cannot_be_created_replaced_or_deleted(staffed, method, path):
    body = {
        "schemas": [GROUP_SCHEMA],
        "displayName": "ADMIN" if method == "PUT" else "Engineering",
        "members": [{"value": str(staffed.viewer.id)}],
    }
    before = staffed.roles()
    answer = staffed.tenant.scim.open(method, path, None if method == "DELETE" else body)
    assert_scim_error(answer, 403, "mutability")
    assert staffed.roles() == before
    assert [
        g["id"] for g in staffed.tenant.scim.ok(staffed.tenant.scim.get("/Groups"))["Resources"]
    ] == GROUP_IDS


def test_a_group_cannot_be_renamed(staffed):
    answer = _patch(staffed, "admin", {"op": "replace", "path": "displayName", "value": "Bosses"})
    assert answer.status_code in (400, 403)
    assert_scim_error(answer, answer.status_code, "mutability")
    assert _group(staffed, "admin")["displayName"] == "ADMIN"


def test_a_patch_of_an_unknown_group_is_404(staffed):
    before = staffed.roles()
    assert_scim_error(_patch(staffed, "engineering", _add(staffed.viewer)), 404)
    assert staffed.roles() == before


# -- owners and the invariant -------------------------------------------------------------------


def test_a_scim_token_may_make_someone_owner(staffed):
    _patched(staffed, "owner", _add(staffed.viewer))
    assert staffed.roles()["viewer@example.org"] == ("OWNER", True)
    assert _members(_group(staffed, "owner")) == sorted([staffed.owner.id, staffed.viewer.id])
    [event] = staffed.tenant.events(user_id=staffed.viewer.id, action="member.update")
    assert (event["old_role"], event["new_role"]) == ("VIEWER", "OWNER")
    assert (event["actor"], event["actor_id"], event["via"]) == ("token okta", None, "scim")


def test_removing_the_only_owner_from_the_owner_group_is_409(staffed):
    before, trail = staffed.roles(), staffed.tenant.events()
    for operation in (
        _remove(staffed.owner),
        {"op": "remove", "path": "members"},
        {"op": "replace", "path": "members", "value": []},
        {"op": "replace", "path": "members", "value": [{"value": str(staffed.suspended.id)}]},
    ):
        body = assert_scim_error(_patch(staffed, "owner", operation), 409)
        assert body["status"] == "409"
    assert staffed.roles() == before
    assert staffed.tenant.events() == trail


def test_a_suspended_owner_does_not_keep_the_organization(staffed):
    _patched(staffed, "owner", _add(staffed.suspended))
    assert staffed.roles()["suspended@example.org"] == ("OWNER", False)
    assert_scim_error(_patch(staffed, "owner", _remove(staffed.owner)), 409)
    assert staffed.roles()["olivia@example.com"] == ("OWNER", True)


def test_with_two_owners_one_can_be_removed_from_the_owner_group(staffed):
    _patched(staffed, "owner", _add(staffed.admin))
    _patched(staffed, "owner", _remove(staffed.owner))
    roles = staffed.roles()
    assert roles["olivia@example.com"] == ("VIEWER", True)
    assert roles["admin@example.org"] == ("OWNER", True)
    assert_scim_error(_patch(staffed, "owner", _remove(staffed.admin)), 409)  # now the last one


def test_handing_ownership_over_in_one_replace(staffed):
    _patched(
        staffed,
        "owner",
        {"op": "replace", "path": "members", "value": [{"value": str(staffed.contributor.id)}]},
    )
    roles = staffed.roles()
    assert roles["contributor@example.org"] == ("OWNER", True)
    assert roles["olivia@example.com"] == ("VIEWER", True)


# -- audit --------------------------------------------------------------------------------------


def test_a_group_patch_is_one_change_set_audited_as_the_token(staffed):
    _patched(staffed, "admin", _add(staffed.viewer, staffed.accounting), _remove(staffed.admin))
    events = [e for e in staffed.tenant.events() if e["via"] == "scim"]
    assert sorted((e["email"], e["old_role"], e["new_role"]) for e in events) == [
        ("accounting@example.org", "ACCOUNTING", "ADMIN"),
        ("admin@example.org", "ADMIN", "VIEWER"),
        ("viewer@example.org", "VIEWER", "ADMIN"),
    ]
    assert {e["action"] for e in events} == {"member.update"}
    assert {(e["actor"], e["actor_id"]) for e in events} == {("token okta", None)}
    assert len({e["change_id"] for e in events}) == 1


def test_a_patch_that_changes_no_role_records_nothing(staffed):
    trail = staffed.tenant.events()
    _patched(staffed, "viewer", _add(staffed.owner, staffed.admin, staffed.viewer))
    _patched(staffed, "contributor", _remove(staffed.viewer))
    assert staffed.tenant.events() == trail


# -- another organization -----------------------------------------------------------------------


def test_another_organizations_groups_are_its_own(staffed, make_tenant, make_user):
    other = make_tenant("Other", token="other")
    theirs = make_user(email="theirs@example.org")
    members.add_members(other.owner, other.org.id, [theirs.id], via=Via.CLI)
    other_before = other.seen()
    assert_scim_error(_patch(staffed, "admin", _add(theirs)), 400, "invalidValue")
    assert other.seen() == other_before
    groups = other.scim.ok(other.scim.get("/Groups"))["Resources"]
    assert {g["id"]: _members(g) for g in groups} == {
        "owner": [other.owner.id],
        "admin": [],
        "contributor": [],
        "accounting": [],
        "viewer": [theirs.id],
    }
    _patched(staffed, "owner", _add(staffed.viewer))
    assert other.seen() == other_before


def test_a_created_user_joins_the_viewer_group(staffed):
    made = staffed.tenant.scim.create("new@example.org")
    assert int(made["id"]) in _members(_group(staffed, "viewer"))
    body = {"schemas": [USER_SCHEMA], "userName": "new@example.org", "active": True}
    assert staffed.tenant.scim.put(f"/Users/{made['id']}", body).status_code == 200
    assert staffed.tenant.seen()["new@example.org"].role == "VIEWER"  # a PUT keeps the role
