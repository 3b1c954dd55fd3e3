"""Service tokens (DESIGN §10): who may make them, their values, and the token as an actor."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select

from webapp.extensions import db
from webapp.models import AuditEvent, Membership, Role, ServiceToken, User, Via, utcnow
from webapp.services import members, organizations, service_tokens
from webapp.services.errors import Forbidden, InvalidServiceToken, NotFound
from webapp.services.permissions import ServicePrincipal


@pytest.fixture
def acme(make_user, make_org, add_member):
    owner = make_user(name="Olivia Owner")
    org = make_org(owner, "Acme")
    people = {"owner": owner}
    for role in (Role.OWNER, Role.ADMIN, Role.CONTRIBUTOR, Role.ACCOUNTING, Role.VIEWER):
        people[role.name.lower() + "_member"] = user = make_user()
        add_member(org, user, role)
    people["stranger"] = make_user()
    return org, people


def _principal(org_id: int, scope: str, name: str = "sync") -> tuple[ServicePrincipal, str]:
    owner = db.session.scalar(
        select(Membership.user_id).where(
            Membership.organization_id == org_id,
            Membership.role == Role.OWNER,
        )
    )
    user = db.session.get(User, owner)
    made = service_tokens.create_service_token(user, org_id, name, scope, via=Via.CLI)
    principal = service_tokens.authenticate_service_token(made.token)
    assert principal is not None
    return principal, made.token


@pytest.mark.parametrize(
    ("who", "allowed"),
    [
        ("owner", True),
        ("admin_member", True),
        ("contributor_member", False),
        ("accounting_member", False),
        ("viewer_member", False),
    ],
)
def test_only_owners_and_admins_manage_service_tokens(acme, who, allowed):
    org, people = acme
    actor = people[who]
    if allowed:
        made = service_tokens.create_service_token(actor, org.id, "CI", "read", via=Via.CLI)
        assert [t.id for t in service_tokens.list_service_tokens(actor, org.id)] == [made.id]
        service_tokens.revoke_service_token(actor, org.id, made.id, via=Via.CLI)
    else:
        for call in (
            lambda: service_tokens.create_service_token(actor, org.id, "CI", "read", via=Via.CLI),
            lambda: service_tokens.list_service_tokens(actor, org.id),
            lambda: service_tokens.revoke_service_token(actor, org.id, 1, via=Via.CLI),
        ):
            with pytest.raises(Forbidden):
                call()


def test_only_an_owner_makes_a_scim_token_which_manages_owners(acme):
    org, people = acme
    with pytest.raises(Forbidden) as caught:
        service_tokens.create_service_token(
            people["admin_member"], org.id, "IdP", "scim", via=Via.CLI
        )
    assert "owner" in str(caught.value)
    assert db.session.scalar(select(ServiceToken.id)) is None
    made = service_tokens.create_service_token(people["owner"], org.id, "IdP", "SCIM", via=Via.CLI)
    assert made.scope == "scim"


def test_a_stranger_gets_not_found(acme):
    org, people = acme
    with pytest.raises(NotFound):
        service_tokens.create_service_token(people["stranger"], org.id, "CI", "read", via=Via.CLI)
    with pytest.raises(NotFound):
        service_tokens.list_service_tokens(people["stranger"], org.id)


@pytest.mark.parametrize("scope", ["read", "write", "scim"])
def test_a_token_never_manages_tokens(acme, scope):
    org, _ = acme
    principal, _ = _principal(org.id, scope)
    with pytest.raises(Forbidden):
        service_tokens.create_service_token(principal, org.id, "more", "write", via=Via.API)
    with pytest.raises(Forbidden):
        service_tokens.list_service_tokens(principal, org.id)


@pytest.mark.parametrize(
    ("name", "scope", "expires_at", "fields"),
    [
        ("", "read", None, ["name"]),
        ("x" * 101, "read", None, ["name"]),
        ("bad\x00name", "read", None, ["name"]),
        ("CI", "admin", None, ["scope"]),
        ("CI", "read", "tomorrow", ["expires_at"]),
        ("CI", "read", "2001-01-01T00:00:00Z", ["expires_at"]),
        ("", "owner", "yesterday", ["name", "scope", "expires_at"]),
        # A zone that takes the moment past year 9999 or before year 1.
        ("CI", "read", "9999-12-31T23:59:59-05:00", ["expires_at"]),
        ("CI", "read", "0001-01-01T00:00:00+05:00", ["expires_at"]),
    ],
)
def test_values_are_checked_with_their_field(acme, name, scope, expires_at, fields):
    org, people = acme
    with pytest.raises(InvalidServiceToken) as caught:
        service_tokens.create_service_token(
            people["owner"], org.id, name, scope, expires_at, via=Via.CLI
        )
    assert [e.field for e in caught.value.errors] == fields
    assert db.session.scalar(select(ServiceToken.id)) is None


def test_expiry_forms(acme):
    org, people = acme
    tomorrow = (utcnow() + timedelta(days=1)).date().isoformat()
    made = service_tokens.create_service_token(
        people["owner"], org.id, "CI", "WRITE", tomorrow, via=Via.CLI
    )
    assert made.scope == "write"
    assert made.expires_at.isoformat() == f"{tomorrow}T00:00:00+00:00"


def test_the_secret_is_stored_only_hashed(acme):
    org, people = acme
    made = service_tokens.create_service_token(people["owner"], org.id, "CI", "read", via=Via.CLI)
    row = db.session.execute(select(ServiceToken.__table__)).one()
    secret = made.token.rsplit("_", 1)[1]
    assert all(secret not in str(value) for value in row)
    assert row.token_hash != made.token and len(row.token_hash) == 64
    assert made.token.startswith(f"rss_{row.prefix}_")
    assert not hasattr(service_tokens.list_service_tokens(people["owner"], org.id)[0], "token")


def test_revoked_expired_and_wrong_tokens_do_not_authenticate(acme):
    org, people = acme
    _, text = _principal(org.id, "read")
    altered = text[:-1] + ("B" if text.endswith("A") else "A")
    assert service_tokens.authenticate_service_token(altered) is None
    assert service_tokens.authenticate_service_token(text + "x") is None
    db.session.execute(
        ServiceToken.__table__.update().values(expires_at=utcnow() - timedelta(seconds=1))
    )
    db.session.commit()
    assert service_tokens.authenticate_service_token(text) is None
    second, other = _principal(org.id, "write", "second")
    service_tokens.revoke_service_token(people["owner"], org.id, second.token_id, via=Via.CLI)
    assert service_tokens.authenticate_service_token(other) is None


def test_last_use_is_written_at_most_once_a_minute(acme):
    org, _ = acme
    _, text = _principal(org.id, "read")
    first = db.session.scalar(select(ServiceToken.last_used_at))
    assert first is not None
    service_tokens.authenticate_service_token(text)
    db.session.expire_all()
    assert db.session.scalar(select(ServiceToken.last_used_at)) == first


def test_revoking_another_organizations_token_is_not_found(acme, make_org):
    org, people = acme
    other = make_org(name="Other")
    principal, _ = _principal(other.id, "read")
    with pytest.raises(NotFound):
        service_tokens.revoke_service_token(
            people["owner"], org.id, principal.token_id, via=Via.CLI
        )


def test_a_token_is_not_found_in_other_organizations_whatever_its_scope(acme, make_org):
    org, _ = acme
    other = make_org(name="Other")
    for scope in ("read", "write", "scim"):
        principal, _ = _principal(other.id, scope)
        with pytest.raises(NotFound):
            organizations.get_organization(principal, org.id)
        with pytest.raises(NotFound):
            organizations.get_summary(principal, org.id)


def test_read_token_reads_but_never_writes(acme):
    org, people = acme
    principal, _ = _principal(org.id, "read")
    assert organizations.get_organization(principal, org.id).id == org.id
    assert organizations.get_summary(principal, org.id)
    with pytest.raises(Forbidden, match="only read"):
        members.update_members(
            principal, org.id, [people["viewer_member"].id], role=Role.CONTRIBUTOR, via=Via.API
        )


def test_write_token_manages_members_below_owner_and_is_audited(acme):
    org, people = acme
    principal, _ = _principal(org.id, "write", "HR sync")
    target = people["viewer_member"]
    members.update_members(principal, org.id, [target.id], role=Role.CONTRIBUTOR, via=Via.API)
    event = db.session.scalars(select(AuditEvent).where(AuditEvent.action == "member.update")).one()
    assert (event.actor_email, event.actor_id, event.via) == ("token HR sync", None, "api")


@pytest.mark.parametrize(
    "change",
    [
        lambda p, o, u: members.update_members(
            p, o, [u["owner_member"].id], role=Role.ADMIN, via=Via.API
        ),
        lambda p, o, u: members.update_members(
            p, o, [u["viewer_member"].id], role=Role.OWNER, via=Via.API
        ),
        lambda p, o, u: members.remove_members(p, o, [u["owner_member"].id], via=Via.API),
        lambda p, o, u: members.add_members(p, o, [u["stranger"].id], role=Role.OWNER, via=Via.API),
        lambda p, o, u: organizations.rename_organization(p, o, "New", via=Via.API),
        lambda p, o, u: organizations.delete_organization(p, o, via=Via.API),
        lambda p, o, u: organizations.get_my_role(p, o),
        lambda p, o, u: members.leave_organization(p, o, via=Via.API),
        lambda p, o, u: organizations.create_organization(p, "Mine", via=Via.API),
    ],
    ids=[
        "demote-owner",
        "grant-owner",
        "remove-owner",
        "add-owner",
        "rename",
        "delete",
        "role",
        "leave",
        "create-org",
    ],
)
def test_write_token_never_touches_owners_nor_the_organization(acme, change):
    org, people = acme
    principal, _ = _principal(org.id, "write")
    with pytest.raises(Forbidden):
        change(principal, org.id, people)


def test_scim_token_may_do_nothing_on_the_api(acme):
    org, _ = acme
    principal, _ = _principal(org.id, "scim")
    with pytest.raises(Forbidden, match="/scim/v2"):
        organizations.list_my_organizations(principal)


def test_a_token_lists_only_its_own_organization(acme, make_org):
    org, _ = acme
    make_org(name="Other")
    principal, _ = _principal(org.id, "read")
    assert [a.id for a in organizations.list_my_organizations(principal)] == [org.id]


def test_creation_and_revocation_are_audited(acme):
    org, people = acme
    made = service_tokens.create_service_token(people["owner"], org.id, "CI", "read", via=Via.WEB)
    service_tokens.revoke_service_token(people["owner"], org.id, made.id, via=Via.WEB)
    service_tokens.revoke_service_token(people["owner"], org.id, made.id, via=Via.WEB)  # no-op
    rows = db.session.execute(
        select(AuditEvent.action, AuditEvent.organization_id, AuditEvent.actor_email)
        .where(AuditEvent.action.like("service_token.%"))
        .order_by(AuditEvent.id)
    ).all()
    assert rows == [
        ("service_token.create", org.id, people["owner"].email),
        ("service_token.revoke", org.id, people["owner"].email),
    ]


def test_tokens_die_with_their_organization(acme):
    org, people = acme
    _, text = _principal(org.id, "write")
    organizations.delete_organization(people["owner"], org.id, via=Via.CLI)
    assert db.session.scalar(select(ServiceToken.id)) is None
    assert service_tokens.authenticate_service_token(text) is None


def test_a_token_survives_its_creator_leaving(acme):
    org, people = acme
    admin = people["admin_member"]
    made = service_tokens.create_service_token(admin, org.id, "CI", "read", via=Via.CLI)
    members.leave_organization(admin, org.id, via=Via.CLI)
    principal = service_tokens.authenticate_service_token(made.token)
    assert principal is not None
    assert organizations.get_organization(principal, org.id).id == org.id
