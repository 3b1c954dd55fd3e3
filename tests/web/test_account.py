"""Password reset and My account in the browser (DESIGN §7, §8): the mailed link, the same
answer for every address, the limits, and sessions that end when they should (copied cookies
stop working) while this browser stays signed in where it should."""

from __future__ import annotations

import http.client
import re
import socket
import struct
import threading
import time
from urllib.parse import urlencode

import pytest
from itsdangerous import TimestampSigner
from sqlalchemy import func, select
from werkzeug.serving import make_server

from webapp import mail
from webapp.extensions import db
from webapp.models import Membership, Organization, Role, User, Via
from webapp.services import organizations, users

from ..conftest import META_CSRF, PASSWORD, csrf_token, login
from .conftest import HX

NEW_PASSWORD = "a new password, long enough"
CSRF_VALUES = re.compile(r'(name="csrf[-_]token"[^>]*?)(content|value)="[^"]*"')
LINK = re.compile(r"http://roster\.test(/password/reset/[A-Za-z0-9_.-]+)")


@pytest.fixture
def app_config(app_config):
    return app_config | {
        "ROSTER_RESET_LIMIT_PER_EMAIL": "2 per minute",
        "ROSTER_RESET_LIMIT_PER_ADDRESS": "6 per minute",
        "ROSTER_LOGIN_LIMIT_PER_EMAIL": "3 per minute",
        "ROSTER_LOGIN_LIMIT_PER_ADDRESS": "10 per minute",
    }


def _ask(app, email: str):  # type: ignore[no-untyped-def]
    """Ask for a reset link from a fresh browser; the answer, once the mail thread is done."""
    client = app.test_client()
    response = client.post(
        "/password/forgot",
        data={"email": email, "csrf_token": csrf_token(client, "/password/forgot")},
    )
    response.close()
    mail.flush()
    return client, response


def _link(mailbox, email: str) -> str:  # type: ignore[no-untyped-def]
    [sent] = mailbox.to(email)
    found = LINK.search(sent.text)
    assert found, sent.text
    assert found.group(0) in sent.html
    return found.group(1)


def _replay(app, client):  # type: ignore[no-untyped-def]
    """A second browser holding a copy of ``client``'s session cookie."""
    cookie = client.get_cookie("session")
    assert cookie is not None
    copy = app.test_client()
    copy.set_cookie("session", cookie.value)
    return copy


def _signed_in(client) -> bool:  # type: ignore[no-untyped-def]
    return client.get("/orgs").status_code == 200


def _post(client, path: str, data: dict | None = None, *, htmx: bool = False):  # type: ignore[no-untyped-def]
    token = csrf_token(client, "/roles")
    if htmx:
        return client.post(path, data=data or {}, headers={**HX, "X-CSRFToken": token})
    return client.post(path, data={**(data or {}), "csrf_token": token})


def _password_is(user: User, password: str) -> bool:
    db.session.expire_all()  # what the requests wrote, not what the test's session holds
    try:
        users.authenticate(user.email, password)
    except Exception:
        return False
    return True


# -- password reset ---------------------------------------------------------------------------


def test_the_sign_in_page_offers_a_reset(client):
    assert 'href="/password/forgot"' in client.get("/login").text


def test_the_reset_mail_leaves_once_the_answer_is_closed_with_a_working_link(
    app, make_user, mailbox, monkeypatch
):
    monkeypatch.setattr(mail, "CLOSE_WAIT", 30)  # so only the close can send it below
    user = make_user(name="Rita Reset")
    client = app.test_client()
    response = client.post(
        "/password/forgot",
        data={"email": user.email, "csrf_token": csrf_token(client, "/password/forgot")},
    )
    assert response.status_code == 302 and response.headers["Location"] == "/login"
    time.sleep(0.3)  # time enough for a mail thread that did not wait to have sent it
    assert mailbox.mails == []  # not before the answer is closed...
    response.close()
    mail.flush()  # ...and as soon as it is
    path = _link(mailbox, user.email)
    [sent] = mailbox.to(user.email)
    assert sent.subject == "Choose a new Roster password" and "Rita Reset" in sent.text

    form = client.get(path)
    assert form.status_code == 200 and user.email in form.text
    assert form.headers["Cache-Control"] == "no-store"
    done = client.post(path, data={"password": NEW_PASSWORD, "csrf_token": csrf_token(client)})
    assert done.status_code == 302 and done.headers["Location"] == "/orgs"
    page = client.get("/orgs")
    assert page.status_code == 200 and "Your password is changed" in page.text
    assert _password_is(user, NEW_PASSWORD) and not _password_is(user, PASSWORD)


def test_a_stalled_mail_server_does_not_hold_the_answer(app, make_user, mailbox):
    user = make_user()
    client = app.test_client()
    token = csrf_token(client, "/password/forgot")
    with mailbox.held():  # a mail server that takes its time
        started = time.monotonic()
        response = client.post("/password/forgot", data={"email": user.email, "csrf_token": token})
        response.close()
        answered = time.monotonic() - started
        assert response.status_code == 302
        assert answered < 5, answered  # SMTP_TIMEOUT is 10 s: a wait for the server shows
        assert mailbox.mails == []
    mail.flush()
    assert [m.recipients for m in mailbox.mails] == [[user.email]]


def test_the_reset_mail_goes_even_when_the_browser_resets_the_connection(app, make_user, mailbox):
    """The development server (werkzeug's, as ``roster run`` and the browser journeys use)
    skips the response's ``close()`` when the client resets the connection after reading the
    answer, as Chromium sometimes does after a redirect: a mail sent only on close never left.
    It leaves ``mail.CLOSE_WAIT`` after the answer instead."""
    user = make_user()
    server = make_server("127.0.0.1", 0, app, threaded=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        page = http.client.HTTPConnection("127.0.0.1", server.server_port, timeout=10)
        page.request("GET", "/password/forgot")
        form = page.getresponse()
        cookie = form.headers["Set-Cookie"].split(";", 1)[0]
        token = META_CSRF.search(form.read().decode())
        assert token, "no csrf meta tag"
        page.close()
        body = urlencode({"email": user.email, "csrf_token": token.group(1)}).encode()
        with socket.create_connection(("127.0.0.1", server.server_port), timeout=10) as sock:
            sock.sendall(
                b"POST /password/forgot HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                + f"Cookie: {cookie}\r\nContent-Length: {len(body)}\r\n".encode()
                + b"Content-Type: application/x-www-form-urlencoded\r\n\r\n"
                + body
            )
            assert sock.recv(65536).startswith(b"HTTP/1.1 302")
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        mail.flush()  # queued before the answer's first byte was written
        assert [m.recipients for m in mailbox.mails] == [[user.email]]
    finally:
        server.shutdown()
        server.server_close()


def test_an_unknown_or_deactivated_address_gets_the_same_answer_and_no_mail(
    app, make_user, mailbox
):
    known, deactivated = make_user(), make_user()
    users.set_user_active(deactivated.id, False, via=Via.CLI)
    pages = {}
    for email in (known.email, "nobody@example.com", deactivated.email):
        client, response = _ask(app, email)
        assert response.status_code == 302 and response.headers["Location"] == "/login"
        page = client.get("/login").text
        assert "If an account uses" in page
        pages[email] = CSRF_VALUES.sub("", page).replace(email, "@")
    assert len(set(pages.values())) == 1
    assert [m.recipients for m in mailbox.mails] == [[known.email]]


def test_a_malformed_address_is_shown_in_the_form(app, mailbox):
    client = app.test_client()
    response = client.post(
        "/password/forgot",
        data={"email": "not an address", "csrf_token": csrf_token(client, "/password/forgot")},
    )
    response.close()
    assert response.status_code == 400 and 'aria-invalid="true"' in response.text
    assert mailbox.mails == []


def test_reset_requests_are_limited_per_email_counting_every_request(app, make_user, mailbox):
    user = make_user()
    for _ in range(2):
        assert _ask(app, user.email)[1].status_code == 302
    _, blocked = _ask(app, user.email)
    assert blocked.status_code == 429
    assert int(blocked.headers["Retry-After"]) > 0
    assert "Too many password reset requests for this address" in blocked.text
    assert len(mailbox.to(user.email)) == 2  # the refused request mailed nothing
    # Unknown addresses count alike: the limit tells nothing about accounts.
    for _ in range(2):
        assert _ask(app, "nobody@example.com")[1].status_code == 302
    assert _ask(app, "nobody@example.com")[1].status_code == 429


def test_reset_requests_are_limited_per_client_address(app, make_user, mailbox):
    people = [make_user() for _ in range(7)]
    for person in people[:6]:
        assert _ask(app, person.email)[1].status_code == 302
    _, blocked = _ask(app, people[6].email)
    assert blocked.status_code == 429 and int(blocked.headers["Retry-After"]) > 0
    assert "from your address" in blocked.text
    assert mailbox.to(people[6].email) == []


def test_a_reset_link_works_once(app, make_user, mailbox):
    user = make_user()
    _ask(app, user.email)
    path = _link(mailbox, user.email)
    client = app.test_client()
    assert client.get(path).status_code == 200
    token = csrf_token(client)
    assert (
        client.post(path, data={"password": NEW_PASSWORD, "csrf_token": token}).status_code == 302
    )
    again = app.test_client()
    gone = again.get(path)
    assert gone.status_code == 410 and "Mail me a new link" in gone.text
    answer = again.post(
        path, data={"password": "another password!", "csrf_token": csrf_token(again)}
    )
    assert answer.status_code == 410
    assert _password_is(user, NEW_PASSWORD)


def test_a_reset_link_stops_working_after_an_hour(app, make_user, monkeypatch):
    user = make_user()
    with monkeypatch.context() as patched:
        patched.setattr(TimestampSigner, "get_timestamp", lambda self: int(time.time()) - 3601)
        late = users.password_reset_token(user)
    client = app.test_client()
    assert client.get(f"/password/reset/{late}").status_code == 410
    answer = client.post(
        f"/password/reset/{late}", data={"password": NEW_PASSWORD, "csrf_token": csrf_token(client)}
    )
    assert answer.status_code == 410 and "expired" in answer.text
    assert _password_is(user, PASSWORD)


def test_a_short_new_password_is_shown_in_the_form(app, make_user):
    user = make_user()
    path = f"/password/reset/{users.password_reset_token(user)}"
    client = app.test_client()
    answer = client.post(path, data={"password": "short", "csrf_token": csrf_token(client)})
    assert answer.status_code == 400 and "at least 10 characters" in answer.text
    assert client.get(path).status_code == 200  # the link still works
    assert _password_is(user, PASSWORD)


def test_a_reset_signs_out_every_other_session(app, client, make_user, mailbox):
    user = make_user()
    login(client, user)
    stolen = _replay(app, client)
    assert _signed_in(stolen)
    _ask(app, user.email)
    other = app.test_client()
    path = _link(mailbox, user.email)
    other.post(path, data={"password": NEW_PASSWORD, "csrf_token": csrf_token(other)})
    assert _signed_in(other)  # the browser that used the link is in, on a fresh session
    assert not _signed_in(stolen)
    assert not _signed_in(client)


# -- my account -------------------------------------------------------------------------------


def test_the_top_bar_links_the_account_page(browser_for, make_user):
    page = browser_for(make_user()).get("/orgs").text
    assert 'href="/settings/account"' in page


@pytest.mark.parametrize("htmx", [False, True], ids=["form", "htmx"])
def test_change_password_keeps_this_browser_and_ends_the_others(app, client, make_user, htmx):
    user = make_user()
    login(client, user)
    stolen = _replay(app, client)

    wrong = _post(
        client,
        "/settings/account/password",
        {"current_password": "not my password", "new_password": NEW_PASSWORD},
        htmx=htmx,
    )
    assert wrong.status_code == 400 and "is not your current password" in wrong.text
    assert _signed_in(stolen) and _password_is(user, PASSWORD)  # nothing changed

    done = _post(
        client,
        "/settings/account/password",
        {"current_password": PASSWORD, "new_password": NEW_PASSWORD},
        htmx=htmx,
    )
    if htmx:
        assert done.status_code == 200 and "<html" not in done.text
        assert "Every other session is signed out" in done.text
    else:
        assert done.status_code == 302 and done.headers["Location"] == "/settings/account"
    assert _signed_in(client)
    assert not _signed_in(stolen)
    assert _password_is(user, NEW_PASSWORD)


def test_wrong_current_passwords_are_limited_like_sign_ins(browser_for, make_user):
    user = make_user()
    browser = browser_for(user)
    data = {"current_password": "not my password", "new_password": NEW_PASSWORD}
    for _ in range(3):
        assert browser.post("/settings/account/password", data).status_code == 400
    data["current_password"] = PASSWORD
    blocked = browser.post("/settings/account/password", data)
    assert blocked.status_code == 429 and int(blocked.headers["Retry-After"]) > 0
    assert _password_is(user, PASSWORD)


def test_sign_out_everywhere_ends_this_session_and_every_copy(app, client, make_user):
    user = make_user()
    login(client, user)
    stolen = _replay(app, client)
    response = _post(client, "/settings/account/sign-out-everywhere")
    assert response.status_code == 302 and response.headers["Location"] == "/login"
    assert "signed out everywhere" in client.get("/login").text
    assert not _signed_in(client)
    assert not _signed_in(stolen)


@pytest.mark.parametrize("htmx", [False, True], ids=["form", "htmx"])
def test_rename_shows_in_the_member_list(app, browser_for, team, htmx):
    person = team.people[0]
    answer = browser_for(person).post(
        "/settings/account/name", {"name": "Zelda Renamed"}, htmx=htmx
    )
    if htmx:
        assert answer.status_code == 200
        assert 'id="who"' in answer.text and "Zelda Renamed" in answer.text  # the top bar too
    else:
        assert answer.status_code == 302
    owner = app.test_client()
    login(owner, team.owner)
    members_page = owner.get(f"/orgs/{team.org.id}/members?q=zelda").text
    assert "Zelda Renamed" in members_page and person.email in members_page


def test_a_bad_name_is_shown_beside_the_field(browser_for, make_user):
    user = make_user(name="Kept Name")
    answer = browser_for(user).post("/settings/account/name", {"name": " "}, htmx=True)
    assert answer.status_code == 400 and 'aria-invalid="true"' in answer.text
    db.session.expire_all()
    assert db.session.get(User, user.id).name == "Kept Name"


@pytest.mark.parametrize("htmx", [False, True], ids=["form", "htmx"])
def test_delete_is_refused_to_the_last_owner_listing_the_organizations(
    browser_for, team, make_org, htmx
):
    second = make_org(team.owner, "Second Org")
    browser = browser_for(team.owner)
    listed = browser.get("/settings/account").text
    answer = browser.post("/settings/account/delete", {"password": PASSWORD}, htmx=htmx)
    assert answer.status_code == 409
    for page in (listed, answer.text):
        for org_id, name in ((team.org.id, "Acme"), (second.id, "Second Org")):
            assert name in page
            assert f'href="/orgs/{org_id}/members"' in page
            assert f'href="/orgs/{org_id}/settings"' in page
    assert "last active owner of Acme, Second Org" in answer.text
    db.session.expire_all()
    assert db.session.get(User, team.owner.id) is not None
    assert browser.get("/orgs").status_code == 200


def test_delete_needs_the_password(browser_for, team):
    browser = browser_for(team.admin)
    answer = browser.post("/settings/account/delete", {"password": "wrong password!"}, htmx=True)
    assert answer.status_code == 400 and "is not your password" in answer.text
    db.session.expire_all()
    assert db.session.get(User, team.admin.id) is not None


@pytest.mark.parametrize("htmx", [False, True], ids=["form", "htmx"])
def test_delete_removes_the_account_signs_out_and_keeps_counters_right(
    app, client, team, make_org, add_member, htmx
):
    elsewhere = make_org(team.viewer, "Elsewhere")
    add_member(elsewhere, team.admin, Role.OWNER)  # a co-owner: Elsewhere keeps Vera
    admin_id = team.admin.id
    login(client, team.admin)
    stolen = _replay(app, client)
    answer = _post(client, "/settings/account/delete", {"password": PASSWORD}, htmx=htmx)
    if htmx:
        assert answer.status_code == 200 and answer.headers["HX-Redirect"] == "/login"
    else:
        assert answer.status_code == 302 and answer.headers["Location"] == "/login"
    assert "Your account is deleted" in client.get("/login").text
    assert not _signed_in(client) and not _signed_in(stolen)
    db.session.expire_all()
    assert db.session.get(User, admin_id) is None
    for org_id in (team.org.id, elsewhere.id):
        org = db.session.get(Organization, org_id)
        rows = db.session.execute(
            select(Membership.role, Membership.is_active).where(
                Membership.organization_id == org_id
            )
        ).all()
        assert org.member_count == len(rows)
        assert org.active_count == sum(1 for r in rows if r.is_active)
        for role, counter in organizations.ROLE_COUNTERS.items():
            assert getattr(org, counter) == sum(1 for r in rows if r.role is role), counter
    summary = {m.metric: m.value for m in organizations.get_summary(team.owner, team.org.id)}
    assert summary["members_total"] == 7 and summary["role_admin"] == 0
    assert db.session.scalar(select(func.count()).where(Membership.user_id == admin_id)) == 0
