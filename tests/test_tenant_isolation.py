"""Nothing of one organization is ever shown in another (DESIGN §7).

Two organizations, A and B, shaped alike (the same member counts by role, the same kinds of
audit events: create, add, rename, update, suspend, remove, leave), every string of each
carrying its side's tag: names, emails, the organization's old and new names, the owners'
API token names. Users are created alternately and B's organization first, so the ids of the
two sides interleave and collide across kinds (from empty tables, B's organization gets the
id of A's owner, and A's organization that of B's owner). One person belongs to both.

Signed in as A's owner, every route of ``app.url_map`` that answers GET is asked for (URL
arguments from A's world; a URL argument the test cannot fill fails it, so a new route is
covered the day it is added), the dashboard pages also as htmx partials, the API with the
session cookie and with a Bearer token, and the member lists and the activity log with every
search, filter, sort and page variant. No answer, body or header, may carry B's tag, while A's
strings do show up. Then A's owner asks for every route of B by B's ids: 404 everywhere, no B
string in the answer, no row changed.
"""

from __future__ import annotations

import html
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote, quote_plus

import pytest
from flask import Flask
from sqlalchemy import update

from webapp.extensions import db
from webapp.models import Invitation, Role, User, Via
from webapp.services import invitations, members, organizations, service_tokens, tokens, users
from webapp.services.member_list import SORT_KEYS

from .conftest import PASSWORD
from .routes_support import (
    ORG_ARGUMENTS,
    ROUTES,
    Caller,
    Kind,
    Route,
    answer_text,
    build_url,
    differences,
    iter_get_rules,
    route_keys,
    route_url,
    session_caller,
    snapshot,
)

HX = {"HX-Request": "true"}
SCIM_USER = "urn:ietf:params:scim:schemas:core:2.0:User"
PATCH_OP = "urn:ietf:params:scim:api:messages:2.0:PatchOp"

# Each side's people: (key, role, active). "removed" and "leaver" only live on in the audit log.
PEOPLE: list[tuple[str, Role, bool]] = [
    ("owner", Role.OWNER, True),
    ("admin", Role.ADMIN, True),
    ("contributor", Role.CONTRIBUTOR, True),
    ("promoted", Role.CONTRIBUTOR, True),  # updated to ACCOUNTING after joining
    ("accounting", Role.ACCOUNTING, True),
    ("viewer", Role.VIEWER, True),
    ("suspended", Role.VIEWER, True),  # suspended after joining
    ("removed", Role.VIEWER, True),  # removed by the owner
    ("leaver", Role.CONTRIBUTOR, True),  # leaves by themselves
]


@dataclass
class Side:
    """One organization of the pair, every string of it carrying ``tag``."""

    tag: str  # lower case; searched for case-insensitively
    org_id: int = 0
    people: dict[str, User] = field(default_factory=dict)
    token_id: int = 0
    token_text: str = ""
    service_token_id: int = 0  # a write service token of the organization
    service_token_text: str = ""
    scim_token_text: str = ""
    invitation_id: int = 0
    change_id: str = ""  # the change set that removed "removed"

    @property
    def invitation_token(self) -> str:
        return f"{self.tag}-invitation-link-0123456789abcdef"

    @property
    def invitees(self) -> list[str]:
        """Addresses invited and not yet members (A one, B two)."""
        count = 1 if self.tag == A_TAG else 2
        return [f"{self.tag}.invitee{n}@{self.tag}.example" for n in range(count)]

    @property
    def title(self) -> str:
        return self.tag.title()

    @property
    def old_name(self) -> str:
        return f"{self.title} Old Name"

    @property
    def org_name(self) -> str:
        return f"{self.title} Organization"

    @property
    def token_name(self) -> str:
        return f"{self.title} token"

    @property
    def service_token_name(self) -> str:
        return f"{self.title} service token"

    @property
    def owner(self) -> User:
        return self.people["owner"]

    def current(self) -> list[User]:
        return [u for key, u in self.people.items() if key not in ("removed", "leaver")]

    def markers(self) -> list[str]:
        """The side's strings an owner of it sees somewhere in the dashboard or the API."""
        return [
            self.org_name,
            self.old_name,  # in the activity log's rename
            self.token_name,
            self.service_token_name,
            *(u.name for u in self.current()),
            *(u.email for u in self.people.values()),  # the removed ones in the activity log
            *self.invitees,
        ]


A_TAG, B_TAG = "qzvamark", "qzvbmark"


@dataclass
class Pair:
    a: Side
    b: Side
    shared: User  # a member of both organizations, with no tag
    outsider: User  # a member of neither


def build_pair() -> Pair:
    a, b = Side(A_TAG), Side(B_TAG)
    for key, _, _ in PEOPLE:  # alternately, so the two sides' user ids interleave
        for side in (a, b):
            side.people[key] = users.create_user(
                f"{side.tag}.{key}@{side.tag}.example",
                f"{side.title} {key.title()}",
                PASSWORD,
                via=Via.CLI,
            )
    shared = users.create_user("shared.person@example.com", "Shared Person", via=Via.CLI)
    outsider = users.create_user("out.sider@example.com", "Out Sider", via=Via.CLI)
    for side in (b, a):  # B first: B's organization gets the id of A's owner
        side.org_id = organizations.create_organization(side.owner, side.old_name, via=Via.CLI).id
    for side in (b, a):
        owner = side.owner
        token, side.token_text = tokens.create_token(owner, side.token_name, via=Via.CLI)
        side.token_id = token.id
        made = service_tokens.create_service_token(
            owner, side.org_id, side.service_token_name, "write", via=Via.CLI
        )
        side.service_token_id, side.service_token_text = made.id, made.token
        side.scim_token_text = service_tokens.create_service_token(
            owner, side.org_id, f"{side.tag} identity provider", "scim", via=Via.CLI
        ).token
        for key, role, active in PEOPLE[1:]:
            members.add_members(
                owner, side.org_id, [side.people[key].id], role=role, is_active=active, via=Via.CLI
            )
        members.add_members(owner, side.org_id, [shared.id], role=Role.VIEWER, via=Via.CLI)
        organizations.rename_organization(owner, side.org_id, side.org_name, via=Via.CLI)
        people = side.people
        members.update_members(
            owner, side.org_id, [people["promoted"].id], role=Role.ACCOUNTING, via=Via.CLI
        )
        members.update_members(
            owner, side.org_id, [people["suspended"].id], is_active=False, via=Via.CLI
        )
        members.update_members(owner, side.org_id, [shared.id], role=Role.ADMIN, via=Via.CLI)
        removal = members.remove_members(owner, side.org_id, [people["removed"].id], via=Via.CLI)
        assert removal is not None and removal.change_id
        side.change_id = removal.change_id
        members.leave_organization(people["leaver"], side.org_id, via=Via.CLI)
        made = invitations.invite(owner, side.org_id, side.invitees, Role.ADMIN, via=Via.CLI)
        side.invitation_id = made.invitations[0].id
        # A link the scan can open (the mailed one is random).
        db.session.execute(
            update(Invitation)
            .where(Invitation.id == side.invitation_id)
            .values(token_hash=invitations.hash_token(side.invitation_token))
        )
        db.session.commit()
    # B is bigger than A in every count, so a number read from the wrong organization shows.
    crowd = users.create_users(
        [(f"{B_TAG}.crowd{n}@{B_TAG}.example", f"{b.title} Crowd {n}") for n in range(B_EXTRA)],
        via=Via.CLI,
    )
    for role in Role:
        for is_active in (True, False):
            members.add_members(
                b.owner, b.org_id, [crowd.pop()], role=role, is_active=is_active, via=Via.CLI
            )
    return Pair(a, b, shared, outsider)


B_EXTRA = 2 * len(Role)  # B's extra members: of each role, one active and one suspended


def test_the_numbers_an_owner_sees_are_their_own_organizations(app):
    """Counts carry no tag to search for: A's summary, member count and list totals are A's
    exact numbers, while B's are bigger in every one."""
    pair = build_pair()
    a = pair.a
    expected = {
        "members_total": 8,  # the seven of PEOPLE still there, and the shared person
        "members_active": 7,  # all but the suspended one
        "members_inactive": 1,
        "role_owner": 1,
        "role_admin": 2,  # the admin and the shared person
        "role_contributor": 1,
        "role_accounting": 2,  # the accountant and the promoted one
        "role_viewer": 2,  # the viewer and the suspended one
        "owners_active": 1,
        "joined_last_30_days": 8,
        "invitations_pending": 1,
    }
    session = session_caller(app, a.owner)
    summary = session.get(f"/api/organizations/{a.org_id}/summary").get_json()
    assert {m["metric"]: m["value"] for m in summary} == expected
    account = session.get(f"/api/organizations/{a.org_id}").get_json()
    assert account["member_count"] == 8
    page = session.get(f"/api/organizations/{a.org_id}/users?role=VIEWER").get_json()
    assert page["total_items"] == 2
    overview = session.get(f"/orgs/{a.org_id}").get_data(as_text=True)
    assert '<div class="metric metric-members_total"><dt>Members</dt><dd>8</dd></div>' in overview
    members_page = session.get(f"/orgs/{a.org_id}/members").get_data(as_text=True)
    assert "of 8 members" in members_page
    listed = session.get("/api/organizations").get_json()
    assert {o["id"]: o["member_count"] for o in listed} == {a.org_id: 8}
    # B's numbers are other, so the checks above could tell them apart.
    b_summary = {m.metric: m.value for m in organizations.get_summary(pair.b.owner, pair.b.org_id)}
    assert all(b_summary[metric] != value for metric, value in expected.items())


# -- A's owner reads everything of A ----------------------------------------------------------


def url_arguments(pair: Pair) -> dict[str, Any]:
    """How each URL argument is filled from A's world. A new one fails the test until added."""
    a = pair.a
    return {
        "org_id": a.org_id,
        "organization_id": a.org_id,
        "user_id": a.people["contributor"].id,
        "token_id": a.token_id,
        "invitation_id": a.invitation_id,
        "change_id": a.change_id,
        "token": a.invitation_token,
        "user_ids": ",".join(str(u.id) for u in a.current()),
        "filename": "app.css",
        "path": "Users",  # SCIM: /scim/v2/Users, A's members as A's identity provider sees them
    }


def _member_list_variants(page: str, first_page: int) -> list[dict[str, Any]]:
    """Search, filter, sort and page the member list, by the page's or the API's names."""
    return [
        {},
        {"q": "Member"},
        {"q": "shared"},
        {"q": "example"},
        *({"role": role.name} for role in Role),
        {"is_active": "false"},
        {"is_active": "true"},
        *({"sort_by": key, "sort_ascending": "false"} for key in SORT_KEYS),
        *({"sort_by": key} for key in SORT_KEYS),
        {"page_size": 500},
        {"page_size": 1, page: first_page + 3},
        {"page_size": 2, page: first_page + 1, "sort_by": "user_id"},
        {page: first_page + 50},  # past the end
    ]


def _activity_variants(pair: Pair, by_member: list[int]) -> list[dict[str, Any]]:
    """The activity filters, with texts that name people of the other organization too."""
    b_admin = pair.b.people["admin"]
    return [
        {},
        {"page": 2},
        *({"member": user_id} for user_id in by_member),
        *({"user_id": user_id} for user_id in by_member),
        {"member": b_admin.name},
        {"member": b_admin.email},
        {"member": pair.shared.name},
        {"member": "example"},
        {"actor": pair.b.people["owner"].email},
        {"action": "member.add"},
        {"since": "2000-01-01", "until": "2100-01-01"},
    ]


def query_variants(pair: Pair) -> dict[str, list[dict[str, Any]]]:
    """Query strings asked of a route besides none at all."""
    by_member = [pair.shared.id, pair.a.people["removed"].id, pair.b.people["admin"].id]
    return {
        "web.members_list": _member_list_variants("page", 1),
        "api.list_members": _member_list_variants("page_number", 0),
        "api.export_members": _member_list_variants("page_number", 0),  # paging ignored
        "api.list_events": [
            {},
            {"limit": 1},
            *({"user_id": user_id} for user_id in by_member),
            {"action": "member.add"},
            {"actor": pair.a.people["owner"].email},
            {"since": "2000-01-01T00:00:00Z"},
        ],
        "web.activity": _activity_variants(pair, by_member),
        "web.activity_export": _activity_variants(pair, by_member),
    }


@dataclass
class Scan:
    """Every answer read, and what it showed."""

    answers: int = 0
    rules: set[str] = field(default_factory=set)
    leaks: list[str] = field(default_factory=list)
    seen: str = ""  # every answer, lower case, for the A-side sanity check

    def read(self, label: str, response: Any, typed: tuple[str, ...] = ()) -> str:
        """The answer's text; a leak if B's tag shows, except where it echoes what A typed
        (a filter naming B's people, shown back in its field and in the page's links)."""
        text = answer_text(response)
        self.answers += 1
        checked = text
        for value in typed:
            for form in {value, html.escape(value), quote(value), quote_plus(value)}:
                checked = checked.replace(form.lower(), "")
        if B_TAG in checked:
            at = checked.index(B_TAG)
            self.leaks.append(
                f"{label} -> {response.status_code}: ...{checked[at - 80 : at + 60]}..."
            )
        self.seen += text
        return text


@dataclass(frozen=True)
class Request:
    rule: str
    endpoint: str
    path: str
    transport: str  # web, web-htmx (the partial), cookie or bearer (the API), scim (A's token)
    plain: bool  # no query string
    typed: tuple[str, ...] = ()  # the query's values


def _requests(app: Flask, pair: Pair) -> Iterator[Request]:
    """Every GET of the url map, with its query variants, by every transport that serves it."""
    arguments = url_arguments(pair)
    variants = query_variants(pair)
    rules = list(iter_get_rules(app))
    # The state-changing GET leave last: A's owner is A's last owner, so it is refused (409).
    rules.sort(key=lambda rule: rule.endpoint == "api.leave_organization")
    for rule in rules:
        api = rule.endpoint.startswith("api.")
        scim = rule.endpoint.startswith("scim.")
        for query in variants.get(rule.endpoint, [{}]):
            path = build_url(app, rule.endpoint, "GET", arguments, query)
            kinds = (
                ("scim", "cookie") if scim else ("cookie", "bearer") if api else ("web", "web-htmx")
            )
            for transport in kinds:
                typed = tuple(str(value) for value in query.values())
                yield Request(rule.rule, rule.endpoint, path, transport, not query, typed)


# What the pages and answers of A (with no query string) must show of A.
EXPECTED_A: dict[str, Callable[[Side], list[str]]] = {
    "web.my_organizations": lambda side: [side.org_name],
    "web.organization": lambda side: [side.org_name],
    "web.members_list": lambda side: [u.name for u in side.current()],
    "web.activity": lambda side: [side.old_name, side.people["removed"].email],
    "web.tokens_page": lambda side: [side.token_name],
    "api.list_organizations": lambda side: [side.org_name],
    "api.get_organization": lambda side: [side.org_name],
    "api.list_members": lambda side: [u.email for u in side.current()],
    "api.export_members": lambda side: [u.email for u in side.current()],
    "api.list_events": lambda side: [side.people["removed"].email],
    "api.list_service_tokens": lambda side: [side.service_token_name],
    "web.service_tokens_page": lambda side: [side.service_token_name],
    "scim.endpoint": lambda side: [u.email for u in side.current()],
}


def test_owner_of_one_organization_sees_nothing_of_another(app):
    pair = build_pair()
    a = pair.a
    session = session_caller(app, a.owner)
    bearer = Caller(app.test_client(), bearer=a.token_text)
    scim = Caller(app.test_client(), bearer=a.scim_token_text)
    before = snapshot()
    scan = Scan()
    for request in _requests(app, pair):
        if request.transport == "bearer":
            response = bearer.get(request.path)
        elif request.transport == "scim":
            response = scim.get(request.path)
        else:  # the session; X-CSRFToken too, which the state-changing GET leave needs
            headers = {"X-CSRFToken": session.csrf or ""}
            if request.transport == "web-htmx":
                headers.update(HX)
            response = session.get(request.path, headers)
        scan.rules.add(request.rule)
        text = scan.read(f"{request.transport} GET {request.path}", response, request.typed)
        # 501 is an answer, not a failure: SCIM's search of the root, which Roster does not offer.
        not_offered = request.endpoint == "scim.root" and response.status_code == 501
        assert response.status_code < 500 or not_offered, f"{request.path}: {response.status_code}"
        shown_by = ("scim",) if request.endpoint.startswith("scim.") else ("web", "cookie")
        if request.plain and request.transport in shown_by:
            for expected in EXPECTED_A.get(request.endpoint, lambda side: [])(a):
                assert expected.lower() in text, f"{request.path} does not show A's {expected!r}"
    print(  # the figures the issue asks for, under pytest -s
        f"\ntenant isolation: {scan.answers} answers read from {len(scan.rules)} GET routes "
        f"(dashboard full and htmx, API by cookie and by Bearer, with query variants)"
    )
    assert not scan.leaks, "B's data shown to A's owner:\n" + "\n".join(scan.leaks)
    unseen = [marker for marker in a.markers() if marker.lower() not in scan.seen]
    assert not unseen, f"A's own strings never shown (is the scan reading anything?): {unseen}"
    assert not differences(before, snapshot()), "reading changed rows"


def test_every_get_route_is_scanned(app):
    """The scan takes its routes from the url map; the query variants name real endpoints."""
    pair = build_pair()
    scanned = {request.rule for request in _requests(app, pair)}
    assert scanned == {rule.rule for rule in iter_get_rules(app)}
    endpoints = {endpoint for endpoint, _ in route_keys(app)}
    assert set(query_variants(pair)) <= endpoints
    assert set(EXPECTED_A) <= endpoints


def test_unknown_url_argument_fails_the_scan(app):
    """A route with an argument the scan cannot fill makes it fail, not skip the route."""
    app.add_url_rule("/orgs/<int:org_id>/widgets/<int:widget_id>", "widget", lambda **_: "")
    with pytest.raises(pytest.fail.Exception, match="widget_id"):
        list(_requests(app, build_pair()))


# -- A's owner asks for B's routes ------------------------------------------------------------


def _org_routes(app: Flask) -> list[Route]:
    """Every route of ROUTES that belongs to an organization, and HEAD of its GETs."""
    found = [route for route in ROUTES if route.access.kind is Kind.ORG]
    return [*found, *(route.head() for route in found if route.method == "GET")]


def test_every_route_with_an_organization_in_its_url_is_asked(app):
    org_routes = {(route.endpoint, route.method) for route in _org_routes(app)}
    with_org = {
        (rule.endpoint, method)
        for rule in app.url_map.iter_rules()
        if set(rule.arguments) & ORG_ARGUMENTS
        for method in (rule.methods or set()) - {"OPTIONS"}
    }
    assert with_org <= org_routes, f"no request for {sorted(with_org - org_routes)}"


def test_owner_of_one_organization_gets_not_found_for_another(app):
    pair = build_pair()
    b = pair.b
    refs = {  # B's world: B's ids and names
        "org": b.org_id,
        "org_name": b.org_name,
        "target": b.people["contributor"].id,
        "owner2": b.owner.id,
        "newcomer": pair.outsider.id,
        "newcomer_email": pair.outsider.email,
        "import_file": f"email,role\n{pair.outsider.email},CONTRIBUTOR\n",
        "invitation": b.invitation_id,
        "owner_invitation": b.invitation_id,
        "change": b.change_id,
        "owner_change": b.change_id,
        "service_token": b.service_token_id,
    }
    session = session_caller(app, pair.a.owner)
    bearer = Caller(app.test_client(), bearer=pair.a.token_text)
    # A's write service token is A's too: B's routes answer it 404, as to A's owner.
    service = Caller(app.test_client(), bearer=pair.a.service_token_text)
    before = snapshot()
    wrong = []
    asked = 0
    for route in _org_routes(app):
        path = route_url(app, route, refs)
        callers = [("session", session), ("bearer", bearer), ("service token", service)]
        for name, caller in callers[: 3 if route.api else 1]:
            response = caller.send(route, path, refs)
            asked += 1
            text = answer_text(response)
            if response.status_code != 404:
                wrong.append(f"{name} {route} {path}: {response.status_code}, expected 404")
            if B_TAG in text:
                wrong.append(f"{name} {route} {path}: the answer shows B's data")
            if route.api and response.mimetype != "application/problem+json":
                wrong.append(f"{name} {route} {path}: {response.mimetype}")
    print(f"\ntenant isolation: {asked} requests for B's routes by B's ids")
    assert not wrong, "\n".join(wrong)
    assert not differences(before, snapshot())


# -- A's identity provider asks for B's members ----------------------------------------------

SCIM_JSON = "application/scim+json"


def test_a_scim_token_reaches_only_its_own_organization(app):
    """DESIGN §10: a scim token names its organization. A's, given B's member ids (and the one
    person in both, as a B-side id would be), lists, filters and groups only A; B's members
    are 404 to read, replace, patch and delete, and naming them in a group is refused; no
    answer carries B's tag and no row changes."""
    pair = build_pair()
    a, b = pair.a, pair.b
    scim = Caller(app.test_client(), bearer=a.scim_token_text)
    b_only = [u for key, u in b.people.items() if u.id not in {m.id for m in a.current()}]
    before = snapshot()
    scan = Scan()
    reads = [
        "/scim/v2/Users",
        "/scim/v2/Users?count=200",
        "/scim/v2/Users?startIndex=2&count=3",
        f"/scim/v2/Users?filter={quote(f'userName co {chr(34)}{B_TAG}{chr(34)}')}",
        f"/scim/v2/Users?filter={quote(f'emails.value sw {chr(34)}{B_TAG}{chr(34)}')}",
        f"/scim/v2/Users?filter={quote('active eq false')}",
        "/scim/v2/Groups",
        *(f"/scim/v2/Groups/{role.name.lower()}" for role in Role),
        *(f"/scim/v2/Users/{user.id}" for user in b_only),
    ]
    for path in reads:
        response = scim.get(path)
        scan.read(f"GET {path}", response)
        assert response.status_code in (200, 404), f"{path}: {response.status_code}"
        assert response.mimetype == SCIM_JSON
    for user in b_only:
        assert scim.get(f"/scim/v2/Users/{user.id}").status_code == 404
        for method, body in (
            ("PUT", {"schemas": [SCIM_USER], "userName": user.email, "active": False}),
            (
                "PATCH",
                {
                    "schemas": [PATCH_OP],
                    "Operations": [{"op": "replace", "value": {"active": False}}],
                },
            ),
            ("DELETE", None),
        ):
            response = scim.client.open(
                f"/scim/v2/Users/{user.id}",
                method=method,
                json=body,
                headers={"Authorization": f"Bearer {a.scim_token_text}"},
            )
            scan.read(f"{method} {user.id}", response)
            assert response.status_code == 404, f"{method} Users/{user.id}: {response.status_code}"
            assert response.get_json()["status"] == "404"
    add_b = {
        "schemas": [PATCH_OP],
        "Operations": [
            {"op": "add", "path": "members", "value": [{"value": str(u.id)} for u in b_only]}
        ],
    }
    response = scim.client.patch(
        "/scim/v2/Groups/admin",
        json=add_b,
        headers={"Authorization": f"Bearer {a.scim_token_text}"},
    )
    scan.read("PATCH Groups/admin", response)
    assert response.status_code == 400, response.get_data(as_text=True)
    listed = scim.get("/scim/v2/Users?count=200").get_json()
    a_members = {u.email for u in a.current()} | {pair.shared.email}
    assert {r["userName"] for r in listed["Resources"]} == a_members
    assert listed["totalResults"] == len(a_members)
    assert not scan.leaks, "B's data shown to A's identity provider:\n" + "\n".join(scan.leaks)
    assert not differences(before, snapshot()), "A's scim token changed rows"
