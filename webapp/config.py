"""Every ROSTER_* setting, read from the environment in one place."""

from __future__ import annotations

import os
import secrets
import time
from pathlib import Path
from typing import Any

DEFAULT_MAX_CONTENT_LENGTH = 1024 * 1024  # 10,000 ids as JSON fit in well under 1 MiB.

# What `roster serve` reads of a request before the app sees it (webapp.serving): gunicorn's
# ceiling for the request line (method, target, version), and its defaults for header fields.
# Past them the answer is 414 or 431. The OpenAPI document derives the DELETE form's id list
# maxLength from the request line.
REQUEST_LINE_MAX = 8190
HEADER_FIELD_MAX = 8190
HEADER_FIELDS_MAX = 100


class ConfigError(RuntimeError):
    """The settings do not allow the app to start."""


def _secret_key(instance_path: Path, production: bool) -> str:
    key = os.environ.get("ROSTER_SECRET_KEY")
    if key:
        return key
    if production:
        raise ConfigError("ROSTER_SECRET_KEY must be set in production (ROSTER_ENV=production)")
    # Development: one key per instance folder, made on first run and kept. O_EXCL: when
    # several workers start at once, one writes the key and the others read that one.
    path = instance_path / "secret_key"
    try:
        fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600)
    except FileExistsError:
        for _ in range(50):
            key = path.read_text().strip()
            if key:
                return key
            time.sleep(0.01)  # the writer has created the file but not written it yet
        raise ConfigError(f"{path} is empty; delete it to make a new key") from None
    key = secrets.token_urlsafe(48)
    with os.fdopen(fd, "w") as file:
        file.write(key)
    return key


SIGNUP_POLICIES = ("open", "invite", "domains:")


def signup_policy(text: str) -> tuple[str, tuple[str, ...]]:
    """``ROSTER_SIGNUP`` read: ("open", ()), ("invite", ()) or ("domains", ("a.org", ...))."""
    value = text.strip().lower()
    if value in ("open", "invite"):
        return value, ()
    if value.startswith("domains:"):
        domains = tuple(d.strip().lstrip("@") for d in value.removeprefix("domains:").split(","))
        if domains and all(d and "." in d and "@" not in d for d in domains):
            return "domains", domains
    raise ConfigError(
        f"ROSTER_SIGNUP must be open, invite or domains:example.com,example.org (not {text!r})"
    )


def _checked_signup(text: str) -> str:
    signup_policy(text)  # refuse a policy nobody can read at start, not at the first sign-up
    return text


def from_environment(instance_path: Path) -> dict[str, Any]:
    """Build the Flask config from ROSTER_* environment variables."""
    instance_path.mkdir(parents=True, exist_ok=True)
    production = os.environ.get("ROSTER_ENV", "development") == "production"
    database_url = os.environ.get("ROSTER_DATABASE_URL") or (
        f"sqlite:///{instance_path / 'roster.db'}"
    )
    redis_url = os.environ.get("ROSTER_REDIS_URL")
    base_url = os.environ.get("ROSTER_BASE_URL") or (
        "http://localhost" if production else "http://127.0.0.1:5000"
    )
    return {
        "ROSTER_ENV": "production" if production else "development",
        "SECRET_KEY": _secret_key(instance_path, production),
        "SQLALCHEMY_DATABASE_URI": database_url,
        "RATELIMIT_STORAGE_URI": redis_url or "memory://",
        # Deployments (and test runs) sharing one Redis keep their rate-limit counts apart.
        "RATELIMIT_KEY_PREFIX": os.environ.get("ROSTER_RATELIMIT_KEY_PREFIX", "roster"),
        "MAX_CONTENT_LENGTH": int(
            os.environ.get("ROSTER_MAX_CONTENT_LENGTH", DEFAULT_MAX_CONTENT_LENGTH)
        ),
        # Number of reverse proxies in front of the app whose X-Forwarded-* to trust.
        "ROSTER_TRUSTED_PROXIES": int(os.environ.get("ROSTER_TRUSTED_PROXIES", "0")),
        "ROSTER_LOGIN_LIMIT_PER_EMAIL": os.environ.get(
            "ROSTER_LOGIN_LIMIT_PER_EMAIL", "5 per minute;20 per hour"
        ),
        "ROSTER_LOGIN_LIMIT_PER_ADDRESS": os.environ.get(
            "ROSTER_LOGIN_LIMIT_PER_ADDRESS", "20 per minute;100 per hour"
        ),
        "ROSTER_TOKEN_LIMIT_PER_ADDRESS": os.environ.get(
            "ROSTER_TOKEN_LIMIT_PER_ADDRESS", "20 per minute;100 per hour"
        ),
        # Every sign-up attempt counts (a taken address and a new account alike): sign-up must
        # not become a fast way to try addresses or to mass-create accounts.
        "ROSTER_SIGNUP_LIMIT_PER_ADDRESS": os.environ.get(
            "ROSTER_SIGNUP_LIMIT_PER_ADDRESS", "10 per minute;50 per hour"
        ),
        # Mail (webapp.mail): the SMTP server, the sender, and the base of every link in a mail.
        "ROSTER_SMTP_URL": os.environ.get("ROSTER_SMTP_URL") or None,
        "ROSTER_MAIL_FROM": os.environ.get("ROSTER_MAIL_FROM", "Roster <roster@localhost>"),
        "ROSTER_BASE_URL": base_url.rstrip("/"),
        # Who may sign up (DESIGN §8): open, invite (only through an invitation link), or
        # domains:a.org,b.org. Read by services.users.signup_policy.
        "ROSTER_SIGNUP": _checked_signup(os.environ.get("ROSTER_SIGNUP", "open")),
        # Invitation mails per organization: an organization cannot be used to spray mail.
        "ROSTER_MAIL_LIMIT_PER_ORG": os.environ.get(
            "ROSTER_MAIL_LIMIT_PER_ORG", "1000 per hour;3000 per day"
        ),
        # Password reset requests: every request counts, a known address or not. Per email, so
        # nobody can flood an inbox with links; per client address, so the form is no fast way
        # to try addresses.
        "ROSTER_RESET_LIMIT_PER_EMAIL": os.environ.get(
            "ROSTER_RESET_LIMIT_PER_EMAIL", "5 per hour;20 per day"
        ),
        "ROSTER_RESET_LIMIT_PER_ADDRESS": os.environ.get(
            "ROSTER_RESET_LIMIT_PER_ADDRESS", "10 per minute;50 per hour"
        ),
    }


# Fixed settings: not for the environment to change.
STATIC = {
    "SQLALCHEMY_TRACK_MODIFICATIONS": False,
    "SESSION_COOKIE_HTTPONLY": True,
    "SESSION_COOKIE_SAMESITE": "Lax",
    "REMEMBER_COOKIE_HTTPONLY": True,
    "REMEMBER_COOKIE_SAMESITE": "Lax",
    "WTF_CSRF_TIME_LIMIT": None,  # tied to the session, which sign-out ends
    "WTF_CSRF_HEADERS": ["X-CSRFToken"],
    "RATELIMIT_STRATEGY": "moving-window",
    "JSON_SORT_KEYS": False,
}
