"""Roster: organization access control. ``create_app`` is the WSGI entry point."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from flask import Flask

ROOT = Path(__file__).resolve().parent.parent


def create_app(config: dict[str, Any] | None = None) -> Flask:
    """Build the app from the ROSTER_* environment, then apply ``config`` overrides (tests)."""
    from webapp import api, auth, cli, errors, health, inputs, mail, scim, security, web
    from webapp.config import STATIC, from_environment
    from webapp.extensions import attempts, csrf, db, migrate
    from webapp.services.transactions import (
        engine_options,
        install_postgresql_hooks,
        install_sqlite_hooks,
    )

    app = Flask(
        __name__,
        instance_path=str(ROOT / "instance"),
        template_folder=str(ROOT / "templates"),
        static_folder=str(ROOT / "static"),
    )
    app.config.update(STATIC)
    app.config.update(from_environment(Path(app.instance_path)))
    app.config.update(config or {})
    app.config.setdefault(
        "SQLALCHEMY_ENGINE_OPTIONS", engine_options(app.config["SQLALCHEMY_DATABASE_URI"])
    )
    # Every front reads ids in URLs alike: ``<id:org_id>`` (ASCII digits, 64 bits at most).
    app.url_map.converters["id"] = inputs.IdConverter
    app.url_map.converters["user_ids"] = inputs.UserIdsConverter

    db.init_app(app)
    migrate.init_app(app, db, directory=str(Path(__file__).parent / "migrations"))
    csrf.init_app(app)
    attempts.init_app(app)
    with app.app_context():
        install_sqlite_hooks(db.engine)
        install_postgresql_hooks(db.engine)

    mail.init_app(app)
    security.init_app(app)
    auth.init_app(app)
    errors.init_app(app)
    web.init_app(app)
    api.init_app(app)
    scim.init_app(app)
    health.init_app(app)
    cli.init_app(app)
    return app
