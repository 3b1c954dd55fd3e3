"""Change sets and their revert: exact restoration, refusals, permissions, set-based work."""

from __future__ import annotations

from collections import Counter
from datetime import timedelta
from typing import Any

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
    run_state_machine_as_test,
)
from sqlalchemy import func, select, update

from webapp.extensions import db
from webapp.models import (
    AuditEvent,
    Invitation,
    InvitationStatus,
    Membership,
    Organization,
    Role,
    Via,
    utcnow,
)
from webapp.services import changes, invitations, member_import, members, organizations, ownership
from webapp.services.changes import ChangedSince, NotRevertible, UnknownChange
from webapp.services.errors import DomainError, Forbidden, LastOwner, NotFound


def _state(org_id: int) -> dict[int, tuple[Role, bool, Any]]:
    """Every member as (role, active flag, joined_at)."""
    rows = db.session.execute(
        select(Membership.user_id, Membership.role, Membership.is_active, Membership.created_at)
        .where(Membership.organization_id == org_id)
        .execution_options(populate_existing=True)
    )
    return {r.user_id: (r.role, r.is_active, r.created_at) for r in rows}


def _recount(org_id: int) -> dict[str, object]:
    rows = _state(org_id).values()
    counts: dict[str, object] = {
        "member_count": len(rows),
        "active_count": sum(1 for _, active, _ in rows if active),
        "joins_by_day": dict(Counter(joined.date().isoformat() for _, _, joined in rows)),
    }
    for role, name in organizations.ROLE_COUNTERS.items():
        counts[name] = sum(1 for r, _, _ in rows if r is role)
    return counts


def _counters(org_id: int) -> dict[str, object]:
    org = db.session.get(Organization, org_id, populate_existing=True)
    return {name: getattr(org, name) for name in _recount(org_id)}


def _change_ids(org_id: int) -> list[str]:
    return list(
        db.session.scalars(
            select(AuditEvent.operation_id)
            .where(AuditEvent.organization_id == org_id)
            .group_by(AuditEvent.operation_id)
            .order_by(func.max(AuditEvent.id))
        )
    )


@pytest.fixture
def crew(make_user, make_org, add_member):
    owner = make_user()
    org = make_org(owner)
    people = [make_user() for _ in range(6)]
    for i, person in enumerate(people):
        add_member(org, person, [Role.VIEWER, Role.CONTRIBUTOR, Role.ADMIN][i % 3], i % 4 != 3)
    return owner, org, people


def test_revert_of_a_removal_brings_members_back_exactly(crew):
    owner, org, people = crew
    # Their joins are backdated: a revert must bring back the dates, not the time of the revert.
    three_days_ago = utcnow() - timedelta(days=3, hours=1)
    db.session.execute(
        update(Membership)
        .where(Membership.organization_id == org.id, Membership.user_id != owner.id)
        .values(created_at=three_days_ago)
    )
    db.session.execute(
        update(Organization)
        .where(Organization.id == org.id)
        .values(joins_by_day=_recount(org.id)["joins_by_day"])
    )
    db.session.commit()
    before, counters = _state(org.id), _counters(org.id)
    gone = members.remove_members(owner, org.id, [p.id for p in people[:4]], via=Via.API)
    assert set(_state(org.id)) == {owner.id, *(p.id for p in people[4:])}
    done = changes.revert_change(owner, org.id, gone.change_id, via=Via.API)
    assert done.reverted == gone.change_id and done.change_id != gone.change_id
    assert _state(org.id) == before
    assert _counters(org.id) == counters == _recount(org.id)


def test_revert_of_an_update_and_of_an_addition(crew, make_user):
    owner, org, people = crew
    before = _state(org.id)
    changed = members.update_members(
        owner, org.id, [p.id for p in people], role=Role.ACCOUNTING, is_active=False, via=Via.API
    )
    changes.revert_change(owner, org.id, changed.change_id, via=Via.WEB)
    assert _state(org.id) == before
    newcomers = [make_user().id for _ in range(3)]
    added = members.add_members(owner, org.id, newcomers, role=Role.ADMIN, via=Via.API)
    changes.revert_change(owner, org.id, added.change_id, via=Via.CLI)
    assert _state(org.id) == before
    assert _counters(org.id) == _recount(org.id)


def test_a_revert_is_a_change_set_that_can_be_reverted_in_turn(crew):
    owner, org, people = crew
    before = _state(org.id)
    gone = members.remove_members(owner, org.id, [people[0].id], via=Via.API)
    after = _state(org.id)
    undone = changes.revert_change(owner, org.id, gone.change_id, via=Via.API)
    assert _state(org.id) == before
    changes.revert_change(owner, org.id, undone.change_id, via=Via.API)  # redo
    assert _state(org.id) == after
    events = db.session.execute(
        select(AuditEvent.action, AuditEvent.details).where(
            AuditEvent.operation_id == undone.change_id
        )
    ).all()
    assert events == [("change.revert", {"reverted": gone.change_id})]


def test_revert_is_refused_naming_members_changed_since(crew):
    owner, org, people = crew
    first = members.update_members(
        owner, org.id, [p.id for p in people[:3]], role=Role.VIEWER, via=Via.API
    )
    members.update_members(owner, org.id, [people[1].id], is_active=False, via=Via.API)
    members.remove_members(owner, org.id, [people[2].id], via=Via.API)
    before = _state(org.id)
    with pytest.raises(ChangedSince) as refused:
        changes.revert_change(owner, org.id, first.change_id, via=Via.API)
    assert refused.value.user_ids == sorted([people[1].id, people[2].id])
    assert _state(org.id) == before


def test_changed_and_changed_back_since_still_counts_as_changed(crew):
    owner, org, people = crew
    first = members.update_members(owner, org.id, [people[0].id], role=Role.ADMIN, via=Via.API)
    members.update_members(owner, org.id, [people[0].id], role=Role.VIEWER, via=Via.API)
    members.update_members(owner, org.id, [people[0].id], role=Role.ADMIN, via=Via.API)
    with pytest.raises(ChangedSince):
        changes.revert_change(owner, org.id, first.change_id, via=Via.API)


def test_unknown_other_organizations_and_malformed_change_ids_are_not_found(
    crew, make_user, make_org
):
    owner, org, people = crew
    other_owner = make_user()
    other = make_org(other_owner, "Other")
    theirs = members.add_members(other_owner, other.id, [people[0].id], via=Via.API)
    for change_id in (theirs.change_id, "0" * 32, "not-an-id", "A" * 32):
        with pytest.raises(UnknownChange):
            changes.revert_change(owner, org.id, change_id, via=Via.API)
    # A stranger to the organization learns nothing, whatever the id.
    with pytest.raises(NotFound) as hidden:
        changes.revert_change(owner, other.id, theirs.change_id, via=Via.API)
    assert not isinstance(hidden.value, UnknownChange)
    assert people[0].id in _state(other.id)


def test_changes_of_something_else_than_members_are_not_revertible(crew):
    owner, org, _ = crew
    organizations.rename_organization(owner, org.id, "Renamed", via=Via.API)
    renamed = _change_ids(org.id)[-1]
    with pytest.raises(NotRevertible):
        changes.revert_change(owner, org.id, renamed, via=Via.API)


def test_revert_needs_what_the_change_needed(crew, make_user, add_member):
    owner, org, people = crew
    admin = people[2]  # ADMIN, active
    viewer = people[0]
    second_owner = make_user()
    promoted = members.add_members(owner, org.id, [second_owner.id], role=Role.OWNER, via=Via.API)
    with pytest.raises(Forbidden):
        changes.revert_change(admin, org.id, promoted.change_id, via=Via.API)
    plain = members.update_members(owner, org.id, [people[1].id], role=Role.VIEWER, via=Via.API)
    with pytest.raises(Forbidden):
        changes.revert_change(viewer, org.id, plain.change_id, via=Via.API)
    changes.revert_change(admin, org.id, plain.change_id, via=Via.API)
    assert _state(org.id)[people[1].id][0] is Role.CONTRIBUTOR


def test_revert_keeps_an_active_owner(crew, make_user):
    owner, org, _ = crew
    heir = make_user()
    promoted = members.add_members(owner, org.id, [heir.id], role=Role.OWNER, via=Via.API)
    members.leave_organization(owner, org.id, via=Via.API)
    with pytest.raises(LastOwner):
        changes.revert_change(heir, org.id, promoted.change_id, via=Via.API)
    assert _state(org.id)[heir.id][0] is Role.OWNER


def test_revert_of_a_transfer_gives_ownership_back(crew):
    owner, org, people = crew
    before = _state(org.id)
    moved = ownership.transfer_ownership(owner, org.id, people[2].id, Role.ADMIN, via=Via.API)
    changes.revert_change(people[2], org.id, moved.change_id, via=Via.API)
    assert _state(org.id) == before


def test_revert_of_invitations_revokes_those_still_pending(crew, mailbox):
    owner, org, _ = crew
    made = invitations.invite(
        owner, org.id, ["new1@example.com", "new2@example.com"], Role.VIEWER, via=Via.API
    )
    change_id = _change_ids(org.id)[-1]
    invitations.revoke(owner, org.id, made.invitations[0].id, via=Via.API)
    done = changes.revert_change(owner, org.id, change_id, via=Via.API)
    statuses = dict(
        db.session.execute(
            select(Invitation.email, Invitation.status).where(Invitation.organization_id == org.id)
        ).all()
    )
    assert statuses == {
        "new1@example.com": InvitationStatus.REVOKED,
        "new2@example.com": InvitationStatus.REVOKED,
    }
    revoked = db.session.scalars(
        select(AuditEvent.target_email).where(AuditEvent.operation_id == done.change_id)
    ).all()
    assert revoked == ["new2@example.com"]
    with pytest.raises(NotRevertible):  # nothing left pending to revoke
        changes.revert_change(owner, org.id, change_id, via=Via.API)


@pytest.mark.parametrize("kind", ["add", "update", "remove"])
def test_revert_is_set_based(kind, make_user, make_org, count_statements):
    """The same number of statements to revert 5 members as 400."""
    from webapp.services import users

    counts = {}
    for n in (5, 400):
        owner = make_user()
        org = make_org(owner)
        ids = users.create_users(
            [(f"{kind}{n}-{i}@example.com", f"P {i}") for i in range(n)], via=Via.CLI
        )
        if kind != "add":
            members.add_members(owner, org.id, ids, role=Role.CONTRIBUTOR, via=Via.API)
        if kind == "add":
            done = members.add_members(owner, org.id, ids, via=Via.API)
        elif kind == "update":
            done = members.update_members(owner, org.id, ids, role=Role.VIEWER, via=Via.API)
        else:
            done = members.remove_members(owner, org.id, ids, via=Via.API)
        before = _counters(org.id)
        with count_statements() as log:
            changes.revert_change(owner, org.id, done.change_id, via=Via.API)
        counts[n] = log.count
        assert _counters(org.id) == _recount(org.id) != before
    assert counts[5] == counts[400] <= 10, counts


class RevertMachine(RuleBasedStateMachine):
    """Adds, updates, removes, departures, transfers and reverts interleaved: the invariants
    hold after every step, and a revert straight after a change gives back exactly the state
    before it."""

    make_user: Any = None
    make_org: Any = None
    undone = 0  # straight reverts made, over every run: the property was exercised
    reverted = 0  # reverts of any earlier change that went through
    imported = 0  # imports applied as a change set

    @initialize()
    def start(self) -> None:
        self.owner = self.make_user()
        self.org = self.make_org(self.owner)
        self.people = [self.make_user() for _ in range(6)]
        self.done: list[str] = []
        self.last: tuple[str, dict[int, Any], dict[str, object]] | None = None

    def _changed(self, account: Any, before: dict[int, Any], counters: dict[str, object]) -> None:
        if account is not None and account.change_id:
            self.done.append(account.change_id)
            self.last = (account.change_id, before, counters)
        else:
            self.last = None

    def _try(self, change: Any) -> None:
        before, counters = _state(self.org.id), _counters(self.org.id)
        try:
            account = change()
        except DomainError as refused:
            assert refused.code in {
                "already_members",
                "not_members",
                "last_owner",
                "forbidden",
                "not_found",
                "changed_since",
                "not_revertible",
                "member_suspended",
            }, refused
            assert _state(self.org.id) == before
            self.last = None
        else:
            self._changed(account, before, counters)

    def _ids(self, picks: list[int]) -> list[int]:
        return [self.people[i].id for i in picks]

    @rule(
        picks=st.lists(st.integers(0, 5), min_size=1, max_size=4),
        role=st.sampled_from(Role),
        flag=st.booleans(),
    )
    def add(self, picks: list[int], role: Role, flag: bool) -> None:
        self._try(
            lambda: members.add_members(
                self.owner, self.org.id, self._ids(picks), role=role, is_active=flag, via=Via.API
            )
        )

    @rule(
        picks=st.lists(st.integers(0, 5), min_size=1, max_size=4),
        role=st.none() | st.sampled_from(Role),
        flag=st.none() | st.booleans(),
    )
    def update(self, picks: list[int], role: Role | None, flag: bool | None) -> None:
        if role is None and flag is None:
            flag = False
        self._try(
            lambda: members.update_members(
                self.owner, self.org.id, self._ids(picks), role=role, is_active=flag, via=Via.API
            )
        )

    @rule(picks=st.lists(st.integers(0, 5), min_size=1, max_size=4))
    def remove(self, picks: list[int]) -> None:
        self._try(
            lambda: members.remove_members(self.owner, self.org.id, self._ids(picks), via=Via.API)
        )

    @rule(who=st.integers(0, 5))
    def leave(self, who: int) -> None:
        def go() -> None:
            members.leave_organization(self.people[who], self.org.id, via=Via.API)

        before, counters = _state(self.org.id), _counters(self.org.id)
        try:
            go()
        except DomainError:
            assert _state(self.org.id) == before
            self.last = None
        else:
            self.done.append(_change_ids(self.org.id)[-1])
            self.last = (self.done[-1], before, counters)

    @rule(
        rows=st.lists(
            st.tuples(st.integers(0, 5), st.sampled_from(Role), st.booleans()), max_size=6
        ),
        sync=st.booleans(),
        invite=st.booleans(),
    )
    def import_(self, rows: list[tuple[int, Role, bool]], sync: bool, invite: bool) -> None:
        """An import of some of the people (adds and updates), others removed with sync, and
        perhaps an address without an account invited: one change set like the others."""
        wanted = {self.people[i].email: (role, flag) for i, role, flag in rows}
        lines = ["email,role,is_active", *(f"{e},{r.name},{f}" for e, (r, f) in wanted.items())]
        if invite:
            lines.append("guest@nowhere.example,VIEWER,true")
        before, counters = _state(self.org.id), _counters(self.org.id)
        try:
            result = member_import.apply_import(
                self.owner, self.org.id, "\n".join(lines).encode(), sync=sync, via=Via.API
            )
        except DomainError as refused:
            assert refused.code in {"forbidden", "not_found"}, refused
            assert _state(self.org.id) == before
            self.last = None
            return
        assert not result.errors, result.errors
        if not result.applied:  # a row refused (an owner's, the caller's): nothing changed
            assert result.refused and _state(self.org.id) == before
            self.last = None
            return
        if not (result.add or result.update or result.remove):
            # Invitations only: its revert revokes them, and no revert brings an invitation
            # back, so it is no change of members to undo and redo here.
            self.last = None
            return
        RevertMachine.imported += 1
        self._changed(_Done(result.change_id) if result.change_id else None, before, counters)

    @precondition(lambda self: self.last is not None)
    @rule()
    def undo_last(self) -> None:
        """Nothing in between: the state before the change comes back exactly."""
        assert self.last is not None
        change_id, before, counters = self.last
        done = changes.revert_change(self.owner, self.org.id, change_id, via=Via.API)
        assert _state(self.org.id) == before
        assert _counters(self.org.id) == counters
        self.done.append(done.change_id)
        self.last = None
        RevertMachine.undone += 1

    @precondition(lambda self: self.done)
    @rule(data=st.data())
    def revert_any(self, data: st.DataObject) -> None:
        change_id = data.draw(st.sampled_from(self.done))
        self._try(
            lambda: _as_account(
                changes.revert_change(self.owner, self.org.id, change_id, via=Via.API)
            )
        )
        if self.last is not None:
            RevertMachine.reverted += 1

    @invariant()
    def counters_match_and_an_owner_remains(self) -> None:
        if not hasattr(self, "org"):
            return
        assert _counters(self.org.id) == _recount(self.org.id)
        state = _state(self.org.id)
        assert any(role is Role.OWNER and active for role, active, _ in state.values())


class _Done:
    def __init__(self, change_id: str) -> None:
        self.change_id = change_id


def _as_account(reverted: changes.Reverted) -> _Done:
    return _Done(reverted.change_id)


def test_reverts_interleaved_with_every_change_keep_the_invariants(make_user, make_org):
    RevertMachine.make_user = staticmethod(make_user)
    RevertMachine.make_org = staticmethod(make_org)
    run_state_machine_as_test(
        RevertMachine,
        settings=settings(
            max_examples=30,
            stateful_step_count=15,
            deadline=None,
            suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
        ),
    )
    assert RevertMachine.undone > 0 and RevertMachine.reverted > 0
    assert RevertMachine.imported > 0
