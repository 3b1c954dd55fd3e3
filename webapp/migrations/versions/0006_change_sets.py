"""change sets: a removed member's joined_at on its audit event

A change set is the events one request wrote (``audit_events.operation_id``). Reverting a
removal brings the member back as they were, joined_at included, so each event keeps the
member's joined_at. Events written before this migration get it where the database still knows
it: the member still holds the membership that was there at the event (joined no later than the
event). A removed member's joined_at is gone with their membership, so a removal recorded before
this migration has none: reverting it brings the member back with the time of the revert.

Revision ID: 0006_change_sets
Revises: 0005_people
Create Date: 2026-12-02 20:00:00

"""

import sqlalchemy as sa
from alembic import op

from webapp.models.base import UTCDateTime

revision = "0006_change_sets"
down_revision = "0005_people"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("audit_events") as batch:
        batch.add_column(sa.Column("joined_at", UTCDateTime(), nullable=True))
    op.execute(
        """
        UPDATE audit_events SET joined_at = (
            SELECT m.created_at FROM memberships m
            WHERE m.organization_id = audit_events.organization_id
              AND m.user_id = audit_events.target_user_id
              AND m.created_at <= audit_events.created_at
        )
        WHERE action IN ('member.add', 'member.update', 'member.remove', 'invitation.accept')
        """
    )


def downgrade():
    with op.batch_alter_table("audit_events") as batch:
        batch.drop_column("joined_at")
