"""The member search ``q``: what it finds is the ``LIKE`` semantics (any backend, any text), and
on PostgreSQL a rare text of three characters or more is counted through the pg_trgm index of
users (migration 0010_user_search) instead of reading the organization's members (SQLite's
FTS5 table: test_user_search_table.py).

The rule: a member matches when their stored address contains the text lower-cased, or their
case-folded name contains it case-folded; ``%``, ``_`` and backslashes are literal.
"""

from __future__ import annotations

import itertools
import json
import re
from collections.abc import Callable
from typing import Any

import pytest
from flask import Flask
from hypothesis import HealthCheck, assume, event, given, settings
from hypothesis import strategies as st
from pydantic import ValidationError
from sqlalchemy import select

from webapp import inputs
from webapp.extensions import db
from webapp.models import Role, User, Via
from webapp.models.tables import SEARCH_INDEX
from webapp.services import member_list, members, organizations, users
from webapp.services.values import CONTROL_CATEGORIES

from .test_member_list_plan import a_members_address, build, statements

# Letters whose case mapping is special (sharp s and its capital, dotted capital I, dotless i,
# the sigmas, the ffi ligature, É, the Kelvin sign, ŉ, ǅ), LIKE's wildcards and escape, quotes,
# and any other character a name may hold.
SPECIAL = (
    "aAbBkKsSzZ%_\\/\"'*^$[].-+ "
    "\u00df\u1e9e\u0130\u0131\u03a3\u03c3\u03c2\ufb03\u00c9\u00e9\u212a\u0149\u01c5"
)
characters = st.sampled_from(SPECIAL) | st.characters(
    exclude_categories=(*CONTROL_CATEGORIES, "Zs"), exclude_characters="@"
)
names = st.text(characters | st.just(" "), min_size=1, max_size=14)
locals_ = st.text(characters, min_size=1, max_size=12)
unique = itertools.count()


def reference(q: str, email: str, name: str) -> bool:
    """What the LIKE matched, in plain Python: a substring of the address lower-cased, or of
    the name case-folded (addresses are stored lower-cased, names as given)."""
    return q.lower() in email or q.casefold() in name.casefold()


def query_for(q: str) -> inputs.MemberQuery | None:
    try:
        query = inputs.MemberQuery(q=q, page_size=inputs.PAGE_SIZE_MAX)
    except ValidationError:
        return None
    return query if query.search is not None else None


@st.composite
def cases(draw: st.DrawFn) -> tuple[list[tuple[str, str]], list[str]]:
    people = draw(st.lists(st.tuples(locals_, names), min_size=2, max_size=8))
    texts = [local if draw(st.booleans()) else name for local, name in people]
    queries = []
    for source in draw(st.lists(st.sampled_from(texts), min_size=1, max_size=6)):
        start = draw(st.integers(0, len(source) - 1))
        end = draw(st.integers(min(start + 3, len(source)), len(source)))  # trigrams if it can
        change = draw(st.sampled_from([str, str.upper, str.lower, str.swapcase, str.title]))
        queries.append(change(source[start:end]))
    queries += draw(st.lists(st.text(characters, min_size=1, max_size=4), max_size=4))
    return people, queries


@settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(case=cases())
def test_search_finds_what_the_like_semantics_say(
    app: Flask,
    make_user: Callable[..., User],
    monkeypatch: pytest.MonkeyPatch,
    case: tuple[list[tuple[str, str]], list[str]],
) -> None:
    # These organizations are small: the search index is asked all the same (texts of three
    # characters or more), so that what it finds is compared too.
    monkeypatch.setattr(member_list, "SEARCH_INDEX_FROM", 0)
    drawn, queries = case
    # Addresses are unique across examples (they share the database): a number follows the
    # drawn part, which the queries are cut from.
    people = [(f"{local}.{next(unique)}@{local[:3]}x.example", name) for local, name in drawn]
    try:
        ids = users.create_users(people, via=Via.CLI)
    except Exception:  # an address or name the value rules refuse: not this test's business
        db.session.rollback()
        assume(False)
        raise
    owner = make_user()
    org = organizations.create_organization(owner, "Searched", via=Via.CLI)
    members.add_members(owner, org.id, ids[1:], role=Role.VIEWER, via=Via.CLI)
    # Another organization holds the first person (only) and some of the same people.
    neighbour = make_user()
    other = organizations.create_organization(neighbour, "Neighbours", via=Via.CLI)
    members.add_members(neighbour, other.id, ids[: len(ids) // 2 + 1], via=Via.CLI)
    stored = {
        u.id: (u.email, u.name)
        for u in db.session.scalars(select(User).where(User.id.in_([*ids[1:], owner.id])))
    }
    for q in queries:
        query = query_for(q)
        if query is None:
            continue
        search = query.search
        assert search is not None
        expected = {i for i, (email, name) in stored.items() if reference(search, email, name)}
        event(f"{'3+' if len(search) >= 3 else '1-2'} characters, {bool(expected)} match")
        found = member_list.matching_member_ids(owner, org.id, query)
        page = member_list.list_members(owner, org.id, query)
        counted = member_list.count_matching(owner, org.id, query, roles=list(Role))
        assert set(found) == expected, search
        assert {m.user_id for m in page.items} == expected, search
        assert page.total_items == counted == len(expected), search


# -- PostgreSQL: the trigram index ---------------------------------------------------------


def explain(sql: str, parameters: Any) -> dict[str, Any]:
    raw = (
        db.session.connection()
        .exec_driver_sql("EXPLAIN (FORMAT JSON) " + sql, parameters)
        .scalar_one()
    )
    plan = raw if isinstance(raw, list) else json.loads(raw)
    return plan[0]["Plan"]


def index_scans(node: dict[str, Any]) -> set[str]:
    """The indexes the plan reads."""
    found = {node["Index Name"]} if node.get("Index Name") else set()
    for child in node.get("Plans", []):
        found |= index_scans(child)
    return found


def count_statement(owner: User, org_id: int, q: str) -> Any:
    query = inputs.MemberQuery(q=q, page_size=25)
    with statements() as log:
        page = member_list.list_members(owner, org_id, query)
    assert page.items, f"nothing matches {q!r}: the test data is wrong"
    (count,) = (s for s in log if re.search(r"\bcount\(", s.sql, re.I))
    return count


@pytest.fixture
def big_org(app: Flask, make_user: Callable[..., User]) -> tuple[User, int]:
    if db.engine.dialect.name != "postgresql":
        pytest.skip("the trigram index is PostgreSQL's (migration 0010_user_search)")
    return build(make_user, 3_000, 6_000)


def test_a_rare_text_is_counted_through_the_trigram_index(big_org: tuple[User, int]) -> None:
    owner, org_id = big_org
    # One member's random address part: a handful of matches among 3,000 (and 6,000 others).
    email = a_members_address(org_id)
    for q in (email[:6], email[:4].upper()):
        count = count_statement(owner, org_id, q)
        assert SEARCH_INDEX in index_scans(explain(count.sql, count.parameters)), q


def test_two_characters_read_the_organization(big_org: tuple[User, int]) -> None:
    """No trigram in two characters: the count reads the organization's own index (and the
    check above is not vacuous)."""
    owner, org_id = big_org
    count = count_statement(owner, org_id, "pe")
    assert SEARCH_INDEX not in index_scans(explain(count.sql, count.parameters))
