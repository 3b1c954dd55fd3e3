"""The activity page (DESIGN §9): filters by member, actor, action and days, change sets shown
as one group, filters that are not right named beside their field, and the CSV export."""

from __future__ import annotations

import csv
import io
import re
from datetime import UTC, datetime, timedelta
from html import unescape

import pytest
from sqlalchemy import update

from webapp.extensions import db
from webapp.models import AuditEvent, Role, Via
from webapp.services import members, users


@pytest.fixture
def busy(team):  # type: ignore[no-untyped-def]
    """Besides the team's history: three people added at once by the admin, one suspended."""
    ids = users.create_users(
        [
            ("ann@example.com", "Ann Archer"),
            ("bob@example.com", "Bob Baker"),
            ("=cy@example.com", "=Cy Formula"),
        ],
        via=Via.CLI,
    )
    members.add_members(team.admin, team.org.id, ids, role=Role.VIEWER, via=Via.WEB)
    members.update_members(team.owner, team.org.id, ids[:1], is_active=False, via=Via.API)
    return team, ids


def _members_shown(html: str) -> list[str]:
    return re.findall(r'title="Only this member\'s events">([^<]+)</a>', html)


def test_a_change_of_several_members_is_one_group(busy, browser_for):
    team, _ = busy
    html = browser_for(team.owner).get(f"/orgs/{team.org.id}/activity").text
    groups = re.findall(r'<tbody class="change-set( is-group)?" data-change-id="(\w+)">', html)
    assert len({change for _, change in groups}) == len(groups)  # one group per change
    bodies = re.findall(r"<tbody.*?</tbody>", html, re.S)
    [added] = [b for b in bodies if 'added <span class="muted change-size">(3 members)</span>' in b]
    assert added.startswith('<tbody class="change-set is-group"')
    assert _members_shown(added) == ["=cy@example.com", "bob@example.com", "ann@example.com"]
    assert added.count("<tr>") == 3 and added.count("Same change") == 2


@pytest.mark.parametrize(
    ("query", "shown"),
    [
        ("member=ann", ["ann@example.com", "ann@example.com"]),
        ("member=Baker", ["bob@example.com"]),  # by the name of a member
        ("member=ANN%40EXAMPLE", ["ann@example.com", "ann@example.com"]),
        ("action=member.update", ["ann@example.com"]),
        (
            "actor={admin}&action=member.add",
            ["=cy@example.com", "bob@example.com", "ann@example.com"],
        ),
        ("member=nobody", []),
    ],
)
def test_filters(busy, browser_for, query, shown):
    team, _ = busy
    query = query.format(admin=team.admin.email)
    html = browser_for(team.owner).get(f"/orgs/{team.org.id}/activity?{query}").text
    assert _members_shown(html) == shown
    if not shown:
        assert "No activity matches these filters." in html


def test_days_are_utc_and_both_included(busy, browser_for):
    team, _ = busy
    events = db.session.scalars(
        db.select(AuditEvent.id)
        .where(AuditEvent.organization_id == team.org.id)
        .order_by(AuditEvent.id)
    ).all()
    # the first and the last instant of 1, 2, 3 and 4 March 2030, then later days
    start = datetime(2030, 3, 1, tzinfo=UTC)
    moments = [
        start + timedelta(days=day) + extra
        for day in range(4)
        for extra in (timedelta(0), timedelta(days=1, microseconds=-1))
    ]
    moments += [start + timedelta(days=10 + n) for n in range(len(events) - len(moments))]
    for event_id, moment in zip(events, moments, strict=True):
        db.session.execute(
            update(AuditEvent).where(AuditEvent.id == event_id).values(created_at=moment)
        )
    db.session.commit()
    html = (
        browser_for(team.owner)
        .get(f"/orgs/{team.org.id}/activity?since=2030-03-02&until=2030-03-03")
        .text
    )
    assert "4 events match" in html  # 2 March 00:00 and 23:59:59.999999, and 3 March's
    shown = re.findall(r'<time datetime="([^"]+)"', html)
    assert sorted(shown) == [
        "2030-03-02T00:00:00Z",
        "2030-03-02T23:59:59Z",
        "2030-03-03T00:00:00Z",
        "2030-03-03T23:59:59Z",
    ]


def test_digits_are_a_user_id_or_part_of_an_address(team, browser_for):
    user_id = users.create_users([("x@example.com", "Ex")], via=Via.CLI)[0]
    digits = users.create_users([(f"bob{user_id}@example.com", "Bob")], via=Via.CLI)[0]
    members.add_members(team.owner, team.org.id, [user_id, digits], via=Via.CLI)
    html = browser_for(team.owner).get(f"/orgs/{team.org.id}/activity?member={user_id}").text
    assert sorted(_members_shown(html)) == sorted(["x@example.com", f"bob{user_id}@example.com"])


@pytest.mark.parametrize(
    ("query", "field", "message"),
    [
        ("since=yesterday", "since", "must be a day written YYYY-MM-DD"),
        ("since=0", "since", "must be a day written YYYY-MM-DD"),  # never a Unix time
        ("since=2030-02-30", "since", "is not a real day"),
        ("until=9999-12-31", "until", "must be before 9999-12-31"),
        ("since=2030-03-05&until=2030-03-01", "until", "must not be before the first day"),
        ("action=member.explode", "action", "Input should be"),
        ("action=user.signup", "action", "Input should be"),  # not in an organization's trail
        ("member=a%00b", "member", "control characters"),
        ("actor=a%00b", "actor", "control characters"),
        ("page=0", "page", "greater than or equal to 1"),
        ("page=1000002", "page", "less than or equal to 1000001"),
    ],
)
def test_filters_that_are_not_right_are_named_beside_their_field(
    busy, browser_for, query, field, message
):
    team, _ = busy
    browser = browser_for(team.owner)
    for htmx in (False, True):
        answer = browser.get(f"/orgs/{team.org.id}/activity?{query}", htmx=htmx)
        assert answer.status_code == 400
        error = re.search(
            rf'<p class="field-error" id="{field}-error"[^>]*>([^<]*)</p>', answer.text
        )
        assert error and message in error.group(1), answer.text
        assert "Correct the filters above" in answer.text
        assert _members_shown(answer.text) == []
    export = browser.get(f"/orgs/{team.org.id}/activity.csv?{query}")
    assert export.status_code == 400 and export.mimetype == "text/html"


def test_a_viewer_is_refused_whatever_the_filters(team, browser_for):
    browser = browser_for(team.viewer)
    assert browser.get(f"/orgs/{team.org.id}/activity?since=nonsense").status_code == 403


def test_paging_keeps_the_filters(team, browser_for):
    ids = users.create_users([(f"p{n}@example.com", f"P {n}") for n in range(30)], via=Via.CLI)
    for user_id in ids:
        members.add_members(team.owner, team.org.id, [user_id], role=Role.VIEWER, via=Via.CLI)
    html = browser_for(team.owner).get(f"/orgs/{team.org.id}/activity?action=member.add").text
    older = re.search(r'<a href="([^"]+)" hx-get="[^"]+" [^>]*rel="next">', html)
    assert older
    assert unescape(older.group(1)) == f"/orgs/{team.org.id}/activity?page=2&action=member.add"


def _export(browser, html: str) -> list[dict[str, str]]:  # type: ignore[no-untyped-def]
    href = re.search(r'id="export-activity" href="([^"]+)"', html)
    assert href, html
    answer = browser.get(unescape(href.group(1)))
    assert answer.status_code == 200, answer.text
    assert answer.headers["Content-Type"] == "text/csv; charset=utf-8"
    return list(csv.DictReader(io.StringIO(answer.text, newline="")))


def test_the_export_is_every_event_the_filters_match(busy, browser_for):
    team, _ = busy
    browser = browser_for(team.owner)
    html = browser.get(
        f"/orgs/{team.org.id}/activity?action=member.add&actor={team.admin.email}"
    ).text
    rows = _export(browser, html)
    # the address a spreadsheet would run is prefixed; the rest kept exactly
    assert [r["email"] for r in rows] == ["'=cy@example.com", "bob@example.com", "ann@example.com"]
    assert {r["actor_id"] for r in rows} == {str(team.admin.id)}
    assert {r["actor"] for r in rows} == {team.admin.email}
    assert {r["new_role"] for r in rows} == {"VIEWER"}
    assert len({r["change_id"] for r in rows}) == 1
    everything = _export(browser, browser.get(f"/orgs/{team.org.id}/activity").text)
    assert len(everything) == len(
        db.session.scalars(
            db.select(AuditEvent.id).where(AuditEvent.organization_id == team.org.id)
        ).all()
    )
    assert everything[0]["action"] == "member.update" and everything[0]["new_is_active"] == "false"


def test_the_export_is_refused_to_whoever_may_not_see_the_log(team, browser_for):
    browser = browser_for(team.viewer)
    assert browser.get(f"/orgs/{team.org.id}/activity.csv").status_code == 403
