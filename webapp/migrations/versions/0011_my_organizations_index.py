"""my organizations index: a member's own rows read from the index alone (PostgreSQL)

The list of a user's organizations reads their role and state in each one. With
``ix_memberships_user_joined`` alone that is a visit to the table for each membership (998
pages for a member of 1,000 organizations, make bench T11); carrying ``role`` and
``is_active`` in the index (``INCLUDE``) makes it an index-only scan. PostgreSQL writes every
index entry again when a role or state changes anyway (those columns are indexed elsewhere, so
the update is never HOT), so bulk changes cost little more (a raw UPDATE of 10,000
roles: 386 ms against 359, interleaved). SQLite has no ``INCLUDE``: as key
columns they nearly doubled the time of a 10,000-member role change there, so its index stays.

Revision ID: 0011_my_organizations_index
Revises: 0010_user_search
Create Date: 2026-12-04 17:20:00

"""

from alembic import op

revision = "0011_my_organizations_index"
down_revision = "0010_user_search"
branch_labels = None
depends_on = None

NAME = "ix_memberships_user_joined"
COLUMNS = ["user_id", "created_at", "organization_id"]


def upgrade():
    if op.get_context().dialect.name != "postgresql":
        return
    op.drop_index(NAME, table_name="memberships")
    op.create_index(NAME, "memberships", COLUMNS, postgresql_include=["role", "is_active"])


def downgrade():
    if op.get_context().dialect.name != "postgresql":
        return
    op.drop_index(NAME, table_name="memberships")
    op.create_index(NAME, "memberships", COLUMNS)
