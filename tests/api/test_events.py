"""The events API (DESIGN §9): the audit trail, newest first, by keyset, filtered."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import update

from webapp.extensions import db
from webapp.models import AuditEvent, Role, Via
from webapp.models.tables import AUDIT_ACTIONS
from webapp.services import members, organizations
from webapp.services.events import encode_cursor

EVENT_KEYS = {
    "id",
    "change_id",
    "at",
    "actor",
    "actor_id",
    "action",
    "user_id",
    "email",
    "old_role",
    "new_role",
    "old_is_active",
    "new_is_active",
    "via",
}


@pytest.fixture
def history(make_user, make_org, api):  # type: ignore[no-untyped-def]
    """An org whose owner added 6 people at once, promoted two, suspended one, removed one."""
    owner = make_user(email="olive@example.com", name="Olive Owner")
    org = make_org(owner, name="Eventful")
    people = [make_user(email=f"p{n}@example.com") for n in range(6)]
    ids = [p.id for p in people]
    members.add_members(owner, org.id, ids, role=Role.VIEWER, via=Via.API)
    members.update_members(owner, org.id, ids[:2], role=Role.ADMIN, via=Via.WEB)
    members.update_members(owner, org.id, [ids[2]], is_active=False, via=Via.API)
    members.remove_members(owner, org.id, [ids[3]], via=Via.CLI)
    return owner, org, people, api(owner)


def _events(client, org_id: int, query: str = "") -> dict:  # type: ignore[no-untyped-def,type-arg]
    response = client.get(f"/api/organizations/{org_id}/events?{query}")
    assert response.status_code == 200, response.get_data(as_text=True)
    return response.get_json()


def test_one_event_per_member_touched_newest_first(history):
    owner, org, people, client = history
    page = _events(client, org.id)
    items = page["items"]
    assert page["next_cursor"] is None
    assert all(item.keys() == EVENT_KEYS for item in items)
    assert [e["id"] for e in items] == sorted((e["id"] for e in items), reverse=True)
    assert [e["action"] for e in items] == [
        "member.remove",
        "member.update",
        *["member.update"] * 2,
        *["member.add"] * 6,
        "organization.create",
    ]
    removed, suspended = items[0], items[1]
    assert removed == removed | {
        "user_id": people[3].id,
        "email": "p3@example.com",
        "old_role": "VIEWER",
        "old_is_active": True,
        "actor": "olive@example.com",
        "actor_id": owner.id,
        "via": "cli",
    }
    assert suspended == suspended | {
        "user_id": people[2].id,
        "old_is_active": True,
        "new_is_active": False,
        "via": "api",
    }
    assert removed["at"].endswith("Z")
    # the events of one change share its change_id; two changes never do
    added = [e for e in items if e["action"] == "member.add"]
    assert len({e["change_id"] for e in added}) == 1
    assert len({e["change_id"] for e in items}) == 5


def test_paging_gives_every_event_once_while_new_ones_arrive(history, make_user):
    owner, org, _, client = history
    everything = [e["id"] for e in _events(client, org.id, "limit=500")["items"]]
    seen: list[int] = []
    cursor = None
    while True:
        page = _events(client, org.id, "limit=3" + (f"&cursor={cursor}" if cursor else ""))
        seen += [e["id"] for e in page["items"]]
        # another change lands between every two pages
        newcomer = make_user()
        members.add_members(owner, org.id, [newcomer.id], via=Via.API)
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == everything


@pytest.mark.parametrize(
    ("query", "actions"),
    [
        ("action=member.update", ["member.update"] * 3),
        ("action=organization.create", ["organization.create"]),
        ("actor=OLIVE@example.com&action=member.remove", ["member.remove"]),
        ("actor=nobody@example.com", []),
    ],
)
def test_filters(history, query, actions):
    _, org, _, client = history
    assert [e["action"] for e in _events(client, org.id, query)["items"]] == actions


def test_filter_by_member(history):
    _, org, people, client = history
    items = _events(client, org.id, f"user_id={people[0].id}")["items"]
    assert [e["action"] for e in items] == ["member.update", "member.add"]
    assert {e["user_id"] for e in items} == {people[0].id}


def test_since_is_inclusive_and_until_exclusive(history):
    _, org, _, client = history
    base = datetime(2030, 1, 1, tzinfo=UTC)
    ids = [e["id"] for e in _events(client, org.id)["items"]][::-1]  # oldest first
    for n, event_id in enumerate(ids):  # one minute apart, oldest at base
        db.session.execute(
            update(AuditEvent)
            .where(AuditEvent.id == event_id)
            .values(created_at=base + timedelta(minutes=n))
        )
    db.session.commit()
    window = _events(client, org.id, "since=2030-01-01T00:02:00Z&until=2030-01-01T00:05:00Z")
    assert [e["id"] for e in window["items"]] == [ids[4], ids[3], ids[2]]
    # a time without a zone is UTC; another zone is converted
    late = _events(client, org.id, "since=2030-01-01T00:09:00")["items"]
    assert [e["id"] for e in late] == [ids[10], ids[9]]
    plus_one = _events(client, org.id, "until=2030-01-01T01:01:00%2B01:00")["items"]
    assert [e["id"] for e in plus_one] == [ids[0]]


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ("limit=0", "limit"),
        ("limit=501", "limit"),
        ("limit=ten", "limit"),
        ("cursor=not-a-cursor", "cursor"),
        ("cursor=" + "A" * 65, "cursor"),
        ("user_id=0", "user_id"),
        ("action=member.explode", "action"),
        ("since=yesterday", "since"),
        ("until=2030-13-01", "until"),
        ("until=0.5", "until"),  # not a Unix time
        ("actor=", "actor"),
        ("actor=a%00b@example.com", "actor"),
        ("action=user.signup", "action"),  # recorded outside any organization's trail
        ("since=2030-02-30T00:00", "since"),
    ],
)
def test_bad_input_is_a_problem_naming_the_field(history, assert_problem, query, field):
    _, org, _, client = history
    body = assert_problem(client.get(f"/api/organizations/{org.id}/events?{query}"), 400)
    assert [e["field"] for e in body["errors"]] == [field]


def test_cursors_that_decode_to_no_event_are_refused(history, assert_problem):
    _, org, _, client = history
    for cursor in (encode_cursor(1)[:-2], "WzIsMV0", "WzEsMF0", "WzEsIjEiXQ", "bnVsbA"):
        body = assert_problem(
            client.get(f"/api/organizations/{org.id}/events?cursor={cursor}"), 400
        )
        assert body["errors"][0]["field"] == "cursor"


def test_owners_and_admins_only(every_role, api, assert_problem):
    path = f"/api/organizations/{every_role.org.id}/events"
    assert api(every_role.owner).get(path).status_code == 200
    assert api(every_role.admin).get(path).status_code == 200
    for user in (every_role.contributor, every_role.accounting, every_role.viewer):
        assert_problem(api(user).get(path), 403)
    assert_problem(api(every_role.suspended).get(path), 403)
    assert_problem(api(every_role.outsider).get(path), 404)


def test_another_organizations_events_never_show(history, make_user, api):
    _, org, people, _ = history
    stranger = make_user(email="stranger@example.com")
    theirs = organizations.create_organization(stranger, "Theirs", via=Via.CLI)
    members.add_members(stranger, theirs.id, [people[5].id], via=Via.API)
    client = api(stranger)
    items = _events(client, theirs.id, "limit=500")["items"]
    assert [e["action"] for e in items] == ["member.add", "organization.create"]
    # a cursor from the other trail only places the page: still only this org's events
    newest_of_mine = _events(api(history[0]), org.id)["items"][0]["id"]
    placed = _events(client, theirs.id, f"cursor={encode_cursor(newest_of_mine)}")["items"]
    assert (
        placed == []
    )  # nothing of theirs is older than my org's newest event, nothing of mine shows


def test_two_statements_whatever_the_page_or_filters(history, count_statements):
    _, org, _, client = history
    _events(client, org.id)  # warm-up: the token's last use
    queries = [
        "",
        "limit=1",
        "limit=500&action=member.add",
        "user_id=1&actor=a@b.c&since=2000-01-01T00:00:00Z",
    ]
    for query in queries:
        with count_statements() as log:
            _events(client, org.id, query)
        assert log.count == 3, (query, log.statements)  # the token, the access, the page


def test_the_audit_actions_list_is_complete():
    """Every action the services record is in the list the events API filters by, and
    recording one that is not raises."""
    from webapp.services import audit

    source = "\n".join(p.read_text() for p in Path(audit.__file__).parent.glob("*.py"))
    recorded = set(
        re.findall(
            r'"((?:organization|member|ownership|change|invitation|token|service_token|user)\.[a-z_]+)"',
            source,
        )
    )
    recorded.discard("user.activate")  # written "user.activate" if ... else "user.deactivate"
    assert recorded | {"user.activate", "user.deactivate"} == set(AUDIT_ACTIONS)
    with pytest.raises(ValueError, match=r"not in models\.AUDIT_ACTIONS"):
        audit._rows("member.explode", actor=None, via=Via.CLI, entries=[], details=None)
