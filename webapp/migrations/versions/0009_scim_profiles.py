"""scim profiles: what an organization's identity provider says of each member

``externalId``, ``displayName`` and ``name`` of a member as SCIM sets them, one row per
membership, deleted with it.

Revision ID: 0009_scim_profiles
Revises: 0008_change_set_index
Create Date: 2026-12-03 14:40:00

"""

import sqlalchemy as sa
from alembic import op

revision = "0009_scim_profiles"
down_revision = "0008_change_set_index"
branch_labels = None
depends_on = None

BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade():
    op.create_table(
        "scim_profiles",
        sa.Column("organization_id", BigId, nullable=False),
        sa.Column("user_id", BigId, nullable=False),
        sa.Column("external_id", sa.String(255), nullable=True),
        sa.Column("display_name", sa.String(255), nullable=True),
        sa.Column("given_name", sa.String(255), nullable=True),
        sa.Column("family_name", sa.String(255), nullable=True),
        sa.Column("formatted_name", sa.String(255), nullable=True),
        sa.ForeignKeyConstraint(
            ["organization_id", "user_id"],
            ["memberships.organization_id", "memberships.user_id"],
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("organization_id", "user_id"),
    )
    op.create_index(
        "ix_scim_profiles_org_external", "scim_profiles", ["organization_id", "external_id"]
    )


def downgrade():
    op.drop_index("ix_scim_profiles_org_external", table_name="scim_profiles")
    op.drop_table("scim_profiles")
