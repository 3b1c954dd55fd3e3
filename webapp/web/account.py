"""My account (DESIGN §8): the account page (name, password, sign out everywhere, delete) and
the password reset that starts from the sign-in page.

Each form of the account page posts to its own URL: without JavaScript it redirects back with
a flash; with htmx it answers the form's partial (the page includes the same one). Every rule
is ``services.users``'; the failure limits are ``auth``'s.
"""

from __future__ import annotations

from typing import Any

from flask import flash, make_response, redirect, render_template, session, url_for
from flask_login import login_required, login_user, logout_user
from werkzeug.wrappers import Response

from webapp import auth
from webapp.models import Via
from webapp.services import users
from webapp.services.errors import DomainError, InvalidInput, InvalidLink, TooManyAttempts
from webapp.web import bp
from webapp.web.accounts import _start_session
from webapp.web.errors import attach_to_form
from webapp.web.forms import (
    ChangePasswordForm,
    DeleteAccountForm,
    EmptyForm,
    ForgotPasswordForm,
    NameForm,
    ResetPasswordForm,
)
from webapp.web.htmx import is_htmx, render
from webapp.web.orgs import me

RESET_SENT = (
    "If an account uses {email}, we sent it a link to choose a new password. "
    "The link works once, for an hour."
)


def _too_many(response: Response, error: TooManyAttempts) -> Response:
    response.headers["Retry-After"] = str(error.retry_after)
    return response


def _no_store(response: Response) -> Response:
    """Pages whose URL holds a reset token: kept in no cache."""
    response.headers["Cache-Control"] = "no-store"
    return response


# -- password reset ----------------------------------------------------------------------------


@bp.route("/password/forgot", methods=["GET", "POST"])
def forgot_password() -> Response:
    """Asks for a reset link. The answer is the same whether or not the address has an account."""
    form = ForgotPasswordForm()
    status = 200
    if form.is_submitted():
        email = form.email.data or ""
        try:
            auth.request_password_reset(email)
        except TooManyAttempts as error:
            form.form_errors.append(error.message)
            page = render_template("account/forgot.html", form=form)
            return _too_many(make_response(page, 429), error)
        except DomainError as error:  # not an email address
            status = attach_to_form(form, error)
        else:
            flash(RESET_SENT.format(email=email.strip()), "info")
            return redirect(url_for("web.login"))
    return make_response(render_template("account/forgot.html", form=form), status)


@bp.route("/password/reset/<token>", methods=["GET", "POST"])
def reset_password(token: str) -> Response:
    """The mailed link: a form for the new password. A link that expired, was used or no
    longer fits its account is a 410 page offering a new one, whatever the reason."""
    form = ResetPasswordForm()
    status = 200
    try:
        user = users.read_reset_link(token)
        if form.is_submitted():
            try:
                user = users.reset_password(token, form.password.data or "", via=Via.WEB)
            except InvalidInput as error:
                status = attach_to_form(form, error)
            else:  # a new session: nothing from before carries over
                return _start_session(
                    user, "Your password is changed, and every other session signed out."
                )
    except InvalidLink as error:
        page = render_template("account/reset_gone.html", message=error.message)
        return _no_store(make_response(page, 410))
    page = render_template("account/reset.html", form=form, user=user, token=token)
    return _no_store(make_response(page, status))


# -- the account page --------------------------------------------------------------------------


def _page(partial: str, status: int = 200, **context: Any) -> Response:
    context.setdefault("name_form", NameForm(formdata=None))
    context.setdefault("password_form", ChangePasswordForm(formdata=None))
    context.setdefault("delete_form", DeleteAccountForm(formdata=None))
    if context["name_form"].name.data is None:
        context["name_form"].name.data = me().name
    return render(
        "account/index.html",
        partial,
        status,
        sessions_form=EmptyForm(),
        sole_owned=users.sole_owned_organizations(me()),
        **context,
    )


@bp.get("/settings/account")
@login_required
def account_page() -> Response:
    return _page("account/_panel.html")


@bp.post("/settings/account/name")
@login_required
def rename_account() -> Response:
    form = NameForm()
    try:
        user = users.rename_user(me(), form.name.data or "", via=Via.WEB)
    except DomainError as error:
        return _page("account/_name_form.html", attach_to_form(form, error), name_form=form)
    flash(f"Your name is now {user.name}.", "success")
    if not is_htmx():
        return redirect(url_for("web.account_page"))
    return _page("account/_name_form.html", renamed=True)


@bp.post("/settings/account/password")
@login_required
def change_password() -> Response:
    """The current password is required; every other session ends, this browser stays in."""
    form = ChangePasswordForm()
    try:
        auth.change_password(me(), form.current_password.data or "", form.new_password.data or "")
    except TooManyAttempts as error:
        form.form_errors.append(error.message)
        return _too_many(_page("account/_password_form.html", 429, password_form=form), error)
    except DomainError as error:
        status = attach_to_form(form, error)
        return _page("account/_password_form.html", status, password_form=form)
    # The service rotated the session token: this browser signs in with the new one.
    login_user(me())
    flash("Your password is changed. Every other session is signed out.", "success")
    if not is_htmx():
        return redirect(url_for("web.account_page"))
    return _page("account/_password_form.html")


@bp.post("/settings/account/sign-out-everywhere")
@login_required
def sign_out_everywhere() -> Response:
    # CSRF is checked before the view. The same rotation as signing out: every copy of every
    # session cookie, this browser's too, stops working.
    users.end_all_sessions(me())
    logout_user()
    session.clear()
    flash("You are signed out everywhere, this browser included.", "info")
    return redirect(url_for("web.login"))


@bp.post("/settings/account/delete")
@login_required
def delete_account() -> Response:
    form = DeleteAccountForm()
    try:
        auth.delete_account(me(), form.password.data or "")
    except TooManyAttempts as error:
        form.form_errors.append(error.message)
        return _too_many(_page("account/_delete_form.html", 429, delete_form=form), error)
    except DomainError as error:  # the password, or the last owner of an organization
        status = attach_to_form(form, error)
        return _page("account/_delete_form.html", status, delete_form=form)
    logout_user()
    session.clear()
    flash("Your account is deleted. Thank you for using Roster.", "info")
    return redirect(url_for("web.login"))
