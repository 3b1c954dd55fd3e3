"""service tokens: an organization's tokens for integrations (DESIGN §10)

A service token belongs to one organization and dies with it (ON DELETE CASCADE); it is found
by its prefix (unique, so one indexed statement) and only its hash is kept. Its creator is kept
as they were, without a foreign key: the token outlives its creator's account.

Revision ID: 0007_service_tokens
Revises: 0006_change_sets
Create Date: 2026-12-03 08:00:00

"""

import sqlalchemy as sa
from alembic import op

from webapp.models.base import UTCDateTime

revision = "0007_service_tokens"
down_revision = "0006_change_sets"
branch_labels = None
depends_on = None

BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade():
    op.create_table(
        "service_tokens",
        sa.Column("id", BigId, nullable=False),
        sa.Column("organization_id", BigId, nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("scope", sa.String(length=8), nullable=False),
        sa.Column("prefix", sa.String(length=16), nullable=False),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("created_by_id", BigId, nullable=True),
        sa.Column("created_by_email", sa.String(length=254), nullable=True),
        sa.Column("expires_at", UTCDateTime(), nullable=True),
        sa.Column("last_used_at", UTCDateTime(), nullable=True),
        sa.Column("revoked_at", UTCDateTime(), nullable=True),
        sa.ForeignKeyConstraint(
            ["organization_id"],
            ["organizations.id"],
            name=op.f("fk_service_tokens_organization_id_organizations"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_service_tokens")),
        sa.UniqueConstraint("prefix", name=op.f("uq_service_tokens_prefix")),
        sqlite_autoincrement=True,
    )
    op.create_index("ix_service_tokens_org", "service_tokens", ["organization_id", "id"])


def downgrade():
    op.drop_index("ix_service_tokens_org", table_name="service_tokens")
    op.drop_table("service_tokens")
