"""Nothing ever shows a stack trace: unexpected errors become a plain 500 page (or, for htmx, a
message for the live region), and nothing is changed."""

from __future__ import annotations

import pytest

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

    monkeypatch.setattr(organizations, "list_my_organizations", explode)
    app.logger.disabled = True
    response = browser.get("/orgs")
    app.logger.disabled = False
    assert response.status_code == 500
    assert "Something went wrong on our side" in response.text
    assert "database down" not in response.text
