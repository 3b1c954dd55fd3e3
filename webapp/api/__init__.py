"""The JSON API at /api (DESIGN §4): thin routes over the service layer.

``routes`` holds the twelve operations, ``schemas`` the pydantic shapes that validate requests
and describe them in ``openapi``, ``identity`` the Bearer / session+CSRF authentication, and
``problems`` the one table from domain errors to RFC 9457 answers.
"""

from __future__ import annotations

from flask import Blueprint, Flask

bp = Blueprint("api", __name__, url_prefix="/api")


def is_api_path(path: str) -> bool:
    return path == "/api" or path.startswith("/api/")


def init_app(app: Flask) -> None:
    from webapp.api import routes  # noqa: F401  (routes and hooks register on import)
    from webapp.extensions import csrf

    # The API checks CSRF itself, and only for session-cookie requests (identity.py).
    csrf.exempt(bp)
    app.register_blueprint(bp)
