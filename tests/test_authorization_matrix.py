"""The authorization matrix: every route of ``app.url_map`` x method x actor x transport.

The expected answer of each case is derived from ``routes_support.ROUTES`` (who may use each
route) and DESIGN §3-§5, transcribed below, not read from the code under test:

- anonymous: the dashboard redirects to ``/login?next=<path>``; the API answers 401
  problem+json with ``WWW-Authenticate: Bearer``;
- a stranger and the owner of another organization: 404 for every route of the organization;
- a member without the permission: 403; a suspended member: 403 except what a suspension allows
  (asking for one's role, leaving);
- the API twice, with a Bearer token and with the session cookie + ``X-CSRFToken``; and the
  session cookie without the header on every state-changing API request: 400 ``csrf_failed``;
- service tokens (DESIGN §10), as Bearer on the API and sent along to the dashboard (which
  ignores them: an anonymous visitor): a read, a write and a scim token of the organization
  and a write token of another organization. Another organization's token gets 404 for every
  route of the organization, as a stranger; read: GET only; write: also members below OWNER,
  never the organization itself, an owner, a role of its own or tokens; scim: 403 everywhere
  on /api. Of the routes not about one organization, listing gives the token's own
  organization (scim: 403), creating one is refused (403).
- SCIM at /scim/v2 (DESIGN §10): only the organization's scim token, as Bearer, whose
  organization it names; no Authorization (anonymous, a browser session): 401; any other valid
  token, personal or of another scope: 403; errors as ``application/scim+json``. Its
  ServiceProviderConfig is public (RFC 7643 §5).

HEAD is asked of every GET route: the same status, and never a change (the state-changing
``GET .../leave`` included). A refused request changes no row: every table is compared before
and after each request (``api_tokens.last_used_at`` aside, which token use updates by design).
The cases that change nothing share one world per endpoint; each allowed change gets a fresh
world and is checked for its effect. ``pytest -s`` prints the number of cases.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from flask import Flask
from sqlalchemy import select, update

from webapp.extensions import db
from webapp.models import Invitation, Role, User, Via
from webapp.services import invitations, members, organizations, service_tokens, tokens, users
from webapp.services.permissions import Action

from .conftest import PASSWORD
from .design import DESIGN_SUSPENDED, DESIGN_TABLE
from .routes_support import (
    INVITATION_TOKEN,
    ROUTES,
    SAFE_METHODS,
    Caller,
    Kind,
    Route,
    differences,
    route_keys,
    route_url,
    session_caller,
    snapshot,
)


@dataclass(frozen=True)
class Actor:
    name: str
    role: Role | None = None  # the membership of the organization under test, if any
    active: bool = True
    signed_in: bool = True
    last_owner: bool = False  # the only active owner of an organization (not the one under test)
    scope: str | None = None  # a service token of this scope, not a person
    own_org: bool = True  # the service token is of the organization under test

    def may(self) -> set[Action]:
        if self.scope is not None:
            return set(TOKEN_MAY[self.scope]) if self.own_org else set()
        if self.role is None:
            return set()
        return {
            action
            for action, roles in DESIGN_TABLE.items()
            if self.role in roles and (self.active or action in DESIGN_SUSPENDED)
        }

    def __str__(self) -> str:
        return self.name


ANONYMOUS = Actor("anonymous", signed_in=False)
ACTORS = [
    ANONYMOUS,
    Actor("stranger"),
    Actor("other_owner", last_owner=True),  # the only owner of another organization
    *(Actor(role.name.lower(), role) for role in Role),
    Actor("suspended_admin", Role.ADMIN, active=False),
    Actor("read_token", signed_in=False, scope="read"),
    Actor("write_token", signed_in=False, scope="write"),
    Actor("scim_token", signed_in=False, scope="scim"),
    Actor("foreign_write_token", signed_in=False, scope="write", own_org=False),
]
# DESIGN §10, transcribed: what a service token of the organization may do on /api.
_READS = {Action.VIEW, Action.VIEW_SUMMARY, Action.VIEW_AUDIT}
TOKEN_MAY: dict[str, set[Action]] = {
    "read": _READS,
    "write": _READS | {Action.MANAGE_MEMBERS},
    "scim": set(),
}


class Transport(enum.Enum):
    WEB = "web"  # the dashboard: session cookie, forms carry csrf_token
    BEARER = "bearer"  # the API with Authorization: Bearer
    COOKIE = "cookie"  # the API with the session cookie + X-CSRFToken where DESIGN asks
    COOKIE_NO_CSRF = "cookie-no-csrf"  # ... leaving the header out

    def __str__(self) -> str:
        return self.value


def transports(route: Route, actor: Actor | None = None) -> list[Transport]:
    if route.scim:  # a personal token and a browser session; a service token has no session
        if actor is not None and actor.scope is not None:
            return [Transport.BEARER]
        return [Transport.BEARER, Transport.WEB]
    if not route.api:
        return [Transport.WEB]
    if actor is not None and actor.scope is not None:
        return [Transport.BEARER]  # a service token has no session
    found = [Transport.BEARER, Transport.COOKIE]
    if route.needs_csrf:
        found.append(Transport.COOKIE_NO_CSRF)
    return found


@dataclass(frozen=True)
class Outcome:
    status: int
    changes: bool = False
    code: str | None = None  # the problem's code, when it is part of the promise


def outcome(route: Route, transport: Transport, actor: Actor) -> Outcome:
    """What DESIGN says this actor gets from this route."""
    access = route.access
    if access.kind is Kind.SCIM:
        return scim_outcome(route, transport, actor)
    if actor.scope is not None:
        return token_outcome(route, actor)
    if access.kind is Kind.PUBLIC:
        if actor.signed_in and route.signed_in_ok is not None:
            return Outcome(route.signed_in_ok)
        return Outcome(route.ok, route.effect is not None)
    if not actor.signed_in:
        return Outcome(401, code="not_authenticated") if route.api else Outcome(302)
    if transport is Transport.COOKIE_NO_CSRF:
        return Outcome(400, code="csrf_failed")
    if access.kind is Kind.INVITEE:
        return Outcome(403)
    if access.kind is Kind.SIGNED_IN:
        if access.unless_last_owner and actor.last_owner:
            return Outcome(409)
        return Outcome(route.ok, route.effect is not None)
    if access.kind is Kind.NOBODY or actor.role is None:
        return Outcome(404)
    may = actor.may()
    allowed = bool(access.actions & may) and (
        not access.owner_target or Action.MANAGE_OWNERS in may
    )
    return Outcome(route.ok, route.effect is not None) if allowed else Outcome(403)


def scim_outcome(route: Route, transport: Transport, actor: Actor) -> Outcome:
    """DESIGN §10: the organization's scim token only; 401 without a token, 403 with another."""
    if actor.scope == "scim" and actor.own_org:
        return Outcome(route.ok, route.effect is not None)
    if actor.scope is not None or (actor.signed_in and transport is Transport.BEARER):
        return Outcome(403)
    return Outcome(401)


def token_outcome(route: Route, actor: Actor) -> Outcome:
    """What DESIGN §10 says a service token gets: the dashboard ignores it (anonymous)."""
    access = route.access
    if access.kind is Kind.PUBLIC:
        return Outcome(route.ok, route.effect is not None)
    if not route.api:
        return Outcome(302)
    if access.kind is Kind.SIGNED_IN:  # listing: its own organization; creating: a person's
        readable = route.method in SAFE_METHODS and actor.scope != "scim"
        return Outcome(route.ok) if readable else Outcome(403)
    if access.kind is Kind.NOBODY or not actor.own_org:
        return Outcome(404)
    allowed = bool(access.actions & actor.may()) and not access.owner_target
    return Outcome(route.ok, route.effect is not None) if allowed else Outcome(403)


# Every entry, and HEAD of every GET entry.
ALL_ROUTES = [*ROUTES, *(route.head() for route in ROUTES if route.method == "GET")]
CASES = [
    (route, transport, actor)
    for route in ALL_ROUTES
    for actor in ACTORS
    for transport in transports(route, actor)
]
CHANGING = [case for case in CASES if outcome(*case).changes]
# The cases that must change nothing, by endpoint: one world for each endpoint.
STILL: dict[str, list[tuple[Route, Transport, Actor]]] = {}
for _case in CASES:
    if not outcome(*_case).changes:
        STILL.setdefault(_case[0].endpoint, []).append(_case)


@pytest.fixture
def app_config(app_config):
    # Every actor asks for a reset link for the same address from the same client: limits that
    # count every request would refuse the later ones, for a reason that is not authorization.
    return app_config | {
        "ROSTER_RESET_LIMIT_PER_EMAIL": "1000 per minute",
        "ROSTER_RESET_LIMIT_PER_ADDRESS": "1000 per minute",
    }


# -- the world --------------------------------------------------------------------------------

MEMBERS: dict[str, tuple[Role, bool]] = {
    "owner2": (Role.OWNER, True),  # a second owner: the target of the MANAGE_OWNERS rows
    "admin": (Role.ADMIN, True),
    "contributor": (Role.CONTRIBUTOR, True),
    "accounting": (Role.ACCOUNTING, True),
    "viewer": (Role.VIEWER, True),
    "suspended_admin": (Role.ADMIN, False),
    "target": (Role.CONTRIBUTOR, True),  # a plain member, the target of member changes
}


# The change sets the revert routes undo: (ref of its id) -> (who it added, with which role).
REVERTED_CHANGES = {
    "change": ("added", Role.VIEWER),
    "owner_change": ("added_owner", Role.OWNER),
}
REVERTED = tuple(name for name, _ in REVERTED_CHANGES.values())


@dataclass
class World:
    """One organization with a member of each role, a suspended admin, a second owner and a
    plain contributor as targets; a stranger, the owner of another organization, and a
    newcomer to add. API tokens are made when first needed; the newcomer's is the foreign one.
    """

    app: Flask
    people: dict[str, User]
    org_id: int
    org_name: str
    invitations: dict[str, int]
    change_sets: dict[str, str]
    tokens: dict[str, tuple[int, str]] = field(default_factory=dict)
    service_token_id: int = 0  # the organization's token that the revoke route revokes
    callers: dict[tuple[Actor, str], Caller] = field(default_factory=dict)

    @classmethod
    def build(cls, app: Flask) -> World:
        # One statement for the users: sessions are signed in directly. The stranger signs in
        # through the login form in the matrix; everyone's password confirms changes to their
        # own account (one UPDATE gives them all the same one).
        names = ("owner", *MEMBERS, "other_owner", "newcomer", *REVERTED)
        ids = users.create_users(
            [(f"{name}@matrix.example", name.replace("_", " ").title()) for name in names],
            via=Via.CLI,
        )
        db.session.execute(
            update(User)
            .where(User.id.in_(ids))
            .values(password_hash=users.password_hasher.hash(PASSWORD))
        )
        by_id = {user.id: user for user in db.session.scalars(select(User))}
        people = {name: by_id[user_id] for name, user_id in zip(names, ids, strict=True)}
        people["stranger"] = users.create_user(
            "stranger@matrix.example", "Stranger", PASSWORD, via=Via.CLI
        )
        account = organizations.create_organization(people["owner"], "Matrix Org", via=Via.CLI)
        organizations.create_organization(people["other_owner"], "Other Org", via=Via.CLI)
        groups: dict[tuple[Role, bool], list[int]] = {}
        for name, state in MEMBERS.items():
            groups.setdefault(state, []).append(people[name].id)
        for (role, active), group in groups.items():
            members.add_members(
                people["owner"], account.id, group, role=role, is_active=active, via=Via.CLI
            )
        # A change set each for the revert routes: one that added a viewer, one an owner.
        change_sets = {
            ref: members.add_members(
                people["owner"], account.id, [people[name].id], role=role, via=Via.CLI
            ).change_id
            for ref, (name, role) in REVERTED_CHANGES.items()
        }
        pending = {}
        for key, role in (("invitation", Role.VIEWER), ("owner_invitation", Role.OWNER)):
            made = invitations.invite(
                people["owner"], account.id, [f"{key}@matrix.example"], role, via=Via.CLI
            )
            pending[key] = made.invitations[0].id
        # The VIEWER invitation's link is one the table knows (the mailed one is random).
        db.session.execute(
            update(Invitation)
            .where(Invitation.id == pending["invitation"])
            .values(token_hash=invitations.hash_token(INVITATION_TOKEN))
        )
        revoked = service_tokens.create_service_token(
            people["owner"], account.id, "to revoke", "read", via=Via.CLI
        )
        db.session.commit()
        world = cls(app, people, account.id, account.organization_name, pending, change_sets)
        world.service_token_id = revoked.id
        return world

    def service_token(self, actor: Actor) -> str:
        """The text of the actor's service token, made on first use (of another organization
        for ``own_org=False``)."""
        if actor.name not in self.tokens:
            owner = self.people["owner" if actor.own_org else "other_owner"]
            org_id = (
                self.org_id if actor.own_org else organizations.list_my_organizations(owner)[0].id
            )
            made = service_tokens.create_service_token(
                owner, org_id, actor.name, str(actor.scope), via=Via.CLI
            )
            self.tokens[actor.name] = made.id, made.token
        return self.tokens[actor.name][1]

    def token(self, name: str) -> tuple[int, str]:
        """The user's API token (id, text), made on first use."""
        if name not in self.tokens:
            token, text = tokens.create_token(self.people[name], "matrix", via=Via.CLI)
            self.tokens[name] = token.id, text
        return self.tokens[name]

    def user(self, actor: Actor) -> User | None:
        return self.people.get(actor.name) if actor.signed_in else None

    def refs(self, actor: Actor, route: Route) -> dict[str, Any]:
        """The values the route's request and its effect are built from, for this actor."""
        me = self.user(actor)
        refs = {
            "org": self.org_id,
            "org_name": self.org_name,
            "target": self.people["target"].id,
            "owner2": self.people["owner2"].id,
            "newcomer": self.people["newcomer"].id,
            "newcomer_email": self.people["newcomer"].email,
            "target_email": self.people["target"].email,
            "target_path": f"Users/{self.people['target'].id}",
            "import_file": f"email,role\n{self.people['newcomer'].email},CONTRIBUTOR\n",
            "login_email": self.people["stranger"].email,
            "session_token": me.session_token if me else None,
        }
        if "reset_token" in route.ref_names:  # the stranger's link, as the mail would carry it
            refs["reset_token"] = users.password_reset_token(self.people["stranger"])
        refs.update(self.change_sets)
        refs["service_token"] = self.service_token_id
        for name in REVERTED:
            refs[name] = self.people[name].id
        for key, invitation_id in self.invitations.items():
            refs[key] = invitation_id
            refs[f"{key}_token_hash"] = db.session.scalar(
                select(Invitation.token_hash).where(Invitation.id == invitation_id)
            )
        if "foreign_token" in route.ref_names:
            refs["foreign_token"] = self.token("newcomer")[0]
        if "own_token" in route.ref_names:
            refs["own_token"] = self.token(actor.name if me else "owner")[0]
        return refs

    def caller(self, actor: Actor, transport: Transport) -> Caller:
        """The actor's client for this transport: one per actor and kind, kept for the world.

        Anonymous callers are never kept: signing in through the login form would change them.
        """
        if actor.scope is not None:  # never kept: the dashboard's sign-in form would change it
            caller = session_caller(self.app, None)
            caller.bearer = self.service_token(actor)
            return caller
        kind = "bearer" if transport is Transport.BEARER else "session"
        if not actor.signed_in or (actor, kind) not in self.callers:
            if kind == "bearer":
                bearer = self.token(actor.name)[1] if actor.signed_in else None
                caller = Caller(self.app.test_client(), bearer=bearer)
            else:
                caller = session_caller(self.app, self.user(actor))
            if not actor.signed_in:
                return caller
            self.callers[actor, kind] = caller
        return self.callers[actor, kind]

    def prepare(self, route: Route, transport: Transport, actor: Actor) -> Prepared:
        """Everything the request needs that writes rows (tokens, sessions), made now."""
        refs = self.refs(actor, route)
        path = route_url(self.app, route, refs)
        caller = self.caller(actor, transport)
        return Prepared(route, transport, actor, refs, path, caller)


@dataclass(frozen=True)
class Prepared:
    route: Route
    transport: Transport
    actor: Actor
    refs: dict[str, Any]
    path: str
    caller: Caller

    def send(self) -> Any:
        csrf_header = self.transport is not Transport.COOKIE_NO_CSRF
        return self.caller.send(self.route, self.path, self.refs, csrf_header=csrf_header)


# -- checking an answer -----------------------------------------------------------------------


def mismatches(
    route: Route, actor: Actor, expected: Outcome, path: str, response: Any
) -> list[str]:
    """What is wrong with the answer (empty when it is the one DESIGN promises)."""
    got = response.status_code
    if got != expected.status:
        return [f"status {got}, expected {expected.status}"]
    wrong = []
    if route.scim and got >= 400 and route.method != "HEAD":
        body = response.get_json(silent=True) or {}
        if response.mimetype != "application/scim+json":
            wrong.append(f"{response.mimetype}, expected application/scim+json")
        elif body.get("status") != str(got):
            wrong.append(f"SCIM error status {body.get('status')!r}, expected {str(got)!r}")
    if route.api and got >= 400:
        if response.mimetype != "application/problem+json":
            wrong.append(f"{response.mimetype}, expected application/problem+json")
        elif expected.code and route.method != "HEAD":
            code = (response.get_json(silent=True) or {}).get("code")
            if code != expected.code:
                wrong.append(f"code {code!r}, expected {expected.code!r}")
    if got == 401 and not response.headers.get("WWW-Authenticate", "").startswith("Bearer"):
        wrong.append("no WWW-Authenticate: Bearer")
    redirects = not route.api and not route.scim and route.access.kind is not Kind.PUBLIC
    if not actor.signed_in and redirects:
        location = urlsplit(response.headers.get("Location", ""))
        if location.path != "/login" or parse_qs(location.query).get("next") != [path]:
            wrong.append(f"redirected to {response.headers.get('Location')!r}, not to sign in")
    return wrong


def _case_id(route: Route, transport: Transport, actor: Actor | None = None) -> str:
    return f"{route}-{transport}" + (f"-{actor}" if actor else "")


# -- the tests --------------------------------------------------------------------------------


@pytest.mark.parametrize("endpoint", list(STILL))
def test_request_that_must_change_nothing(app, endpoint):
    """Refused requests, and allowed ones that only read: every method, transport and actor of
    one endpoint in one world. A request that changed rows is reported, and the next one is
    compared with what it left."""
    world = World.build(app)
    # Sessions and tokens first: they are rows too, and must exist before the first snapshot.
    cases = [world.prepare(*case) for case in STILL[endpoint]]
    before = snapshot()
    failures = []
    for case in cases:
        response = case.send()
        expected = outcome(case.route, case.transport, case.actor)
        wrong = mismatches(case.route, case.actor, expected, case.path, response)
        after = snapshot()
        changed = differences(before, after)
        if changed:
            wrong.append(f"changed rows: {changed}")
            before = after
        if wrong:
            label = _case_id(case.route, case.transport, case.actor)
            failures.append(f"{label} {case.path}: {'; '.join(wrong)}")
    assert not failures, "\n".join(failures)


@pytest.mark.parametrize(
    ("route", "transport", "actor"),
    CHANGING,
    ids=[_case_id(*case) for case in CHANGING],
)
def test_allowed_request_makes_its_change(app, route, transport, actor):
    world = World.build(app)
    case = world.prepare(route, transport, actor)
    response = case.send()
    wrong = mismatches(route, actor, outcome(route, transport, actor), case.path, response)
    assert not wrong, f"{wrong}\n{response.get_data(as_text=True)[:2000]}"
    me = world.user(actor)
    assert route.effect is not None
    assert route.effect(case.refs, me.id if me else None), f"{route.effect.__name__} didn't happen"


def test_every_route_of_the_url_map_has_an_entry(app):
    """A new route fails here until the table says who may use it."""
    missing = route_keys(app) - {route.key for route in ROUTES}
    assert not missing, f"routes without an entry in routes_support.ROUTES: {sorted(missing)}"


def test_every_entry_names_a_real_route(app):
    unknown = {route.key for route in ROUTES} - route_keys(app)
    assert not unknown, f"entries for routes the app does not have: {sorted(unknown)}"


def test_head_is_covered_with_get(app):
    """HEAD comes with every GET (Flask adds it); the matrix asks it of every GET route."""
    heads = {route.key for route in ALL_ROUTES if route.method == "HEAD"}
    gets = {(endpoint, "HEAD") for endpoint, method in route_keys(app) if method == "GET"}
    assert heads == gets


def test_matrix_size():
    still = sum(len(cases) for cases in STILL.values())
    assert still + len(CHANGING) == len(CASES)
    assert len({(str(r), t, a) for r, t, a in CASES}) == len(CASES)
    print(  # the figure the issue asks for, under pytest -s
        f"\nauthorization matrix: {len(CASES)} cases ({len(ALL_ROUTES)} route entries incl. "
        f"HEAD, {len(ACTORS)} actors; {len(CHANGING)} allowed changes in fresh worlds, "
        f"{still} refused or read-only in {len(STILL)} shared worlds)"
    )
