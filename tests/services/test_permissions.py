"""DESIGN §3 as a table, checked against the data in permissions.py and against behaviour."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from webapp import inputs
from webapp.models import Role, User, Via
from webapp.services import audit, member_list, members, organizations, service_tokens
from webapp.services.errors import Forbidden, NotFound
from webapp.services.permissions import PERMISSIONS, SUSPENDED_ACTIONS, Action

from ..design import DESIGN_SUSPENDED, DESIGN_TABLE


def test_permission_data_is_the_design_table():
    assert {action: set(roles) for action, roles in PERMISSIONS.items()} == DESIGN_TABLE
    assert set(SUSPENDED_ACTIONS) == DESIGN_SUSPENDED


def _perform(action: Action, actor: User, org_id: int, newcomer: User) -> None:
    """Do the action through the service that needs it."""
    calls: dict[Action, Callable[[], object]] = {
        Action.VIEW: lambda: member_list.list_members(actor, org_id, inputs.MemberQuery()),
        Action.VIEW_ROLE: lambda: organizations.get_my_role(actor, org_id),
        Action.VIEW_SUMMARY: lambda: organizations.get_summary(actor, org_id),
        Action.RENAME: lambda: organizations.rename_organization(actor, org_id, "New", via=Via.API),
        Action.DELETE: lambda: organizations.delete_organization(actor, org_id, via=Via.API),
        Action.MANAGE_MEMBERS: lambda: members.add_members(
            actor, org_id, [newcomer.id], role=Role.VIEWER, via=Via.API
        ),
        Action.MANAGE_OWNERS: lambda: members.add_members(
            actor, org_id, [newcomer.id], role=Role.OWNER, via=Via.API
        ),
        Action.VIEW_AUDIT: lambda: audit.list_audit_events(actor, org_id),
        Action.LEAVE: lambda: members.leave_organization(actor, org_id, via=Via.API),
        Action.MANAGE_TOKENS: lambda: service_tokens.list_service_tokens(actor, org_id),
    }
    calls[action]()


@pytest.mark.parametrize("action", list(Action), ids=str)
@pytest.mark.parametrize("role", list(Role), ids=lambda r: r.name)
@pytest.mark.parametrize("is_active", [True, False], ids=["active", "suspended"])
def test_role_may_do_exactly_what_the_table_says(
    make_user, make_org, add_member, role, is_active, action
):
    owner, actor, newcomer = make_user(), make_user(), make_user()
    org = make_org(owner)
    add_member(org, actor, role, is_active=is_active)
    allowed = role in DESIGN_TABLE[action] and (is_active or action in DESIGN_SUSPENDED)
    if allowed:
        _perform(action, actor, org.id, newcomer)
    else:
        with pytest.raises(Forbidden):
            _perform(action, actor, org.id, newcomer)


@pytest.mark.parametrize("action", list(Action), ids=str)
def test_non_member_and_unknown_org_get_the_same_not_found(make_user, make_org, action):
    org = make_org()
    stranger, newcomer = make_user(), make_user()
    with pytest.raises(NotFound) as for_stranger:
        _perform(action, stranger, org.id, newcomer)
    with pytest.raises(NotFound) as for_unknown:
        _perform(action, stranger, org.id + 1000, newcomer)
    assert for_stranger.value.message == for_unknown.value.message


def test_suspended_member_still_sees_the_org_in_their_list(make_user, make_org, add_member):
    org = make_org()
    member = make_user()
    add_member(org, member, Role.CONTRIBUTOR, is_active=False)
    (account,) = organizations.list_my_organizations(member)
    assert (account.id, account.role, account.is_active) == (org.id, Role.CONTRIBUTOR, False)


@pytest.mark.parametrize(
    "change",
    ["demote_owner", "suspend_owner", "remove_owner", "grant_owner"],
)
def test_admin_cannot_touch_owners(make_user, make_org, add_member, change):
    owner, admin, viewer = make_user(), make_user(), make_user()
    org = make_org(owner)
    add_member(org, admin, Role.ADMIN)
    add_member(org, viewer, Role.VIEWER)
    calls = {
        "demote_owner": lambda: members.update_members(
            admin, org.id, [owner.id], role=Role.ADMIN, via=Via.API
        ),
        "suspend_owner": lambda: members.update_members(
            admin, org.id, [owner.id], is_active=False, via=Via.API
        ),
        "remove_owner": lambda: members.remove_members(admin, org.id, [owner.id], via=Via.API),
        "grant_owner": lambda: members.update_members(
            admin, org.id, [viewer.id], role=Role.OWNER, via=Via.API
        ),
    }
    with pytest.raises(Forbidden):
        calls[change]()
    assert organizations.get_my_role(owner, org.id) is Role.OWNER
    assert organizations.get_my_role(viewer, org.id) is Role.VIEWER


def test_admin_manages_members_below_owner(make_user, make_org, add_member):
    owner, admin, other_admin, viewer = make_user(), make_user(), make_user(), make_user()
    org = make_org(owner)
    add_member(org, admin, Role.ADMIN)
    add_member(org, other_admin, Role.ADMIN)
    add_member(org, viewer, Role.VIEWER)
    members.update_members(
        admin, org.id, [other_admin.id, viewer.id], role=Role.CONTRIBUTOR, via=Via.API
    )
    members.remove_members(admin, org.id, [viewer.id], via=Via.API)
    assert organizations.get_my_role(other_admin, org.id) is Role.CONTRIBUTOR
    with pytest.raises(NotFound):
        organizations.get_my_role(viewer, org.id)
