"""never reuse ids: AUTOINCREMENT tables on SQLite

SQLite hands the largest deleted rowid to the next insert unless the table is AUTOINCREMENT:
deleting the newest organization and creating another gave the same id, and the new one showed
the old one's audit trail. The tables with an id are rebuilt with AUTOINCREMENT, and each
table's high-water mark is raised to the largest id the audit log has ever named, so an id
handed out (and then deleted) before this migration is not handed out again either.

PostgreSQL's identity sequences never go back: nothing to do there.

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-02 01:00:00

"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

TABLES = ("users", "organizations", "api_tokens", "audit_events")

# The largest id each table's rows were ever known by, beyond those still in the table.
HIGH_WATER = {
    "organizations": ["SELECT MAX(organization_id) FROM audit_events"],
    "users": [
        "SELECT MAX(actor_id) FROM audit_events",
        "SELECT MAX(target_user_id) FROM audit_events",
    ],
    "api_tokens": [
        "SELECT MAX(CAST(json_extract(details, '$.token_id') AS INTEGER)) FROM audit_events "
        "WHERE action IN ('token.create', 'token.revoke')"
    ],
    "audit_events": [],
}


def _rebuild(autoincrement: bool) -> None:
    # env.py turns foreign keys off around SQLite migrations: dropping the old organizations
    # or users table must not cascade to the memberships that reference it.
    for table in TABLES:
        with op.batch_alter_table(
            table, recreate="always", table_kwargs={"sqlite_autoincrement": autoincrement}
        ):
            pass


def _raise_high_water_marks() -> None:
    conn = op.get_bind()
    for table, queries in HIGH_WATER.items():
        known = [conn.execute(sa.text(f"SELECT MAX(id) FROM {table}")).scalar()]
        known += [conn.execute(sa.text(query)).scalar() for query in queries]
        mark = max((int(value) for value in known if value is not None), default=0)
        if not mark:
            continue
        conn.execute(sa.text("DELETE FROM sqlite_sequence WHERE name = :name"), {"name": table})
        conn.execute(
            sa.text("INSERT INTO sqlite_sequence (name, seq) VALUES (:name, :seq)"),
            {"name": table, "seq": mark},
        )


def upgrade():
    if op.get_bind().dialect.name != "sqlite":
        return
    _rebuild(autoincrement=True)
    _raise_high_water_marks()


def downgrade():
    if op.get_bind().dialect.name != "sqlite":
        return
    _rebuild(autoincrement=False)
