"""The JSON API at /api (DESIGN §4): thin routes over the service layer.

``routes`` holds the twelve operations, parsing with ``webapp.inputs`` and answering with the
services' own dataclasses; ``openapi`` describes them from the same types (``schemas`` has the
API's own answer shapes); ``identity`` is the Bearer / session+CSRF authentication, and
``problems`` says errors as RFC 9457 problems.
"""

from __future__ import annotations

from flask import Blueprint, Flask

bp = Blueprint("api", __name__, url_prefix="/api")


def init_app(app: Flask) -> None:
    from webapp.api import routes  # noqa: F401  (routes and hooks register on import)
    from webapp.extensions import csrf

    # The API checks CSRF itself, and only for session-cookie requests (identity.py).
    csrf.exempt(bp)
    # Set before the API's rules are bound: "//" is a 404 problem, not an HTML redirect.
    app.url_map.merge_slashes = False
    app.register_blueprint(bp)
