"""The migrations build exactly the schema the models describe, on SQLite and PostgreSQL."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect, text

from webapp.extensions import db
from webapp.models import Base
from webapp.models.tables import described_by_models
from webapp.services.transactions import SQLITE_MMAP_SIZE

from .conftest import reset_schema


def test_migrated_schema_matches_the_models(app):
    reset_schema()  # drop everything, then migrate from nothing to head
    with db.engine.connect() as conn:
        context = MigrationContext.configure(
            conn, opts={"compare_type": True, "include_name": described_by_models}
        )
        assert compare_metadata(context, Base.metadata) == []
    assert set(inspect(db.engine).get_table_names()) >= {
        "users",
        "organizations",
        "memberships",
        "api_tokens",
        "audit_events",
        "alembic_version",
    }


def test_sqlite_connections_get_their_pragmas(app):
    if db.engine.dialect.name != "sqlite":
        return  # PostgreSQL has no pragmas; the lock test covers its side
    with db.engine.connect() as conn:
        assert conn.execute(text("PRAGMA foreign_keys")).scalar() == 1
        assert conn.execute(text("PRAGMA journal_mode")).scalar() == "wal"
        assert conn.execute(text("PRAGMA busy_timeout")).scalar() == 10000
        assert conn.execute(text("PRAGMA mmap_size")).scalar() == SQLITE_MMAP_SIZE


def test_postgresql_include_columns_match_the_models(app):
    """Alembic's comparison does not look at INCLUDE columns (0011_my_organizations_index)."""
    if db.engine.dialect.name != "postgresql":
        return  # SQLite has no INCLUDE; the comparison above covers its indexes
    inspector = inspect(db.engine)
    for table in Base.metadata.sorted_tables:
        reflected = {
            ix["name"]: list(ix.get("dialect_options", {}).get("postgresql_include", []))
            for ix in inspector.get_indexes(table.name)
        }
        for index in table.indexes:
            wanted = list(index.dialect_options["postgresql"]["include"] or [])
            assert reflected[index.name] == wanted, index.name
    included = inspector.get_indexes("memberships")
    [joined] = [ix for ix in included if ix["name"] == "ix_memberships_user_joined"]
    assert joined["dialect_options"]["postgresql_include"] == ["role", "is_active"]
