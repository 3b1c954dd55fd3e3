"""The server-rendered dashboard: HTML blueprints over the service layer."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Flask
from flask_login import current_user
from markupsafe import Markup

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


def _autofocus() -> Markup:
    """The attribute that focuses a control when it appears. A whole page uses ``autofocus``.
    Content that htmx swaps in gets ``data-autofocus``, which app.js focuses once htmx has set
    the content up: the browser's own autofocus acts at insertion, so a quick keyboard user
    could submit a form before htmx handles it, and the page would reload."""
    from webapp.web.htmx import is_htmx

    return Markup("data-autofocus" if is_htmx() else "autofocus")


@bp.app_context_processor
def _globals() -> dict[str, Any]:
    from webapp.web.htmx import is_htmx

    return {
        "Action": Action,
        "Role": Role,
        "ROLES": list(Role),
        "recent_accounts": _recent_accounts,
        "is_htmx": is_htmx,
        "autofocus": _autofocus,
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
