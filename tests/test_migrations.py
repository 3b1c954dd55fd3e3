"""The migrations build exactly the schema the models describe, on SQLite and PostgreSQL."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect, text

from webapp.extensions import db
from webapp.models import Base
from webapp.models.tables import described_by_models

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
