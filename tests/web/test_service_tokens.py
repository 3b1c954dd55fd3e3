"""The organization's Service tokens page (DESIGN §10): shown once, listed, revoked, refused."""

from __future__ import annotations

import re

import pytest

from tests.conftest import ApiClient
from webapp.extensions import db
from webapp.models import Role, Via
from webapp.services import members, organizations, service_tokens


@pytest.fixture
def acme(make_user, make_org):  # type: ignore[no-untyped-def]
    owner = make_user(name="Olivia Owner")
    return owner, make_org(owner, "Acme")


def _url(org_id: int, rest: str = "") -> str:
    return f"/orgs/{org_id}/settings/tokens{rest}"


def test_settings_page_links_to_it(acme, browser_for):
    owner, org = acme
    page = browser_for(owner).get(f"/orgs/{org.id}/settings").text
    assert f'href="{_url(org.id)}"' in page


def test_create_shows_the_token_once_with_a_copy_hint(acme, browser_for):
    owner, org = acme
    browser = browser_for(owner)
    response = browser.post(
        _url(org.id), {"name": "HR sync", "scope": "write", "expires_at": "2099-01-01"}, htmx=True
    )
    assert response.status_code == 200, response.text
    assert response.headers["Cache-Control"] == "no-store"
    text = re.search(r'value="(rss_[^"]+)"', response.text).group(1)
    assert 'data-copy="#new-service-token"' in response.text and "shown only this once" in (
        response.text
    )
    principal = service_tokens.authenticate_service_token(text)
    assert principal is not None and principal.organization_id == org.id
    again = browser.get(_url(org.id)).text
    assert text not in again and "HR sync" in again and "01 Jan 2099" in again
    cookie = browser.client.get_cookie("session")
    assert cookie is not None and text not in cookie.value


def test_without_javascript_the_page_shows_the_token(acme, browser_for):
    owner, org = acme
    response = browser_for(owner).post(_url(org.id), {"name": "cli", "scope": "read"})
    assert response.status_code == 200 and "<html" in response.text
    assert re.search(r'value="rss_[^"]+"', response.text)


@pytest.mark.parametrize(
    ("form", "field"),
    [
        ({"name": "", "scope": "read"}, "name"),
        ({"name": "x", "scope": "root"}, "scope"),
        ({"name": "x", "scope": "read", "expires_at": "2001-01-01"}, "expires_at"),
        ({"name": "x", "scope": "read", "expires_at": "someday"}, "expires_at"),
    ],
)
def test_errors_are_shown_beside_their_field(acme, browser_for, form, field):
    owner, org = acme
    response = browser_for(owner).post(_url(org.id), form, htmx=True)
    assert response.status_code == 422
    assert re.search(rf'id="{field}"[^>]*aria-invalid="true"', response.text) or re.search(
        rf'aria-invalid="true"[^>]*id="{field}"', response.text
    )
    assert f'id="{field}-error"' in response.text
    assert "rss_" not in response.text


def test_list_and_revoke_in_place_and_without_javascript(acme, browser_for):
    owner, org = acme
    first = service_tokens.create_service_token(owner, org.id, "one", "read", via=Via.CLI)
    second = service_tokens.create_service_token(owner, org.id, "two", "write", via=Via.CLI)
    service_tokens.authenticate_service_token(first.token)
    browser = browser_for(owner)
    page = browser.get(_url(org.id)).text
    assert "one" in page and "two" in page and "Never" in page
    assert f'hx-post="{_url(org.id, f"/{first.id}/revoke")}"' in page
    answer = browser.post(_url(org.id, f"/{first.id}/revoke"), htmx=True)
    assert answer.status_code == 200 and '<span class="badge">revoked</span>' in answer.text
    plain = browser.post(_url(org.id, f"/{second.id}/revoke"))
    assert plain.status_code == 302 and plain.headers["Location"].endswith(_url(org.id))
    db.session.expire_all()
    assert service_tokens.authenticate_service_token(first.token) is None
    assert service_tokens.authenticate_service_token(second.token) is None


@pytest.mark.parametrize(
    ("role", "status"), [(Role.ADMIN, 200), (Role.CONTRIBUTOR, 403), (None, 404)]
)
def test_owners_and_admins_only(acme, browser_for, make_user, add_member, role, status):
    _, org = acme
    member = make_user()
    if role is not None:
        add_member(org, member, role)
    browser = browser_for(member)
    assert browser.get(_url(org.id)).status_code == status
    made = browser.post(_url(org.id), {"name": "x", "scope": "read"})
    assert made.status_code == status


def test_another_organizations_token_is_404(acme, browser_for, make_org):
    owner, org = acme
    other = make_org(owner, "Other")
    theirs = service_tokens.create_service_token(owner, other.id, "x", "read", via=Via.CLI)
    response = browser_for(owner).post(_url(org.id, f"/{theirs.id}/revoke"))
    assert response.status_code == 404


def test_activity_page_shows_the_token_as_actor(acme, browser_for, make_user, app):
    owner, org = acme
    viewer = make_user()
    members.add_members(owner, org.id, [viewer.id], role=Role.VIEWER, via=Via.CLI)
    made = service_tokens.create_service_token(owner, org.id, "HR sync", "write", via=Via.CLI)
    token = ApiClient(app.test_client(), made.token)
    answer = token.put(
        f"/api/organizations/{org.id}/users", json={"user_ids": [viewer.id], "role": "ADMIN"}
    )
    assert answer.status_code == 200
    page = browser_for(owner).get(f"/orgs/{org.id}/activity").text
    assert "<td>token HR sync</td>" in page
    assert organizations.get_organization(owner, org.id).member_count == 2


def test_an_admin_is_not_offered_a_scim_token_and_cannot_post_one(
    acme, browser_for, make_user, add_member
):
    owner, org = acme
    admin = make_user()
    add_member(org, admin, Role.ADMIN)
    browser = browser_for(admin)
    page = browser.get(_url(org.id)).text
    assert '<option value="write"' in page and '<option value="scim"' not in page
    refused = browser.post(_url(org.id), {"name": "IdP", "scope": "scim"})
    assert refused.status_code == 403
    assert service_tokens.list_service_tokens(owner, org.id) == []


def test_a_scim_token_made_here_provisions_through_the_url_shown_with_it(acme, browser_for, app):
    """The owner's whole set-up of an identity provider: the page shows the SCIM base URL
    beside the token, and the two together list and add this organization's members."""
    owner, org = acme
    browser = browser_for(owner)
    response = browser.post(_url(org.id), {"name": "Okta", "scope": "scim"}, htmx=True)
    assert response.status_code == 200, response.text
    token = re.search(r'value="(rss_[^"]+)"', response.text).group(1)
    base = re.search(r'id="scim-base-url"[^>]*value="([^"]+)"', response.text).group(1)
    assert base == "http://localhost/scim/v2"
    headers = {"Authorization": f"Bearer {token}"}
    client = app.test_client()  # the identity provider: no session
    listed = client.get(f"{base}/Users", headers=headers)
    assert listed.status_code == 200 and listed.mimetype == "application/scim+json"
    assert [r["userName"] for r in listed.get_json()["Resources"]] == [owner.email]
    made = client.post(
        f"{base}/Users",
        json={
            "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
            "userName": "new.hire@example.com",
        },
        headers=headers,
    )
    assert made.status_code == 201, made.get_data(as_text=True)
    page = browser.get(f"/orgs/{org.id}/members").text
    assert "new.hire@example.com" in page
