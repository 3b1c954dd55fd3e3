"""Identity is never reused (DESIGN §7): an id once handed out never names another row.

On SQLite a table without AUTOINCREMENT hands the largest deleted rowid to the next insert: a
new organization took a deleted one's id and showed its whole history. These tests delete the
newest row of every table with an id, make a new one, and look at what the new tenant sees.
"""

from __future__ import annotations

from flask_migrate import downgrade, upgrade
from sqlalchemy import delete, func, select, text

from webapp.extensions import db
from webapp.models import ApiToken, AuditEvent, Organization, Role, User, Via
from webapp.services import audit, members, organizations, tokens

from .conftest import ApiClient, login

OLD = "zz-old-tenant"  # every value of the deleted tenant carries it


def _fill_old_tenant(make_user) -> tuple[User, int, list[User]]:
    owner = make_user(email="owner@new.test", name="Olivia Owner")
    old = organizations.create_organization(owner, f"{OLD} Org", via=Via.API)
    people = [make_user(email=f"{OLD}-{n}@old.test", name=f"{OLD} Person {n}") for n in range(3)]
    members.add_members(owner, old.id, [p.id for p in people], role=Role.CONTRIBUTOR, via=Via.WEB)
    members.update_members(owner, old.id, [people[0].id], role=Role.ADMIN, via=Via.API)
    members.remove_members(owner, old.id, [people[1].id], via=Via.API)
    organizations.rename_organization(owner, old.id, f"{OLD} Org Renamed", via=Via.WEB)
    return owner, old.id, people


def test_a_new_organization_never_gets_a_deleted_ones_id_or_history(app, client, make_user):
    owner, old_id, people = _fill_old_tenant(make_user)
    organizations.delete_organization(owner, old_id, via=Via.WEB)
    # The old tenant's people leave too, so nothing of theirs can be in the new org legitimately.
    db.session.execute(delete(User).where(User.id.in_([p.id for p in people])))
    db.session.commit()

    new = organizations.create_organization(owner, "Fresh Start", via=Via.WEB)

    assert new.id > old_id
    log = audit.list_audit_events(owner, new.id)
    assert [(e.action, e.organization_id) for e in log.items] == [("organization.create", new.id)]
    summary = {m.metric: m.value for m in organizations.get_summary(owner, new.id)}
    assert summary["members_total"] == summary["role_owner"] == 1
    assert summary["joined_last_30_days"] == 1
    # What the new tenant's owner sees, page by page and answer by answer.
    login(client, owner)
    _, token = tokens.create_token(owner, "check", via=Via.CLI)
    api = ApiClient(client, token)
    seen = {
        path: client.get(path).get_data(as_text=True)
        for path in (
            f"/orgs/{new.id}",
            f"/orgs/{new.id}/members",
            f"/orgs/{new.id}/activity",
            f"/orgs/{new.id}/settings",
            "/orgs",
        )
    }
    seen |= {
        f"api {path}": api.get(path).get_data(as_text=True)
        for path in (
            f"/api/organizations/{new.id}",
            f"/api/organizations/{new.id}/users?page_size=500",
            f"/api/organizations/{new.id}/summary",
            "/api/organizations",
        )
    }
    assert "Fresh Start" in seen[f"/orgs/{new.id}/activity"]
    leaked = [where for where, body in seen.items() if OLD in body]
    assert leaked == []
    # An old link to the deleted organization names nothing.
    assert client.get(f"/orgs/{old_id}").status_code == 404
    assert api.get(f"/api/organizations/{old_id}").status_code == 404


def test_users_tokens_and_audit_events_never_reuse_a_deleted_id(app, make_user):
    first, newest = make_user(), make_user()
    db.session.execute(delete(User).where(User.id == newest.id))
    db.session.commit()
    assert make_user().id > newest.id

    token, _ = tokens.create_token(first, "one", via=Via.CLI)
    db.session.execute(delete(ApiToken).where(ApiToken.id == token.id))
    db.session.commit()
    again, _ = tokens.create_token(first, "two", via=Via.CLI)
    assert again.id > token.id

    last_event = db.session.scalar(select(func.max(AuditEvent.id)))
    db.session.execute(delete(AuditEvent).where(AuditEvent.id == last_event))
    db.session.commit()
    organizations.create_organization(first, "Next", via=Via.CLI)
    assert db.session.scalar(select(func.max(AuditEvent.id))) > last_event


def test_the_migration_keeps_every_row_and_never_hands_out_an_id_the_log_knows(app, make_user):
    """A database made before ids were protected: its deleted organization's id stays retired.

    The deleted organization was the newest, so its id is in no table any more, only in the
    audit log; on SQLite the migration raises the high-water mark to it.
    """
    # Filled by today's services, then taken back to the first schema: rows a 0001 database
    # could hold (dropping an AUTOINCREMENT table also drops its high-water mark). The later
    # migrations' backfills must give back what the services wrote.
    owner, old_id, people = _fill_old_tenant(make_user)
    kept = organizations.create_organization(owner, "Kept", via=Via.CLI)
    members.add_members(owner, kept.id, [people[2].id], role=Role.VIEWER, via=Via.CLI)
    doomed = organizations.create_organization(owner, "Doomed", via=Via.CLI)
    organizations.delete_organization(owner, doomed.id, via=Via.CLI)
    before = _rows()
    db.session.remove()
    downgrade(revision="0001")
    try:
        if db.engine.dialect.name == "sqlite":  # only the audit log still knows doomed's id
            assert not db.session.execute(
                text("SELECT seq FROM sqlite_sequence WHERE name = 'organizations'")
            ).first()
            db.session.remove()
        upgrade()
    finally:
        upgrade()  # the rest of the suite needs the head schema whatever happened
    # What 0006 cannot give back: the joined_at of a member removed since (people[1]), which
    # went with their membership; every other membership event gets it from the membership.
    gone = db.session.scalars(
        select(AuditEvent.id).where(AuditEvent.target_user_id == people[1].id)
    ).all()
    assert gone
    joined_at = len(before["audit_events"][0]) - 1  # the column 0006 adds, last
    before["audit_events"] = [
        (*row[:joined_at], None) if row[0] in gone else row for row in before["audit_events"]
    ]
    assert _rows() == before
    new = organizations.create_organization(owner, "After the upgrade", via=Via.CLI)
    assert new.id > doomed.id > kept.id > old_id


def _rows() -> dict[str, list[tuple[object, ...]]]:
    tables = ["users", "organizations", "memberships", "api_tokens", "audit_events"]
    return {
        name: [
            tuple(row) for row in db.session.execute(text(f"SELECT * FROM {name} ORDER BY 1, 2"))
        ]
        for name in tables
    }


def test_sqlite_tables_with_an_id_are_autoincrement(app):
    if db.engine.dialect.name != "sqlite":
        # PostgreSQL: the ids come from sequences, which never go back.
        defaults = db.session.execute(
            text(
                "SELECT table_name, column_default FROM information_schema.columns "
                "WHERE column_name = 'id' AND table_schema = current_schema()"
            )
        ).all()
        assert {name for name, default in defaults if "nextval(" in (default or "")} >= {
            "users",
            "organizations",
            "api_tokens",
            "audit_events",
        }
        return
    ddl = dict(
        db.session.execute(text("SELECT name, sql FROM sqlite_master WHERE type='table'")).all()
    )
    for table in (User, Organization, ApiToken, AuditEvent):
        assert "AUTOINCREMENT" in ddl[table.__tablename__], table.__tablename__
