"""An organization's service tokens (DESIGN §10): create (shown once), list, revoke.

Every rule is ``services.service_tokens``'; these views parse the form and choose what to show.
"""

from __future__ import annotations

from typing import Any

from flask import flash, redirect, request, url_for
from flask_login import login_required
from werkzeug.wrappers import Response

from webapp.models import Via
from webapp.services import organizations, service_tokens
from webapp.services.errors import DomainError, Forbidden, NotFound
from webapp.services.permissions import Action
from webapp.web import bp
from webapp.web.errors import attach_to_form
from webapp.web.forms import EmptyForm, ServiceTokenForm
from webapp.web.htmx import is_htmx, render
from webapp.web.orgs import me


def _page(org_id: int, status: int = 200, **context: Any) -> Response:
    found = service_tokens.list_service_tokens(me(), org_id)  # MANAGE_TOKENS, checked first
    account = organizations.get_organization(me(), org_id)
    form = context.setdefault("form", ServiceTokenForm(formdata=None))
    if Action.MANAGE_OWNERS not in account.allowed:  # only an owner may make a scim token
        form.scope.choices = [c for c in form.scope.choices if c.value != "scim"]
    context.setdefault("new_token", None)
    return render(
        "service_tokens/index.html",
        "service_tokens/_panel.html",
        status,
        account=account,
        allowed=account.allowed,
        tokens=found,
        revoke_form=EmptyForm(),
        # Where this browser reached Roster: what an identity provider is given.
        scim_url=request.host_url.rstrip("/") + "/scim/v2",
        **context,
    )


@bp.get("/orgs/<id:org_id>/settings/tokens")
@login_required
def service_tokens_page(org_id: int) -> Response:
    return _page(org_id)


@bp.post("/orgs/<id:org_id>/settings/tokens")
@login_required
def create_service_token(org_id: int) -> Response:
    """The token's text is in this one answer only: never redirected, never flashed."""
    form = ServiceTokenForm()
    try:
        made = service_tokens.create_service_token(
            me(),
            org_id,
            form.name.data or "",
            form.scope.data or "",
            form.expires_at.data or None,
            via=Via.WEB,
        )
    except (Forbidden, NotFound):
        raise  # the refusal page, as for any other page of the organization
    except DomainError as error:
        return _page(org_id, attach_to_form(form, error), form=form)
    response = _page(org_id, new_token=made)
    response.headers["Cache-Control"] = "no-store"
    return response


@bp.post("/orgs/<id:org_id>/settings/tokens/<id:token_id>/revoke")
@login_required
def revoke_service_token(org_id: int, token_id: int) -> Response:
    service_tokens.revoke_service_token(me(), org_id, token_id, via=Via.WEB)
    flash("Service token revoked. Integrations using it now get 401.", "info")
    if not is_htmx():
        return redirect(url_for("web.service_tokens_page", org_id=org_id))
    return _page(org_id)
