"""Password reset and My account in a real browser, served by a real WSGI server: the reset mail
goes out from the mail thread without holding the answer, and the account page's forms work in
place."""

from __future__ import annotations

import re
import time

from playwright.sync_api import expect

from .conftest import PASSWORD, sign_in

NEW_PASSWORD = "a new password, long enough"
LINK = re.compile(r"http://roster\.test(/password/reset/\S+)")


def _wait_for_mail(mailbox, email: str, caplog) -> str:  # type: ignore[no-untyped-def]
    # The mail thread sends it once the server has closed the answer, or mail.CLOSE_WAIT later
    # if it never does: werkzeug's server skips close() when Chromium resets the connection,
    # and CI twice found no mail when the mail went only on close (tests/web/test_account.py).
    deadline = time.monotonic() + 30
    while not mailbox.to(email) and time.monotonic() < deadline:
        time.sleep(0.05)
    arrived = mailbox.to(email)
    assert len(arrived) == 1, (
        f"{len(arrived)} mails to {email}; the mailbox holds mails to "
        f"{[m.recipients for m in mailbox.mails]}; Roster logged {caplog.messages}"
    )
    [mail] = arrived
    found = LINK.search(mail.text)
    assert found, mail.text
    return found.group(1)


def test_a_forgotten_password_is_reset_through_the_mailed_link(
    open_session, make_user, mailbox, caplog
):
    user = make_user(email="forgetful@e2e.test", name="Fay Forgetful")
    s = open_session()
    s.go("/login")
    s.page.get_by_role("link", name="Forgot your password?").click()
    s.page.get_by_label("Email").fill(user.email)
    s.page.get_by_role("button", name="Mail me a link").click()
    expect(s.page).to_have_url(re.compile(r"/login$"))
    expect(s.page.locator("#flashes")).to_contain_text("If an account uses forgetful@e2e.test")
    s.go(_wait_for_mail(mailbox, user.email, caplog))
    expect(s.page.locator("main")).to_contain_text(user.email)
    s.page.get_by_label("New password").fill(NEW_PASSWORD)
    s.page.get_by_role("button", name="Save password").click()
    expect(s.page).to_have_url(re.compile(r"/orgs$"))
    expect(s.page.locator(".who")).to_have_text("Fay Forgetful")


def test_the_account_page_works_in_place(open_session, make_user):
    user = make_user(email="me@e2e.test", name="Mia Me")
    s = open_session()
    sign_in(s, user)
    s.page.get_by_role("link", name="My account").click()
    expect(s.page).to_have_url(re.compile(r"/settings/account$"))

    s.page.get_by_role("textbox", name="Name").fill("Mia Renamed")
    s.page.get_by_role("button", name="Save name").click()
    expect(s.page.locator("#flashes")).to_contain_text("Your name is now Mia Renamed.")
    expect(s.page.locator("#who")).to_have_text("Mia Renamed")  # the top bar, without a reload

    s.problems.allow_status(400)  # the refused password, shown in place
    s.page.get_by_label("Current password").fill("not my password")
    s.page.get_by_label("New password").fill(NEW_PASSWORD)
    s.page.get_by_role("button", name="Change password").click()
    expect(s.page.locator("#current_password-error")).to_contain_text("not your current password")
    s.page.get_by_label("Current password").fill(PASSWORD)
    s.page.get_by_label("New password").fill(NEW_PASSWORD)
    s.page.get_by_role("button", name="Change password").click()
    expect(s.page.locator("#flashes")).to_contain_text("Every other session is signed out.")
    s.page.reload()  # this browser is still signed in, with the new session
    expect(s.page).to_have_url(re.compile(r"/settings/account$"))

    s.page.once("dialog", lambda dialog: dialog.accept())
    s.page.get_by_role("button", name="Sign out everywhere").click()
    expect(s.page).to_have_url(re.compile(r"/login$"))
    expect(s.page.locator("#flashes")).to_contain_text("signed out everywhere")
    s.go("/settings/account")
    expect(s.page).to_have_url(re.compile(r"/login\?next="))
