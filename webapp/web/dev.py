"""Development only: the outbox, where mails go when no SMTP server is configured."""

from __future__ import annotations

from flask import abort, current_app, render_template

from webapp import mail
from webapp.web import bp


@bp.get("/dev/outbox")
def outbox() -> str:
    """The newest mails kept by the outbox backend (``webapp.mail``); 404 in production, and
    whenever mail goes to a real SMTP server (nothing is kept then)."""
    if current_app.config["ROSTER_ENV"] != "development":
        abort(404)
    kept = current_app.config["MAIL_BACKEND"] == mail.OUTBOX_BACKEND
    return render_template("dev/outbox.html", mails=mail.read_outbox() if kept else [], kept=kept)
