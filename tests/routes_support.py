"""Shared by the authorization matrix and the tenant-isolation tests (not a conftest).

``ROUTES`` is one table: for every route and method of ``app.url_map``, who may use it (DESIGN
§3-§5) and one valid request an allowed actor would succeed with, so that a refusal is the
permission's and never the input's. Values that depend on the world under test are ``Ref``s,
resolved against a ``refs`` mapping when the request is sent.

Also here: URL building from the url map (a URL argument nobody knows how to fill fails the
test), snapshots of every table, and signed-in clients.
"""

from __future__ import annotations

import enum
import json
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

import pytest
from argon2.exceptions import VerificationError
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select
from werkzeug.routing import Rule

from webapp.extensions import db
from webapp.models import (
    ApiToken,
    Base,
    Invitation,
    Membership,
    Organization,
    Role,
    ServiceToken,
    User,
)
from webapp.services import users
from webapp.services.permissions import Action

from .conftest import PASSWORD, csrf_token

SAFE_METHODS = frozenset({"GET", "HEAD"})
# DESIGN §4: the documented GET .../leave changes state, so a session needs X-CSRFToken on it.
STATE_CHANGING_GETS = frozenset({"api.leave_organization"})
# URL arguments that name the organization under test, whatever the blueprint calls them.
ORG_ARGUMENTS = frozenset({"org_id", "organization_id"})

NEW_NAME = "Renamed By Matrix"
NEW_ORG_NAME = "Made By Matrix"
TOKEN_NAME = "matrix token"
SERVICE_TOKEN_NAME = "matrix service token"
SIGNUP_EMAIL = "newly.signed.up@example.com"
SCIM_USER = "urn:ietf:params:scim:schemas:core:2.0:User"


# -- world references -------------------------------------------------------------------------


@dataclass(frozen=True)
class Ref:
    """A value taken from the world under test when the request is built (an id, an email)."""

    name: str


def resolve(value: Any, refs: Mapping[str, Any]) -> Any:
    if isinstance(value, Ref):
        if value.name not in refs:
            pytest.fail(f"the world under test has no value for {value.name!r}")
        return refs[value.name]
    if isinstance(value, Mapping):
        return {key: resolve(item, refs) for key, item in value.items()}
    if isinstance(value, list):
        return [resolve(item, refs) for item in value]
    return value


def _ref_names(value: Any) -> Iterable[str]:
    if isinstance(value, Ref):
        yield value.name
    elif isinstance(value, Mapping):
        for item in value.values():
            yield from _ref_names(item)
    elif isinstance(value, list):
        for item in value:
            yield from _ref_names(item)


# -- who may use a route ----------------------------------------------------------------------


class Kind(enum.Enum):
    PUBLIC = "public"  # anyone, signed in or not
    SIGNED_IN = "signed in"  # any signed-in user
    ORG = "org"  # a member of the organization named in the URL (or body) with a permission
    NOBODY = "nobody"  # no signed-in user may (another user's token): 404 for all
    INVITEE = "invitee"  # only the invited address, which no actor has: 403 when signed in
    SCIM = "scim"  # only the organization's scim service token (DESIGN §10), as Bearer


@dataclass(frozen=True)
class Access:
    kind: Kind
    # ORG: any one of these actions is enough (the settings page: RENAME or DELETE).
    actions: frozenset[Action] = frozenset()
    # ORG: the request grants OWNER or touches an owner, so MANAGE_OWNERS is needed too.
    owner_target: bool = False
    # SIGNED_IN: refused (409) to the last active owner of an organization (deleting one's
    # account, DESIGN §8).
    unless_last_owner: bool = False

    def __str__(self) -> str:
        if self.kind is not Kind.ORG:
            return self.kind.value
        needs = " or ".join(sorted(self.actions))
        return f"{needs} + manage_owners" if self.owner_target else needs


PUBLIC = Access(Kind.PUBLIC)
SIGNED_IN = Access(Kind.SIGNED_IN)
SIGNED_IN_UNLESS_LAST_OWNER = Access(Kind.SIGNED_IN, unless_last_owner=True)
NOBODY = Access(Kind.NOBODY)
INVITEE = Access(Kind.INVITEE)
SCIM = Access(Kind.SCIM)


def org(*actions: Action, owner_target: bool = False) -> Access:
    return Access(Kind.ORG, frozenset(actions), owner_target)


# -- what an allowed request changes ----------------------------------------------------------

# (refs, the acting user's id or None) -> whether the database shows the change.
Effect = Callable[[Mapping[str, Any], int | None], bool]


def _membership(org_id: int, user_id: int) -> Membership | None:
    return db.session.scalar(
        select(Membership).where(
            Membership.organization_id == org_id, Membership.user_id == user_id
        )
    )


def renamed(refs: Mapping[str, Any], actor_id: int | None) -> bool:
    return (
        db.session.scalar(
            select(Organization.organization_name).where(Organization.id == refs["org"])
        )
        == NEW_NAME
    )


def deleted(refs: Mapping[str, Any], actor_id: int | None) -> bool:
    return db.session.get(Organization, refs["org"]) is None


def left(refs: Mapping[str, Any], actor_id: int | None) -> bool:
    return _membership(refs["org"], actor_id) is None


def member(ref: str, *, role: Role | None = None, active: bool | None = None) -> Effect:
    """The member named by ``ref`` now has this role and/or active flag."""

    def check(refs: Mapping[str, Any], actor_id: int | None) -> bool:
        row = _membership(refs["org"], refs[ref])
        return (
            row is not None
            and (role is None or row.role is role)
            and (active is None or row.is_active is active)
        )

    check.__name__ = f"member_{ref}_{role.name if role else ''}{'' if active is None else active}"
    return check


def removed(ref: str) -> Effect:
    def check(refs: Mapping[str, Any], actor_id: int | None) -> bool:
        return _membership(refs["org"], refs[ref]) is None

    check.__name__ = f"removed_{ref}"
    return check


def imported(refs: Mapping[str, Any], actor_id: int | None) -> bool:
    """The import's file (``IMPORT_FILE``) added the newcomer as a CONTRIBUTOR."""
    return member("newcomer", role=Role.CONTRIBUTOR)(refs, actor_id)


def transferred(refs: Mapping[str, Any], actor_id: int | None) -> bool:
    """The target is an active OWNER, and the owner who handed over is now an ADMIN."""
    me = _membership(refs["org"], actor_id) if actor_id is not None else None
    return member("target", role=Role.OWNER, active=True)(refs, actor_id) and (
        me is not None and me.role is Role.ADMIN
    )


def org_created(refs: Mapping[str, Any], actor_id: int | None) -> bool:
    made = db.session.execute(
        select(Membership.role)
        .join(Organization, Organization.id == Membership.organization_id)
        .where(Organization.organization_name == NEW_ORG_NAME, Membership.user_id == actor_id)
    ).scalar()
    return made is Role.OWNER


def token_created(refs: Mapping[str, Any], actor_id: int | None) -> bool:
    return (
        db.session.scalar(
            select(ApiToken.id).where(ApiToken.user_id == actor_id, ApiToken.name == TOKEN_NAME)
        )
        is not None
    )


def token_revoked(refs: Mapping[str, Any], actor_id: int | None) -> bool:
    token = db.session.get(ApiToken, refs["own_token"], populate_existing=True)
    return token is not None and token.revoked_at is not None


def service_token_created(refs: Mapping[str, Any], actor_id: int | None) -> bool:
    return (
        db.session.scalar(
            select(ServiceToken.id).where(
                ServiceToken.organization_id == refs["org"],
                ServiceToken.name == SERVICE_TOKEN_NAME,
            )
        )
        is not None
    )


def service_token_revoked(refs: Mapping[str, Any], actor_id: int | None) -> bool:
    token = db.session.get(ServiceToken, refs["service_token"], populate_existing=True)
    return token is not None and token.revoked_at is not None


def signed_out(refs: Mapping[str, Any], actor_id: int | None) -> bool:
    """Sign-out ends every session of the user: the session token changed."""
    current = db.session.scalar(select(User.session_token).where(User.id == actor_id))
    return current != refs["session_token"]


INVITED_EMAIL = "invited@matrix.example"
# The world's VIEWER invitation (to invitation@matrix.example) answers this link.
INVITATION_TOKEN = "matrix-invitation-token-0123456789abcdefghijk"
INVITEE_EMAIL = "invitation@matrix.example"


def invited(refs: Mapping[str, Any], actor_id: int | None) -> bool:
    return (
        db.session.scalar(
            select(Invitation.id).where(
                Invitation.organization_id == refs["org"], Invitation.email == INVITED_EMAIL
            )
        )
        is not None
    )


def invitation_revoked(ref: str) -> Effect:
    def check(refs: Mapping[str, Any], actor_id: int | None) -> bool:
        row = db.session.get(Invitation, refs[ref], populate_existing=True)
        return row is not None and row.status == "REVOKED"

    check.__name__ = f"revoked_{ref}"
    return check


def invitation_resent(ref: str) -> Effect:
    def check(refs: Mapping[str, Any], actor_id: int | None) -> bool:
        row = db.session.get(Invitation, refs[ref], populate_existing=True)
        return row is not None and row.token_hash != refs[f"{ref}_token_hash"]

    check.__name__ = f"resent_{ref}"
    return check


def joined_by_invitation(refs: Mapping[str, Any], actor_id: int | None) -> bool:
    user_id = db.session.scalar(select(User.id).where(User.email == INVITEE_EMAIL))
    row = _membership(refs["org"], user_id) if user_id is not None else None
    return row is not None and row.role is Role.VIEWER


def signed_up(refs: Mapping[str, Any], actor_id: int | None) -> bool:
    return db.session.scalar(select(User.id).where(User.email == SIGNUP_EMAIL)) is not None


NEW_PASSWORD = "a brand new matrix password"


def _password_is(email: str, password: str) -> bool:
    stored = db.session.scalar(select(User.password_hash).where(User.email == email))
    try:
        return stored is not None and users.password_hasher.verify(stored, password)
    except VerificationError:
        return False


def password_reset(refs: Mapping[str, Any], actor_id: int | None) -> bool:
    """The reset link's account (the stranger's) signs in with the new password now."""
    return _password_is(refs["login_email"], NEW_PASSWORD)


def password_changed(refs: Mapping[str, Any], actor_id: int | None) -> bool:
    email = db.session.scalar(select(User.email).where(User.id == actor_id))
    return email is not None and _password_is(email, NEW_PASSWORD)


def user_renamed(refs: Mapping[str, Any], actor_id: int | None) -> bool:
    return db.session.scalar(select(User.name).where(User.id == actor_id)) == NEW_NAME


def account_deleted(refs: Mapping[str, Any], actor_id: int | None) -> bool:
    return (
        db.session.scalar(select(User.id).where(User.id == actor_id)) is None
        and _membership(refs["org"], actor_id) is None
    )


# -- the table --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Route:
    """One route and method, who may use it, and a valid request for it."""

    endpoint: str
    method: str
    access: Access
    ok: int  # the status an allowed actor gets
    params: Mapping[str, Any] = field(default_factory=dict)  # URL arguments but the org's
    form: Mapping[str, Any] | None = None  # dashboard form fields (csrf_token is added)
    json: Any = None  # API body
    csv: Any = None  # API body sent as text/csv (an import)
    query: Mapping[str, str] = field(default_factory=dict)  # the query string
    effect: Effect | None = None  # what an allowed request changes; None: nothing
    signed_in_ok: int | None = None  # public pages that send a signed-in user elsewhere
    label: str = ""  # tells apart the variants of one route and method

    @property
    def api(self) -> bool:
        return self.endpoint.startswith("api.")

    @property
    def scim(self) -> bool:
        """SCIM 2.0 at /scim/v2: JSON bodies, errors as application/scim+json."""
        return self.endpoint.startswith("scim.")

    @property
    def needs_csrf(self) -> bool:
        """Whether a browser session must prove itself with the CSRF token (DESIGN §4, §7)."""
        return self.method not in SAFE_METHODS or (
            self.method == "GET" and self.endpoint in STATE_CHANGING_GETS
        )

    @property
    def ref_names(self) -> frozenset[str]:
        """The names of the world's values the request is built from."""
        return frozenset(
            _ref_names([dict(self.params), dict(self.form or {}), self.json, self.csv])
        )

    @property
    def key(self) -> tuple[str, str]:
        return self.endpoint, self.method

    def head(self) -> Route:
        """HEAD of a GET route: the same answer without a body, and never a change."""
        return replace(self, method="HEAD", effect=None)

    def __str__(self) -> str:
        return f"{self.method} {self.endpoint}" + (f"[{self.label}]" if self.label else "")


VIEW, VIEW_ROLE, VIEW_SUMMARY = Action.VIEW, Action.VIEW_ROLE, Action.VIEW_SUMMARY
RENAME, DELETE, LEAVE, VIEW_AUDIT = Action.RENAME, Action.DELETE, Action.LEAVE, Action.VIEW_AUDIT
MANAGE, MANAGE_OWNERS = Action.MANAGE_MEMBERS, Action.MANAGE_OWNERS
MANAGE_TOKENS = Action.MANAGE_TOKENS
R = Route

ROUTES: list[Route] = [
    # -- public ---------------------------------------------------------------------------
    R("static", "GET", PUBLIC, 200, params={"filename": "app.css"}),
    R("web.index", "GET", PUBLIC, 302),
    R("web.role_guide", "GET", PUBLIC, 200),
    R("web.login", "GET", PUBLIC, 200, signed_in_ok=302),
    R(
        "web.login",
        "POST",
        PUBLIC,
        302,
        form={"email": Ref("login_email"), "password": PASSWORD},
    ),
    R("web.signup", "GET", PUBLIC, 200, signed_in_ok=302),
    R(
        "web.signup",
        "POST",
        PUBLIC,
        302,
        signed_in_ok=302,
        form={"name": "New Person", "email": SIGNUP_EMAIL, "password": PASSWORD},
        effect=signed_up,
    ),
    R("web.signup_sent", "GET", PUBLIC, 200),
    R("web.verify", "GET", PUBLIC, 200, params={"token": "a-link-from-a-mail"}),
    # A link that is not valid any more is 410 for anyone, and changes nothing.
    R("web.verify_confirm", "POST", PUBLIC, 410, params={"token": "not-a-valid-link"}),
    R("web.outbox", "GET", PUBLIC, 200),  # development only (404 in production)
    R("api.openapi_document", "GET", PUBLIC, 200),
    R("api.docs", "GET", PUBLIC, 200),
    R("health.healthz", "GET", PUBLIC, 200),
    R("health.readyz", "GET", PUBLIC, 200),  # 503 only while the database is down
    # -- any signed-in user ---------------------------------------------------------------
    R("web.my_organizations", "GET", SIGNED_IN, 200),
    R(
        "web.my_organizations",
        "POST",
        SIGNED_IN,
        302,
        form={"organization_name": NEW_ORG_NAME},
        effect=org_created,
    ),
    R("web.tokens_page", "GET", SIGNED_IN, 200),
    R(
        "web.create_token",
        "POST",
        SIGNED_IN,
        200,  # the token is shown in this answer, once: no redirect
        form={"name": TOKEN_NAME, "expires": "90"},
        effect=token_created,
    ),
    R(
        "web.revoke_token",
        "POST",
        SIGNED_IN,
        302,
        params={"token_id": Ref("own_token")},
        effect=token_revoked,
        label="own",
    ),
    R("web.revoke_token", "POST", NOBODY, 404, params={"token_id": Ref("foreign_token")}),
    R("web.logout", "POST", SIGNED_IN, 302, effect=signed_out),
    R("api.list_organizations", "GET", SIGNED_IN, 200),
    R(
        "api.create_organization",
        "POST",
        SIGNED_IN,
        201,
        json={"organization_name": NEW_ORG_NAME},
        effect=org_created,
    ),
    # -- the organization's dashboard -----------------------------------------------------
    R("web.organization", "GET", org(VIEW), 200),
    R("web.members_list", "GET", org(VIEW), 200),
    # DESIGN/issue: the settings page is for those who may rename or delete; others get 403.
    R("web.settings", "GET", org(RENAME, DELETE), 200),
    R(
        "web.settings",
        "POST",
        org(RENAME),
        302,
        form={"rename-organization_name": NEW_NAME},
        effect=renamed,
    ),
    R(
        "web.delete",
        "POST",
        org(DELETE),
        302,
        form={"delete-confirm_name": Ref("org_name")},
        effect=deleted,
    ),
    R(
        "web.transfer",
        "POST",
        org(MANAGE_OWNERS),
        302,
        form={
            "transfer-user_id": Ref("target"),
            "transfer-my_new_role": "ADMIN",
            "transfer-confirmed": "y",
        },
        effect=transferred,
    ),
    R("web.activity", "GET", org(VIEW_AUDIT), 200),
    R("web.import_page", "GET", org(MANAGE), 200),
    R("web.import_preview", "POST", org(MANAGE), 200, form={"content": Ref("import_file")}),
    R(
        "web.import_apply",
        "POST",
        org(MANAGE),
        200,  # the result, with its Undo, is this answer
        form={"content": Ref("import_file")},
        effect=imported,
    ),
    R("web.activity_export", "GET", org(VIEW_AUDIT), 200),
    R("web.leave", "POST", org(LEAVE), 302, effect=left),
    R(
        "web.revert_change",
        "POST",
        org(MANAGE),
        302,
        params={"change_id": Ref("change")},
        form={"back": "members"},
        effect=removed("added"),
    ),
    R(
        "web.revert_change",
        "POST",
        org(MANAGE, owner_target=True),
        302,
        params={"change_id": Ref("owner_change")},
        form={"back": "activity"},
        effect=removed("added_owner"),
        label="an owner",
    ),
    R(
        "web.update_member",
        "POST",
        org(MANAGE),
        302,
        params={"user_id": Ref("target")},
        form={"role": "VIEWER"},
        effect=member("target", role=Role.VIEWER),
    ),
    R(
        "web.update_member",
        "POST",
        org(MANAGE, owner_target=True),
        302,
        params={"user_id": Ref("owner2")},
        form={"role": "ADMIN"},
        effect=member("owner2", role=Role.ADMIN),
        label="an owner",
    ),
    R(
        "web.update_member",
        "POST",
        org(MANAGE, owner_target=True),
        302,
        params={"user_id": Ref("target")},
        form={"role": "OWNER"},
        effect=member("target", role=Role.OWNER),
        label="grant owner",
    ),
    R(
        "web.bulk",
        "POST",
        org(MANAGE),
        302,
        form={"action": "role", "role": "VIEWER", "user_ids": Ref("target")},
        effect=member("target", role=Role.VIEWER),
    ),
    R(
        "web.bulk",
        "POST",
        org(MANAGE),
        302,
        form={"action": "remove", "confirmed": "yes", "user_ids": Ref("target")},
        effect=removed("target"),
        label="remove",
    ),
    R(
        "web.bulk",
        "POST",
        org(MANAGE, owner_target=True),
        302,
        form={"action": "suspend", "confirmed": "yes", "user_ids": Ref("owner2")},
        effect=member("owner2", active=False),
        label="suspend an owner",
    ),
    R(
        "web.add",
        "POST",
        org(MANAGE),
        302,
        form={"entries": Ref("newcomer_email"), "role": "VIEWER"},
        effect=member("newcomer", role=Role.VIEWER),
    ),
    R(
        "web.add",
        "POST",
        org(MANAGE, owner_target=True),
        302,
        form={"entries": Ref("newcomer_email"), "role": "OWNER"},
        effect=member("newcomer", role=Role.OWNER),
        label="grant owner",
    ),
    # -- the organization through the API -------------------------------------------------
    R("api.get_organization", "GET", org(VIEW), 200),
    R(
        "api.update_organization",
        "PUT",
        org(RENAME),
        200,
        json={"id": Ref("org"), "organization_name": NEW_NAME},
        effect=renamed,
    ),
    R(
        "api.update_organization_by_id",
        "PUT",
        org(RENAME),
        200,
        json={"organization_name": NEW_NAME},
        effect=renamed,
    ),
    R("api.delete_organization", "DELETE", org(DELETE), 204, effect=deleted),
    *(
        R("api.leave_organization", method, org(LEAVE), 200, effect=left)
        for method in ("GET", "POST", "DELETE")
    ),
    R(
        "api.transfer_ownership",
        "POST",
        org(MANAGE_OWNERS),
        200,
        json={"user_id": Ref("target"), "my_new_role": "ADMIN"},
        effect=transferred,
    ),
    R("api.get_my_role", "GET", org(VIEW_ROLE), 200),
    R("api.get_summary", "GET", org(VIEW_SUMMARY), 200),
    R("api.list_members", "GET", org(VIEW), 200),
    R("api.export_members", "GET", org(VIEW), 200),
    R("api.list_events", "GET", org(VIEW_AUDIT), 200),
    # An import that would grant OWNER is no 403 for an ADMIN but a refusal in the answer
    # (200, applied: false), so the matrix imports a plain member.
    R("api.import_members", "POST", org(MANAGE), 200, csv=Ref("import_file"), label="preview"),
    R(
        "api.import_members",
        "POST",
        org(MANAGE),
        200,
        csv=Ref("import_file"),
        query={"mode": "apply"},
        effect=imported,
        label="apply",
    ),
    R(
        "api.revert_change",
        "POST",
        org(MANAGE),
        200,
        params={"change_id": Ref("change")},
        effect=removed("added"),
    ),
    R(
        "api.revert_change",
        "POST",
        org(MANAGE, owner_target=True),
        200,
        params={"change_id": Ref("owner_change")},
        effect=removed("added_owner"),
        label="an owner",
    ),
    R(
        "api.add_members",
        "POST",
        org(MANAGE),
        200,
        json={"user_ids": [Ref("newcomer")], "role": "VIEWER", "is_active": True},
        effect=member("newcomer", role=Role.VIEWER),
    ),
    R(
        "api.add_members",
        "POST",
        org(MANAGE, owner_target=True),
        200,
        json={"user_ids": [Ref("newcomer")], "role": "OWNER", "is_active": True},
        effect=member("newcomer", role=Role.OWNER),
        label="grant owner",
    ),
    R(
        "api.update_members",
        "PUT",
        org(MANAGE),
        200,
        json={"user_ids": [Ref("target")], "role": "VIEWER"},
        effect=member("target", role=Role.VIEWER),
    ),
    R(
        "api.update_members",
        "PUT",
        org(MANAGE, owner_target=True),
        200,
        json={"user_ids": [Ref("owner2")], "is_active": False},
        effect=member("owner2", active=False),
        label="an owner",
    ),
    R(
        "api.update_members",
        "PUT",
        org(MANAGE, owner_target=True),
        200,
        json={"user_ids": [Ref("target")], "role": "OWNER"},
        effect=member("target", role=Role.OWNER),
        label="grant owner",
    ),
    R(
        "api.remove_members",
        "DELETE",
        org(MANAGE),
        204,
        params={"user_ids": Ref("target")},
        effect=removed("target"),
    ),
    R(
        "api.remove_members",
        "DELETE",
        org(MANAGE, owner_target=True),
        204,
        params={"user_ids": Ref("owner2")},
        effect=removed("owner2"),
        label="an owner",
    ),
    R(
        "api.remove_members_by_body",
        "POST",
        org(MANAGE),
        204,
        json={"user_ids": [Ref("target")]},
        effect=removed("target"),
    ),
    R(
        "api.remove_members_by_body",
        "POST",
        org(MANAGE, owner_target=True),
        204,
        json={"user_ids": [Ref("owner2")]},
        effect=removed("owner2"),
        label="an owner",
    ),
    # -- invitations (DESIGN §8) ----------------------------------------------------------
    R(
        "api.create_invitations",
        "POST",
        org(MANAGE),
        201,
        json={"emails": [INVITED_EMAIL], "role": "VIEWER"},
        effect=invited,
    ),
    R(
        "api.create_invitations",
        "POST",
        org(MANAGE, owner_target=True),
        201,
        json={"emails": INVITED_EMAIL, "role": "OWNER"},
        effect=invited,
        label="an owner",
    ),
    R("api.list_invitations", "GET", org(MANAGE), 200),
    R(
        "api.revoke_invitation",
        "DELETE",
        org(MANAGE),
        204,
        params={"invitation_id": Ref("invitation")},
        effect=invitation_revoked("invitation"),
    ),
    R(
        "api.revoke_invitation",
        "DELETE",
        org(MANAGE, owner_target=True),
        204,
        params={"invitation_id": Ref("owner_invitation")},
        effect=invitation_revoked("owner_invitation"),
        label="an owner",
    ),
    R(
        "api.resend_invitation",
        "POST",
        org(MANAGE),
        200,
        params={"invitation_id": Ref("invitation")},
        effect=invitation_resent("invitation"),
    ),
    R(
        "api.resend_invitation",
        "POST",
        org(MANAGE, owner_target=True),
        200,
        params={"invitation_id": Ref("owner_invitation")},
        effect=invitation_resent("owner_invitation"),
        label="an owner",
    ),
    R("web.invitations_page", "GET", org(MANAGE), 200),
    R(
        "web.invite",
        "POST",
        org(MANAGE),
        302,
        form={"emails": INVITED_EMAIL, "role": "VIEWER"},
        effect=invited,
    ),
    R(
        "web.invite",
        "POST",
        org(MANAGE, owner_target=True),
        302,
        form={"emails": INVITED_EMAIL, "role": "OWNER"},
        effect=invited,
        label="an owner",
    ),
    R(
        "web.resend_invitation",
        "POST",
        org(MANAGE),
        302,
        params={"invitation_id": Ref("invitation")},
        effect=invitation_resent("invitation"),
    ),
    R(
        "web.resend_invitation",
        "POST",
        org(MANAGE, owner_target=True),
        302,
        params={"invitation_id": Ref("owner_invitation")},
        effect=invitation_resent("owner_invitation"),
        label="an owner",
    ),
    R(
        "web.revoke_invitation",
        "POST",
        org(MANAGE),
        302,
        params={"invitation_id": Ref("invitation")},
        effect=invitation_revoked("invitation"),
    ),
    R(
        "web.revoke_invitation",
        "POST",
        org(MANAGE, owner_target=True),
        302,
        params={"invitation_id": Ref("owner_invitation")},
        effect=invitation_revoked("owner_invitation"),
        label="an owner",
    ),
    # The link from the mail: anyone may look; only the invited address may accept.
    R("web.invitation", "GET", PUBLIC, 200, params={"token": INVITATION_TOKEN}, signed_in_ok=403),
    R("web.accept_invitation", "POST", INVITEE, 302, params={"token": INVITATION_TOKEN}),
    R(
        "web.invitation_signup",
        "GET",
        PUBLIC,
        200,
        params={"token": INVITATION_TOKEN},
        signed_in_ok=302,
    ),
    R(
        "web.invitation_signup",
        "POST",
        PUBLIC,
        302,
        params={"token": INVITATION_TOKEN},
        form={"name": "Invited Person", "password": PASSWORD},
        signed_in_ok=302,
        effect=joined_by_invitation,
    ),
    # -- service tokens (DESIGN §10) -----------------------------------------------------
    R("api.list_service_tokens", "GET", org(MANAGE_TOKENS), 200),
    R(
        "api.create_service_token",
        "POST",
        org(MANAGE_TOKENS),
        201,
        json={"name": SERVICE_TOKEN_NAME, "scope": "read"},
        effect=service_token_created,
    ),
    R(
        "api.revoke_service_token",
        "DELETE",
        org(MANAGE_TOKENS),
        204,
        params={"token_id": Ref("service_token")},
        effect=service_token_revoked,
    ),
    R("web.service_tokens_page", "GET", org(MANAGE_TOKENS), 200),
    R(
        "web.create_service_token",
        "POST",
        org(MANAGE_TOKENS),
        200,  # the token is shown in this answer, once: no redirect
        form={"name": SERVICE_TOKEN_NAME, "scope": "write"},
        effect=service_token_created,
    ),
    R(
        "web.revoke_service_token",
        "POST",
        org(MANAGE_TOKENS),
        302,
        params={"token_id": Ref("service_token")},
        effect=service_token_revoked,
    ),
    # -- SCIM 2.0 (DESIGN §10): the organization is the scim token's; one rule, /scim/v2/<path>
    R(
        "scim.endpoint",
        "GET",
        PUBLIC,
        200,
        params={"path": "ServiceProviderConfig"},
        label="config",
    ),
    # The base URL: GET there is a search of the root (RFC 7644 §3.4.2.1), which Roster does not
    # offer (501); other methods are not served there at all, before any token is read (405).
    R("scim.root", "GET", SCIM, 501),
    *(R("scim.root", method, PUBLIC, 405) for method in ("POST", "PUT", "PATCH", "DELETE")),
    R("scim.endpoint", "GET", SCIM, 200, params={"path": "Users"}),
    R(
        "scim.endpoint",
        "POST",
        SCIM,
        201,
        params={"path": "Users"},
        json={"schemas": [SCIM_USER], "userName": Ref("newcomer_email"), "active": True},
        effect=member("newcomer", role=Role.VIEWER, active=True),
    ),
    R(
        "scim.endpoint",
        "PUT",
        SCIM,
        200,
        params={"path": Ref("target_path")},
        json={"schemas": [SCIM_USER], "userName": Ref("target_email"), "active": False},
        effect=member("target", role=Role.CONTRIBUTOR, active=False),
    ),
    R(
        "scim.endpoint",
        "PATCH",
        SCIM,
        200,
        params={"path": Ref("target_path")},
        json={
            "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
            "Operations": [{"op": "replace", "value": {"active": False}}],
        },
        effect=member("target", role=Role.CONTRIBUTOR, active=False),
    ),
    R(
        "scim.endpoint",
        "DELETE",
        SCIM,
        204,
        params={"path": Ref("target_path")},
        effect=removed("target"),
    ),
    # -- password reset and my account (DESIGN §8) ----------------------------------------
    # Anyone may ask for a link (the answer never says whether the address has an account) and
    # use one: the link, mailed to the address, is the proof. Using it signs the browser in as
    # the link's account, whoever was signed in before.
    R("web.forgot_password", "GET", PUBLIC, 200),
    R("web.forgot_password", "POST", PUBLIC, 302, form={"email": Ref("login_email")}),
    R("web.reset_password", "GET", PUBLIC, 200, params={"token": Ref("reset_token")}),
    R(
        "web.reset_password",
        "POST",
        PUBLIC,
        302,
        params={"token": Ref("reset_token")},
        form={"password": NEW_PASSWORD},
        effect=password_reset,
    ),
    R("web.account_page", "GET", SIGNED_IN, 200),
    R("web.rename_account", "POST", SIGNED_IN, 302, form={"name": NEW_NAME}, effect=user_renamed),
    R(
        "web.change_password",
        "POST",
        SIGNED_IN,
        302,
        form={"current_password": PASSWORD, "new_password": NEW_PASSWORD},
        effect=password_changed,
    ),
    R("web.sign_out_everywhere", "POST", SIGNED_IN, 302, effect=signed_out),
    R(
        "web.delete_account",
        "POST",
        SIGNED_IN_UNLESS_LAST_OWNER,
        302,
        form={"password": PASSWORD},
        effect=account_deleted,
    ),
]


# -- the url map ------------------------------------------------------------------------------


def route_keys(app: Flask) -> set[tuple[str, str]]:
    """Every (endpoint, method) of the url map. OPTIONS is Flask's; HEAD goes with GET."""
    keys = set()
    for rule in app.url_map.iter_rules():
        methods = set(rule.methods or ()) - {"OPTIONS"}
        if "GET" in methods:
            methods.discard("HEAD")
        keys |= {(rule.endpoint, method) for method in methods}
    return keys


def rule_for(app: Flask, endpoint: str, method: str) -> Rule:
    rules = [
        rule
        for rule in app.url_map.iter_rules(endpoint)
        if method in (rule.methods or ()) or (method == "HEAD" and "GET" in (rule.methods or ()))
    ]
    assert len(rules) == 1, f"{method} {endpoint}: {len(rules)} rules"
    return rules[0]


def build_url(
    app: Flask,
    endpoint: str,
    method: str,
    arguments: Mapping[str, Any],
    query: Mapping[str, Any] | None = None,
) -> str:
    """The path (and query string) of a route; every URL argument must be given."""
    rule = rule_for(app, endpoint, method)
    missing = set(rule.arguments) - set(arguments)
    if missing:
        pytest.fail(
            f"{rule.rule} ({endpoint}): no value for the URL argument(s) {sorted(missing)}; "
            "teach the test what to put there"
        )
    values = {name: arguments[name] for name in rule.arguments}
    return app.url_map.bind("localhost").build(endpoint, {**values, **(query or {})}, method=method)


def route_url(app: Flask, route: Route, refs: Mapping[str, Any]) -> str:
    rule = rule_for(app, route.endpoint, route.method)
    arguments = {name: refs["org"] for name in rule.arguments if name in ORG_ARGUMENTS}
    arguments.update(resolve(dict(route.params), refs))
    return build_url(app, route.endpoint, route.method, arguments, route.query)


# -- sending ----------------------------------------------------------------------------------


@dataclass
class Caller:
    """A test client and how it proves who it is: a session (+ CSRF token) or a Bearer token."""

    client: FlaskClient
    csrf: str | None = None  # the session's CSRF token, from a page's meta tag
    bearer: str | None = None

    def send(
        self,
        route: Route,
        path: str,
        refs: Mapping[str, Any],
        *,
        csrf_header: bool = True,
    ) -> Any:
        """The route's request. ``csrf_header=False``: a session request omitting X-CSRFToken."""
        sent: dict[str, str] = {}
        kwargs: dict[str, Any] = {}
        if not route.api and not route.scim and route.method == "POST":
            kwargs["data"] = {**resolve(dict(route.form or {}), refs), "csrf_token": self.csrf}
        if route.json is not None:
            kwargs["json"] = resolve(route.json, refs)
        if route.csv is not None:
            kwargs["data"] = resolve(route.csv, refs)
            sent["Content-Type"] = "text/csv"
        if self.bearer is not None:
            sent["Authorization"] = f"Bearer {self.bearer}"
        elif route.api and route.needs_csrf and self.csrf and csrf_header:
            sent["X-CSRFToken"] = self.csrf
        return self.open(path, route.method, sent, **kwargs)

    def get(self, path: str, headers: Mapping[str, str] | None = None) -> Any:
        sent = dict(headers or {})
        if self.bearer is not None:
            sent["Authorization"] = f"Bearer {self.bearer}"
        return self.open(path, "GET", sent)

    def open(self, path: str, method: str, headers: Mapping[str, str], **kwargs: Any) -> Any:
        response = self.client.open(path, method=method, headers=dict(headers), **kwargs)
        response.get_data()  # buffered, so the answer (a static file too) can be closed
        response.close()
        return response


def session_caller(app: Flask, user: User | None) -> Caller:
    """A browser signed in as ``user`` (or nobody), holding the CSRF token of its pages.

    The session is written directly, as Flask-Login would after the sign-in form (that form has
    tests of its own); the CSRF token is read from a page's ``<meta name="csrf-token">``.
    """
    client = app.test_client()
    if user is not None:
        with client.session_transaction() as session:
            session["_user_id"] = user.get_id()
            session["_fresh"] = True
    return Caller(client, csrf=csrf_token(client, "/roles"))


# -- snapshots --------------------------------------------------------------------------------

# Using a token updates its last_used_at by design; nothing else may change.
IGNORED_COLUMNS = frozenset({("api_tokens", "last_used_at"), ("service_tokens", "last_used_at")})

Snapshot = dict[str, list[tuple[Any, ...]]]


def snapshot() -> Snapshot:
    """Every row of every table, in primary-key order."""
    db.session.commit()
    state: Snapshot = {}
    with db.engine.connect() as conn:
        for table in Base.metadata.sorted_tables:
            columns = [c for c in table.columns if (table.name, c.name) not in IGNORED_COLUMNS]
            rows = conn.execute(select(*columns).order_by(*table.primary_key.columns))
            state[table.name] = [tuple(map(_hashable, row)) for row in rows]
    return state


def _hashable(value: Any) -> Any:
    return json.dumps(value, sort_keys=True) if isinstance(value, dict | list) else value


def differences(before: Snapshot, after: Snapshot) -> list[str]:
    """The tables whose rows changed, with the rows that came and went."""
    changes = []
    for name in before:
        old, new = set(before[name]), set(after[name])
        if old != new:
            changes.append(f"{name}: -{sorted(old - new, key=str)} +{sorted(new - old, key=str)}")
    return changes


def answer_text(response: Any) -> str:
    """An answer's body and headers, lower case: where a string could show."""
    headers = (f"{name}: {value}" for name, value in response.headers)
    return "\n".join([response.get_data(as_text=True), *headers]).lower()


def iter_get_rules(app: Flask) -> Iterable[Rule]:
    """Every rule answering GET, in a stable order."""
    rules = [rule for rule in app.url_map.iter_rules() if "GET" in (rule.methods or ())]
    return sorted(rules, key=lambda rule: (rule.rule, rule.endpoint))
