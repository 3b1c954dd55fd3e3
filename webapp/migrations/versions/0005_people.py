"""people: invitations, and verified email addresses (DESIGN §8)

``invitations`` holds an email invited into an organization with a role: its single-use token
only as a hash, its status and expiry, who invited, and how its mail went. At most one pending
invitation per (organization, email), by a partial unique index. No foreign key to the
organization: the link of a deleted organization's invitation says so instead of not knowing it.

``users.email_verified_at``: when the address was proved. Accounts that exist before this
migration are taken as verified (their owners have been signing in with them; making them all
prove their address at once would lock every organization out of adding them).

Revision ID: 0005_people
Revises: 0004_member_search
Create Date: 2026-12-02 09:00:00

"""

import sqlalchemy as sa
from alembic import op

from webapp.models.base import UTCDateTime

revision = "0005_people"
down_revision = "0004_member_search"
branch_labels = None
depends_on = None

BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
PENDING = sa.literal_column("invitations.status") == sa.literal_column("'PENDING'")


def upgrade():
    with op.batch_alter_table("users") as batch:
        batch.add_column(sa.Column("email_verified_at", UTCDateTime(), nullable=True))
    op.execute("UPDATE users SET email_verified_at = created_at")
    op.create_table(
        "invitations",
        sa.Column("id", BigId, nullable=False),
        sa.Column("organization_id", BigId, nullable=False),
        sa.Column("email", sa.String(length=254), nullable=False),
        sa.Column("role", sa.SmallInteger(), nullable=False),
        sa.Column("status", sa.String(length=8), nullable=False),
        sa.Column("invited_by_id", BigId, nullable=True),
        sa.Column("invited_by_email", sa.String(length=254), nullable=True),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("expires_at", UTCDateTime(), nullable=False),
        sa.Column("accepted_at", UTCDateTime(), nullable=True),
        sa.Column("accepted_by_id", BigId, nullable=True),
        sa.Column("revoked_at", UTCDateTime(), nullable=True),
        sa.Column("mail_sent_at", UTCDateTime(), nullable=True),
        sa.Column("mail_error", sa.String(length=300), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_invitations")),
        sa.UniqueConstraint("token_hash", name=op.f("uq_invitations_token_hash")),
        sqlite_autoincrement=True,
    )
    op.create_index("ix_invitations_org", "invitations", ["organization_id", "status", "id"])
    op.create_index(
        "ix_invitations_pending_email",
        "invitations",
        ["organization_id", "email"],
        unique=True,
        sqlite_where=PENDING,
        postgresql_where=PENDING,
    )


def downgrade():
    op.drop_index("ix_invitations_pending_email", table_name="invitations")
    op.drop_index("ix_invitations_org", table_name="invitations")
    op.drop_table("invitations")
    with op.batch_alter_table("users") as batch:
        batch.drop_column("email_verified_at")
