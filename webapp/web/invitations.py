"""Invitations in the dashboard: the organization's invitations page (invite, resend, revoke),
and the link a person follows from the mail (accept, or sign up first).

Every rule is ``services.invitations``'; these views parse forms and choose what to show.
"""

from __future__ import annotations

from typing import Any

from flask import flash, redirect, render_template, session, url_for
from flask_login import current_user, login_required, login_user
from werkzeug.wrappers import Response

from webapp.errors import status_of
from webapp.models import InvitationStatus, Role, Via
from webapp.services import invitations, organizations, users
from webapp.services.errors import DomainError, EmailTaken, InvitationGone, NotFound
from webapp.services.permissions import grantable_roles
from webapp.web import bp
from webapp.web.errors import attach_to_form
from webapp.web.forms import ROLE_CHOICES, EmptyForm, InvitationSignupForm, InviteForm
from webapp.web.htmx import is_htmx, render
from webapp.web.orgs import me

# Shown first: what still needs someone to act.
_ORDER = {
    InvitationStatus.PENDING: 0,
    InvitationStatus.EXPIRED: 1,
    InvitationStatus.ACCEPTED: 2,
    InvitationStatus.REVOKED: 3,
}


def _page(org_id: int, status: int = 200, **context: Any) -> Response:
    account = organizations.get_organization(me(), org_id)
    found = invitations.list_invitations(me(), org_id)
    found.sort(key=lambda i: (_ORDER[i.status], -i.id))
    form = context.setdefault("form", InviteForm(formdata=None))
    form.role.choices = [
        c for c in ROLE_CHOICES if Role[c.value] in grantable_roles(account.allowed)
    ]
    return render(
        "invitations/index.html",
        "invitations/_panel.html",
        status,
        account=account,
        allowed=account.allowed,
        invitations=found,
        pending=sum(1 for i in found if i.status is InvitationStatus.PENDING),
        action_form=EmptyForm(),
        **context,
    )


@bp.get("/orgs/<id:org_id>/invitations")
@login_required
def invitations_page(org_id: int) -> Response:
    return _page(org_id)


@bp.post("/orgs/<id:org_id>/invitations")
@login_required
def invite(org_id: int) -> Response:
    form = InviteForm()
    try:
        made = invitations.invite(
            me(), org_id, form.addresses(), Role.parse(form.role.data or ""), via=Via.WEB
        )
    except ValueError:
        form.role.errors = ["Choose one of the offered roles."]
        return _page(org_id, 400, form=form)
    except DomainError as error:
        return _page(org_id, attach_to_form(form, error), form=form)
    flash(invited_message(made), "warning" if made.mail_failures else "success")
    if not is_htmx():
        return redirect(url_for("web.invitations_page", org_id=org_id))
    return _page(org_id)


def invited_message(made: invitations.Invited) -> str:
    """What to say after invitations were made: how many, and any mail that did not go."""
    n = len(made.invitations)
    said = f"Invited {n:,} {'person' if n == 1 else 'people'}."
    failed = made.mail_failures
    if failed:
        said += (
            f" The mail to {len(failed):,} could not be sent ({failed[0].mail_error}): "
            "resend it from Invitations."
        )
    return said


@bp.post("/orgs/<id:org_id>/invitations/<id:invitation_id>/resend")
@login_required
def resend_invitation(org_id: int, invitation_id: int) -> Response:
    sent = invitations.resend(me(), org_id, invitation_id, via=Via.WEB)
    if sent.mail_error:
        flash(f"The mail to {sent.email} could not be sent ({sent.mail_error}).", "error")
    else:
        flash(f"Sent a new link to {sent.email}; the old one no longer works.", "success")
    if not is_htmx():
        return redirect(url_for("web.invitations_page", org_id=org_id))
    return _page(org_id)


@bp.post("/orgs/<id:org_id>/invitations/<id:invitation_id>/revoke")
@login_required
def revoke_invitation(org_id: int, invitation_id: int) -> Response:
    invitations.revoke(me(), org_id, invitation_id, via=Via.WEB)
    flash("Invitation revoked: its link no longer works.", "info")
    if not is_htmx():
        return redirect(url_for("web.invitations_page", org_id=org_id))
    return _page(org_id)


# -- the link from the mail ------------------------------------------------------------------


def _gone(error: DomainError) -> Response:
    """A link that cannot be used: 410 (used, revoked, expired, organization deleted) or 404."""
    status = status_of(error)
    title = "Invitation no longer valid" if isinstance(error, InvitationGone) else "Not found"
    body = render_template("invitations/gone.html", title=title, message=error.message)
    return Response(body, status, mimetype="text/html")


@bp.get("/invitations/<token>")
def invitation(token: str) -> Response | tuple[str, int]:
    """Signed in as the invitee: one click to join. Signed out: sign in or sign up. Signed in
    as someone else: a clear refusal, with a way to sign out."""
    try:
        link = invitations.read_link(token)
    except (InvitationGone, NotFound) as error:
        return _gone(error)
    status = 200
    wrong_person = current_user.is_authenticated and current_user.email != link.email
    if wrong_person:
        status = 403
    body = render_template(
        "invitations/accept.html",
        link=link,
        token=token,
        wrong_person=wrong_person,
        form=EmptyForm(),
    )
    return body, status


@bp.post("/invitations/<token>")
@login_required
def accept_invitation(token: str) -> Response | tuple[str, int]:
    form = EmptyForm()
    if not form.validate_on_submit():
        return redirect(url_for("web.invitation", token=token))
    try:
        account = invitations.accept(me(), token, via=Via.WEB)
    except (InvitationGone, NotFound) as error:
        return _gone(error)
    return _welcome(account)


def _welcome(account: organizations.Account) -> Response:
    flash(f"Welcome to {account.organization_name}: you are a {account.role.name}.", "success")
    return redirect(url_for("web.organization", org_id=account.id))


@bp.route("/invitations/<token>/signup", methods=["GET", "POST"])
def invitation_signup(token: str) -> Response | tuple[str, int]:
    """Sign up through an invitation: the address is the invitation's and cannot be changed;
    the account is verified (the link reached that address) and joins at once."""
    if current_user.is_authenticated:
        return redirect(url_for("web.invitation", token=token))
    try:
        link = invitations.read_link(token)
    except (InvitationGone, NotFound) as error:
        return _gone(error)
    form = InvitationSignupForm()
    status = 200
    if form.is_submitted():
        status = 400
        try:
            user = users.join_by_invitation(
                link.email, form.name.data or "", form.password.data or ""
            )
        except EmailTaken:
            flash("You already have an account with this address: sign in to accept.", "info")
            return redirect(url_for("web.login", next=url_for("web.invitation", token=token)))
        except DomainError as error:
            status = attach_to_form(form, error)
        else:
            session.clear()
            login_user(user)
            try:
                account = invitations.accept(user, token, via=Via.WEB)
            except DomainError as error:  # revoked in the meantime: the account stays
                flash(f"Your account is ready, but {error.message}", "error")
                return redirect(url_for("web.my_organizations"))
            return _welcome(account)
    body = render_template("invitations/signup.html", link=link, token=token, form=form)
    return body, status
