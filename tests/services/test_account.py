"""My account (DESIGN §8) below the pages: password reset links, rename, password change,
deleting an account (the last-owner refusal, the counters and the audit)."""

from __future__ import annotations

import time
from collections import Counter

import pytest
from itsdangerous import TimestampSigner
from sqlalchemy import func, select, update

from webapp.extensions import db
from webapp.inputs import MemberQuery
from webapp.models import ApiToken, AuditEvent, Membership, Organization, Role, User, Via
from webapp.services import audit, member_list, members, organizations, tokens, users
from webapp.services.errors import InvalidInput, InvalidLink, LastOwner, WrongPassword

NEW_PASSWORD = "a new password, long enough"


def _made_at(monkeypatch, seconds_ago: int, user: User) -> str:
    """A reset token for ``user`` as if made ``seconds_ago`` seconds ago."""
    with monkeypatch.context() as patched:
        patched.setattr(
            TimestampSigner, "get_timestamp", lambda self: int(time.time()) - seconds_ago
        )
        return users.password_reset_token(user)


def _fresh(user: User) -> User:
    return db.session.get(User, user.id, populate_existing=True)


# -- password reset ---------------------------------------------------------------------------


def test_a_reset_link_names_its_account_and_sets_the_password(make_user, password):
    user = make_user()
    token = users.password_reset_token(user)
    assert users.read_reset_link(token).id == user.id
    users.reset_password(token, NEW_PASSWORD, via=Via.WEB)
    assert users.authenticate(user.email, NEW_PASSWORD).id == user.id
    with pytest.raises(Exception, match="not correct"):
        users.authenticate(user.email, password)


def test_a_reset_link_works_once(make_user):
    user = make_user()
    token = users.password_reset_token(user)
    users.reset_password(token, NEW_PASSWORD, via=Via.WEB)
    with pytest.raises(InvalidLink):
        users.read_reset_link(token)
    with pytest.raises(InvalidLink):
        users.reset_password(token, "yet another password", via=Via.WEB)
    assert users.authenticate(user.email, NEW_PASSWORD).id == user.id


def test_a_reset_link_lasts_one_hour(make_user, monkeypatch):
    user = make_user()
    assert users.read_reset_link(_made_at(monkeypatch, 3590, user)).id == user.id
    late = _made_at(monkeypatch, 3601, user)
    with pytest.raises(InvalidLink):
        users.read_reset_link(late)
    with pytest.raises(InvalidLink):
        users.reset_password(late, NEW_PASSWORD, via=Via.WEB)
    assert _fresh(user).password_hash == user.password_hash


@pytest.mark.parametrize(
    "change", ["password changed", "signed out everywhere", "deactivated", "deleted"]
)
def test_a_reset_link_dies_when_its_account_changes(make_user, password, change):
    user = make_user()
    token = users.password_reset_token(user)
    if change == "password changed":
        users.change_password(user, password, NEW_PASSWORD, via=Via.WEB)
    elif change == "signed out everywhere":
        users.end_all_sessions(user)
    elif change == "deactivated":
        users.set_user_active(user.id, False, via=Via.CLI)
    else:
        users.delete_user(user, password, via=Via.WEB)
    with pytest.raises(InvalidLink):
        users.read_reset_link(token)


@pytest.mark.parametrize(
    "token",
    ["", "nonsense", "x" * 600, "WzEsImFiYyJd.aaaa.bbbb", None, 42],
    ids=["empty", "nonsense", "too-long", "forged", "none", "number"],
)
def test_a_malformed_or_forged_link_is_gone(make_user, token):
    make_user()
    with pytest.raises(InvalidLink):
        users.read_reset_link(token)


def test_a_link_signed_with_another_key_is_gone(app, make_user):
    user = make_user()
    app.secret_key = "another key"
    try:
        token = users.password_reset_token(user)
    finally:
        app.secret_key = "test-secret-key"
    with pytest.raises(InvalidLink):
        users.read_reset_link(token)


def test_a_reset_ends_every_session_and_verifies_the_address(make_user):
    user = make_user()
    db.session.execute(update(User).where(User.id == user.id).values(email_verified_at=None))
    db.session.commit()
    before = _fresh(user).session_token
    users.reset_password(users.password_reset_token(user), NEW_PASSWORD, via=Via.WEB)
    after = _fresh(user)
    assert after.session_token != before
    assert users.load_session_user(f"{user.id}:{before}") is None
    assert after.is_verified
    [event] = db.session.scalars(
        select(AuditEvent).where(AuditEvent.action == "user.password_reset")
    ).all()
    assert event.actor_id == user.id and event.organization_id is None


def test_an_account_without_a_password_can_set_one_by_reset(app):
    [user_id] = users.create_users([("nopass@example.com", "No Pass")], via=Via.CLI)
    user = db.session.get(User, user_id)
    assert user.password_hash is None
    users.reset_password(users.password_reset_token(user), NEW_PASSWORD, via=Via.WEB)
    assert users.authenticate("nopass@example.com", NEW_PASSWORD).id == user_id


def test_a_reset_password_follows_the_password_rules(make_user):
    user = make_user()
    with pytest.raises(InvalidInput) as raised:
        users.reset_password(users.password_reset_token(user), "short", via=Via.WEB)
    assert raised.value.errors[0].field == "password"
    assert _fresh(user).password_hash == user.password_hash


def test_reset_mail_goes_to_known_active_accounts_only(make_user, mailbox):
    """Outside a request the mail goes at once; no account, or a deactivated one, gets none."""
    user = make_user()
    gone = make_user()
    users.set_user_active(gone.id, False, via=Via.CLI)
    for address in (user.email.upper(), "nobody@example.com", gone.email):
        assert users.request_password_reset(address) is None
    assert [m.recipients for m in mailbox.mails] == [[user.email]]
    [mail] = mailbox.mails
    assert "/password/reset/" in mail.text and "/password/reset/" in mail.html
    with pytest.raises(InvalidInput):
        users.request_password_reset("not an address")


# -- name and password ------------------------------------------------------------------------


def test_rename_changes_the_name_and_every_membership_sort_key(make_user, make_org):
    user = make_user(name="Zed Zebra")
    orgs = [make_org(user, "One"), make_org(user, "Two")]
    users.rename_user(user, "  Aaron Aardvark ", via=Via.WEB)
    assert _fresh(user).name == "Aaron Aardvark"
    keys = db.session.scalars(select(Membership.sort_name).where(Membership.user_id == user.id))
    assert set(keys) == {"aaron aardvark"}
    for org in orgs:
        [me] = members_named(user, org.id, "aardvark")
        assert me == "Aaron Aardvark"
    [event] = db.session.scalars(select(AuditEvent).where(AuditEvent.action == "user.rename"))
    assert event.details == {"old_name": "Zed Zebra", "new_name": "Aaron Aardvark"}


def members_named(actor: User, org_id: int, q: str) -> list[str]:
    page = member_list.list_members(actor, org_id, MemberQuery(q=q))
    return [item.name for item in page.items]


@pytest.mark.parametrize("name", ["", "   ", "x" * 101, "bad\x00name"])
def test_rename_follows_the_name_rules(make_user, name):
    user = make_user(name="Kept")
    with pytest.raises(InvalidInput):
        users.rename_user(user, name, via=Via.WEB)
    assert _fresh(user).name == "Kept"


def test_change_password_needs_the_current_one_and_ends_every_session(make_user, password):
    user = make_user()
    before = user.session_token
    with pytest.raises(WrongPassword) as raised:
        users.change_password(user, "not my password", NEW_PASSWORD, via=Via.WEB)
    assert raised.value.errors[0].field == "current_password"
    assert _fresh(user).session_token == before
    with pytest.raises(InvalidInput) as raised:
        users.change_password(user, password, "short", via=Via.WEB)
    assert raised.value.errors[0].field == "new_password"
    users.change_password(user, password, NEW_PASSWORD, via=Via.WEB)
    assert _fresh(user).session_token != before
    assert users.authenticate(user.email, NEW_PASSWORD).id == user.id


def test_change_password_without_a_password_is_refused(app):
    [user_id] = users.create_users([("nopass@example.com", "No Pass")], via=Via.CLI)
    user = db.session.get(User, user_id)
    with pytest.raises(WrongPassword):
        users.change_password(user, "", NEW_PASSWORD, via=Via.WEB)


# -- deleting an account ----------------------------------------------------------------------


def _recount(org_id: int) -> dict[str, object]:
    rows = db.session.execute(
        select(Membership.role, Membership.is_active, Membership.created_at).where(
            Membership.organization_id == org_id
        )
    ).all()
    counts: dict[str, object] = {
        "member_count": len(rows),
        "active_count": sum(1 for r in rows if r.is_active),
        "joins_by_day": dict(Counter(r.created_at.date().isoformat() for r in rows)),
    }
    for role, name in organizations.ROLE_COUNTERS.items():
        counts[name] = sum(1 for r in rows if r.role is role)
    return counts


def _counters(org_id: int) -> dict[str, object]:
    org = db.session.get(Organization, org_id, populate_existing=True)
    return {name: getattr(org, name) for name in _recount(org_id)}


def test_delete_is_refused_while_last_active_owner_naming_the_organizations(
    make_user, make_org, add_member, password
):
    me, other = make_user(), make_user()
    alone_b = make_org(me, "Beta alone")
    alone_a = make_org(me, "alpha alone")
    shared = make_org(me, "Shared")
    add_member(shared, other, Role.OWNER)
    suspended_owner = make_org(other, "Suspended here")
    add_member(suspended_owner, me, Role.OWNER, is_active=False)
    sole = users.sole_owned_organizations(me)
    assert [(o.id, o.organization_name) for o in sole] == [
        (alone_a.id, "alpha alone"),
        (alone_b.id, "Beta alone"),
    ]
    with pytest.raises(LastOwner, match="alpha alone, Beta alone"):
        users.delete_user(me, password, via=Via.WEB)
    assert _fresh(me) is not None
    assert db.session.scalar(select(func.count()).where(Membership.user_id == me.id)) == 4


def test_an_owner_whose_co_owner_is_deactivated_is_the_last_one(make_user, make_org, add_member):
    me, other = make_user(), make_user()
    org = make_org(me, "Acme")
    add_member(org, other, Role.OWNER)
    assert users.sole_owned_organizations(me) == []
    users.set_user_active(other.id, False, via=Via.CLI)
    assert [o.id for o in users.sole_owned_organizations(me)] == [org.id]


def test_delete_needs_the_password(make_user):
    user = make_user()
    with pytest.raises(WrongPassword) as raised:
        users.delete_user(user, "wrong password!", via=Via.WEB)
    assert raised.value.errors[0].field == "password"
    assert _fresh(user) is not None


def test_delete_removes_memberships_tokens_and_user_and_keeps_counters_right(
    make_user, make_org, add_member, password
):
    me = make_user(name="Leaving Person")
    owners = [make_user() for _ in range(3)]
    orgs = [make_org(owner, f"Org {n}") for n, owner in enumerate(owners)]
    add_member(orgs[0], me, Role.ADMIN)
    add_member(orgs[1], me, Role.VIEWER, is_active=False)
    add_member(orgs[2], me, Role.OWNER)  # a co-owner: the org keeps its first owner
    mine = make_org(me, "Mine too")
    add_member(mine, owners[0], Role.OWNER)
    for org in (*orgs, mine):
        add_member(org, make_user(), Role.CONTRIBUTOR)
    tokens.create_token(me, "ci", via=Via.CLI)
    before = {org.id: _counters(org.id) for org in (*orgs, mine)}
    users.delete_user(me, password, via=Via.WEB)
    db.session.expire_all()
    assert db.session.get(User, me.id) is None
    assert db.session.scalar(select(func.count()).where(Membership.user_id == me.id)) == 0
    assert db.session.scalar(select(func.count()).where(ApiToken.user_id == me.id)) == 0
    for org in (*orgs, mine):
        assert _counters(org.id) == _recount(org.id)
        assert _counters(org.id)["member_count"] == before[org.id]["member_count"] - 1
    events = db.session.scalars(select(AuditEvent).where(AuditEvent.action == "user.delete"))
    seen = {(e.organization_id, e.old_role, e.old_active) for e in events}
    assert seen == {
        (None, None, None),
        (orgs[0].id, Role.ADMIN, True),
        (orgs[1].id, Role.VIEWER, False),
        (orgs[2].id, Role.OWNER, True),
        (mine.id, Role.OWNER, True),
    }
    for event in db.session.scalars(select(AuditEvent).where(AuditEvent.action == "user.delete")):
        assert event.target_email == me.email and event.details == {"name": "Leaving Person"}
    # The departures show in each organization's activity log.
    log = organizations_log(owners[0], orgs[0].id)
    assert ("user.delete", me.email) in log


def organizations_log(actor: User, org_id: int) -> list[tuple[str, str | None]]:
    page = audit.list_audit_events(actor, org_id)
    return [(e.action, e.target_email) for e in page.items]


def test_delete_costs_the_same_statements_in_one_or_many_organizations(
    make_user, make_org, add_member, password, count_statements
):
    counts = []
    for size in (1, 6):
        me = make_user()
        for n in range(size):
            org = make_org(make_user(), f"Org {size}-{n}")
            add_member(org, me, Role.VIEWER)
        with count_statements() as log:
            users.delete_user(me, password, via=Via.WEB)
        counts.append(log.count)
    assert counts[0] == counts[1], counts


def test_a_user_in_no_organization_can_delete_the_account(make_user, password):
    user = make_user()
    users.delete_user(user, password, via=Via.WEB)
    db.session.expire_all()
    assert db.session.get(User, user.id) is None


def test_members_service_still_sees_consistent_orgs_after_a_delete(
    make_user, make_org, add_member, password
):
    owner, me = make_user(), make_user()
    org = make_org(owner)
    add_member(org, me, Role.ADMIN)
    users.delete_user(me, password, via=Via.WEB)
    newcomer = make_user()
    account = members.add_members(owner, org.id, [newcomer.id], via=Via.CLI)
    assert account.member_count == 2 == _recount(org.id)["member_count"]
