"""Sign up, sign in, sign out."""

from __future__ import annotations

from urllib.parse import urlsplit

from flask import flash, redirect, render_template, request, session, url_for
from flask_login import current_user, login_required, login_user, logout_user
from werkzeug.wrappers import Response

from webapp import auth
from webapp.services import users
from webapp.services.errors import (
    AuthenticationFailed,
    DomainError,
    InvalidLink,
    TooManyAttempts,
    Unverified,
)
from webapp.services.values import email_address
from webapp.web import bp
from webapp.web.errors import attach_to_form
from webapp.web.forms import EmptyForm, LoginForm, SignupForm


def safe_next_url(target: str | None, default: str = "/orgs") -> str:
    """A same-site path to go to after sign-in, or ``default``.

    Refuses absolute URLs, scheme-relative ``//host``, backslashes (browsers read ``/\\host``
    as ``//host``) and control characters.
    """
    if not target or len(target) > 2000:
        return default
    if "\\" in target or any(ord(ch) < 32 or ord(ch) == 127 for ch in target):
        return default
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or not target.startswith("/") or target.startswith("//"):
        return default
    return target


def _start_session(user: users.User, welcome: str | None = None) -> Response:
    next_url = safe_next_url(request.args.get("next"))
    session.clear()  # a new session, no fixation: nothing from before sign-in carries over
    login_user(user)
    if welcome:
        flash(welcome, "success")  # after the clear, or it would be lost with the old session
    return redirect(next_url)


@bp.route("/signup", methods=["GET", "POST"])
def signup() -> str | Response | tuple[str, int]:
    """Sign up: the same answer whether or not the address is taken (a mail says the rest)."""
    if current_user.is_authenticated:
        return redirect(url_for("web.my_organizations"))
    policy, domains = users.signup_policy()
    form = SignupForm()
    status = 400 if form.is_submitted() else 200
    if policy == "invite":
        status = 403 if form.is_submitted() else 200
        return render_template("accounts/signup.html", form=None, closed=True), status
    if form.is_submitted():
        try:
            auth.sign_up(form.email.data or "", form.name.data or "", form.password.data or "")
        except TooManyAttempts as error:
            form.form_errors.append(error.message)
            body = render_template("accounts/signup.html", form=form, domains=domains)
            return body, 429, {"Retry-After": str(error.retry_after)}  # type: ignore[return-value]
        except DomainError as error:
            attach_to_form(form, error)
        else:
            session["signed_up"] = email_address(form.email.data or "")
            return redirect(url_for("web.signup_sent"))
    return render_template("accounts/signup.html", form=form, domains=domains), status


@bp.get("/signup/sent")
def signup_sent() -> str:
    return render_template("accounts/check_inbox.html", email=session.get("signed_up"))


@bp.get("/verify/<token>")
def verify(token: str) -> str:
    """The mailed link: a button, so that a mail scanner fetching the link verifies nothing."""
    return render_template("accounts/verify.html", form=EmptyForm(), token=token)


@bp.post("/verify/<token>")
def verify_confirm(token: str) -> Response | tuple[str, int]:
    form = EmptyForm()
    if not form.validate_on_submit():
        return redirect(url_for("web.verify", token=token))
    try:
        user = users.verify_email(token)
    except InvalidLink as error:
        return render_template("accounts/verify.html", form=None, message=error.message), 410
    return _start_session(user, "Your address is confirmed. Welcome to Roster.")


@bp.route("/login", methods=["GET", "POST"])
def login() -> str | Response | tuple[str, int]:
    if current_user.is_authenticated:
        return redirect(safe_next_url(request.args.get("next")))
    form = LoginForm()
    if form.is_submitted():
        try:
            user = auth.sign_in_with_password(form.email.data or "", form.password.data or "")
        except TooManyAttempts as error:
            form.form_errors.append(error.message)
            body = render_template("accounts/login.html", form=form)
            return body, 429, {"Retry-After": str(error.retry_after)}  # type: ignore[return-value]
        except AuthenticationFailed as error:
            form.form_errors.append(error.message)
            return render_template("accounts/login.html", form=form), 401
        except Unverified as error:
            form.form_errors.append(error.message)
            return render_template("accounts/login.html", form=form), 403
        return _start_session(user)
    status = 400 if form.is_submitted() else 200
    return render_template("accounts/login.html", form=form), status


@bp.post("/logout")
@login_required
def logout() -> Response:
    form = EmptyForm()
    if form.validate_on_submit():
        users.end_all_sessions(current_user._get_current_object())
        logout_user()
        session.clear()
        flash("You are signed out.", "info")
    return redirect(url_for("web.login"))
