"""The server-rendered dashboard: HTML blueprints over the service layer."""

from __future__ import annotations

from flask import Blueprint, Flask

bp = Blueprint("web", __name__)


def init_app(app: Flask) -> None:
    from webapp.web import accounts, errors, orgs  # noqa: F401  (routes register on import)

    app.register_blueprint(bp)
    errors.init_app(app)
