"""The summary's numbers: who counts as an active owner, and the 30-day join window's edges."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from webapp.models import Role, Via
from webapp.services import members, organizations, users

T = datetime(2026, 6, 15, 13, 30, 15, tzinfo=UTC)


def _summary(owner, org_id) -> dict[str, int]:  # type: ignore[no-untyped-def]
    return {m.metric: m.value for m in organizations.get_summary(owner, org_id)}


@pytest.fixture
def clock(monkeypatch):  # type: ignore[no-untyped-def]
    """The services' clock, set by the test: ``clock.now = ...``."""

    class Clock:
        now = T

    def now() -> datetime:
        return Clock.now

    for module in (organizations, members):
        monkeypatch.setattr(module, "utcnow", now)
    return Clock


def test_active_owners_leave_out_suspended_memberships_and_deactivated_accounts(
    make_user, make_org, add_member
):
    owner = make_user()
    org = make_org(owner)
    suspended, deactivated, active = make_user(), make_user(), make_user()
    add_member(org, suspended, Role.OWNER, is_active=False)
    add_member(org, deactivated, Role.OWNER)
    add_member(org, active, Role.OWNER)
    users.set_user_active(deactivated.id, False, via=Via.CLI)

    summary = _summary(owner, org.id)
    assert summary["owners_active"] == 2  # owner and active
    assert summary["role_owner"] == 4  # the role count is memberships, whatever their state
    assert summary["members_inactive"] == 1

    users.set_user_active(deactivated.id, True, via=Via.CLI)
    members.update_members(owner, org.id, [suspended.id], is_active=True, via=Via.CLI)
    assert _summary(owner, org.id)["owners_active"] == 4


def test_recent_joins_count_members_who_joined_in_the_last_30_days_to_the_second(make_user, clock):
    owner = make_user()
    clock.now = T - timedelta(days=60)
    org = organizations.create_organization(owner, "Window", via=Via.CLI)
    joined = {}
    for name, ago in [
        ("long_ago", timedelta(days=40)),
        ("just_before", timedelta(days=30, seconds=1)),
        ("at_the_edge", timedelta(days=30)),
        ("inside", timedelta(days=29)),
        ("today", timedelta(hours=1)),
    ]:
        clock.now = T - ago
        joined[name] = make_user()
        members.add_members(owner, org.id, [joined[name].id], via=Via.CLI)

    clock.now = T
    assert _summary(owner, org.id)["joined_last_30_days"] == 3  # at_the_edge, inside, today

    members.remove_members(owner, org.id, [joined["inside"].id], via=Via.CLI)
    members.leave_organization(joined["at_the_edge"], org.id, via=Via.CLI)
    members.remove_members(owner, org.id, [joined["long_ago"].id], via=Via.CLI)
    assert _summary(owner, org.id)["joined_last_30_days"] == 1  # today

    clock.now = T + timedelta(days=29, hours=22)
    assert _summary(owner, org.id)["joined_last_30_days"] == 1
    clock.now = T + timedelta(days=30)  # no change for a month: old days simply stop counting
    assert _summary(owner, org.id)["joined_last_30_days"] == 0


def test_a_bulk_join_counts_once_per_member(make_user, make_org):
    owner = make_user()
    org = make_org(owner)
    ids = users.create_users(
        [(f"bulk{i}@example.com", f"Bulk {i}") for i in range(250)], via=Via.CLI
    )
    members.add_members(owner, org.id, ids, via=Via.CLI)
    members.remove_members(owner, org.id, ids[:50], via=Via.CLI)
    summary = _summary(owner, org.id)
    assert summary["joined_last_30_days"] == summary["members_total"] == 201
