"""The organization switcher stays small for a member of 300 organizations, the page of all
organizations finds any of them by name, and neither costs more statements for more orgs."""

from __future__ import annotations

import re

import pytest

from webapp.models import Role, Via
from webapp.services import members, organizations, users

from ..conftest import login
from .conftest import HX

MANY = 300


def _switcher(html: str) -> str:
    found = re.search(r'<details class="switcher".*?</details>', html, re.S)
    assert found, "no switcher on the page"
    return found.group(0)


def _listed(fragment: str) -> list[str]:
    """The organization names a fragment links to, in order."""
    return re.findall(r'<a (?:class="org-card-name" )?href="/orgs/\d+"[^>]*>([^<]+?)\s*<', fragment)


@pytest.fixture
def joiner(make_user):  # type: ignore[no-untyped-def]
    """A user in MANY organizations, joined in order: "Org 001" first, "Org 300" last; the
    first is "Zeppelin Works", named so that a search finds only it."""
    me = make_user(name="Jo Joiner")
    orgs = [
        organizations.create_organization(
            me, "Zeppelin Works" if n == 1 else f"Org {n:03d}", via=Via.CLI
        )
        for n in range(1, MANY + 1)
    ]
    return me, orgs


def test_the_switcher_lists_the_last_joined_few_and_links_to_all(joiner, browser_for):
    me, orgs = joiner
    html = browser_for(me).get(f"/orgs/{orgs[-1].id}/members").text
    switcher = _switcher(html)
    assert _listed(switcher) == [f"Org {n:03d}" for n in range(300, 292, -1)]  # newest first
    assert 'aria-current="page">Org 300 ' in switcher
    assert f"All organizations ({MANY})" in switcher
    assert 'href="/orgs"' in switcher
    assert len(switcher) < 3_000, len(switcher)


def test_the_current_organization_is_in_the_switcher_even_when_joined_long_ago(joiner, browser_for):
    me, orgs = joiner
    switcher = _switcher(browser_for(me).get(f"/orgs/{orgs[0].id}").text)
    names = _listed(switcher)
    assert names[0] == "Zeppelin Works" and len(names) == 9, names
    assert 'aria-current="page">Zeppelin Works ' in switcher


def test_the_organizations_page_finds_one_the_switcher_does_not_show(joiner, browser_for):
    me, _ = joiner
    browser = browser_for(me)
    everything = browser.get("/orgs").text
    assert "Zeppelin Works" not in _switcher(everything)
    assert "You belong to 300 organizations." in everything
    assert len(_listed(everything.split('id="org-list"')[1])) == 50  # a page, not 300
    assert 'href="/orgs?page=2" ' in everything and "Page 1 of 6" in everything

    # Without JavaScript: the search form is a plain GET.
    found = browser.get("/orgs?q=zePPelin").text
    assert _listed(found.split('id="org-list"')[1]) == ["Zeppelin Works"]
    assert 'value="zePPelin"' in found and "1 of your organizations match" in found
    # With htmx: the live filter swaps the list alone.
    partial = browser.get("/orgs?q=org 29", htmx=True)
    assert partial.text.lstrip().startswith('<div id="org-list">'), partial.text[:200]
    assert _listed(partial.text) == [f"Org {n}" for n in range(290, 300)]
    assert "<html" not in partial.text and "HX-Request" in partial.headers["Vary"]
    # A term no name has, wildcards taken literally, and a page past the end.
    assert "None of your organizations has “%”" in browser.get("/orgs?q=%").text
    assert _listed(browser.get("/orgs?page=9").text.split('id="org-list"')[1]) == []


def test_the_organizations_page_still_offers_leave_to_a_suspended_member(
    make_user, make_org, add_member, browser_for
):
    me = make_user()
    org = make_org(name="Suspended Co")
    add_member(org, me, Role.VIEWER, is_active=False)
    html = browser_for(me).get("/orgs?q=suspended").text
    assert "suspended</span>" in html and f'action="/orgs/{org.id}/leave"' in html


PAGES = ["/orgs", "/orgs?q=org", "/orgs/{org}", "/orgs/{org}/members", "/orgs/{org}/settings"]


def test_pages_cost_the_same_statements_for_1_or_300_organizations(
    app, make_user, count_statements
):
    """A user in 1 organization of 10 members against one in 300 whose viewed one has 2,000:
    every page issues the same statements."""
    counts: dict[str, list[int]] = {page: [] for page in PAGES}
    for n_orgs, n_members in ((1, 10), (MANY, 2_000)):
        me = make_user()
        org = None
        for n in range(n_orgs):
            org = organizations.create_organization(me, f"Org {n:03d}", via=Via.CLI)
        assert org is not None
        ids = users.create_users(
            [(f"m{n_orgs}-{i}@example.com", f"Member {i}") for i in range(n_members - 1)],
            via=Via.CLI,
        )
        members.add_members(me, org.id, ids, via=Via.CLI)
        browser = app.test_client()
        login(browser, me)
        for page in PAGES:
            path = page.format(org=org.id)
            for htmx in (False, True):
                with count_statements() as log:
                    response = browser.get(path, headers=HX if htmx else {})
                assert response.status_code == 200, path
                counts[page].append(log.count)
    print(f"\nstatements (page, partial) at 1 and {MANY} orgs: {counts}")
    for page, values in counts.items():
        assert values[:2] == values[2:], (page, values)
