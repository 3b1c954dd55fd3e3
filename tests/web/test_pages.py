"""Every page: the full page or its partial by HX-Request, anonymous users sent to sign in,
strangers given the same 404 as for a missing org, and the strict CSP honoured by the markup."""

from __future__ import annotations

import re

import pytest

from webapp.security import CONTENT_SECURITY_POLICY


def _main(html: str) -> str:
    match = re.search(r"<main.*</main>", html, re.S)
    assert match
    return match.group(0)


ORG_PAGES = ["/orgs/{id}", "/orgs/{id}/members", "/orgs/{id}/settings", "/orgs/{id}/activity"]
PAGES = ["/orgs", *ORG_PAGES, "/settings/tokens", "/settings/account", "/roles"]


@pytest.mark.parametrize("path", [*ORG_PAGES, "/settings/tokens", "/settings/account"])
def test_page_is_full_and_partial_on_htmx_with_vary(browser_for, team, path):
    browser = browser_for(team.owner)
    url = path.format(id=team.org.id)
    full = browser.get(url)
    partial = browser.get(url, htmx=True)
    assert full.status_code == partial.status_code == 200
    assert "<html" in full.text and "<html" not in partial.text
    assert 'name="csrf-token"' in full.text
    for response in (full, partial):
        assert "HX-Request" in response.headers.get("Vary", "")
    # The partial is what the page includes, not a different rendering.
    first_tag = re.search(r"<(section|div|form)[^>]*>", partial.text)
    assert first_tag and first_tag.group(0) in full.text


def test_history_restore_gets_the_full_page(browser_for, team):
    response = browser_for(team.owner).client.get(
        f"/orgs/{team.org.id}/members",
        headers={"HX-Request": "true", "HX-History-Restore-Request": "true"},
    )
    assert "<html" in response.text


@pytest.mark.parametrize("path", PAGES[:-1])
def test_anonymous_is_sent_to_sign_in_with_a_safe_next(client, team, path):
    url = path.format(id=team.org.id)
    response = client.get(url)
    assert response.status_code == 302
    assert response.headers["Location"].startswith("/login?next=")
    assert url.replace("/", "%2F") in response.headers["Location"]


def test_anonymous_htmx_request_navigates_instead_of_swapping_the_login_page(client, team):
    response = client.get(f"/orgs/{team.org.id}/members", headers={"HX-Request": "true"})
    assert response.status_code == 200
    assert response.headers["HX-Redirect"].startswith("/login?next=")
    assert response.text == ""


@pytest.mark.parametrize("next_url", ["//evil.example/x", "https://evil.example/", "/\\evil"])
def test_sign_in_never_redirects_off_site(client, make_user, password, next_url):
    user = make_user()
    page = client.get("/login")
    token = re.search(r'name="csrf-token" content="([^"]+)"', page.text).group(1)
    response = client.post(
        "/login",
        query_string={"next": next_url},
        data={"email": user.email, "password": password, "csrf_token": token},
    )
    assert response.status_code == 302
    assert response.headers["Location"] == "/orgs"


def test_sign_in_follows_a_same_site_next(client, make_user, password, team):
    user = team.owner
    token = re.search(r'name="csrf-token" content="([^"]+)"', client.get("/login").text).group(1)
    target = f"/orgs/{team.org.id}/members?q=person"
    response = client.post(
        "/login",
        query_string={"next": target},
        data={"email": user.email, "password": password, "csrf_token": token},
    )
    assert response.headers["Location"] == target


def test_root_sends_people_where_they_belong(client, browser_for, make_user):
    assert client.get("/").headers["Location"] == "/login"
    browser = browser_for(make_user())
    assert browser.get("/").headers["Location"] == "/orgs"


@pytest.mark.parametrize("path", ORG_PAGES)
def test_a_stranger_gets_the_same_404_as_for_a_missing_org(browser_for, make_user, team, path):
    browser = browser_for(make_user())
    theirs = browser.get(path.format(id=team.org.id))
    missing = browser.get(path.format(id=team.org.id + 999))
    assert theirs.status_code == missing.status_code == 404
    assert _main(theirs.text) == _main(missing.text)
    assert "Acme" not in theirs.text


def test_htmx_404_is_announced_not_swapped(browser_for, make_user, team):
    response = browser_for(make_user()).get(f"/orgs/{team.org.id}/members", htmx=True)
    assert response.status_code == 404
    assert response.headers["HX-Reswap"] == "none"
    assert "roster:error" in response.headers["HX-Trigger"]
    assert response.text == ""


@pytest.mark.parametrize("path", PAGES)
def test_pages_send_the_csp_and_carry_no_inline_script_style_or_hx_on(browser_for, team, path):
    response = browser_for(team.owner).get(path.format(id=team.org.id))
    assert response.status_code == 200
    assert response.headers["Content-Security-Policy"] == CONTENT_SECURITY_POLICY
    html = response.text
    assert not re.search(r"<script(?![^>]*\bsrc=)[^>]*>", html), "inline script"
    assert "<style" not in html
    assert not re.search(r"\sstyle=", html), "inline style attribute"
    assert not re.search(r"\s(data-)?hx-on", html), "hx-on needs eval"
    assert 'src="/static/vendor/htmx-2.0.11/htmx.min.js"' in html
    assert '"allowEval":false' in html and '"includeIndicatorStyles":false' in html


def test_every_page_has_the_org_switcher_and_api_docs_link(browser_for, team, make_org):
    make_org(team.owner, "Beta Corp")
    browser = browser_for(team.owner)
    for path in PAGES:
        html = browser.get(path.format(id=team.org.id)).text
        assert 'class="switcher"' in html and "Beta Corp" in html and "Acme" in html
        assert 'href="/api/docs"' in html


def test_vendored_htmx_is_2x_with_its_licence(client):
    script = client.get("/static/vendor/htmx-2.0.11/htmx.min.js")
    assert script.status_code == 200 and b'version:"2.0.11"' in script.data
    licence = client.get("/static/vendor/htmx-2.0.11/LICENSE")
    assert licence.status_code == 200 and b"Zero-Clause BSD" in licence.data
    script.close()
    licence.close()
