"""member search: a pg_trgm index for the member list's substring search ``q`` (PostgreSQL)

``q`` matches a substring of a membership's ``sort_email`` or ``sort_name`` with
``LIKE '%x%'``, which read every member of the organization. On PostgreSQL a ``pg_trgm`` GIN
index over both columns serves that very predicate (the index is lossy; PostgreSQL rechecks each
candidate with the ``LIKE`` itself), so the answers cannot change, and a text of three
characters or more that few members match is found through the index.

SQLite gets nothing: its FTS5 ``trigram`` table would serve the search (tried: a rare text went
from 0.02 to 0.67 of an unfiltered page), but keeping it in step doubled the time of a bulk add
of 10,000 members, the embedded default's common write. The models do not describe this index
(an index for one backend only): ``tables.described_by_models`` leaves it out of comparisons.

Needs ``CREATE`` on the database for the extension (``pg_trgm`` is a trusted extension). The
downgrade drops the index and leaves the extension, which other things may use.

Revision ID: 0004_member_search
Revises: 0003_account_counters
Create Date: 2026-12-02 05:40:00

"""

from alembic import op

revision = "0004_member_search"
down_revision = "0003_account_counters"
branch_labels = None
depends_on = None

INDEX = "ix_memberships_search"  # webapp.models.tables.SEARCH_INDEX


def upgrade():
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
    op.execute(
        f"CREATE INDEX {INDEX} ON memberships "
        "USING gin (sort_email gin_trgm_ops, sort_name gin_trgm_ops)"
    )


def downgrade():
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute(f"DROP INDEX IF EXISTS {INDEX}")
