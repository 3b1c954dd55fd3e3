"""account counters: joins per day on the organization, a partial index of active owners

The summary counted ``joined_last_30_days`` over every member who joined in the window (200,000
index entries in an organization that joined at once) and the active owners by joining every
member with the users table. ``organizations.joins_by_day`` keeps the current members' joins per
UTC day for the days the window can reach, rewritten by the same UPDATE as the other counters;
``ix_memberships_org_active_owners`` holds only active OWNER memberships. The backfill counts
the joins of the last 32 days of every organization. ``ix_memberships_user_joined`` replaces
``ix_memberships_user_org``: the same lookups by user, and the switcher's few most recently
joined organizations read from its end.

Revision ID: 0003_account_counters
Revises: 0002
Create Date: 2026-12-02 05:00:00

"""

from collections import Counter, defaultdict
from datetime import UTC, datetime, timedelta

import sqlalchemy as sa
from alembic import op

from webapp.models.base import UTCDateTime

revision = "0003_account_counters"
down_revision = "0002"
branch_labels = None
depends_on = None

# As in webapp.models.tables.ACTIVE_OWNER_ROW (OWNER is rank 1), spelled for each backend.
ACTIVE_OWNER = {
    "sqlite": "memberships.role = 1 AND memberships.is_active = 1",
    "postgresql": "memberships.role = 1 AND memberships.is_active = true",
}
# More than the 31 days joins_after keeps, so nothing the window reaches is missed.
BACKFILL_DAYS = 32


def upgrade():
    op.add_column(
        "organizations",
        sa.Column("joins_by_day", sa.JSON(), server_default=sa.text("'{}'"), nullable=False),
    )
    op.create_index(
        "ix_memberships_org_active_owners",
        "memberships",
        ["organization_id", "role", "is_active", "user_id"],
        unique=False,
        sqlite_where=sa.text(ACTIVE_OWNER["sqlite"]),
        postgresql_where=sa.text(ACTIVE_OWNER["postgresql"]),
    )
    with op.batch_alter_table("memberships") as batch_op:
        batch_op.drop_index("ix_memberships_user_org")
        batch_op.create_index(
            "ix_memberships_user_joined", ["user_id", "created_at", "organization_id"]
        )
    _backfill_joins()


def _backfill_joins():
    memberships = sa.table(
        "memberships", sa.column("organization_id"), sa.column("created_at", UTCDateTime())
    )
    organizations = sa.table("organizations", sa.column("id"), sa.column("joins_by_day", sa.JSON))
    since = datetime.now(UTC) - timedelta(days=BACKFILL_DAYS)
    conn = op.get_bind()
    joins: defaultdict[int, Counter[str]] = defaultdict(Counter)
    for org_id, joined_at in conn.execute(
        sa.select(memberships.c.organization_id, memberships.c.created_at).where(
            memberships.c.created_at >= since
        )
    ):
        joins[org_id][joined_at.date().isoformat()] += 1
    if joins:
        conn.execute(
            organizations.update()
            .where(organizations.c.id == sa.bindparam("org_id"))
            .values(joins_by_day=sa.bindparam("joins")),
            [
                {"org_id": org_id, "joins": dict(sorted(days.items()))}
                for org_id, days in joins.items()
            ],
        )


def downgrade():
    op.drop_index("ix_memberships_org_active_owners", table_name="memberships")
    with op.batch_alter_table("memberships") as batch_op:
        batch_op.drop_index("ix_memberships_user_joined")
        batch_op.create_index("ix_memberships_user_org", ["user_id", "organization_id"])
    with op.batch_alter_table(
        "organizations", table_kwargs={"sqlite_autoincrement": True}
    ) as batch_op:
        batch_op.drop_column("joins_by_day")
