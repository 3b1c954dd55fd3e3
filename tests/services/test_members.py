"""Bulk member changes: all-or-nothing, set-based, ids reported, counters kept in step."""

from __future__ import annotations

from collections import Counter

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select, update

from webapp import inputs
from webapp.extensions import db
from webapp.models import AuditEvent, Membership, Organization, Role, User, Via
from webapp.services import member_list, members, organizations, users
from webapp.services.errors import AlreadyMembers, InvalidInput, NotMembers, UnknownUsers


def _member_ids(org_id: int) -> set[int]:
    return set(
        db.session.scalars(select(Membership.user_id).where(Membership.organization_id == org_id))
    )


def _roles(org_id: int) -> dict[int, tuple[Role, bool]]:
    rows = db.session.execute(
        select(Membership.user_id, Membership.role, Membership.is_active).where(
            Membership.organization_id == org_id
        )
    )
    return {user_id: (role, active) for user_id, role, active in rows}


def _bulk_users(n: int, tag: str) -> list[int]:
    return users.create_users(
        [(f"{tag}{i}@example.com", f"{tag} {i}") for i in range(n)], via=Via.CLI
    )


def test_add_reports_unknown_users_and_adds_nobody(make_user, make_org):
    owner, known = make_user(), make_user()
    org = make_org(owner)
    with pytest.raises(UnknownUsers) as error:
        members.add_members(
            owner, org.id, [known.id, 99_999, 88_888], role=Role.VIEWER, via=Via.API
        )
    assert error.value.user_ids == [88_888, 99_999]
    assert _member_ids(org.id) == {owner.id}


def test_add_reports_existing_members_and_adds_nobody(make_user, make_org, add_member):
    owner, old, new = make_user(), make_user(), make_user()
    org = make_org(owner)
    add_member(org, old)
    with pytest.raises(AlreadyMembers) as error:
        members.add_members(
            owner, org.id, [new.id, old.id, owner.id], role=Role.VIEWER, via=Via.API
        )
    assert error.value.user_ids == sorted([old.id, owner.id])
    assert _member_ids(org.id) == {owner.id, old.id}


@pytest.mark.parametrize("operation", ["update", "remove"])
def test_update_and_remove_report_non_members_and_change_nothing(
    make_user, make_org, add_member, operation
):
    owner, member, outsider = make_user(), make_user(), make_user()
    org = make_org(owner)
    add_member(org, member, Role.VIEWER)
    before = _roles(org.id)
    with pytest.raises(NotMembers) as error:
        if operation == "update":
            members.update_members(
                owner, org.id, [member.id, outsider.id], role=Role.ADMIN, via=Via.API
            )
        else:
            members.remove_members(owner, org.id, [member.id, outsider.id], via=Via.API)
    assert error.value.user_ids == [outsider.id]
    assert _roles(org.id) == before


def test_duplicate_ids_collapse(make_user, make_org):
    owner, a, b = make_user(), make_user(), make_user()
    org = make_org(owner)
    account = members.add_members(
        owner, org.id, [a.id, b.id, a.id, a.id], role=Role.VIEWER, via=Via.API
    )
    assert account.member_count == 3
    members.remove_members(owner, org.id, [b.id, b.id], via=Via.API)
    assert _member_ids(org.id) == {owner.id, a.id}


@pytest.mark.parametrize(
    "ids",
    [[], [0], [-3], [2**63], ["7"], [True], list(range(1, 10_002))],
    ids=["empty", "zero", "negative", "too-big", "string", "bool", "too-many"],
)
def test_bad_id_lists_are_refused(make_user, make_org, ids):
    owner = make_user()
    org = make_org(owner)
    with pytest.raises(InvalidInput) as error:
        members.add_members(owner, org.id, ids, role=Role.VIEWER, via=Via.API)
    assert error.value.errors[0].field == "user_ids"


def test_update_needs_a_change(make_user, make_org):
    owner = make_user()
    org = make_org(owner)
    with pytest.raises(InvalidInput):
        members.update_members(owner, org.id, [owner.id], via=Via.API)


def test_bulk_operations_issue_the_same_statements_at_every_size(
    make_user, make_org, count_statements
):
    owner = make_user()
    org = make_org(owner)
    counts: dict[int, dict[str, int]] = {}
    for size in (1, 100, 10_000):
        ids = _bulk_users(size, f"bulk{size}-")
        counts[size] = {}
        with count_statements() as log:
            members.add_members(owner, org.id, ids, role=Role.VIEWER, via=Via.API)
        counts[size]["add"] = log.count
        with count_statements() as log:
            members.update_members(
                owner, org.id, ids, role=Role.CONTRIBUTOR, is_active=False, via=Via.API
            )
        counts[size]["update"] = log.count
        with count_statements() as log:
            members.remove_members(owner, org.id, ids, via=Via.API)
        counts[size]["remove"] = log.count
        assert _member_ids(org.id) == {owner.id}
    print(f"\nstatements per bulk call: {counts}")  # shown with `pytest -s`, for the figures
    # The same numbers for 1, 100 and 10,000 ids: nothing loops per row.
    assert counts[1] == counts[100] == counts[10_000], counts
    assert max(counts[1].values()) <= 10, counts


def _recount(org_id: int) -> dict[str, int]:
    rows = _roles(org_id).values()
    counts = {
        "member_count": len(rows),
        "active_count": sum(1 for _, active in rows if active),
    }
    for role, name in organizations.ROLE_COUNTERS.items():
        counts[name] = sum(1 for r, _ in rows if r is role)
    return counts


def _counters(org_id: int) -> dict[str, int]:
    org = db.session.get(Organization, org_id, populate_existing=True)
    return {name: getattr(org, name) for name in _recount(org_id)}


def _joins_by_day(org_id: int) -> dict[str, int]:
    return db.session.get(Organization, org_id, populate_existing=True).joins_by_day


def _recount_joins(org_id: int) -> dict[str, int]:
    joined = db.session.scalars(
        select(Membership.created_at).where(Membership.organization_id == org_id)
    )
    return dict(Counter(moment.date().isoformat() for moment in joined))


operation = st.tuples(
    st.sampled_from(["add", "update", "remove", "leave"]),
    st.lists(st.integers(0, 7), min_size=1, max_size=5),
    st.sampled_from(list(Role)),
    st.booleans(),
)


@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(operations=st.lists(operation, min_size=1, max_size=12))
def test_counters_always_match_the_memberships(make_user, make_org, operations):
    """Whatever sequence of changes succeeds or is refused, the counters equal a recount."""
    owner = make_user()
    org = make_org(owner)
    people = [make_user() for _ in range(8)]
    for kind, picks, role, flag in operations:
        ids = [people[i].id for i in picks]
        try:
            if kind == "add":
                members.add_members(owner, org.id, ids, role=role, is_active=flag, via=Via.API)
            elif kind == "update":
                members.update_members(owner, org.id, ids, role=role, is_active=flag, via=Via.API)
            elif kind == "remove":
                members.remove_members(owner, org.id, ids, via=Via.API)
            else:
                members.leave_organization(people[picks[0]], org.id, via=Via.API)
        except (AlreadyMembers, NotMembers, InvalidInput, LookupError):
            pass
        except Exception as error:  # refusals by rule are fine; anything else is not
            assert error.__class__.__name__ in {"NotFound", "LastOwner", "Forbidden"}, error
        assert _counters(org.id) == _recount(org.id)
        assert _recount(org.id)["owner_count"] >= 1
        assert _joins_by_day(org.id) == _recount_joins(org.id)


def test_member_list_sorts_by_role_rank_not_alphabet(make_user, make_org, add_member):
    owner = make_user(name="Zed")
    org = make_org(owner)
    for role in [Role.VIEWER, Role.ACCOUNTING, Role.ADMIN, Role.CONTRIBUTOR]:
        add_member(org, make_user(), role)
    page = member_list.list_members(owner, org.id, inputs.MemberQuery(sort_by="role"))
    assert [m.role for m in page.items] == [
        Role.OWNER,
        Role.ADMIN,
        Role.CONTRIBUTOR,
        Role.ACCOUNTING,
        Role.VIEWER,
    ]


def test_member_list_pages_filters_and_totals(make_user, make_org, add_member):
    owner = make_user(email="boss@example.com", name="Boss")
    org = make_org(owner)
    people = [make_user(name=f"Person {i:02d}") for i in range(30)]
    for i, person in enumerate(people):
        add_member(
            org, person, Role.CONTRIBUTOR if i % 3 == 0 else Role.VIEWER, is_active=i % 5 != 0
        )
    page = member_list.list_members(owner, org.id, inputs.MemberQuery(page_number=2, page_size=10))
    assert (page.total_items, page.total_pages, len(page.items)) == (31, 4, 10)
    past_end = member_list.list_members(owner, org.id, inputs.MemberQuery(page_number=9))
    assert (past_end.items, past_end.total_items) == ([], 31)
    filtered = member_list.list_members(
        owner, org.id, inputs.MemberQuery(role=Role.CONTRIBUTOR, is_active=True, page_size=500)
    )
    assert (
        filtered.total_items
        == len(filtered.items)
        == sum(1 for i in range(30) if i % 3 == 0 and i % 5 != 0)
    )
    searched = member_list.list_members(owner, org.id, inputs.MemberQuery(q="PERSON 1"))
    assert {m.name for m in searched.items} == {f"Person {i}" for i in range(10, 20)}
    by_email = member_list.list_members(owner, org.id, inputs.MemberQuery(q="boss@"))
    assert [m.email for m in by_email.items] == ["boss@example.com"]


def test_search_treats_like_wildcards_literally(make_user, make_org, add_member):
    owner = make_user(name="Owner")
    org = make_org(owner)
    add_member(org, make_user(name="100% sure"))
    add_member(org, make_user(name="1000 things"))
    page = member_list.list_members(owner, org.id, inputs.MemberQuery(q="100%"))
    assert [m.name for m in page.items] == ["100% sure"]


def test_refused_bulk_change_writes_no_audit(make_user, make_org):
    owner = make_user()
    org = make_org(owner)
    before = db.session.scalar(select(func.count()).select_from(AuditEvent))
    with pytest.raises(UnknownUsers):
        members.add_members(owner, org.id, [owner.id + 500], role=Role.VIEWER, via=Via.API)
    assert db.session.scalar(select(func.count()).select_from(AuditEvent)) == before


@pytest.mark.parametrize("ascending", [True, False], ids=["asc", "desc"])
@pytest.mark.parametrize("sort_by", list(member_list.SORT_KEYS))
def test_pages_cover_the_sorted_list_exactly(make_user, make_org, sort_by, ascending):
    """Every page size, read page by page (either end of the index), gives the sorted list."""
    owner = make_user(name="Olga")
    org = make_org(owner)
    names = ["ann", "Bob", "bob", "Cy", "ann", "Dee", "eve", "Fay", "bob", "Gus"] * 2 + ["Hal"]
    people = users.create_users(
        [(f"p{i:02d}.{n.lower()}@example.com", n) for i, n in enumerate(names)], via=Via.CLI
    )
    for i, role in enumerate(Role):
        if role is not Role.OWNER:
            members.add_members(
                owner, org.id, people[i::4], role=role, is_active=i % 2 == 0, via=Via.CLI
            )

    def sort_key(m: member_list.Member):
        value = {
            "user_id": m.user_id,
            "email": m.email,
            "name": m.name.casefold(),
            "role": m.role.rank,
            "is_active": m.is_active,
            "joined_at": m.joined_at,
        }[sort_by]
        return (value, m.user_id)

    for filters in ({}, {"role": Role.VIEWER}, {"q": "b"}):
        everyone = member_list.list_members(
            owner, org.id, inputs.MemberQuery(page_size=500, **filters)
        ).items
        expected = sorted(everyone, key=sort_key, reverse=not ascending)
        for size in (1, 2, 5, 7, len(everyone) - 1, len(everyone), 500):
            seen = []
            first = inputs.MemberQuery(
                page_size=size, sort_by=sort_by, sort_ascending=ascending, **filters
            )
            total_pages = member_list.list_members(owner, org.id, first).total_pages
            for number in range(total_pages + 1):  # and one past the end, which is empty
                page = member_list.list_members(
                    owner,
                    org.id,
                    inputs.MemberQuery(
                        page_number=number,
                        page_size=size,
                        sort_by=sort_by,
                        sort_ascending=ascending,
                        **filters,
                    ),
                )
                assert page.total_items == len(everyone)
                seen += page.items
            assert [m.user_id for m in seen] == [m.user_id for m in expected], (filters, size)


def test_email_lookup_is_for_member_managers_only(make_user, make_org, add_member):
    from webapp.services.errors import Forbidden, UnknownEmails

    owner, viewer, known = make_user(), make_user(), make_user(email="known@example.com")
    org = make_org(owner)
    add_member(org, viewer, Role.VIEWER)
    with pytest.raises(Forbidden):
        members.resolve_emails(viewer, org.id, ["known@example.com"])
    assert members.resolve_emails(owner, org.id, [" KNOWN@example.com "]) == [known.id]
    with pytest.raises(UnknownEmails) as error:
        members.resolve_emails(owner, org.id, ["known@example.com", "ghost@example.com"])
    assert error.value.emails == ["ghost@example.com"]


def test_a_change_sets_events_are_in_id_order_wherever_the_rows_are_stored(make_user, make_org):
    """The activity log shows a change's members in event order; that order must not depend
    on where the database stored the rows (PostgreSQL writes an updated row at the heap's end,
    and a scan without ORDER BY returns it last)."""
    owner = make_user()
    org = make_org(owner)
    ids = _bulk_users(3, "stored")
    db.session.execute(
        update(User).where(User.id == ids[0]).values(name="Stored First, written last")
    )
    db.session.commit()

    def events(action: str) -> list[int]:
        return list(
            db.session.scalars(
                select(AuditEvent.target_user_id)
                .where(AuditEvent.organization_id == org.id, AuditEvent.action == action)
                .order_by(AuditEvent.id)
            )
        )

    members.add_members(owner, org.id, list(reversed(ids)), role=Role.VIEWER, via=Via.API)
    db.session.execute(
        update(Membership)
        .where(Membership.organization_id == org.id, Membership.user_id == ids[0])
        .values(updated_at=func.now())
    )
    db.session.commit()
    members.update_members(owner, org.id, ids, role=Role.CONTRIBUTOR, via=Via.API)
    members.remove_members(owner, org.id, ids, via=Via.API)
    assert events("member.add") == events("member.update") == events("member.remove") == ids
