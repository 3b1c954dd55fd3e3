"""user search: an FTS5 trigram table that finds the member list's substring search ``q`` (SQLite)

``q`` matches a substring of a membership's ``sort_email`` (the user's address) or
``sort_name`` (the user's name, case-folded) with ``LIKE '%x%'``, which reads every member of
the organization. PostgreSQL serves that predicate from a ``pg_trgm`` index (0004). Here an
FTS5 ``trigram`` table holds one row per *user* (rowid = ``users.id``) with the same two texts:
a text of three characters or more finds its few candidate users through it, and the list keeps
its ``LIKE`` on the memberships as the final word, so the answers cannot change
(``services.member_list``).

One row per user, not per membership: adding members writes nothing here (0004's note: an FTS5
table over the memberships doubled a bulk add of 10,000). Triggers on ``users`` keep it in
step; the name is case-folded by ``roster_name_key``, the function every connection of the app
has (``transactions.install_sqlite_hooks``), so a write to ``users`` from a connection without
it (the ``sqlite3`` shell) fails instead of leaving the search behind. A later migration that
rebuilds ``users`` (Alembic's batch mode copies the table) must recreate the triggers;
``tests/test_migrations.py`` checks they are there at head.

The models do not describe this table (a virtual table for one backend only):
``tables.described_by_models`` leaves it out of comparisons.

Revision ID: 0010_user_search
Revises: 0009_scim_profiles
Create Date: 2026-12-03 17:30:00

"""

from alembic import op

revision = "0010_user_search"
down_revision = "0009_scim_profiles"
branch_labels = None
depends_on = None

TABLE = "user_search"  # webapp.models.tables.USER_SEARCH_TABLE
TRIGGERS = ("users_search_insert", "users_search_update", "users_search_delete")


def upgrade():
    if op.get_bind().dialect.name != "sqlite":
        return
    op.execute(f"CREATE VIRTUAL TABLE {TABLE} USING fts5(email, name, tokenize='trigram')")
    op.execute(
        f"INSERT INTO {TABLE} (rowid, email, name) "
        "SELECT id, email, roster_name_key(name) FROM users"
    )
    op.execute(
        f"CREATE TRIGGER users_search_insert AFTER INSERT ON users BEGIN "
        f"INSERT INTO {TABLE} (rowid, email, name) "
        "VALUES (new.id, new.email, roster_name_key(new.name)); END"
    )
    op.execute(
        f"CREATE TRIGGER users_search_update AFTER UPDATE OF email, name ON users BEGIN "
        f"UPDATE {TABLE} SET email = new.email, name = roster_name_key(new.name) "
        "WHERE rowid = old.id; END"
    )
    op.execute(
        f"CREATE TRIGGER users_search_delete AFTER DELETE ON users BEGIN "
        f"DELETE FROM {TABLE} WHERE rowid = old.id; END"
    )


def downgrade():
    if op.get_bind().dialect.name != "sqlite":
        return
    for trigger in TRIGGERS:
        op.execute(f"DROP TRIGGER IF EXISTS {trigger}")
    op.execute(f"DROP TABLE IF EXISTS {TABLE}")
