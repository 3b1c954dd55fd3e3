"""Nothing ever shows a stack trace: unexpected errors become a plain 500 page (or, for htmx, a
message for the live region), with the security headers, and nothing is changed. The database
failing is tests/test_failures.py's subject."""

from __future__ import annotations

import pytest

from webapp.security import CONTENT_SECURITY_POLICY
from webapp.services import organizations


@pytest.fixture
def broken_summary(monkeypatch):
    def explode(*args, **kwargs):
        raise RuntimeError("secret internals /work/main/webapp")

    monkeypatch.setattr(organizations, "get_summary", explode)


@pytest.mark.parametrize("htmx", [False, True])
def test_unexpected_error_is_a_500_without_a_trace(app, browser_for, team, broken_summary, htmx):
    app.logger.disabled = True
    response = browser_for(team.owner).get(f"/orgs/{team.org.id}", htmx=htmx)
    app.logger.disabled = False
    assert response.status_code == 500
    assert "Traceback" not in response.text and "secret internals" not in response.text
    assert response.headers["Content-Security-Policy"] == CONTENT_SECURITY_POLICY
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    if htmx:
        assert response.text == "" and "Nothing was changed" in response.headers["HX-Trigger"]
    else:
        assert "Something went wrong on our side. Nothing was changed." in response.text


def test_unknown_page_is_a_404_page(client):
    response = client.get("/no/such/page")
    assert response.status_code == 404 and "<html" in response.text


def test_the_error_page_renders_even_when_the_organization_list_fails(
    app, browser_for, make_user, monkeypatch
):
    browser = browser_for(make_user())

    def explode(*args, **kwargs):
        raise RuntimeError("database down")

    for lister in ("find_my_organizations", "recent_organizations"):  # the page's, the switcher's
        monkeypatch.setattr(organizations, lister, explode)
    app.logger.disabled = True
    response = browser.get("/orgs")
    app.logger.disabled = False
    assert response.status_code == 500
    assert "Something went wrong on our side" in response.text
    assert "database down" not in response.text


def test_a_refusal_page_keeps_the_navigation_and_a_fault_page_reads_no_user(
    browser_for, make_user, count_statements, broken_summary, team, app
):
    """A 404 or 403 is a page of the site (navigation, sign out); a 500 may be the database's
    fault, so its page queries nothing, not even the signed-in user."""
    browser = browser_for(team.owner)
    missing = browser.get("/no/such/page")
    assert missing.status_code == 404 and '<p class="error-status">404</p>' in missing.text
    assert "Sign out" in missing.text and 'class="switcher"' in missing.text
    app.logger.disabled = True
    with count_statements() as log:
        fault = browser.get(f"/orgs/{team.org.id}")
    app.logger.disabled = False
    assert fault.status_code == 500 and "Sign out" not in fault.text
    # The signed-in user and the organization, read before the fault; nothing for the page.
    assert len(log.statements) == 2, log.statements
