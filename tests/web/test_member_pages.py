"""The members page's pager: Next and Previous go by cursor (the cost of page 0 at any depth),
First and Last by number; following them shows every member once, in order, and a page whose
rows were removed since falls back to a page that has rows."""

from __future__ import annotations

import html
import re
from urllib.parse import parse_qs, urlsplit

import pytest

from webapp.inputs import MemberQuery
from webapp.models import Role, Via
from webapp.services import member_list, members, users

PAGE = 10


def _names(text: str) -> list[str]:
    return re.findall(r'<span class="person">([^<]+)</span>', text)


def _link(text: str, link_id: str) -> str | None:
    found = re.search(rf'<a id="{link_id}" href="([^"]+)"', text)
    return html.unescape(found.group(1)) if found else None


def _position(text: str) -> str:
    found = re.search(r'<span class="pager-pos"[^>]*>([^<]+)</span>', text)
    assert found, "no pager"
    return found.group(1)


@pytest.fixture
def crowd(team):
    ids = users.create_users(
        [(f"crowd{n:02d}@example.com", f"Crowd {n % 7}") for n in range(36)], via=Via.CLI
    )
    members.add_members(team.owner, team.org.id, ids, role=Role.VIEWER, via=Via.CLI)
    return ids


def _all_names(team, **filters) -> list[str]:
    query = MemberQuery(page_size=500, **filters)
    return [m.name for m in member_list.list_members(team.owner, team.org.id, query).items]


@pytest.mark.parametrize("htmx", [False, True])
@pytest.mark.parametrize(
    "args",
    [
        {},
        {"sort_by": "name", "sort_ascending": "false"},
        {"sort_by": "role", "q": "crowd"},
        {"sort_by": "joined_at"},
    ],
    ids=["default", "name-desc", "role-filtered", "joined"],
)
def test_next_and_previous_walk_every_member_once(browser_for, team, crowd, args, htmx):
    browser = browser_for(team.owner)
    expected = _all_names(
        team,
        **{k: (v == "true" if k == "sort_ascending" else v) for k, v in args.items()},
    )
    pages = -(-len(expected) // PAGE)
    url = f"/orgs/{team.org.id}/members"
    page = browser.get(url, query_string={"page_size": PAGE, **args}, htmx=htmx).text
    seen, positions = [], []
    while True:
        seen += _names(page)
        positions.append(_position(page))
        following = _link(page, "page-next")
        if following is None:
            break
        query = parse_qs(urlsplit(following).query)
        # Next carries a cursor, never a page number, and keeps the filters and the size.
        assert "cursor" in query and "page" not in query, following
        assert query["page_size"] == [str(PAGE)], following
        assert query.get("q", [None]) == [args.get("q")], following
        page = browser.get(following, htmx=htmx).text
    assert seen == expected
    assert positions == [f"Page {n} of {pages}" for n in range(1, pages + 1)]
    # The last page: First and Previous, no Next or Last.
    assert _link(page, "page-last") is None and _link(page, "page-first") is not None
    back = []
    while (previous := _link(page, "page-prev")) is not None:
        assert "cursor" in parse_qs(urlsplit(previous).query)
        back.insert(0, _names(page))
        page = browser.get(previous, htmx=htmx).text
    back.insert(0, _names(page))
    assert [name for chunk in back for name in chunk] == expected
    assert _position(page) == f"Page 1 of {pages}" and _link(page, "page-first") is None


def test_first_and_last_are_page_numbers(browser_for, team, crowd):
    browser = browser_for(team.owner)
    first = browser.get(f"/orgs/{team.org.id}/members", query_string={"page_size": PAGE}).text
    page2 = browser.get(_link(first, "page-next")).text
    assert parse_qs(urlsplit(_link(page2, "page-first")).query).get("page") is None  # page 1
    last = parse_qs(urlsplit(_link(page2, "page-last")).query)
    assert last["page"] == ["5"] and "cursor" not in last
    # A sort link on a cursor page starts the new order from its first page.
    sort_links = re.findall(r'href="(/orgs/\d+/members\?[^"]*sort_by=[^"]+)"', page2)
    assert sort_links
    for link in sort_links:
        assert "cursor" not in parse_qs(urlsplit(html.unescape(link)).query), link


def test_a_cursor_whose_rows_are_gone_shows_a_page_that_has_rows(browser_for, team, crowd):
    browser = browser_for(team.owner)
    url = f"/orgs/{team.org.id}/members"
    page = browser.get(url, query_string={"page_size": PAGE, "sort_by": "email"}).text
    for _ in range(3):
        page = browser.get(_link(page, "page-next")).text
    assert _position(page) == "Page 4 of 5"
    onward = _link(page, "page-next")
    # Everyone after page 4 leaves.
    last_page = member_list.list_members(
        team.owner,
        team.org.id,
        MemberQuery(page_size=PAGE, page_number=4, sort_by="email"),
    )
    gone = [m.user_id for m in last_page.items]
    members.remove_members(team.owner, team.org.id, gone, via=Via.CLI)
    answer = browser.get(onward)
    assert answer.status_code == 200
    assert _position(answer.text) == "Page 4 of 4"
    assert _names(answer.text) == _all_names(team, sort_by="email")[30:40]


@pytest.mark.parametrize("cursor", ["garbage!", "W1sibmFtZSJdXQ", "A" * 3000])
def test_a_bad_cursor_is_a_400_page_not_a_crash(browser_for, team, cursor):
    response = browser_for(team.owner).get(
        f"/orgs/{team.org.id}/members", query_string={"cursor": cursor}
    )
    assert response.status_code == 400
    assert "Traceback" not in response.text


def test_a_cursor_page_costs_what_page_1_costs(browser_for, team, crowd, count_statements):
    browser = browser_for(team.owner)
    url = f"/orgs/{team.org.id}/members"
    browser.get(url)  # warm: a first request may record things once
    with count_statements() as log:
        page = browser.get(url, query_string={"page_size": PAGE}).text
    first = log.count
    counts = []
    while (following := _link(page, "page-next")) is not None:
        with count_statements() as log:
            page = browser.get(following).text
        counts.append(log.count)
    assert counts and set(counts) == {first}, (first, counts)
