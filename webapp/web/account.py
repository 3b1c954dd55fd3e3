"""My account (DESIGN §8): the password reset that starts from the sign-in page.

Every rule is ``services.users``'; the limits are ``auth``'s.
"""

from __future__ import annotations

from flask import flash, make_response, redirect, render_template, url_for
from werkzeug.wrappers import Response

from webapp import auth
from webapp.models import Via
from webapp.services import users
from webapp.services.errors import DomainError, InvalidInput, InvalidLink, TooManyAttempts
from webapp.web import bp
from webapp.web.accounts import _start_session
from webapp.web.errors import attach_to_form
from webapp.web.forms import ForgotPasswordForm, ResetPasswordForm

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
