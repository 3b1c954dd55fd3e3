"""The server-rendered dashboard: HTML blueprints over the service layer."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Flask
from flask_login import current_user

from webapp.models import Role
from webapp.services import organizations
from webapp.services.organizations import Account
from webapp.services.permissions import Action

bp = Blueprint("web", __name__)


def _my_accounts() -> list[Account]:
    """The organization switcher's entries; only queried when a page shows the switcher."""
    if not current_user.is_authenticated:
        return []
    return organizations.list_my_organizations(current_user._get_current_object())


@bp.app_context_processor
def _globals() -> dict[str, Any]:
    from webapp.web.htmx import is_htmx

    return {
        "Action": Action,
        "Role": Role,
        "ROLES": list(Role),
        "my_accounts": _my_accounts,
        "is_htmx": is_htmx,
    }


def init_app(app: Flask) -> None:
    from webapp.web import accounts, htmx, members, orgs, tokens  # noqa: F401

    app.register_blueprint(bp)
