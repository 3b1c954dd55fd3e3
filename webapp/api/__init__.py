"""The JSON API at /api (DESIGN §4): thin routes over the service layer."""

from __future__ import annotations

from flask import Blueprint, Flask

bp = Blueprint("api", __name__, url_prefix="/api")


def is_api_path(path: str) -> bool:
    return path == "/api" or path.startswith("/api/")


def init_app(app: Flask) -> None:
    app.register_blueprint(bp)
