"""Invitations in the dashboard: offered from the add form, managed on their page (htmx and
plain forms), and the mailed link in every case of DESIGN §8."""

from __future__ import annotations

import re

from sqlalchemy import func, select, update

from webapp.extensions import db
from webapp.models import AuditEvent, Invitation, Membership, Role, User, Via, utcnow
from webapp.services import invitations, organizations

from ..conftest import PASSWORD, csrf_token, login

LINK = re.compile(r"http://roster\.test(/invitations/[A-Za-z0-9_-]+)")


def link_to(mailbox, email: str) -> str:  # type: ignore[no-untyped-def]
    """The path of the last invitation link mailed to ``email``."""
    found = LINK.search(mailbox.to(email)[-1].text)
    assert found
    return found.group(1)


def _member(org_id: int, user: User) -> Membership | None:
    return db.session.get(Membership, (org_id, user.id), populate_existing=True)


def test_the_add_form_offers_to_invite_addresses_without_an_account(
    browser_for, team, make_user, mailbox
):
    known = make_user()
    browser = browser_for(team.owner)
    url = f"/orgs/{team.org.id}/members/add"
    entries = f"{known.email}, new.one@example.org\nnew.two@example.org"
    offer = browser.post(url, {"entries": entries, "role": "CONTRIBUTOR"}, htmx=True)
    assert offer.status_code == 422
    assert "2 of these have no account:" in offer.text
    assert "new.one@example.org, new.two@example.org" in offer.text
    assert 'name="invite_unknown" value="1"' in offer.text
    assert _member(team.org.id, known) is None and mailbox.mails == []

    done = browser.post(
        url, {"entries": entries, "role": "CONTRIBUTOR", "invite_unknown": "1"}, htmx=True
    )
    assert done.status_code == 200, done.text
    assert "Added 1 member" in done.text and "Invited 2 people." in done.text
    assert _member(team.org.id, known).role is Role.CONTRIBUTOR
    assert sorted(r for m in mailbox.mails for r in m.recipients) == [
        "new.one@example.org",
        "new.two@example.org",
    ]
    listed = invitations.list_invitations(team.owner, team.org.id)
    assert {(i.email, i.role) for i in listed} == {
        ("new.one@example.org", Role.CONTRIBUTOR),
        ("new.two@example.org", Role.CONTRIBUTOR),
    }


def test_adding_and_inviting_in_one_step_is_one_change_that_one_undo_takes_back(
    browser_for, team, make_user, mailbox
):
    known = make_user()
    browser = browser_for(team.owner)
    last = db.session.scalar(select(func.max(AuditEvent.id)))
    done = browser.post(
        f"/orgs/{team.org.id}/members/add",
        {"entries": f"{known.email} fresh@example.org", "role": "VIEWER", "invite_unknown": "1"},
        htmx=True,
    )
    assert done.status_code == 200, done.text
    events = db.session.execute(
        select(AuditEvent.action, AuditEvent.operation_id).where(AuditEvent.id > last)
    ).all()
    assert {action for action, _ in events} == {"member.add", "invitation.create"}
    changes = {change for _, change in events}
    assert len(changes) == 1
    [undo] = re.findall(r'hx-post="(/orgs/\d+/changes/\w+/revert)"', done.text)[:1]
    assert undo.endswith(f"/{changes.pop()}/revert")
    undone = browser.post(undo, {"back": "members"}, htmx=True)
    assert undone.status_code == 200, undone.text
    assert _member(team.org.id, known) is None
    [invited] = invitations.list_invitations(team.owner, team.org.id)
    assert invited.email == "fresh@example.org" and invited.status.name == "REVOKED"


def test_a_refused_addition_invites_nobody(browser_for, team, mailbox):
    browser = browser_for(team.owner)
    before = db.session.scalar(select(func.count()).select_from(AuditEvent))
    refused = browser.post(
        f"/orgs/{team.org.id}/members/add",
        {
            "entries": f"{team.viewer.email} later@example.org",
            "role": "VIEWER",
            "invite_unknown": "1",
        },
        htmx=True,
    )
    assert refused.status_code == 409, refused.text
    assert invitations.list_invitations(team.owner, team.org.id) == []
    assert mailbox.mails == []
    assert db.session.scalar(select(func.count()).select_from(AuditEvent)) == before


def test_the_add_form_invites_without_javascript_too(browser_for, team, mailbox):
    response = browser_for(team.owner).post(
        f"/orgs/{team.org.id}/members/add",
        {"entries": "solo@example.org", "role": "VIEWER", "invite_unknown": "1"},
    )
    assert response.status_code == 302
    assert [m.recipients for m in mailbox.mails] == [["solo@example.org"]]


def test_the_invitations_page_invites_resends_and_revokes_in_place(browser_for, team, mailbox):
    browser = browser_for(team.admin)
    base = f"/orgs/{team.org.id}/invitations"
    page = browser.get(base)
    assert page.status_code == 200 and "No invitations yet" in page.text
    assert '<option value="OWNER"' not in page.text  # an admin cannot invite owners

    made = browser.post(
        base, {"emails": "a@example.org; b@example.org", "role": "VIEWER"}, htmx=True
    )
    assert made.status_code == 200
    assert 'id="invitations-panel"' in made.text and "<html" not in made.text
    assert "a@example.org" in made.text and "Invited 2 people." in made.text
    first = invitations.list_invitations(team.owner, team.org.id)[-1]
    old_link = link_to(mailbox, first.email)

    resent = browser.post(f"{base}/{first.id}/resend", htmx=True)
    assert resent.status_code == 200 and "Sent a new link to" in resent.text
    assert link_to(mailbox, first.email) != old_link

    revoked = browser.post(f"{base}/{first.id}/revoke", htmx=True)
    assert revoked.status_code == 200 and "Invitation revoked" in revoked.text
    assert browser.client.get(link_to(mailbox, first.email)).status_code == 410

    bad = browser.post(base, {"emails": "ok@example.org, not-an-address", "role": "VIEWER"})
    assert bad.status_code == 400
    assert re.search(
        r'class="field-error"[^>]*>These are not email addresses: not-an-address', bad.text
    )


def test_the_invitations_page_works_without_javascript(browser_for, team, mailbox):
    browser = browser_for(team.owner)
    base = f"/orgs/{team.org.id}/invitations"
    made = browser.post(base, {"emails": "a@example.org", "role": "ADMIN"})
    assert made.status_code == 302 and made.headers["Location"].endswith(base)
    invitation = invitations.list_invitations(team.owner, team.org.id)[0]
    assert browser.post(f"{base}/{invitation.id}/resend").status_code == 302
    assert browser.post(f"{base}/{invitation.id}/revoke").status_code == 302
    page = browser.get(base).text
    assert "revoked" in page and 'Pending invitations <span class="count">0</span>' in page


def test_a_failed_mail_is_shown_and_offered_for_resend(app, browser_for, team, mailbox):
    from ..mailbox import free_port
    from ..services.test_invitations import smtp_url

    browser = browser_for(team.owner)
    base = f"/orgs/{team.org.id}/invitations"
    with smtp_url(app, f"smtp://127.0.0.1:{free_port()}"):
        made = browser.post(base, {"emails": "a@example.org", "role": "VIEWER"}, htmx=True)
    assert "could not be sent (the mail server could not be reached)" in made.text
    assert "Mail not sent: the mail server could not be reached" in made.text
    invitation = invitations.list_invitations(team.owner, team.org.id)[0]
    assert 'aria-label="Resend the invitation to a@example.org"' in made.text
    again = browser.post(f"{base}/{invitation.id}/resend", htmx=True)
    assert "Mail not sent" not in again.text and len(mailbox.to("a@example.org")) == 1


def test_signed_in_as_the_invitee_one_click_joins(app, client, make_user, make_org, mailbox):
    owner = make_user()
    org = make_org(owner, "Joinable")
    invitations.invite(owner, org.id, ["ada@example.org"], Role.ADMIN, via=Via.CLI)
    ada = make_user(email="ada@example.org")
    path = link_to(mailbox, "ada@example.org")
    login(client, ada)
    page = client.get(path)
    assert (
        page.status_code == 200 and "Join Joinable" in page.text and "as <strong>ADMIN" in page.text
    )
    joined = client.post(path, data={"csrf_token": csrf_token(client, path)})
    assert joined.status_code == 302 and joined.headers["Location"] == f"/orgs/{org.id}"
    assert _member(org.id, ada).role is Role.ADMIN
    assert client.get(path).status_code == 410  # used


def test_signed_out_with_an_account_signs_in_then_accepts(client, make_user, make_org, mailbox):
    owner = make_user()
    org = make_org(owner)
    invitations.invite(owner, org.id, ["ada@example.org"], via=Via.CLI)
    ada = make_user(email="ada@example.org")
    path = link_to(mailbox, "ada@example.org")
    page = client.get(path)
    assert page.status_code == 200 and "Sign in to accept" in page.text
    sign_in = client.post(
        f"/login?next={path}",
        data={"email": ada.email, "password": PASSWORD, "csrf_token": csrf_token(client)},
    )
    assert sign_in.status_code == 302 and sign_in.headers["Location"] == path
    client.post(path, data={"csrf_token": csrf_token(client, path)})
    assert _member(org.id, ada).role is Role.VIEWER


def test_signed_out_without_an_account_signs_up_with_the_address_fixed(
    client, make_user, make_org, mailbox
):
    owner = make_user()
    org = make_org(owner, "Newco")
    invitations.invite(owner, org.id, ["new@example.org"], Role.ACCOUNTING, via=Via.CLI)
    path = link_to(mailbox, "new@example.org")
    assert "Create one with new@example.org" in client.get(path).text
    form = client.get(f"{path}/signup")
    assert 'value="new@example.org" readonly' in form.text
    done = client.post(
        f"{path}/signup",
        data={
            "name": "New Person",
            "password": PASSWORD,
            "email": "someone.else@example.org",  # not a field of this form: ignored
            "csrf_token": csrf_token(client, f"{path}/signup"),
        },
    )
    assert done.status_code == 302 and done.headers["Location"] == f"/orgs/{org.id}"
    user = db.session.scalar(select(User).where(User.email == "new@example.org"))
    assert user is not None and user.is_verified  # the link reached the address
    assert db.session.scalar(select(User).where(User.email == "someone.else@example.org")) is None
    assert _member(org.id, user).role is Role.ACCOUNTING
    assert "Newco" in client.get(f"/orgs/{org.id}").text  # signed in, and a member


def test_signed_in_as_someone_else_is_refused_with_a_way_out(client, make_user, make_org, mailbox):
    owner = make_user()
    org = make_org(owner)
    invitations.invite(owner, org.id, ["ada@example.org"], via=Via.CLI)
    mallory = make_user(email="mallory@example.org")
    path = link_to(mailbox, "ada@example.org")
    login(client, mallory)
    page = client.get(path)
    assert page.status_code == 403
    assert "You are signed in as <strong>mallory@example.org</strong>" in page.text
    assert 'action="/logout"' in page.text
    refused = client.post(path, data={"csrf_token": csrf_token(client, "/orgs")})
    assert refused.status_code == 403
    assert _member(org.id, mallory) is None
    assert invitations.list_invitations(owner, org.id)[0].status.value == "PENDING"


def test_links_that_cannot_be_used_say_so_and_change_nothing(client, make_user, make_org, mailbox):
    owner = make_user()
    org = make_org(owner)
    made = invitations.invite(
        owner, org.id, ["r@example.org", "e@example.org", "d@example.org"], via=Via.CLI
    )
    by_email = {i.email: i for i in made.invitations}
    invitations.revoke(owner, org.id, by_email["r@example.org"].id, via=Via.CLI)
    db.session.execute(
        update(Invitation)
        .where(Invitation.id == by_email["e@example.org"].id)
        .values(expires_at=utcnow())
    )
    db.session.commit()
    revoked, expired = link_to(mailbox, "r@example.org"), link_to(mailbox, "e@example.org")
    deleted = link_to(mailbox, "d@example.org")

    def gone(path: str, words: str) -> None:
        answer = client.get(path)
        assert answer.status_code == 410 and words in answer.text, path
        assert client.get(f"{path}/signup").status_code == 410

    gone(revoked, "withdrawn")
    gone(expired, "expired")
    organizations.delete_organization(owner, org.id, via=Via.CLI)
    gone(deleted, "no longer exists")
    assert client.get("/invitations/" + "x" * 43).status_code == 404
    assert db.session.scalar(select(User.id).where(User.email == "d@example.org")) is None


def test_an_invitation_link_takes_over_an_unconfirmed_account_of_its_address(
    client, make_user, make_org, mailbox
):
    """Someone signed up with the invitee's address and never confirmed it: the invitee, who
    holds the mailbox, signs up from the link and the account becomes theirs."""
    squatter = client.post(
        "/signup",
        data={
            "name": "Squatter",
            "email": "victim@example.org",
            "password": "squatter's password",
            "csrf_token": csrf_token(client, "/signup"),
        },
    )
    assert squatter.status_code == 302
    owner = make_user()
    org = make_org(owner, "Target")
    invitations.invite(owner, org.id, ["victim@example.org"], Role.VIEWER, via=Via.CLI)
    path = link_to(mailbox, "victim@example.org")
    invitee = client.application.test_client()
    done = invitee.post(
        f"{path}/signup",
        data={
            "name": "Real Victim",
            "password": PASSWORD,
            "csrf_token": csrf_token(invitee, f"{path}/signup"),
        },
    )
    assert done.status_code == 302 and done.headers["Location"] == f"/orgs/{org.id}"
    user = db.session.scalar(
        select(User)
        .where(User.email == "victim@example.org")
        .execution_options(populate_existing=True)
    )
    assert user.name == "Real Victim" and user.is_verified
    assert _member(org.id, user).role is Role.VIEWER
    # The squatter's password is gone with the takeover.
    refused = client.application.test_client()
    answer = refused.post(
        "/login",
        data={
            "email": "victim@example.org",
            "password": "squatter's password",
            "csrf_token": csrf_token(refused),
        },
    )
    assert answer.status_code == 401
