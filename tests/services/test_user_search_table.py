"""The member search's index over users (migration 0010_user_search): every way a user's
address or name is written or deleted keeps ``users.name_key`` (the case-folded name it
indexes) and, on SQLite, the FTS5 table in step; on SQLite a rare text of three characters or
more finds its members through that table instead of reading the organization.

What the search finds is ``test_member_search.py``'s (the LIKE semantics, by hypothesis, on
both backends); PostgreSQL's plans are checked there.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from flask import Flask
from flask_migrate import downgrade, upgrade
from sqlalchemy import select, text

from webapp import inputs
from webapp.extensions import db
from webapp.models import Membership, Organization, Role, User, Via
from webapp.models.tables import USER_SEARCH_TABLE
from webapp.services import member_list, members, organizations, users
from webapp.services.transactions import write_transaction
from webapp.services.values import name_sort_key

from .test_member_list_plan import a_members_address, build, statements

TRIGGERS = {"users_search_insert", "users_search_update", "users_search_delete"}


@pytest.fixture
def sqlite_only(app: Flask) -> None:
    if db.engine.dialect.name != "sqlite":
        pytest.skip("the FTS5 table is SQLite's; PostgreSQL's index: test_member_search.py")


def is_sqlite() -> bool:
    return db.engine.dialect.name == "sqlite"


def table_rows() -> dict[int, tuple[str, str]]:
    """What the index reads: the FTS5 table's rows on SQLite, the users' columns otherwise."""
    if is_sqlite():
        rows = db.session.execute(text(f"SELECT rowid, email, name FROM {USER_SEARCH_TABLE}"))
    else:
        rows = db.session.execute(select(User.id, User.email, User.name_key))
    return {rowid: (email, name) for rowid, email, name in rows}


def expected_rows() -> dict[int, tuple[str, str]]:
    """What the index must read: every user's address and case-folded name, nothing else."""
    rows = db.session.execute(select(User.id, User.email, User.name))
    return {user_id: (email, name_sort_key(name)) for user_id, email, name in rows}


def name_keys() -> dict[int, str]:
    return dict(db.session.execute(select(User.id, User.name_key)).all())


def drift() -> list[tuple[int, int]]:
    """Memberships whose copies of the address or name key differ from their user's: what the
    index finds (users) and what the LIKE checks (memberships) must agree."""
    rows = db.session.execute(
        select(Membership.organization_id, Membership.user_id)
        .join(User, User.id == Membership.user_id)
        .where((Membership.sort_name != User.name_key) | (Membership.sort_email != User.email))
    )
    return [tuple(row) for row in rows]


def found(owner: User, org_id: int, q: str) -> set[int]:
    page = member_list.list_members(owner, org_id, inputs.MemberQuery(q=q, page_size=100))
    return {m.user_id for m in page.items}


def plan(sql: str, parameters: Any) -> str:
    rows = db.session.connection().exec_driver_sql("EXPLAIN QUERY PLAN " + sql, parameters)
    return "\n".join(row[-1] for row in rows)


def list_statements(owner: User, org_id: int, q: str) -> tuple[Any, Any]:
    """The count and the page's statements of a search for ``q``."""
    with statements() as log:
        page = member_list.list_members(owner, org_id, inputs.MemberQuery(q=q, page_size=25))
    assert page.items, f"nothing matches {q!r}: the test data is wrong"
    (count,) = (s for s in log if "count(" in s.sql.lower())
    (listed,) = (s for s in log if "ORDER BY" in s.sql)
    return count, listed


def test_a_rare_text_is_found_through_the_search_table(
    sqlite_only: None, make_user: Callable[..., User]
) -> None:
    owner, org_id = build(make_user, 3_000, 6_000)
    email = a_members_address(org_id)
    for q in (email[:6], email[:4].upper()):
        for statement in list_statements(owner, org_id, q):
            shown = plan(statement.sql, statement.parameters)
            # The table leads, and each candidate's membership is one lookup by its key: no
            # walk of the organization's members.
            lines = shown.splitlines()
            table_at = next(i for i, line in enumerate(lines) if USER_SEARCH_TABLE in line)
            members_at = next(i for i, line in enumerate(lines) if "memberships" in line)
            assert "VIRTUAL TABLE" in lines[table_at] and table_at < members_at, shown
            for line in lines:
                if "memberships" in line:
                    assert line.endswith("(organization_id=? AND user_id=?)"), shown


def test_two_characters_read_the_organization(
    sqlite_only: None, make_user: Callable[..., User]
) -> None:
    """No trigram in two characters: the list reads the organization's members (and the check
    above is not vacuous)."""
    owner, org_id = build(make_user, 300, 0)
    for statement in list_statements(owner, org_id, "pe"):
        assert USER_SEARCH_TABLE not in statement.sql
        assert USER_SEARCH_TABLE not in plan(statement.sql, statement.parameters)


def test_the_table_follows_every_write_of_a_users_address_or_name(
    app: Flask, make_user: Callable[..., User], password: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(member_list, "SEARCH_INDEX_FROM", 0)  # search through the index here
    owner = make_user(name="Owner Person")
    org = organizations.create_organization(owner, "Followed", via=Via.CLI)
    # Created one by one, in bulk, and by sign-up (still unverified).
    ida = make_user(email="ada@follow.example", name="Ada Lovelace", password=password)
    bulk = users.create_users(
        [("grace@follow.example", "Grace Hopper"), ("strasse@follow.example", "Große Straße")],
        via=Via.CLI,
    )
    users.sign_up("late@follow.example", "Late Comer", password)
    late = users.get_user_by_email("late@follow.example")
    assert late is not None
    members.add_members(owner, org.id, [ida.id, *bulk], role=Role.VIEWER, via=Via.CLI)
    assert table_rows() == expected_rows()
    assert name_keys()[bulk[1]] == "große straße".casefold() == "grosse strasse"
    assert found(owner, org.id, "lovelace") == {ida.id}
    assert found(owner, org.id, "STRASSE") == {bulk[1]}  # ß case-folds to ss, as LIKE sees it

    # Renamed: the new name is found, the old one no longer.
    users.rename_user(ida, "Ada King", via=Via.WEB)
    assert table_rows() == expected_rows()
    assert found(owner, org.id, "lovelace") == set()
    assert found(owner, org.id, "king") == {ida.id}

    # Signing up again over the unverified account replaces its name.
    users.sign_up("late@follow.example", "Early Bird", password)
    assert table_rows() == expected_rows()
    assert table_rows()[late.id] == ("late@follow.example", "early bird")

    # An identity provider takes an unverified, memberless account back under its own name.
    provisioned = users.provisioned_account(
        "late@follow.example", "Named By Provider", actor=owner, via=Via.SCIM
    )
    assert provisioned == late.id
    assert table_rows() == expected_rows()
    assert table_rows()[late.id][1] == "named by provider"

    # An account an identity provider made and made a member, taken over through an invitation
    # link under another name: its memberships sort and search by the new name.
    with write_transaction():
        taken = users.provisioned_account(
            "alice@provided.example", "Alice Provider", actor=owner, via=Via.SCIM
        )
        organization = db.session.get(Organization, org.id)
        assert organization is not None
        members.insert_members(
            organization, owner, [taken], Role.VIEWER, True, via=Via.SCIM, verified_only=False
        )
    assert found(owner, org.id, "provider") == {taken}
    users.join_by_invitation("alice@provided.example", "Zed Zulu", password)
    assert table_rows() == expected_rows()
    assert drift() == []
    assert found(owner, org.id, "zulu") == {taken}
    assert found(owner, org.id, "provider") == set()

    # A deleted account leaves the table, and the search no longer finds it.
    users.delete_user(ida, password, via=Via.WEB)
    assert ida.id not in table_rows()
    assert table_rows() == expected_rows()
    assert drift() == []
    assert found(owner, org.id, "king") == set()


def test_the_migration_fills_the_index_and_the_triggers_are_there_at_head(
    app: Flask, make_user: Callable[..., User]
) -> None:
    directory = app.extensions["migrate"].directory
    before = make_user(email="before@migration.example", name="Before Ünïcode")
    organizations.create_organization(before, "Theirs", via=Via.CLI)
    db.session.commit()
    downgrade(directory=directory, revision="0009_scim_profiles")
    try:
        if is_sqlite():
            assert USER_SEARCH_TABLE not in _names("table")
            assert not TRIGGERS & _names("trigger")
        # Written while there is no index: the upgrade must fill it from the users, and bring
        # the memberships' copy of the name back to it where a path had left it behind.
        db.session.execute(
            text("UPDATE users SET name = 'Renamed Straße' WHERE id = :id"), {"id": before.id}
        )
        db.session.execute(
            text("UPDATE memberships SET sort_name = 'stale' WHERE user_id = :id"),
            {"id": before.id},
        )
        db.session.commit()
    finally:
        upgrade(directory=directory)
    if is_sqlite():
        assert _names("trigger") >= TRIGGERS
    assert table_rows() == expected_rows()
    assert table_rows()[before.id] == ("before@migration.example", "renamed strasse")
    assert drift() == []


def _names(kind: str) -> set[str]:
    rows = db.session.execute(text("SELECT name FROM sqlite_master WHERE type = :t"), {"t": kind})
    names = set(rows.scalars())
    db.session.commit()
    return names


def test_a_small_organization_reads_its_own_members(
    app: Flask, make_user: Callable[..., User]
) -> None:
    """Below ``SEARCH_INDEX_FROM`` members the index is not asked: it would find the matching
    users of every organization ("example" matches them all here)."""
    owner, org_id = build(make_user, 40, 2_000)
    for statement in list_statements(owner, org_id, "example"):
        assert USER_SEARCH_TABLE not in statement.sql
        assert "name_key" not in statement.sql
