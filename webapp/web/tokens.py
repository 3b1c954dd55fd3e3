"""Personal API tokens: create (shown once), list with last use, revoke."""

from __future__ import annotations

from flask import flash, redirect, url_for
from flask_login import login_required
from werkzeug.wrappers import Response

from webapp.models import Via
from webapp.services import tokens
from webapp.services.errors import DomainError
from webapp.web import bp
from webapp.web.errors import attach_to_form
from webapp.web.forms import EmptyForm, TokenForm
from webapp.web.htmx import is_htmx, render
from webapp.web.orgs import me


def _page(partial: str, status: int = 200, **context: object) -> Response:
    context.setdefault("form", TokenForm(formdata=None))
    context.setdefault("new_token", None)
    return render(
        "tokens/index.html",
        partial,
        status,
        tokens=tokens.list_tokens(me()),
        revoke_form=EmptyForm(),
        **context,
    )


@bp.get("/settings/tokens")
@login_required
def tokens_page() -> Response:
    return _page("tokens/_panel.html")


@bp.post("/settings/tokens")
@login_required
def create_token() -> Response:
    """The token text is in this one answer only: never redirected, never flashed (the session
    cookie is signed, not encrypted)."""
    form = TokenForm()
    try:
        token, text = tokens.create_token(
            me(), form.name.data or "", expires_at=form.expires_at(), via=Via.WEB
        )
    except DomainError as error:
        return _page("tokens/_panel.html", attach_to_form(form, error), form=form)
    response = _page("tokens/_panel.html", new_token={"row": token, "text": text})
    response.headers["Cache-Control"] = "no-store"
    return response


@bp.post("/settings/tokens/<id:token_id>/revoke")
@login_required
def revoke_token(token_id: int) -> Response:
    # CSRF is checked before the view; someone else's or an unknown token is the 404 page.
    tokens.revoke_token(me(), token_id, via=Via.WEB)
    flash("Token revoked. Integrations using it now get 401.", "info")
    if not is_htmx():
        return redirect(url_for("web.tokens_page"))
    return _page("tokens/_panel.html")
