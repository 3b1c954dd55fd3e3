"""The invariant: every organization always has at least one active OWNER.

First the rule one request at a time, then under concurrent requests, with the organization
lock on (it holds) and off (the same harness finds what goes wrong, so it is able to fail).
"""

from __future__ import annotations

import random
import threading
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

import pytest
from flask import Flask
from sqlalchemy import func, select

from webapp.extensions import db
from webapp.models import Membership, Role, User, Via
from webapp.services import members, organizations, transactions
from webapp.services.errors import DomainError, LastOwner


def active_owners(org_id: int) -> int:
    db.session.rollback()  # read the latest committed state, not an old snapshot
    return (
        db.session.scalar(
            select(func.count())
            .select_from(Membership)
            .where(
                Membership.organization_id == org_id,
                Membership.role == Role.OWNER,
                Membership.is_active.is_(True),
            )
        )
        or 0
    )


Change = Callable[[User, User, int], object]

CHANGES: dict[str, Change] = {
    "demote": lambda actor, target, org_id: members.update_members(
        actor, org_id, [target.id], role=Role.ADMIN, via=Via.API
    ),
    "deactivate": lambda actor, target, org_id: members.update_members(
        actor, org_id, [target.id], is_active=False, via=Via.API
    ),
    "remove": lambda actor, target, org_id: members.remove_members(
        actor, org_id, [target.id], via=Via.API
    ),
    "leave": lambda actor, target, org_id: members.leave_organization(actor, org_id, via=Via.API),
}


@pytest.mark.parametrize("change", list(CHANGES))
def test_the_last_active_owner_cannot_go(make_user, make_org, add_member, change):
    owner, admin = make_user(), make_user()
    org = make_org(owner)
    add_member(org, admin, Role.ADMIN)
    with pytest.raises(LastOwner) as error:
        CHANGES[change](owner, owner, org.id)
    assert "Promote another member to OWNER first" in error.value.message
    assert active_owners(org.id) == 1
    assert organizations.get_my_role(owner, org.id) is Role.OWNER


def test_bulk_demotion_of_every_owner_is_refused_whole(make_user, make_org, add_member):
    first, second, viewer = make_user(), make_user(), make_user()
    org = make_org(first)
    add_member(org, second, Role.OWNER)
    add_member(org, viewer, Role.VIEWER)
    with pytest.raises(LastOwner):
        members.update_members(
            first, org.id, [first.id, second.id, viewer.id], role=Role.ADMIN, via=Via.API
        )
    assert active_owners(org.id) == 2
    assert organizations.get_my_role(viewer, org.id) is Role.VIEWER


def test_a_suspended_owner_does_not_count(make_user, make_org, add_member):
    first, second = make_user(), make_user()
    org = make_org(first)
    add_member(org, second, Role.OWNER, is_active=False)
    with pytest.raises(LastOwner):
        members.leave_organization(first, org.id, via=Via.API)
    # The suspended owner may leave: they were not keeping the organization owned.
    members.leave_organization(second, org.id, via=Via.API)
    assert active_owners(org.id) == 1


def test_one_of_two_owners_may_go(make_user, make_org, add_member):
    first, second = make_user(), make_user()
    org = make_org(first)
    add_member(org, second, Role.OWNER)
    members.leave_organization(first, org.id, via=Via.API)
    assert active_owners(org.id) == 1


# -- concurrency -----------------------------------------------------------------------------

THREADS = 8
ROUNDS = 20

# Eight requests between two owners A and B: each kind of change, each way round.
PLAN = [
    ("demote", "A", "B"),
    ("demote", "B", "A"),
    ("deactivate", "A", "B"),
    ("deactivate", "B", "A"),
    ("remove", "A", "B"),
    ("remove", "B", "A"),
    ("leave", "A", "A"),
    ("leave", "B", "B"),
]


@dataclass
class RaceReport:
    violations: int = 0  # rounds that ended with no active owner
    unexplained: list[str] = field(default_factory=list)  # outcomes no rule accounts for
    outcomes: Counter[str] = field(default_factory=Counter)

    @property
    def failed(self) -> bool:
        return bool(self.violations or self.unexplained)

    def assert_held(self, rounds: int, label: str) -> None:
        """No round without an active owner, every outcome explained, and the race was real:
        each round let a change through and refused another with the conflict."""
        print(
            f"\n{label}: {self.violations}/{rounds} rounds without an active owner; "
            f"{len(self.unexplained)} unexplained outcomes; {dict(self.outcomes)}"
        )
        assert self.violations == 0, self
        assert self.unexplained == [], self
        assert self.outcomes["ok"] >= rounds
        assert self.outcomes["last_owner"] >= rounds


def race(
    app: Flask,
    org_id: int,
    people: dict[str, int],
    plan: list[tuple[str, str, str]],
    changes: Mapping[str, Change] = CHANGES,
) -> list[str]:
    """Run the plan's requests at once, one thread and one connection each; their outcomes."""
    barrier = threading.Barrier(len(plan))
    outcomes = [""] * len(plan)

    def request(index: int, change: str, actor_key: str, target_key: str) -> None:
        with app.app_context():
            actor = db.session.get(User, people[actor_key])
            target = db.session.get(User, people[target_key])
            db.session.rollback()
            barrier.wait()
            try:
                changes[change](actor, target, org_id)
                outcome = "ok"
            except DomainError as error:
                outcome = error.code  # the same words as the API's problem codes
            except Exception as error:  # the report is the point: name whatever went wrong
                outcome = f"error: {type(error).__name__}: {str(error)[:120]}"
            finally:
                db.session.remove()
            outcomes[index] = outcome

    run_threads(request, plan, timeout=60)
    return outcomes


def run_threads(
    target: Callable[..., None], plan: list[tuple[str, str, str]], timeout: float
) -> None:
    """One thread per step of the plan (``target(index, *step)``), all started, all joined."""
    threads = [threading.Thread(target=target, args=(i, *step)) for i, step in enumerate(plan)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=timeout)


def run_rounds(app: Flask, make_user, make_org, add_member, rounds: int = ROUNDS) -> RaceReport:
    """Release THREADS requests at once per round, each on its own connection.

    A request may succeed, or get the last-owner conflict; or be refused because an earlier
    request of the same round already changed what it needed: 403/404 when the actor's
    ownership or membership was taken away, 422 when its target already left. Both are checked
    against the final state. Anything else (a 500, a "database is locked") is unexplained.
    """
    report = RaceReport()
    rng = random.Random(20261129)
    for _ in range(rounds):
        a, b = make_user(), make_user()
        org = make_org(a)
        add_member(org, b, Role.OWNER)
        people = {"A": a.id, "B": b.id}
        plan = PLAN[:]
        rng.shuffle(plan)
        results = race(app, org.id, people, plan)
        owners_left = active_owners(org.id)
        if owners_left == 0:
            report.violations += 1
        judge_round(report, org.id, people, plan, results)
    return report


def judge_round(
    report: RaceReport,
    org_id: int,
    people: dict[str, int],
    plan: list[tuple[str, str, str]],
    results: list[str],
) -> None:
    """Count a round's outcomes, and note each one no rule explains given how the round ended.

    Outcomes are "ok" or a domain error's code (the API's problem codes): "last_owner" is always
    explained; "forbidden" / "not_found" when the actor is no longer an active owner at the end
    (an earlier request of the round took it away); "not_members" when the target left;
    "member_suspended" (an ownership transfer's) when the target is not an active member.
    """
    final = {
        user_id: (role, active)
        for user_id, role, active in db.session.execute(
            select(Membership.user_id, Membership.role, Membership.is_active).where(
                Membership.organization_id == org_id
            )
        )
    }
    still_owner = {key: final.get(uid) == (Role.OWNER, True) for key, uid in people.items()}
    still_member = {key: uid in final for key, uid in people.items()}
    still_active = {key: final.get(uid, (None, False))[1] for key, uid in people.items()}
    for (change, actor_key, target_key), outcome in zip(plan, results, strict=True):
        report.outcomes[outcome.split(":")[0]] += 1
        explained = (
            outcome in ("ok", "last_owner")
            or (outcome in ("forbidden", "not_found") and not still_owner[actor_key])
            or (outcome == "not_members" and not still_member[target_key])
            or (outcome == "member_suspended" and not still_active[target_key])
        )
        if not explained:
            report.unexplained.append(f"{actor_key} {change} {target_key}: {outcome}")


def test_invariant_holds_under_concurrent_requests(app, make_user, make_org, add_member):
    run_rounds(app, make_user, make_org, add_member).assert_held(ROUNDS, "locked")


def test_the_same_harness_fails_without_the_lock(app, make_user, make_org, add_member, monkeypatch):
    monkeypatch.setattr(transactions, "LOCKING_ENABLED", False)
    report = run_rounds(app, make_user, make_org, add_member)
    # Shown with `pytest -s`, for the figures.
    print(
        f"\nunlocked: {report.violations}/{ROUNDS} rounds without an active owner; "
        f"{len(report.unexplained)} unexplained outcomes; {dict(report.outcomes)}"
    )
    assert report.failed, report
    if db.engine.dialect.name == "postgresql":
        # Without the row lock, PostgreSQL ends rounds with no active owner at all.
        assert report.violations > 0, report


def test_an_owner_whose_account_is_deactivated_does_not_count(make_user, make_org, add_member):
    from webapp.services import users

    first, second = make_user(), make_user()
    org = make_org(first)
    add_member(org, second, Role.OWNER)
    users.set_user_active(second.id, False, via=Via.CLI)
    with pytest.raises(LastOwner):
        members.leave_organization(first, org.id, via=Via.API)
    assert active_owners(org.id) == 2  # two active memberships, one of them unusable


def test_the_last_owner_account_cannot_be_deactivated(make_user, make_org, add_member):
    from webapp.services import users

    first, second = make_user(), make_user()
    sole = make_org(first, name="Sole")
    shared = make_org(first, name="Shared")
    add_member(shared, second, Role.OWNER)
    with pytest.raises(LastOwner) as error:
        users.set_user_active(first.id, False, via=Via.CLI)
    assert str(sole.id) in error.value.message and str(shared.id) not in error.value.message
    assert users.load_session_user(f"{first.id}:{first.session_token}") is not None
    users.set_user_active(second.id, False, via=Via.CLI)  # shared still has an owner: fine
