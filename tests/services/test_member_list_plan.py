"""The member list finds its page on an index, for every sort key and direction, on both backends.

``list_members`` must find the page's user ids on the ``(organization_id, key, user_id)`` index
(the primary key for ``user_id``) without sorting the organization's memberships, then join only
those rows. These tests run EXPLAIN on the very statement it issues: they fail if an index is
dropped, if the index stops covering the inner query, or if the query goes back to joining
then sorting. The outer query may re-sort the page's own rows (at most ``page_size``); nothing
else may be sorted.
"""

from __future__ import annotations

import json
import random
import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import event, inspect, select, text

from webapp import inputs
from webapp.extensions import db
from webapp.models import Membership, Role, User, Via
from webapp.services import member_list, members, organizations, users
from webapp.services.organizations import Account

MEMBERS = 3_000  # in the organization under test, owner included
OTHERS = 6_000  # members of a second organization, so that organization_id is selective
PAGE_SIZE = 25
CASES = [(key, ascending) for key in member_list.SORT_KEYS for ascending in (True, False)]


def case_id(case: tuple[str, bool]) -> str:
    return f"{case[0]}-{'asc' if case[1] else 'desc'}"


# -- data ------------------------------------------------------------------------------------


def add_in_chunks(owner: User, org: Account, ids: list[int], chunks: int) -> None:
    """Add members in a few set-based calls, so role, active flag and join time vary."""
    roles = [Role.VIEWER, Role.ADMIN, Role.CONTRIBUTOR, Role.ACCOUNTING]
    size = -(-len(ids) // chunks)
    for n, start in enumerate(range(0, len(ids), size)):
        members.add_members(
            owner,
            org.id,
            ids[start : start + size],
            role=roles[n % len(roles)],
            is_active=n % 3 != 1,
            via=Via.CLI,
        )


def analyze() -> None:
    """Planner statistics (and, on PostgreSQL, the visibility map index-only scans need)."""
    db.session.remove()
    if db.engine.dialect.name == "postgresql":
        with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.execute(text("VACUUM ANALYZE memberships"))
            conn.execute(text("VACUUM ANALYZE users"))
    else:
        with db.engine.begin() as conn:
            conn.execute(text("ANALYZE"))


def build(make_user: Callable[..., User], size: int, others: int) -> tuple[User, int]:
    """An organization of ``size`` members and another of ``others``, sharing some users."""
    rng = random.Random(2)
    people = [
        (f"{rng.getrandbits(40):010x}.{i}@plan.example", f"Person {rng.getrandbits(30)} {i}")
        for i in range(max(size - 1, others))
    ]
    ids = users.create_users(people, via=Via.CLI)
    owner = make_user()
    org = organizations.create_organization(owner, "Big", via=Via.CLI)
    add_in_chunks(owner, org, ids[: size - 1], chunks=6)
    if others:
        other_owner = make_user()
        other = organizations.create_organization(other_owner, "Other", via=Via.CLI)
        add_in_chunks(other_owner, other, ids[: others - 1], chunks=2)
    analyze()
    return owner, org.id


def a_members_address(org_id: int) -> str:
    """One (non-owner) member's address of ``build``'s organization: random, so a part of it
    is a rare text."""
    email = db.session.scalar(
        select(Membership.sort_email)
        .where(Membership.organization_id == org_id, Membership.role != Role.OWNER)
        .limit(1)
    )
    assert email is not None
    return email


# -- capturing and explaining ----------------------------------------------------------------


@dataclass
class Statement:
    sql: str
    parameters: Any


@contextmanager
def statements() -> Iterator[list[Statement]]:
    log: list[Statement] = []

    def before(conn, cursor, statement, parameters, context, executemany):  # type: ignore[no-untyped-def]
        log.append(Statement(statement, parameters))

    event.listen(db.engine, "before_cursor_execute", before)
    try:
        yield log
    finally:
        event.remove(db.engine, "before_cursor_execute", before)


def page_statement(actor: User, org_id: int, query: inputs.MemberQuery) -> Statement:
    """The one statement of ``list_members`` that reads the page (the one with a LIMIT: an
    OFFSET too for a page by number, a seek past the cursor's row for a page by cursor)."""
    with statements() as log:
        page = member_list.list_members(actor, org_id, query)
    assert page.items, "the page is empty: the test data is wrong"
    found = [s for s in log if re.search(r"\bLIMIT\b", s.sql, re.I)]
    assert len(found) == 1, [s.sql for s in log]
    return found[0]


def key_indexes(key: str) -> set[str]:
    """Indexes whose leading columns are (organization_id, the key's column)."""
    column = member_list.SORT_KEYS[key].property.columns[0].name
    wanted = ["organization_id", column]
    if db.engine.dialect.name == "sqlite":
        conn = db.session.connection()
        names = [r[1] for r in conn.exec_driver_sql("PRAGMA index_list(memberships)")]
        return {
            name
            for name in names
            if [r[2] for r in conn.exec_driver_sql(f"PRAGMA index_info('{name}')")][:2] == wanted
        }
    inspector = inspect(db.engine)
    found = {
        ix["name"]
        for ix in inspector.get_indexes("memberships")
        if ix["name"] and list(ix["column_names"][:2]) == wanted
    }
    pk = inspector.get_pk_constraint("memberships")
    if pk["name"] and list(pk["constrained_columns"][:2]) == wanted:
        found.add(pk["name"])
    return found


def plan_problems(statement: Statement, indexes: set[str]) -> list[str]:
    """Why the plan is not index-driven; empty when it is."""
    conn = db.session.connection()
    if conn.dialect.name == "postgresql":
        raw = conn.exec_driver_sql(
            "EXPLAIN (FORMAT JSON) " + statement.sql, statement.parameters
        ).scalar_one()
        plan = raw if isinstance(raw, list) else json.loads(raw)
        return postgres_problems(plan[0]["Plan"], indexes)
    rows = conn.exec_driver_sql("EXPLAIN QUERY PLAN " + statement.sql, statement.parameters)
    return sqlite_problems([(r[0], r[1], r[3]) for r in rows], indexes)


# By number: the organization's entries from one end. By cursor: from the cursor's (key,
# user_id), or user_id alone for the user_id sort, whose index is the primary key.
_INDEX_WALK = re.compile(
    r"SEARCH memberships USING COVERING INDEX (\S+) \(organization_id=\?"
    r"(?: AND \(\w+,user_id\)[<>]\(\?,\?\)| AND user_id[<>]\?)?\)"
)
_ROW_LOOKUP = re.compile(
    r"^SEARCH memberships USING (COVERING )?(INDEX \S+|PRIMARY KEY) "
    r"\((user_id=\? AND organization_id=\?|organization_id=\? AND user_id=\?)\)$"
)


# The seek in the index condition: "(role,user_id)>(?,?)" or "user_id<?" (SQLite),
# "ROW(role, user_id) > ROW(...)" or "user_id < $2" (PostgreSQL).
_SEEK = re.compile(r"user_id\)? ?[<>] ?(\(|\?|\$|ROW|'|[0-9])")


def plan_text(statement: Statement) -> str:
    conn = db.session.connection()
    explain = "EXPLAIN " if conn.dialect.name == "postgresql" else "EXPLAIN QUERY PLAN "
    rows = conn.exec_driver_sql(explain + statement.sql, statement.parameters)
    return "\n".join(str(row[-1]) for row in rows)


def sqlite_problems(rows: list[tuple[int, int, str]], indexes: set[str]) -> list[str]:
    """SQLite: the subquery walks the key's covering index and sorts nothing; the outer query
    reaches memberships only by one-row lookups, so its sort (if any) is of the page alone."""
    problems: list[str] = []
    inner_ids = {i for i, _, d in rows if d.startswith(("MATERIALIZE", "CO-ROUTINE"))}
    inner: list[str] = []
    outer: list[str] = []
    for i, parent, detail in rows:  # parents come before their children
        if parent in inner_ids:
            inner_ids.add(i)
            inner.append(detail)
        else:
            outer.append(detail)
    if not inner:
        problems.append("no index-first subquery (MATERIALIZE / CO-ROUTINE)")
    walks = [
        m.group(1)
        for m in map(_INDEX_WALK.fullmatch, inner)
        if m is not None and m.group(1) in indexes
    ]
    if inner and len(walks) != 1:
        problems.append(f"the subquery does not walk a covering index of {sorted(indexes)}")
    problems += [f"the subquery sorts: {d}" for d in inner if "TEMP B-TREE" in d]
    for detail in outer:
        if "memberships" in detail and not _ROW_LOOKUP.match(detail):
            problems.append(f"the outer query reads memberships other than by key: {detail}")
    return problems


def postgres_problems(root: dict[str, Any], indexes: set[str]) -> list[str]:
    """PostgreSQL: one Limit over an index-only scan of the key's index, with no Sort under
    it; outside it, memberships only by (user_id, organization_id) lookups."""
    problems: list[str] = []
    page_scans: list[dict[str, Any]] = []

    def walk(node: dict[str, Any], under_limit: bool) -> None:
        kind = node["Node Type"]
        if under_limit and kind in ("Sort", "Incremental Sort"):
            problems.append(f"the page query sorts: {node.get('Sort Key')}")
        if node.get("Relation Name") == "memberships":
            if under_limit:
                page_scans.append(node)
            elif "user_id =" not in node.get("Index Cond", ""):
                problems.append(f"the outer query reads memberships by {kind}: {node}")
        for child in node.get("Plans", []):
            walk(child, under_limit or kind == "Limit")

    walk(root, False)
    if len(page_scans) != 1:
        problems.append(f"expected one memberships scan under the page's Limit: {page_scans}")
    for scan in page_scans:
        if scan["Node Type"] != "Index Only Scan" or scan.get("Index Name") not in indexes:
            problems.append(
                f"the page is found by {scan['Node Type']} {scan.get('Index Name')}, "
                f"not an index-only scan of {sorted(indexes)}"
            )
        elif "organization_id =" not in scan.get("Index Cond", ""):
            problems.append(f"the index scan is not bounded by organization: {scan}")
    return problems


# -- tests -----------------------------------------------------------------------------------


@pytest.fixture
def big_org(app: Flask, make_user: Callable[..., User]) -> tuple[User, int]:
    return build(make_user, MEMBERS, OTHERS)


def test_every_sort_finds_the_page_on_its_index(big_org: tuple[User, int]) -> None:
    owner, org_id = big_org
    last_page = (MEMBERS - 1) // PAGE_SIZE
    failures: dict[str, list[str]] = {}
    for key, ascending in CASES:
        indexes = key_indexes(key)
        assert indexes, f"no (organization_id, {key}) index at all"
        for page_number in (0, last_page):
            query = inputs.MemberQuery(
                page_number=page_number,
                page_size=PAGE_SIZE,
                sort_by=key,
                sort_ascending=ascending,
            )
            problems = plan_problems(page_statement(owner, org_id, query), indexes)
            if problems:
                failures[f"{case_id((key, ascending))} page {page_number}"] = problems
    assert not failures, json.dumps(failures, indent=2)


def test_a_cursor_finds_a_deep_page_on_its_index(big_org: tuple[User, int]) -> None:
    """Next and Previous from the middle of the list seek on the same index: no OFFSET."""
    owner, org_id = big_org
    middle = (MEMBERS - 1) // PAGE_SIZE // 2
    failures: dict[str, list[str]] = {}
    for key, ascending in CASES:
        by_number = inputs.MemberQuery(
            page_number=middle, page_size=PAGE_SIZE, sort_by=key, sort_ascending=ascending
        )
        page = member_list.list_members(owner, org_id, by_number)
        for name, cursor in (("next", page.next_cursor), ("prev", page.prev_cursor)):
            query = inputs.MemberQuery.model_validate({"cursor": cursor, "page_size": PAGE_SIZE})
            statement = page_statement(owner, org_id, query)
            problems = plan_problems(statement, key_indexes(key))
            plan = plan_text(statement)
            if not _SEEK.search(plan):
                problems.append(f"the index scan does not start at the cursor's row: {plan}")
            if problems:
                failures[f"{case_id((key, ascending))} {name}"] = problems
    assert not failures, json.dumps(failures, indent=2)


def test_the_check_catches_a_join_then_sort_query(big_org: tuple[User, int]) -> None:
    """The plan check is not vacuous: the query list_members replaced fails it."""
    _, org_id = big_org
    naive = (
        select(Membership, User.email, User.name)
        .join(User, User.id == Membership.user_id)
        .where(Membership.organization_id == org_id)
        .order_by(User.name, User.id)
        .limit(PAGE_SIZE)
        .offset(PAGE_SIZE * 100)
    )
    with statements() as log:
        db.session.execute(naive).all()
    (statement,) = (s for s in log if re.search(r"\bOFFSET\b", s.sql, re.I))
    assert plan_problems(statement, key_indexes("name"))


@pytest.mark.parametrize("case", CASES, ids=case_id)
def test_same_statements_at_any_depth(
    app: Flask,
    make_user: Callable[..., User],
    count_statements: Callable[[], Any],
    case: tuple[str, bool],
) -> None:
    key, ascending = case
    size = 3 * PAGE_SIZE + 7
    owner, org_id = build(make_user, size, others=0)
    counts: dict[str, int] = {}
    for page_number in (0, (size - 1) // PAGE_SIZE):
        query = inputs.MemberQuery(
            page_number=page_number, page_size=PAGE_SIZE, sort_by=key, sort_ascending=ascending
        )
        with count_statements() as log:
            page = member_list.list_members(owner, org_id, query)
        assert len(page.items) == (PAGE_SIZE if page_number == 0 else size % PAGE_SIZE)
        counts[f"page {page_number}"] = log.count
        # The page after page 0 and the page before the last, by cursor.
        cursor = page.next_cursor if page_number == 0 else page.prev_cursor
        by_cursor = inputs.MemberQuery.model_validate({"cursor": cursor, "page_size": PAGE_SIZE})
        with count_statements() as log:
            assert len(member_list.list_members(owner, org_id, by_cursor).items) == PAGE_SIZE
        counts[f"cursor from page {page_number}"] = log.count
    default = inputs.MemberQuery(page_size=PAGE_SIZE)
    with count_statements() as log:
        member_list.list_members(owner, org_id, default)
    counts["default sort, page 0"] = log.count
    assert len(set(counts.values())) == 1, counts
