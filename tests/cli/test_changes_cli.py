"""``roster changes revert``: the API's revert from the command line."""

from __future__ import annotations

from sqlalchemy import select

from webapp.extensions import db
from webapp.models import AuditEvent, Membership, Role, Via
from webapp.services import members


def _member_ids(org_id: int) -> set[int]:
    return set(
        db.session.scalars(select(Membership.user_id).where(Membership.organization_id == org_id))
    )


def test_revert_prints_only_the_new_change_id(runner, make_user, make_org):
    owner, person = make_user(), make_user()
    org = make_org(owner)
    added = members.add_members(owner, org.id, [person.id], role=Role.ADMIN, via=Via.API)
    result = runner.invoke(
        args=["changes", "revert", str(org.id), added.change_id, "--as", owner.email]
    )
    assert result.exit_code == 0, result.output
    new_change = result.stdout.strip()
    assert _member_ids(org.id) == {owner.id}
    recorded = db.session.execute(
        select(AuditEvent.action, AuditEvent.via, AuditEvent.details).where(
            AuditEvent.operation_id == new_change
        )
    ).all()
    assert recorded == [("change.revert", "cli", {"reverted": added.change_id})]


def test_a_refusal_names_the_user_ids_on_stderr(runner, make_user, make_org):
    owner, person = make_user(), make_user()
    org = make_org(owner)
    added = members.add_members(owner, org.id, [person.id], via=Via.API)
    members.update_members(owner, org.id, [person.id], is_active=False, via=Via.API)
    result = runner.invoke(
        args=["changes", "revert", str(org.id), added.change_id, "--as", owner.email]
    )
    assert result.exit_code == 1
    assert result.stdout == ""
    assert "changed again since" in result.stderr and f"User ids: {person.id}" in result.stderr
    assert _member_ids(org.id) == {owner.id, person.id}
