"""The audit log is written with the change, in its transaction, and only for real changes."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select
from sqlalchemy.exc import OperationalError

from webapp.extensions import db
from webapp.models import AuditEvent, Membership, Organization, Role, Via
from webapp.services import audit, members, organizations
from webapp.services.errors import Forbidden, LastOwner


def events(org_id: int) -> list[AuditEvent]:
    db.session.rollback()
    return list(
        db.session.scalars(
            select(AuditEvent).where(AuditEvent.organization_id == org_id).order_by(AuditEvent.id)
        )
    )


def test_each_change_records_who_what_whom_and_how(make_user, make_org):
    owner, ann, bob = make_user(), make_user(), make_user()
    org = make_org(owner)
    members.add_members(owner, org.id, [ann.id, bob.id], role=Role.VIEWER, via=Via.WEB)
    members.update_members(owner, org.id, [ann.id], role=Role.ADMIN, is_active=False, via=Via.API)
    members.remove_members(owner, org.id, [bob.id], via=Via.CLI)
    organizations.rename_organization(owner, org.id, "Renamed", via=Via.API)

    log = [
        (e.action, e.via, e.actor_id, e.target_user_id, e.old_role, e.new_role, e.old_active,
         e.new_active)
        for e in events(org.id)
    ]  # fmt: skip
    assert log == [
        ("organization.create", "cli", owner.id, owner.id, None, Role.OWNER, None, True),
        ("member.add", "web", owner.id, ann.id, None, Role.VIEWER, None, True),
        ("member.add", "web", owner.id, bob.id, None, Role.VIEWER, None, True),
        ("member.update", "api", owner.id, ann.id, Role.VIEWER, Role.ADMIN, True, False),
        ("member.remove", "cli", owner.id, bob.id, Role.VIEWER, None, True, None),
        ("organization.rename", "api", owner.id, None, None, None, None, None),
    ]
    rename = events(org.id)[-1]
    assert rename.details == {"old_name": "Acme", "new_name": "Renamed"}
    assert events(org.id)[1].operation_id == events(org.id)[2].operation_id  # one bulk change


def test_unchanged_members_are_not_audited(make_user, make_org, add_member):
    owner, ann = make_user(), make_user()
    org = make_org(owner)
    add_member(org, ann, Role.VIEWER)
    before = len(events(org.id))
    members.update_members(owner, org.id, [ann.id], role=Role.VIEWER, via=Via.API)
    assert len(events(org.id)) == before


@pytest.mark.parametrize(
    "refused",
    [
        lambda owner, admin, org_id: members.leave_organization(owner, org_id, via=Via.API),
        lambda owner, admin, org_id: members.update_members(
            admin, org_id, [owner.id], role=Role.VIEWER, via=Via.API
        ),
    ],
    ids=["last-owner", "forbidden"],
)
def test_refused_changes_write_no_events(make_user, make_org, add_member, refused):
    owner, admin = make_user(), make_user()
    org = make_org(owner)
    add_member(org, admin, Role.ADMIN)
    before = len(events(org.id))
    with pytest.raises((LastOwner, Forbidden)):
        refused(owner, admin, org.id)
    assert len(events(org.id)) == before


def test_a_fault_mid_change_leaves_no_change_and_no_event(
    make_user, make_org, add_member, monkeypatch
):
    owner, ann = make_user(), make_user()
    org = make_org(owner)
    add_member(org, ann, Role.VIEWER)
    before = len(events(org.id))

    def broken(*args, **kwargs):
        raise OperationalError("UPDATE organizations ...", {}, Exception("disk I/O error"))

    # The membership rows are already updated when the counter update fails.
    monkeypatch.setattr(members, "apply_counter_deltas", broken)
    with pytest.raises(OperationalError):
        members.update_members(owner, org.id, [ann.id], role=Role.ADMIN, via=Via.API)
    db.session.rollback()
    role = db.session.scalar(
        select(Membership.role).where(
            Membership.organization_id == org.id, Membership.user_id == ann.id
        )
    )
    assert role is Role.VIEWER
    assert len(events(org.id)) == before


def test_events_outlive_the_organization(make_user, make_org):
    owner = make_user()
    org = make_org(owner, name="Gone Inc")
    organizations.delete_organization(owner, org.id, via=Via.WEB)
    assert db.session.get(Organization, org.id) is None
    assert db.session.scalar(select(func.count()).select_from(Membership)) == 0
    last = events(org.id)[-1]
    assert (last.action, last.organization_name, last.actor_email) == (
        "organization.delete",
        "Gone Inc",
        owner.email,
    )


def test_audit_log_pages_and_filters_by_member(make_user, make_org, add_member):
    owner, ann, bob = make_user(), make_user(), make_user()
    org = make_org(owner)
    add_member(org, ann)
    add_member(org, bob)
    members.update_members(owner, org.id, [ann.id], role=Role.ADMIN, via=Via.API)
    page = audit.list_audit_events(owner, org.id, target_user_id=ann.id)
    assert [e.action for e in page.items] == ["member.update", "member.add"]
    first = audit.list_audit_events(owner, org.id, page_size=2)
    assert (len(first.items), first.total_items, first.total_pages) == (2, 4, 2)


def test_renaming_to_the_same_name_records_nothing(make_user, make_org):
    owner = make_user()
    org = make_org(owner, name="Same")
    before = len(events(org.id))
    organizations.rename_organization(owner, org.id, "  Same ", via=Via.API)
    assert len(events(org.id)) == before


def test_bulk_events_carry_each_membership_as_it_was_and_became(make_user, make_org):
    """The events of an add, an update (role only, flag only) and a removal are read from the
    memberships by the database (``audit.record_targets``): each target's address and joined_at,
    before and after, in id order, with the change's shared fields once for all."""
    owner = make_user(email="Owner@Example.com")
    people = [make_user(email=f"Person{i}@Example.com") for i in range(4)]
    ids = sorted(p.id for p in people)
    org = make_org(owner, name="Bulk Org")
    members.add_members(owner, org.id, list(reversed(ids)), role=Role.VIEWER, via=Via.WEB)
    joined = dict(
        db.session.execute(
            select(Membership.user_id, Membership.created_at).where(
                Membership.organization_id == org.id
            )
        ).all()
    )
    members.update_members(owner, org.id, ids[:2], is_active=False, via=Via.API)
    members.update_members(owner, org.id, ids, role=Role.ADMIN, via=Via.API)
    members.remove_members(owner, org.id, [ids[3], ids[0]], via=Via.CLI)
    by_id = {p.id: p for p in people}
    members.leave_organization(by_id[ids[1]], org.id, via=Via.API)

    log = [e for e in events(org.id) if e.action != "organization.create"]
    rows = [
        (e.action, e.target_user_id, e.old_role, e.new_role, e.old_active, e.new_active)
        for e in log
    ]
    assert rows == [
        *[("member.add", i, None, Role.VIEWER, None, True) for i in ids],
        *[("member.update", i, Role.VIEWER, Role.VIEWER, True, False) for i in ids[:2]],
        ("member.update", ids[0], Role.VIEWER, Role.ADMIN, False, False),
        ("member.update", ids[1], Role.VIEWER, Role.ADMIN, False, False),
        ("member.update", ids[2], Role.VIEWER, Role.ADMIN, True, True),
        ("member.update", ids[3], Role.VIEWER, Role.ADMIN, True, True),
        ("member.remove", ids[0], Role.ADMIN, None, False, None),
        ("member.remove", ids[3], Role.ADMIN, None, True, None),
        ("member.leave", ids[1], Role.ADMIN, None, False, None),
    ]
    for event in log:
        assert event.target_email == by_id[event.target_user_id].email
        assert event.joined_at == joined[event.target_user_id]
        actor = by_id[ids[1]] if event.action == "member.leave" else owner
        assert (event.actor_email, event.organization_name, event.details) == (
            actor.email,
            "Bulk Org",
            None,
        )
    for action in ("member.add", "member.remove"):
        batch = [e for e in log if e.action == action]
        assert len({(e.operation_id, e.created_at, e.via, e.actor_id) for e in batch}) == 1
