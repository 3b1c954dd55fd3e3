"""Invitations end to end in real Chromium (issue 10): an owner invites two people from the
members page; each mail is read from the suite's SMTP server; each link is opened in a fresh
browser context, where the person signs up and lands in the organization with the invited
role; the owner's page then shows them joined."""

from __future__ import annotations

import re

from playwright.sync_api import expect

from webapp.inputs import MemberQuery
from webapp.models import Role, Via
from webapp.services import member_list, organizations, users

PASSWORD = "correct horse battery"
LINK = re.compile(r"https?://\S+?(/invitations/[A-Za-z0-9_-]+)")


def test_an_owner_invites_two_people_who_sign_up_from_the_mail(open_session, app, mailbox):
    owner = users.create_user("olive@e2e.test", "Olive Owner", PASSWORD, via=Via.CLI)
    org = organizations.create_organization(owner, "Invitational", via=Via.CLI)
    s = open_session()
    page = s.page
    s.go("/login")
    page.get_by_label("Email").fill(owner.email)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    expect(page).to_have_url(re.compile(r"/orgs$"))

    s.go(f"/orgs/{org.id}/members")
    s.problems.allow_status(422)  # the add form's answer that offers the invitations
    page.locator("summary", has_text="Add members").click()
    page.get_by_label("Emails or user ids").fill("ada@e2e.test\ngrace@e2e.test")
    page.locator(".add-form").get_by_label("Role").select_option("CONTRIBUTOR")
    page.get_by_role("button", name="Add members").click()
    offer = page.locator(".add-form .callout")
    expect(offer).to_contain_text("2 of these have no account")
    offer.get_by_role("button", name="Invite 2 and add the others").click()
    expect(page.locator(".add-form .inline-ok")).to_contain_text("Invited 2 by email")
    s.shot("invitations-offered", full_page=False)

    page.get_by_role("navigation", name="Organization").get_by_role(
        "link", name="Invitations"
    ).click()
    expect(page.locator("#invitations-panel")).to_contain_text("ada@e2e.test")
    expect(page.locator("#invitations-panel")).to_contain_text("grace@e2e.test")
    s.shot("invitations")

    for email, name in (("ada@e2e.test", "Ada Lovelace"), ("grace@e2e.test", "Grace Hopper")):
        (mail,) = mailbox.to(email)
        assert mail.subject == "Olive Owner invited you to Invitational on Roster"
        assert LINK.search(mail.html)
        path = LINK.search(mail.text).group(1)
        invitee = open_session()  # a fresh context: nobody is signed in there
        p = invitee.page
        invitee.go(path)
        expect(p.get_by_role("heading", name="Join Invitational")).to_be_visible()
        p.get_by_role("link", name=f"Create one with {email}").click()
        expect(p.locator("#invited-email")).to_have_value(email)
        p.get_by_label("Name").fill(name)
        p.get_by_label("Password (10 characters or more)").fill(PASSWORD)
        p.get_by_role("button", name="Sign up and join").click()
        expect(p).to_have_url(re.compile(rf"/orgs/{org.id}$"))
        expect(p.locator("#flashes")).to_contain_text(
            "Welcome to Invitational: you are a CONTRIBUTOR."
        )
        expect(p.locator("#org-title")).to_have_text("Invitational")

    s.go(f"/orgs/{org.id}/members")
    for email, name in (("ada@e2e.test", "Ada Lovelace"), ("grace@e2e.test", "Grace Hopper")):
        row = page.locator("tr", has_text=email)
        expect(row).to_be_visible()
        expect(row.get_by_label(f"Role of {name}")).to_have_value("CONTRIBUTOR")
    listed = member_list.list_members(owner, org.id, MemberQuery())
    joined = {m.email: m.role for m in listed.items if m.email != owner.email}
    assert joined == {"ada@e2e.test": Role.CONTRIBUTOR, "grace@e2e.test": Role.CONTRIBUTOR}
    s.go(f"/orgs/{org.id}/invitations")
    expect(page.locator("#invitations-panel")).to_contain_text("accepted")
