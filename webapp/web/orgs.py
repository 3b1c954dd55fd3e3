"""Organizations in the browser."""

from __future__ import annotations

from flask import flash, redirect, render_template, url_for
from flask_login import current_user, login_required
from werkzeug.wrappers import Response

from webapp.models import Via
from webapp.services import organizations
from webapp.services.errors import DomainError
from webapp.web import bp
from webapp.web.errors import attach_to_form
from webapp.web.forms import CreateOrganizationForm


@bp.get("/")
def index() -> Response:
    if current_user.is_authenticated:
        return redirect(url_for("web.my_organizations"))
    return redirect(url_for("web.login"))


@bp.route("/orgs", methods=["GET", "POST"])
@login_required
def my_organizations() -> str | Response | tuple[str, int]:
    form = CreateOrganizationForm()
    user = current_user._get_current_object()
    if form.validate_on_submit():
        try:
            account = organizations.create_organization(
                user, form.organization_name.data or "", via=Via.WEB
            )
        except DomainError as error:
            attach_to_form(form, error)
        else:
            flash(f"Created {account.organization_name}.", "success")
            return redirect(url_for("web.organization", org_id=account.id))
    accounts = organizations.list_my_organizations(user)
    status = 400 if form.is_submitted() else 200
    return render_template("orgs/index.html", accounts=accounts, form=form), status


@bp.get("/orgs/<int:org_id>")
@login_required
def organization(org_id: int) -> str:
    account = organizations.get_organization(current_user._get_current_object(), org_id)
    return render_template("orgs/overview.html", account=account)
