"""change set index: a change set's events found by an index, not a scan of the trail

A revert reads the events of one change set (``organization_id``, ``operation_id``), and the
activity page counts the change sets it shows; without this index both walk every event of
the organization.

Revision ID: 0008_change_set_index
Revises: 0007_service_tokens
Create Date: 2026-12-03 09:10:00

"""

from alembic import op

revision = "0008_change_set_index"
down_revision = "0007_service_tokens"
branch_labels = None
depends_on = None


def upgrade():
    op.create_index(
        "ix_audit_events_org_change",
        "audit_events",
        ["organization_id", "operation_id", "id"],
    )


def downgrade():
    op.drop_index("ix_audit_events_org_change", table_name="audit_events")
