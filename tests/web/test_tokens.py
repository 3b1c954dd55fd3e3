"""Personal API tokens: shown once (never flashed, never cached), listed with last use, revoked."""

from __future__ import annotations

import re

from webapp.extensions import db
from webapp.models import Via
from webapp.services import tokens


def test_create_shows_the_token_once_with_a_copy_button(browser_for, make_user):
    user = make_user()
    browser = browser_for(user)
    response = browser.post("/settings/tokens", {"name": "CI sync", "expires": "30"}, htmx=True)
    assert response.status_code == 200
    assert response.headers["Cache-Control"] == "no-store"
    text = re.search(r'value="(rst_[^"]+)"', response.text).group(1)
    assert 'data-copy="#new-token"' in response.text
    assert tokens.authenticate_token(text).id == user.id
    [row] = tokens.list_tokens(user)
    assert row.name == "CI sync" and row.expires_at is not None
    again = browser.get("/settings/tokens").text
    assert text not in again and f"rst_{row.prefix}_…" in again
    cookie = browser.client.get_cookie("session")
    assert cookie is not None and text not in cookie.value  # never flashed into the cookie


def test_create_without_javascript_renders_the_token_instead_of_redirecting(browser_for, make_user):
    response = browser_for(make_user()).post(
        "/settings/tokens", {"name": "cli", "expires": "never"}
    )
    assert response.status_code == 200 and "<html" in response.text
    assert re.search(r'value="rst_[^"]+"', response.text)


def test_bad_token_name_is_shown_in_the_form(browser_for, make_user):
    response = browser_for(make_user()).post(
        "/settings/tokens", {"name": "x" * 101, "expires": "never"}, htmx=True
    )
    assert response.status_code == 400 and 'aria-invalid="true"' in response.text


def test_list_shows_last_use_and_revoke_works(browser_for, make_user):
    user = make_user()
    row, text = tokens.create_token(user, "deploy", via=Via.CLI)
    tokens.authenticate_token(text)
    browser = browser_for(user)
    html = browser.get("/settings/tokens").text
    used = tokens.list_tokens(user)[0].last_used_at
    assert "deploy" in html and used is not None
    assert used.strftime("%d %b %Y %H:%M") in html
    response = browser.post(f"/settings/tokens/{row.id}/revoke", htmx=True)
    assert response.status_code == 200 and '<span class="badge">revoked</span>' in response.text
    db.session.expire_all()  # the test's own session still holds the row from before
    assert tokens.authenticate_token(text) is None


def test_someone_elses_token_is_404(browser_for, make_user):
    owner = make_user()
    row, text = tokens.create_token(owner, "mine", via=Via.CLI)
    response = browser_for(make_user()).post(f"/settings/tokens/{row.id}/revoke")
    assert response.status_code == 404
    assert tokens.authenticate_token(text) is not None
