"""DESIGN §7 promises that live below the pages: sessions, cookies, headers, limits, redirects."""

from __future__ import annotations

import os

import pytest
from flask import Flask

from webapp import create_app
from webapp.config import ConfigError
from webapp.extensions import db
from webapp.services import users
from webapp.web.accounts import safe_next_url

from .conftest import csrf_token, login


def _session_cookie(client) -> str:
    cookie = client.get_cookie("session")
    assert cookie is not None
    return cookie.value


def test_sign_in_rotates_the_session(client, make_user):
    user = make_user()
    before_token = csrf_token(client, "/login")
    before_cookie = _session_cookie(client)
    login(client, user)
    assert _session_cookie(client) != before_cookie
    assert csrf_token(client, "/orgs") != before_token


def test_sign_out_invalidates_copies_of_the_cookie(app: Flask, client, make_user):
    user = make_user()
    login(client, user)
    stolen = _session_cookie(client)
    assert client.get("/orgs").status_code == 200
    client.post("/logout", data={"csrf_token": csrf_token(client, "/orgs")})
    replay = app.test_client()
    replay.set_cookie("session", stolen)
    response = replay.get("/orgs")
    assert response.status_code == 302
    assert response.headers["Location"].startswith("/login")


def test_deactivating_an_account_ends_every_session(client, make_user, runner, password):
    """``roster users deactivate``: a copied cookie stops working at once; activated again, the
    person signs in anew."""
    user = make_user()
    login(client, user)
    assert client.get("/orgs").status_code == 200
    assert runner.invoke(args=["users", "deactivate", user.email]).exit_code == 0
    assert client.get("/orgs").status_code == 302
    assert runner.invoke(args=["users", "activate", user.email]).exit_code == 0
    assert client.get("/orgs").status_code == 302  # the old session stays ended
    login(client, user, password)
    assert client.get("/orgs").status_code == 200


def test_session_cookie_flags(client, make_user):
    user = make_user()
    token = csrf_token(client, "/login")
    response = client.post(
        "/login",
        data={"email": user.email, "password": "correct horse battery", "csrf_token": token},
    )
    header = response.headers["Set-Cookie"]
    assert "HttpOnly" in header and "SameSite=Lax" in header and "Secure" not in header
    https = client.get("/login", base_url="https://roster.test")
    assert "Secure" in https.headers.get("Set-Cookie", "Secure")


def test_security_headers_on_every_page(client):
    response = client.get("/login")
    csp = response.headers["Content-Security-Policy"]
    assert "script-src 'self'" in csp and "frame-ancestors 'none'" in csp
    assert "unsafe-inline" not in csp and "unsafe-eval" not in csp
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["Referrer-Policy"]
    assert "Strict-Transport-Security" not in response.headers
    assert "Strict-Transport-Security" in client.get("/login", base_url="https://x.test").headers


def test_forms_need_the_csrf_token(client, make_user):
    user = make_user()
    response = client.post(
        "/login", data={"email": user.email, "password": "correct horse battery"}
    )
    assert response.status_code == 400
    assert client.get_cookie("session") is None or client.get("/orgs").status_code == 302


@pytest.fixture
def app_config(app_config):
    return app_config | {
        "ROSTER_LOGIN_LIMIT_PER_EMAIL": "3 per minute",
        "ROSTER_LOGIN_LIMIT_PER_ADDRESS": "5 per minute",
        "ROSTER_SIGNUP_LIMIT_PER_ADDRESS": "3 per minute",
    }


def _try(client, email: str, password: str):
    return client.post(
        "/login",
        data={"email": email, "password": password, "csrf_token": csrf_token(client)},
    )


def test_failed_sign_ins_are_limited_per_email(client, make_user, password):
    user, other = make_user(), make_user()
    for _ in range(3):
        assert _try(client, user.email, "wrong password!").status_code == 401
    blocked = _try(client, user.email, password)
    assert blocked.status_code == 429
    assert int(blocked.headers["Retry-After"]) > 0
    assert "Too many failed attempts" in blocked.get_data(as_text=True)
    # Another account from the same address is still fine (the address limit is 5).
    assert _try(client, other.email, password).status_code == 302


def test_failed_sign_ins_are_limited_per_address(client, make_user, password):
    people = [make_user() for _ in range(6)]
    for person in people[:5]:
        assert _try(client, person.email, "wrong password!").status_code == 401
    assert _try(client, people[5].email, password).status_code == 429


def test_successful_sign_ins_are_never_counted(app, make_user, password):
    user = make_user()
    for _ in range(10):
        client = app.test_client()
        assert _try(client, user.email, password).status_code == 302


def _sign_up(app, email: str):
    client = app.test_client()
    return client.post(
        "/signup",
        data={
            "name": "Sam Signup",
            "email": email,
            "password": "a long enough password",
            "csrf_token": csrf_token(client, "/signup"),
        },
    )


def test_sign_up_is_limited_per_address_and_every_attempt_counts(app, make_user):
    """A taken address counts like a new account: sign-up is no free way to probe addresses."""
    taken = make_user()
    assert _sign_up(app, taken.email).status_code == 302  # the same answer as a new address
    assert _sign_up(app, "first@example.org").status_code == 302
    assert _sign_up(app, "second@example.org").status_code == 302
    blocked = _sign_up(app, "third@example.org")
    assert blocked.status_code == 429
    assert int(blocked.headers["Retry-After"]) > 0
    assert "Too many sign-up attempts from your address." in blocked.text
    assert users.get_user_by_email("third@example.org") is None


@pytest.mark.parametrize(
    ("target", "expected"),
    [
        ("/orgs/3/members?page_number=2", "/orgs/3/members?page_number=2"),
        ("https://evil.example/", "/orgs"),
        ("//evil.example/", "/orgs"),
        ("/\\evil.example", "/orgs"),
        ("\\\\evil.example", "/orgs"),
        ("/orgs\r\nSet-Cookie: x=1", "/orgs"),
        ("javascript:alert(1)", "/orgs"),
        ("orgs", "/orgs"),
        ("", "/orgs"),
        (None, "/orgs"),
    ],
)
def test_redirects_after_sign_in_stay_on_site(target, expected):
    assert safe_next_url(target) == expected


def test_sign_in_follows_a_safe_next_only(client, make_user, password):
    user = make_user()
    token = csrf_token(client)
    response = client.post(
        "/login?next=//evil.example/x",
        data={"email": user.email, "password": password, "csrf_token": token},
    )
    assert response.headers["Location"] == "/orgs"


def test_production_refuses_to_start_without_a_secret_key(monkeypatch, tmp_path):
    monkeypatch.setenv("ROSTER_ENV", "production")
    monkeypatch.delenv("ROSTER_SECRET_KEY", raising=False)
    with pytest.raises(ConfigError):
        create_app({"SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp_path / 'x.db'}"})
    monkeypatch.setenv("ROSTER_SECRET_KEY", "k" * 40)
    app = create_app({"SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp_path / 'x.db'}"})
    assert app.config["SECRET_KEY"] == "k" * 40


def test_an_unexpected_error_is_a_500_page_without_a_trace(app, client, make_user, monkeypatch):
    from webapp.services import organizations

    user = make_user()
    login(client, user)

    def explode(*args, **kwargs):
        raise RuntimeError("secret internals")

    monkeypatch.setattr(organizations, "find_my_organizations", explode)  # what /orgs lists
    response = client.get("/orgs")
    body = response.get_data(as_text=True)
    assert response.status_code == 500
    assert "secret internals" not in body and "Traceback" not in body


def test_redis_storage_shares_the_failure_count_between_processes(app_config, make_user):
    """Failures counted by one app instance stop a sign-in on a new instance (another process).

    With memory storage the new instance would start from zero and answer 401: the 429 can
    only come from the count kept in Redis.
    """
    import uuid

    redis_url = os.environ.get("ROSTER_TEST_REDIS_URL", "redis://127.0.0.1:6379/15")
    shared = app_config | {
        "RATELIMIT_STORAGE_URI": redis_url,
        "RATELIMIT_KEY_PREFIX": f"roster-test-{uuid.uuid4().hex}",
    }
    user = make_user(email=f"{uuid.uuid4().hex}@example.com")
    apps = []
    try:
        first = create_app(shared)
        apps.append(first)
        for _ in range(3):
            with first.app_context():
                assert _try(first.test_client(), user.email, "wrong password!").status_code == 401
        second = create_app(shared)
        apps.append(second)
        with second.app_context():
            assert _try(second.test_client(), user.email, "wrong password!").status_code == 429
        memory = create_app(app_config)
        apps.append(memory)
        with memory.app_context():
            assert _try(memory.test_client(), user.email, "wrong password!").status_code == 401
    finally:
        for instance in apps:
            with instance.app_context():
                db.engine.dispose()
