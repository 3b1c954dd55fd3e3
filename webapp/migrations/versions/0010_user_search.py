"""user search: the member search's index moves from the memberships to the users

``q`` matches a substring of a membership's ``sort_email`` (the user's address) or
``sort_name`` (the user's name, case-folded) with ``LIKE '%x%'``, which reads every member of
the organization unless an index finds the candidates. 0004 put a pg_trgm GIN index on the
memberships (PostgreSQL only): every member added, changed or removed wrote to it, which was
most of a bulk change (an UPDATE of 10,000 memberships took 1.0-1.8 s with it, 0.4-0.5 s
without), and SQLite had nothing. Now both index *users*, one row per person, which adding or
changing members never writes:

- ``users.name_key``: the name case-folded (``services.values.name_sort_key``, Python's
  ``str.casefold``), written with the name by every service that writes one; filled here, and
  the memberships' ``sort_name`` made equal to it where an account taken over through an
  invitation had left it behind.
- PostgreSQL: a pg_trgm GIN index on ``users (email, name_key)``; the memberships' one goes.
- SQLite: an FTS5 ``trigram`` table ``user_search`` (rowid = ``users.id``) of the same two
  texts, kept in step by triggers on ``users``.

A text of three characters or more finds its candidate users through the index, and the list
keeps its ``LIKE`` on the memberships as the final word, so the answers cannot change
(``services.member_list``). A later migration that rebuilds ``users`` on SQLite (Alembic's
batch mode copies the table) must recreate the triggers; ``tests/services/
test_user_search_table.py`` checks they are there at head.

The models do not describe the index nor the table (one backend's each):
``tables.described_by_models`` leaves them out of comparisons.

Revision ID: 0010_user_search
Revises: 0009_scim_profiles
Create Date: 2026-12-03 17:30:00

"""

import sqlalchemy as sa
from alembic import op

revision = "0010_user_search"
down_revision = "0009_scim_profiles"
branch_labels = None
depends_on = None

INDEX = "ix_users_search"  # webapp.models.tables.SEARCH_INDEX (PostgreSQL)
TABLE = "user_search"  # webapp.models.tables.USER_SEARCH_TABLE (SQLite)
TRIGGERS = ("users_search_insert", "users_search_update", "users_search_delete")
OLD_INDEX = "ix_memberships_search"  # 0004's
SORT_NAME_MAX = 300  # webapp.models.tables.SORT_NAME_MAX


def upgrade():
    op.add_column(
        "users",
        sa.Column("name_key", sa.String(SORT_NAME_MAX), nullable=False, server_default=""),
    )
    bind = op.get_bind()
    users = bind.execute(sa.text("SELECT id, name FROM users")).all()
    if users:
        bind.execute(
            sa.text("UPDATE users SET name_key = :key WHERE id = :id"),
            [{"id": user_id, "key": name.casefold()} for user_id, name in users],
        )
    # The memberships' copies of the name where a path left them behind (an account taken over
    # through an invitation kept its old one): the candidates now come from the users' copy.
    bind.execute(
        sa.text(
            "UPDATE memberships SET sort_name = users.name_key FROM users "
            "WHERE users.id = memberships.user_id AND memberships.sort_name <> users.name_key"
        )
    )
    if bind.dialect.name == "postgresql":
        op.execute(f"DROP INDEX IF EXISTS {OLD_INDEX}")
        op.execute(
            f"CREATE INDEX {INDEX} ON users USING gin (email gin_trgm_ops, name_key gin_trgm_ops)"
        )
        return
    op.execute(f"CREATE VIRTUAL TABLE {TABLE} USING fts5(email, name, tokenize='trigram')")
    op.execute(f"INSERT INTO {TABLE} (rowid, email, name) SELECT id, email, name_key FROM users")
    op.execute(
        f"CREATE TRIGGER users_search_insert AFTER INSERT ON users BEGIN "
        f"INSERT INTO {TABLE} (rowid, email, name) VALUES (new.id, new.email, new.name_key); END"
    )
    op.execute(
        f"CREATE TRIGGER users_search_update AFTER UPDATE OF email, name_key ON users BEGIN "
        f"UPDATE {TABLE} SET email = new.email, name = new.name_key WHERE rowid = old.id; END"
    )
    op.execute(
        f"CREATE TRIGGER users_search_delete AFTER DELETE ON users BEGIN "
        f"DELETE FROM {TABLE} WHERE rowid = old.id; END"
    )


def downgrade():
    if op.get_bind().dialect.name == "postgresql":
        op.execute(f"DROP INDEX IF EXISTS {INDEX}")
        op.execute(
            f"CREATE INDEX {OLD_INDEX} ON memberships "
            "USING gin (sort_email gin_trgm_ops, sort_name gin_trgm_ops)"
        )
        op.drop_column("users", "name_key")
        return
    for trigger in TRIGGERS:
        op.execute(f"DROP TRIGGER IF EXISTS {trigger}")
    op.execute(f"DROP TABLE IF EXISTS {TABLE}")
    op.execute("ALTER TABLE users DROP COLUMN name_key")  # SQLite 3.35+
