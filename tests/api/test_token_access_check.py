"""The access check read with a personal token (``tokens.authenticate_token_for``) refuses and
answers exactly as the check of its own did: per caller, per organization, per request."""

from __future__ import annotations

from tests.conftest import ApiClient, login
from webapp.models import Role, Via
from webapp.services import members, organizations, service_tokens


def _problem(response):  # type: ignore[no-untyped-def]
    return response.status_code, response.get_json()["detail"]


def test_members_read_their_own_organization_and_no_other(make_user, api):
    owner, other_owner, member = make_user(), make_user(), make_user()
    org = organizations.create_organization(owner, "Mine", via=Via.CLI)
    other = organizations.create_organization(other_owner, "Theirs", via=Via.CLI)
    members.add_members(owner, org.id, [member.id], role=Role.VIEWER, via=Via.CLI)
    client = api(member)

    mine = client.get(f"/api/organizations/{org.id}")
    assert mine.status_code == 200
    assert mine.get_json()["role"] == "VIEWER" and mine.get_json()["member_count"] == 2
    page = client.get(f"/api/organizations/{org.id}/users").get_json()
    assert sorted(item["user_id"] for item in page["items"]) == sorted([owner.id, member.id])

    for path in (f"/api/organizations/{other.id}", f"/api/organizations/{other.id}/users"):
        assert client.get(path).status_code == 404, path
    for path in ("/api/organizations/999999999", "/api/organizations/999999999/users"):
        assert client.get(path).status_code == 404, path


def test_a_suspended_member_is_refused_as_before(make_user, api):
    owner, member = make_user(), make_user()
    org = organizations.create_organization(owner, "Org", via=Via.CLI)
    members.add_members(owner, org.id, [member.id], role=Role.ADMIN, via=Via.CLI)
    client = api(member)
    assert client.get(f"/api/organizations/{org.id}/users").status_code == 200

    members.update_members(owner, org.id, [member.id], is_active=False, via=Via.CLI)
    for path in (f"/api/organizations/{org.id}", f"/api/organizations/{org.id}/users"):
        status, detail = _problem(client.get(path))
        assert status == 403, path
        assert "suspended" in detail, detail
    # What a suspended member may still do is still allowed.
    assert client.get(f"/api/organizations/{org.id}/role").get_json() == "ADMIN"


def test_each_request_reads_the_membership_anew(make_user, api):
    """Nothing is kept between requests: a change made between two of them shows at once."""
    owner, member = make_user(), make_user()
    org = organizations.create_organization(owner, "Org", via=Via.CLI)
    members.add_members(owner, org.id, [member.id], role=Role.VIEWER, via=Via.CLI)
    client = api(member)
    path = f"/api/organizations/{org.id}"
    assert client.get(path).get_json()["role"] == "VIEWER"

    members.update_members(owner, org.id, [member.id], role=Role.ADMIN, via=Via.CLI)
    assert client.get(path).get_json()["role"] == "ADMIN"
    members.add_members(owner, org.id, [make_user().id], via=Via.CLI)
    assert client.get(path).get_json()["member_count"] == 3
    assert client.get(f"{path}/users").get_json()["total_items"] == 3

    members.remove_members(owner, org.id, [member.id], via=Via.CLI)
    assert client.get(path).status_code == 404
    assert client.get(f"{path}/users").status_code == 404


def test_a_session_and_a_service_token_still_check_on_their_own(app, make_user):
    """Only a personal token's statement reads the Account; the other callers are checked by
    the services' own statements, as before."""
    owner, stranger = make_user(), make_user()
    org = organizations.create_organization(owner, "Org", via=Via.CLI)
    other = organizations.create_organization(stranger, "Other", via=Via.CLI)
    for user, status in ((stranger, 404), (owner, 200)):
        browser = app.test_client()
        login(browser, user)
        assert browser.get(f"/api/organizations/{org.id}").status_code == status
        assert browser.get(f"/api/organizations/{org.id}/users").status_code == status
    made = service_tokens.create_service_token(owner, org.id, "sync", "read", via=Via.CLI)
    service = ApiClient(app.test_client(), made.token)
    assert service.get(f"/api/organizations/{org.id}").get_json()["id"] == org.id
    assert service.get(f"/api/organizations/{org.id}/users").get_json()["total_items"] == 1
    assert service.get(f"/api/organizations/{other.id}").status_code == 404
    assert service.get(f"/api/organizations/{other.id}/users").status_code == 404


def test_a_token_and_a_session_get_the_same_answers(app, make_user, api):
    """The Account read with the token is the one the services' own check reads: the same
    bytes for the organization and the member page, for an owner and a viewer."""
    owner, viewer = make_user(), make_user()
    org = organizations.create_organization(owner, "Same é", via=Via.CLI)
    members.add_members(owner, org.id, [viewer.id], role=Role.VIEWER, via=Via.CLI)
    for user in (owner, viewer):
        browser = app.test_client()
        login(browser, user)
        token = api(user)
        for path in (f"/api/organizations/{org.id}", f"/api/organizations/{org.id}/users"):
            by_token, by_session = token.get(path), browser.get(path)
            assert by_token.status_code == by_session.status_code == 200, path
            assert by_token.get_data() == by_session.get_data(), path
