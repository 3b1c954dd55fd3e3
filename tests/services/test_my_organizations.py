"""The actor's organizations: the whole list as plain values, the few joined last, a search."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from webapp.extensions import db
from webapp.models import Membership, Organization, Role, Via
from webapp.services import organizations

from .test_member_list_plan import analyze, statements
from .test_member_search import explain


def test_my_organizations_are_values_not_orm_objects(make_user, make_org, add_member):
    me = make_user()
    mine = [organizations.create_organization(me, name, via=Via.CLI) for name in ("b", "A", "c")]
    other = make_org(name="Other")
    add_member(other, me, Role.ACCOUNTING, is_active=False)
    db.session.remove()  # an empty identity map

    listed = organizations.list_my_organizations(me)

    assert [a.organization_name for a in listed] == ["A", "b", "c", "Other"]
    assert listed[:3] == [
        organizations.get_organization(me, a.id)
        for a in sorted(mine[:3], key=lambda a: a.organization_name.lower())
    ]
    assert (listed[3].role, listed[3].is_active, listed[3].member_count) == (
        Role.ACCOUNTING,
        False,
        2,
    )
    db.session.remove()
    organizations.list_my_organizations(me)
    assert not [
        o for o in db.session.identity_map.values() if isinstance(o, Organization | Membership)
    ]


def test_recent_organizations_are_the_last_joined_with_the_total(make_user, make_org, add_member):
    me = make_user()
    for n in range(5):
        organizations.create_organization(me, f"Mine {n}", via=Via.CLI)
    joined_last = make_org(name="Joined last")
    add_member(joined_last, me)
    recent = organizations.recent_organizations(me, limit=3)
    assert [a.organization_name for a in recent.items] == ["Joined last", "Mine 4", "Mine 3"]
    assert recent.total == 6
    assert organizations.recent_organizations(make_user()) == organizations.RecentAccounts([], 0)


def test_the_search_matches_any_case_and_takes_wildcards_literally(make_user):
    me = make_user()
    for name in ("Acme 100%", "ACME Labs", "Globex", "a_b", "axb"):
        organizations.create_organization(me, name, via=Via.CLI)

    def names(q: str, **page: int) -> list[str]:
        return [
            a.organization_name for a in organizations.find_my_organizations(me, q, **page).items
        ]

    assert names("acme") == ["Acme 100%", "ACME Labs"]
    assert names("%") == ["Acme 100%"]
    assert names("_") == ["a_b"]
    assert names("  ") == ["a_b", "Acme 100%", "ACME Labs", "axb", "Globex"]
    assert names("", page_number=1, page_size=2) == ["ACME Labs", "axb"]
    assert names("\x00") == []
    found = organizations.find_my_organizations(me, "a", page_size=2)
    assert (found.total_items, found.total_pages) == (4, 2)


def test_my_organizations_are_read_from_the_index_alone_on_postgresql(make_user, make_org):
    """Migration 0011: the list reads the memberships index alone (make bench T11)."""
    if db.engine.dialect.name != "postgresql":
        pytest.skip("INCLUDE columns are PostgreSQL's; SQLite keeps its index (0011)")
    me = make_user()
    for n in range(30):
        organizations.create_organization(me, f"Mine {n}", via=Via.CLI)
    make_org(name="Not mine")
    analyze()  # the visibility map an index-only scan needs
    with statements() as log:
        organizations.my_organizations_json(me)
    [listed] = log
    conn = db.session.connection()
    # No table scan allowed: the planner then reads the index alone if its entries hold every
    # column the list needs, and visits the table for each entry if they do not.
    conn.exec_driver_sql("SET LOCAL enable_seqscan = off")
    conn.exec_driver_sql("SET LOCAL enable_bitmapscan = off")
    scans = [
        (node["Node Type"], node.get("Index Name"))
        for node in _nodes(explain(listed.sql, listed.parameters))
        if node.get("Relation Name") == "memberships"
    ]
    assert scans == [("Index Only Scan", "ix_memberships_user_joined")], scans


def _nodes(node: dict[str, Any]) -> Iterator[dict[str, Any]]:
    yield node
    for child in node.get("Plans", []):
        yield from _nodes(child)
