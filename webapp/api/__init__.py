"""The JSON API at /api (DESIGN §4): thin routes over the service layer.

``routes`` holds the twelve operations, ``schemas`` the pydantic shapes that validate requests
and describe them in ``openapi``, ``identity`` the Bearer / session+CSRF authentication, and
``problems`` the one table from domain errors to RFC 9457 answers.
"""

from __future__ import annotations

from flask import Blueprint, Flask
from werkzeug.routing import BaseConverter

bp = Blueprint("api", __name__, url_prefix="/api")


def is_api_path(path: str) -> bool:
    return path == "/api" or path.startswith("/api/")


class OrganizationIdConverter(BaseConverter):
    """ASCII digits; a number too long to be any id becomes 0, which no organization has."""

    regex = "[0-9]+"

    def to_python(self, value: str) -> int:
        digits = value.lstrip("0") or "0"
        return int(digits) if len(digits) <= 19 else 0

    def to_url(self, value: int) -> str:
        return str(int(value))


def init_app(app: Flask) -> None:
    from webapp.api import routes  # noqa: F401  (routes and hooks register on import)
    from webapp.extensions import csrf

    # The API checks CSRF itself, and only for session-cookie requests (identity.py).
    csrf.exempt(bp)
    # Set before the API's rules are bound: "//" is a 404 problem, not an HTML redirect, and
    # organization ids are ASCII digits only (Arabic-Indic or full-width digits are not ids).
    app.url_map.merge_slashes = False
    app.url_map.converters["org_id"] = OrganizationIdConverter
    app.register_blueprint(bp)
