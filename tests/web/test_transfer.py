"""Transfer ownership on the settings page: OWNER only, by email or user id, with or without
htmx; errors beside the field they name, and nothing changes; the activity log says it."""

from __future__ import annotations

import re

import pytest

from webapp.models import Role
from webapp.services import organizations

FORM = re.compile(r'<form id="transfer-form".*?</form>', re.S)


def _post(browser, team, user_id, my_new_role="ADMIN", *, confirmed=True, htmx=False):  # type: ignore[no-untyped-def]
    data = {"transfer-user_id": str(user_id), "transfer-my_new_role": my_new_role}
    if confirmed:
        data["transfer-confirmed"] = "y"
    return browser.post(f"/orgs/{team.org.id}/transfer", data, htmx=htmx)


def _role(team, user) -> Role:  # type: ignore[no-untyped-def]
    return organizations.get_my_role(user, team.org.id)


def test_the_owner_is_offered_the_form(browser_for, team):
    owner_page = browser_for(team.owner).get(f"/orgs/{team.org.id}/settings").text
    form = FORM.search(owner_page)
    assert form, "no transfer form for the owner"
    assert f'action="/orgs/{team.org.id}/transfer"' in form.group(0)
    assert f'hx-post="/orgs/{team.org.id}/transfer"' in form.group(0)
    assert re.search(r'name="[\w-]*csrf_token" type="hidden"', form.group(0))
    assert re.search(r'<option selected value="ADMIN">', form.group(0))  # the default
    assert 'name="transfer-confirmed" type="checkbox"' in form.group(0)


def test_an_admin_sees_the_settings_without_it(browser_for, team):
    admin_page = browser_for(team.admin).get(f"/orgs/{team.org.id}/settings").text
    assert "Rename" in admin_page and 'id="transfer-form"' not in admin_page


def test_without_javascript_it_redirects_with_a_flash(browser_for, team):
    browser = browser_for(team.owner)
    response = _post(browser, team, team.admin.email.upper())
    assert response.status_code == 302
    assert response.headers["Location"] == f"/orgs/{team.org.id}/settings"
    page = browser.get(response.headers["Location"]).text
    assert f"{team.admin.email} is now an owner of Acme; your role is now ADMIN." in page
    assert 'id="transfer-form"' not in page  # an admin now: the form is gone
    assert (_role(team, team.admin), _role(team, team.owner)) == (Role.OWNER, Role.ADMIN)


def test_with_htmx_it_navigates_to_the_page_the_new_role_may_see(browser_for, team):
    browser = browser_for(team.owner)
    person = team.people[0]
    response = _post(browser, team, person.id, "VIEWER", htmx=True)
    assert response.status_code == 200
    # A viewer may not open the settings: the overview instead.
    assert response.headers["HX-Redirect"] == f"/orgs/{team.org.id}"
    assert f"User #{person.id} is now an owner of Acme" in browser.get(f"/orgs/{team.org.id}").text
    assert (_role(team, person), _role(team, team.owner)) == (Role.OWNER, Role.VIEWER)


def test_staying_owner_says_so(browser_for, team):
    browser = browser_for(team.owner)
    response = _post(browser, team, team.admin.id, "OWNER")
    assert response.headers["Location"] == f"/orgs/{team.org.id}/settings"
    page = browser.get(response.headers["Location"]).text
    assert "you stay an owner too" in page and 'id="transfer-form"' in page


@pytest.mark.parametrize("htmx", [False, True], ids=["page", "htmx"])
@pytest.mark.parametrize(
    ("case", "status", "field", "message"),
    [
        ("empty", 400, "user_id", "give the member&#39;s email address or user id"),
        ("not an address", 400, "user_id", "give the member&#39;s email address or user id"),
        ("unconfirmed", 400, "confirmed", "tick the box to confirm the handover"),
        ("bad role", 400, "my_new_role", "must be one of"),
        ("outsider", 422, "user_id", "is not the address of a member"),
        ("unknown id", 422, "user_id", "is not a member of this organization"),
        ("myself", 422, "user_id", "is you; name another member"),
        ("suspended", 409, None, "is suspended. Reactivate them"),
    ],
)
def test_errors_show_beside_the_field_and_change_nothing(
    browser_for, team, make_user, add_member, htmx, case, status, field, message
):
    suspended = make_user()
    add_member(team.org, suspended, Role.ADMIN, is_active=False)
    user_id, role, confirmed = {
        "empty": ("  ", "ADMIN", True),
        "not an address": ("Ada Admin", "ADMIN", True),
        "unconfirmed": (team.admin.email, "ADMIN", False),
        "bad role": (team.admin.email, "BOSS", True),
        "outsider": (make_user().email, "ADMIN", True),
        "unknown id": ("987654", "ADMIN", True),
        "myself": (team.owner.email, "ADMIN", True),
        "suspended": (suspended.email, "ADMIN", True),
    }[case]
    response = _post(browser_for(team.owner), team, user_id, role, confirmed=confirmed, htmx=htmx)
    assert response.status_code == status
    html = response.text
    if htmx:
        assert html.lstrip().startswith('<form id="transfer-form"')  # just the form, in place
    else:
        assert "<html" in html and "Rename" in html  # the whole page, the form in it
    form = FORM.search(html).group(0)
    if field is None:
        assert re.search(rf'<div class="form-errors" role="alert">\s*<p>[^<]*{message}', form)
    else:
        error = re.search(rf'<p class="field-error" id="transfer-{field}-error">([^<]*)</p>', form)
        assert error and message in error.group(1), form
        assert f'aria-describedby="{"transfer-" + field}' in form or field == "my_new_role"
    assert (_role(team, team.owner), _role(team, team.admin)) == (Role.OWNER, Role.ADMIN)


def test_every_field_error_is_shown_at_once(browser_for, team):
    response = _post(browser_for(team.owner), team, "", "BOSS", confirmed=False, htmx=True)
    assert response.status_code == 400
    shown = re.findall(r'id="transfer-(\w+)-error"', response.text)
    assert shown == ["user_id", "my_new_role", "confirmed"]


@pytest.mark.parametrize("htmx", [False, True], ids=["page", "htmx"])
def test_an_admin_is_refused_and_nothing_changes(browser_for, team, htmx):
    response = _post(browser_for(team.admin), team, team.admin.id, "OWNER", htmx=htmx)
    assert response.status_code == 403
    assert "does not allow this" in response.text
    assert (_role(team, team.owner), _role(team, team.admin)) == (Role.OWNER, Role.ADMIN)


def test_a_stranger_gets_the_404_page(browser_for, team, make_user):
    response = _post(browser_for(make_user()), team, team.admin.id)
    assert response.status_code == 404
    assert _role(team, team.owner) is Role.OWNER


def test_the_activity_log_says_who_handed_what_to_whom(browser_for, team):
    browser = browser_for(team.owner)
    _post(browser, team, team.admin.email)
    html = browser.get(f"/orgs/{team.org.id}/activity").text
    rows = [re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", row)) for row in re.findall(
        r"<tr>.*?</tr>", html, re.S
    )]  # fmt: skip
    # The two rows of the one operation, newest events first (in either order between them).
    new_owner, own_role = sorted(rows[1:3], key=lambda row: "own role" in row)
    assert "transferred ownership · new owner" in new_owner
    assert team.admin.email in new_owner and "ADMIN → OWNER" in new_owner
    assert "transferred ownership · own role" in own_role
    assert team.owner.email in own_role and "OWNER → ADMIN" in own_role
