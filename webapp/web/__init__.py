"""The server-rendered dashboard: HTML blueprints over the service layer."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Flask
from flask_login import current_user

from webapp.models import Role
from webapp.services import organizations
from webapp.services.organizations import RecentAccounts
from webapp.services.permissions import Action

bp = Blueprint("web", __name__)


def _recent_accounts() -> RecentAccounts:
    """The organization switcher's entries (the few joined last, and how many there are in
    all); only queried when a page shows the switcher, in one statement."""
    if not current_user.is_authenticated:
        return RecentAccounts([], 0)
    return organizations.recent_organizations(current_user._get_current_object())


@bp.app_context_processor
def _globals() -> dict[str, Any]:
    from webapp.web.htmx import is_htmx

    return {
        "Action": Action,
        "Role": Role,
        "ROLES": list(Role),
        "recent_accounts": _recent_accounts,
        "is_htmx": is_htmx,
    }


def init_app(app: Flask) -> None:
    from webapp.web import (  # noqa: F401
        account,
        accounts,
        dev,
        htmx,
        imports,
        invitations,
        members,
        orgs,
        service_tokens,
        tokens,
    )

    app.register_blueprint(bp)
