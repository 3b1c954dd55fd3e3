"""Sign-up with a verified address and the sign-up policy (DESIGN §8): the answer never says
whether an address is taken; the mail (on the suite's real SMTP server) says the rest."""

from __future__ import annotations

import re

import pytest
from sqlalchemy import select

from webapp.extensions import db
from webapp.models import Role, User, Via
from webapp.services import invitations, members, users
from webapp.services.errors import UnknownUsers

from ..conftest import PASSWORD, csrf_token

VERIFY = re.compile(r"http://roster\.test(/verify/[A-Za-z0-9_.-]+)")


@pytest.fixture
def app_config(app_config):  # type: ignore[no-untyped-def]
    # Ample sign-up limits: these tests sign up several times from one address.
    return {**app_config, "ROSTER_SIGNUP_LIMIT_PER_ADDRESS": "100 per minute"}


def sign_up(client, email: str, name: str = "Sam Signup", password: str = PASSWORD):  # type: ignore[no-untyped-def]
    return client.post(
        "/signup",
        data={
            "name": name,
            "email": email,
            "password": password,
            "csrf_token": csrf_token(client, "/signup"),
        },
    )


def verify_path(mailbox, email: str) -> str:  # type: ignore[no-untyped-def]
    found = VERIFY.search(mailbox.to(email)[-1].text)
    assert found, mailbox.to(email)[-1].text
    return found.group(1)


def _user(email: str) -> User | None:
    return db.session.scalar(
        select(User).where(User.email == email).execution_options(populate_existing=True)
    )


def test_a_new_address_gets_a_link_that_verifies_and_signs_in(client, mailbox):
    answer = sign_up(client, "New@Example.org")
    assert answer.status_code == 302 and answer.headers["Location"] == "/signup/sent"
    assert "new@example.org" in client.get("/signup/sent").text
    assert client.get("/orgs").status_code == 302  # not signed in yet
    user = _user("new@example.org")
    assert user is not None and not user.is_verified
    (mail,) = mailbox.to("new@example.org")
    assert mail.subject == "Confirm your address to finish signing up to Roster"
    assert VERIFY.search(mail.html)
    path = verify_path(mailbox, "new@example.org")
    page = client.get(path)  # a mail scanner fetching the link verifies nothing
    assert page.status_code == 200 and "Confirm and sign in" in page.text
    assert not _user("new@example.org").is_verified
    done = client.post(path, data={"csrf_token": csrf_token(client, path)})
    assert done.status_code == 302
    assert _user("new@example.org").is_verified
    assert client.get("/orgs").status_code == 200  # signed in
    again = client.post(path, data={"csrf_token": csrf_token(client, path)})
    assert again.status_code == 410  # used


def test_a_taken_address_answers_the_same_and_mails_its_owner(client, make_user, mailbox):
    owner = make_user(email="taken@example.org", name="Tara Taken")
    before = (owner.name, owner.password_hash)
    answer = sign_up(client, "taken@example.org", name="Mallory", password="another password!")
    assert answer.status_code == 302 and answer.headers["Location"] == "/signup/sent"
    (mail,) = mailbox.to("taken@example.org")
    assert mail.subject == "Someone tried to sign up to Roster with your address"
    assert "Nothing was changed" in mail.text and "/password/forgot" in mail.text
    user = _user("taken@example.org")
    assert (user.name, user.password_hash) == before


def test_signing_in_before_verifying_is_refused_and_sends_a_new_link(client, mailbox):
    sign_up(client, "slow@example.org")
    mailbox.clear()
    answer = client.post(
        "/login",
        data={"email": "slow@example.org", "password": PASSWORD, "csrf_token": csrf_token(client)},
    )
    assert answer.status_code == 403 and "Confirm your address first" in answer.text
    assert len(mailbox.to("slow@example.org")) == 1


def test_signing_up_again_for_an_unverified_address_kills_the_earlier_link(client, mailbox):
    """Someone pre-registers a colleague's address: the colleague signs up anyway and only the
    newest link, sent to the colleague, works."""
    sign_up(client, "colleague@example.org", name="Squatter", password="squatter password")
    squatter_link = verify_path(mailbox, "colleague@example.org")
    sign_up(client, "colleague@example.org", name="Real Colleague")
    real_link = verify_path(mailbox, "colleague@example.org")
    assert (
        client.post(
            squatter_link, data={"csrf_token": csrf_token(client, squatter_link)}
        ).status_code
        == 410
    )
    client.post(real_link, data={"csrf_token": csrf_token(client, real_link)})
    user = _user("colleague@example.org")
    assert user.is_verified and user.name == "Real Colleague"


def test_an_unverified_account_cannot_be_added_by_id_or_email(
    client, make_user, make_org, api, mailbox
):
    owner = make_user()
    org = make_org(owner)
    sign_up(client, "pending@example.org")
    pending = _user("pending@example.org")
    with pytest.raises(UnknownUsers):
        members.add_members(owner, org.id, [pending.id], via=Via.CLI)
    by_id = api(owner).post(f"/api/organizations/{org.id}/users", json={"user_ids": [pending.id]})
    unknown = api(owner).post(f"/api/organizations/{org.id}/users", json={"user_ids": [987654]})
    # The same answer for an unverified account and an id nobody has: ids cannot be mapped.
    assert by_id.status_code == unknown.status_code == 422
    assert {k: v for k, v in by_id.get_json().items() if k not in ("detail", "user_ids")} == {
        k: v for k, v in unknown.get_json().items() if k not in ("detail", "user_ids")
    }
    assert by_id.get_json()["detail"] == unknown.get_json()["detail"]
    ids, no_account = members.sort_emails(owner, org.id, ["pending@example.org"])
    assert (ids, no_account) == ([], ["pending@example.org"])  # offered as an invitation


def test_an_unverified_account_cannot_accept_an_invitation(client, make_user, make_org, mailbox):
    owner = make_user()
    org = make_org(owner)
    invitations.invite(owner, org.id, ["late@example.org"], Role.ADMIN, via=Via.CLI)
    sign_up(client, "late@example.org")
    late = _user("late@example.org")
    link = re.search(r"/invitations/[A-Za-z0-9_-]+", mailbox.to("late@example.org")[0].text)
    from webapp.services.errors import Unverified

    with pytest.raises(Unverified):
        invitations.accept(late, link.group(0).rsplit("/", 1)[1])


def test_cli_and_demo_users_are_verified(app, runner):
    made = runner.invoke(args=["users", "create", "cli@example.org", "--name", "Cli"])
    assert made.exit_code == 0, made.output
    assert _user("cli@example.org").is_verified
    assert all(u.is_verified for u in db.session.scalars(select(User)))
    ids = users.create_users([("bulk@example.org", "Bulk")], via=Via.CLI)
    assert db.session.get(User, ids[0]).is_verified


def test_invite_only_sign_up_offers_no_form_and_refuses_a_post(app, client, mailbox):
    app.config["ROSTER_SIGNUP"] = "invite"
    page = client.get("/signup")
    assert page.status_code == 200 and "by invitation only" in page.text
    assert 'name="password"' not in page.text
    token = csrf_token(client, "/login")
    refused = client.post(
        "/signup",
        data={"name": "X", "email": "x@example.org", "password": PASSWORD, "csrf_token": token},
    )
    assert refused.status_code == 403
    assert _user("x@example.org") is None and mailbox.mails == []


def test_a_domain_policy_takes_its_domains_only(app, client, mailbox):
    app.config["ROSTER_SIGNUP"] = "domains:example.org, corp.example"
    refused = sign_up(client, "someone@elsewhere.net")
    assert refused.status_code == 400
    assert "sign-up is open to addresses at example.org, corp.example only" in refused.text
    assert _user("someone@elsewhere.net") is None
    assert sign_up(client, "someone@corp.example").status_code == 302
    assert _user("someone@corp.example") is not None
