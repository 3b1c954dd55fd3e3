"""Mail: composed from templates, sent over SMTP with Flask-Mailman, or kept in an outbox.

``ROSTER_SMTP_URL`` (``smtp://user:pass@host:port``, ``smtps://...`` for TLS from the start,
``?starttls=true`` to upgrade a plain connection) sends through that server. Without it (the
embedded default) every mail is written to the log and, in development, to files under
``instance/outbox/``, which ``/dev/outbox`` lists, so every flow can be tried without a server.

Callers send after their transaction commits (``send``): a mail that fails is reported back per
message, never raised, so what the mail was about is never undone by it.
"""

from __future__ import annotations

import logging
import os
import re
import smtplib
import socket
import threading
import uuid
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from email import message_from_bytes, policy
from email.message import EmailMessage as StdMessage
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

from flask import Flask, after_this_request, current_app, has_request_context, render_template
from flask_mailman import EmailMultiAlternatives, Mail
from flask_mailman.backends.base import BaseEmailBackend

from webapp.config import ConfigError

log = logging.getLogger("roster.mail")

mail = Mail()

OUTBOX_BACKEND = "webapp.mail.OutboxEmailBackend"  # Flask-Mailman wants the EmailBackend suffix
SMTP_TIMEOUT = 10  # seconds: a send that hangs must not hold a request for long
ERROR_MAX = 300  # what is kept of a failure (webapp.models.tables.INVITATION_ERROR_MAX)
CLOSE_WAIT = 1.0  # seconds a mail sent after the answer waits for the server to close it


def smtp_settings(url: str | None) -> dict[str, Any]:
    """Flask-Mailman's settings for ``ROSTER_SMTP_URL``; the outbox backend without one."""
    if not url:
        return {"MAIL_BACKEND": OUTBOX_BACKEND}
    parts = urlsplit(url)
    if parts.scheme not in ("smtp", "smtps") or not parts.hostname:
        raise ConfigError(
            "ROSTER_SMTP_URL must look like smtp://user:pass@host:port or smtps://host:port"
        )
    query = parse_qs(parts.query)
    starttls = query.get("starttls", ["false"])[-1].lower() in ("1", "true", "yes")
    ssl = parts.scheme == "smtps"
    if ssl and starttls:
        raise ConfigError("ROSTER_SMTP_URL: smtps:// already uses TLS; drop ?starttls=true")
    try:
        port = parts.port or (465 if ssl else 25)
    except ValueError:
        raise ConfigError("ROSTER_SMTP_URL: the port is not a number") from None
    return {
        "MAIL_BACKEND": "smtp",
        "MAIL_SERVER": parts.hostname,
        "MAIL_PORT": port,
        "MAIL_USERNAME": unquote(parts.username) if parts.username else None,
        "MAIL_PASSWORD": unquote(parts.password) if parts.password else None,
        "MAIL_USE_SSL": ssl,
        "MAIL_USE_TLS": starttls,
        "MAIL_TIMEOUT": SMTP_TIMEOUT,
    }


def describe(app: Flask) -> str:
    """Where mail goes, for ``roster serve`` and ``roster run`` to say at start."""
    if app.config["MAIL_BACKEND"] == OUTBOX_BACKEND:
        if app.config["ROSTER_ENV"] == "development":
            return "Mail: no ROSTER_SMTP_URL; mails go to the log and to /dev/outbox"
        return "Mail: no ROSTER_SMTP_URL; mails go to the log only (nobody receives them)"
    how = "smtps" if app.config["MAIL_USE_SSL"] else "smtp"
    tls = " with STARTTLS" if app.config["MAIL_USE_TLS"] else ""
    return f"Mail: {how}://{app.config['MAIL_SERVER']}:{app.config['MAIL_PORT']}{tls}"


# -- composing --------------------------------------------------------------------------------


def link(path: str) -> str:
    """An absolute link for a mail: ``ROSTER_BASE_URL`` and the path."""
    return current_app.config["ROSTER_BASE_URL"].rstrip("/") + path


def compose(to: str, subject: str, template: str, **context: Any) -> EmailMultiAlternatives:
    """A mail with a plain-text part (``mail/<template>.txt``) and an HTML part (``.html``)."""
    text = render_template(f"mail/{template}.txt", **context)
    html = render_template(f"mail/{template}.html", **context)
    message = EmailMultiAlternatives(
        subject=subject,
        body=text,
        from_email=current_app.config["ROSTER_MAIL_FROM"],
        to=[to],
    )
    message.attach_alternative(html, "text/html")
    return message


# -- sending ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Sent:
    """What became of one mail: ``error`` is None when the server took it."""

    to: str
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.error is None


def _reason(error: BaseException) -> str:
    """A short, safe account of a failure (no credentials, no stack)."""
    if isinstance(error, smtplib.SMTPRecipientsRefused):
        return "the mail server refused the address"
    if isinstance(error, smtplib.SMTPAuthenticationError):
        return "the mail server refused Roster's credentials"
    if isinstance(error, smtplib.SMTPResponseException):
        message = error.smtp_error.decode(errors="replace") if error.smtp_error else ""
        return f"the mail server answered {error.smtp_code} {message}"[:ERROR_MAX]
    if isinstance(error, ConnectionError | socket.timeout | socket.gaierror | OSError):
        return "the mail server could not be reached"
    return f"sending failed ({type(error).__name__})"


def send(messages: Sequence[EmailMultiAlternatives]) -> list[Sent]:
    """Send each message over one connection; what became of each, in order. Never raises.

    Call it after the transaction that made the messages necessary has committed.
    """
    if not messages:
        return []
    results: list[Sent] = []
    try:
        connection = mail.get_connection(fail_silently=False)
        connection.open()
    except Exception as error:
        reason = _reason(error)
        log.warning("mail: cannot open a connection: %s", reason)
        return [Sent(_to(m), reason) for m in messages]
    try:
        for message in messages:
            try:
                connection.send_messages([message])
            except Exception as error:
                reason = _reason(error)
                log.warning("mail to %s failed: %s", _to(message), reason)
                results.append(Sent(_to(message), reason))
                if isinstance(error, OSError | smtplib.SMTPServerDisconnected):
                    results += [Sent(_to(m), reason) for m in messages[len(results) :]]
                    break
            else:
                results.append(Sent(_to(message)))
    finally:
        try:
            connection.close()
        except Exception:
            log.warning("mail: closing the connection failed")
    return results


def _to(message: EmailMultiAlternatives) -> str:
    return ", ".join(message.to)


def send_after_response(messages: Sequence[EmailMultiAlternatives]) -> None:
    """Send from the background once the view has answered (in a request), or now (elsewhere).

    For mails whose sending must not show in the time to answer: a password reset mails only
    addresses that have an account, and a round trip to the SMTP server would tell which do.
    The answer never waits for the server. The mails go to this process's mail thread, which
    sends them once the WSGI server has written the answer and closed it, or after
    ``CLOSE_WAIT`` seconds if it never says so: werkzeug's development server (``roster run``)
    skips ``close()`` when the browser resets the connection, and a mail sent only on close was
    then lost. Failures are logged, as ``send`` logs them: nobody is waiting for the outcome.
    ``flush`` waits for what is queued.
    """
    if not messages:
        return
    if not has_request_context():
        send(messages)
        return
    app = current_app._get_current_object()  # type: ignore[attr-defined]
    queued = list(messages)
    closed = threading.Event()

    def deliver() -> None:
        closed.wait(CLOSE_WAIT)
        try:
            with app.app_context():
                send(queued)
        except Exception:  # send never raises; this is the context's own failure
            log.exception("mail: the background send failed")

    @after_this_request
    def _when_answered(response: Any) -> Any:
        response.call_on_close(closed.set)
        try:
            _mail_thread().submit(deliver)
        except RuntimeError:  # the process is exiting: the answer must not change
            log.warning("mail to %s not sent: the process is shutting down", _to(queued[0]))
        return response


_thread_lock = threading.Lock()
_thread: tuple[int, ThreadPoolExecutor] | None = None


def _mail_thread() -> ThreadPoolExecutor:
    """This process's mail thread, made on first use. A forked worker makes its own (threads do
    not survive a fork). At exit the interpreter waits for what it holds, unless the process is
    killed first (gunicorn's graceful timeout): mails still queued then are lost."""
    global _thread
    with _thread_lock:
        if _thread is None or _thread[0] != os.getpid():
            _thread = (os.getpid(), ThreadPoolExecutor(1, thread_name_prefix="roster-mail"))
        return _thread[1]


def flush(timeout: float = SMTP_TIMEOUT * 3) -> None:
    """Wait until every mail handed to the mail thread so far has been sent or has failed."""
    current = _thread
    if current is not None and current[0] == os.getpid():
        current[1].submit(lambda: None).result(timeout)


# -- the outbox: no SMTP server ---------------------------------------------------------------


def outbox_dir() -> Path:
    configured = current_app.config.get("ROSTER_OUTBOX_DIR")
    return Path(configured) if configured else Path(current_app.instance_path) / "outbox"


class OutboxEmailBackend(BaseEmailBackend):
    """Flask-Mailman backend without a server: each mail to the log (its plain text), and in
    development also to ``instance/outbox/<time>-<id>.eml`` for ``/dev/outbox``."""

    def send_messages(self, email_messages: Sequence[Any]) -> int:
        keep = current_app.config["ROSTER_ENV"] == "development"
        folder = outbox_dir()
        if keep:
            folder.mkdir(parents=True, exist_ok=True)
        for message in email_messages:
            log.info(
                "mail (no SMTP configured) to %s: %s\n%s",
                ", ".join(message.to),
                message.subject,
                message.body,
            )
            if keep:
                stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S%f")
                path = folder / f"{stamp}-{uuid.uuid4().hex[:8]}.eml"
                path.write_bytes(message.message().as_bytes())
        return len(email_messages)


@dataclass(frozen=True)
class OutboxMail:
    """One kept mail, read back for the outbox page."""

    key: str
    to: str
    subject: str
    sent_at: datetime
    text: str
    links: list[str]


_LINK = re.compile(r"https?://[^\s<>\"']+")
_KEY = re.compile(r"^[0-9T]{21}-[0-9a-f]{8}$")
OUTBOX_SHOWN = 50


def read_outbox(limit: int = OUTBOX_SHOWN) -> list[OutboxMail]:
    """The newest kept mails first."""
    folder = outbox_dir()
    if not folder.is_dir():
        return []
    found = []
    for path in sorted(folder.glob("*.eml"), reverse=True)[:limit]:
        parsed = message_from_bytes(path.read_bytes(), policy=policy.default)
        assert isinstance(parsed, StdMessage)
        part = parsed.get_body(preferencelist=("plain",))
        text = part.get_content() if part is not None else ""
        stamp = path.stem.split("-", 1)[0]
        found.append(
            OutboxMail(
                key=path.stem,
                to=str(parsed["To"]),
                subject=str(parsed["Subject"]),
                sent_at=datetime.strptime(stamp, "%Y%m%dT%H%M%S%f").replace(tzinfo=UTC),
                text=text,
                links=_LINK.findall(text),
            )
        )
    return found


def init_app(app: Flask) -> None:
    app.config.update(smtp_settings(app.config.get("ROSTER_SMTP_URL")))
    app.config.setdefault("MAIL_DEFAULT_SENDER", app.config["ROSTER_MAIL_FROM"])
    mail.init_app(app)
