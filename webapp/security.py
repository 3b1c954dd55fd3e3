"""Response headers, cookie flags and proxy trust: the transport half of DESIGN §7."""

from __future__ import annotations

from flask import Flask, Request, Response, request
from flask.sessions import SecureCookieSessionInterface
from werkzeug.middleware.proxy_fix import ProxyFix

CONTENT_SECURITY_POLICY = "; ".join(
    [
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self' data:",
        "connect-src 'self'",
        "font-src 'self'",
        "object-src 'none'",
        "base-uri 'none'",
        "form-action 'self'",
        "frame-ancestors 'none'",
    ]
)

# On every answer: the app's (below) and those ``roster serve`` writes itself for a request too
# long or malformed to reach the app (webapp.serving). HSTS is added only when the request is
# known to have come over HTTPS, which only the app can tell.
HEADERS: dict[str, str] = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "same-origin",
    "Cross-Origin-Opener-Policy": "same-origin",
}


class SessionInterface(SecureCookieSessionInterface):
    """Marks the session cookie ``Secure`` whenever the request came over HTTPS."""

    def get_cookie_secure(self, app: Flask) -> bool:
        return bool(app.config["SESSION_COOKIE_SECURE"]) or _is_secure(request)


def _is_secure(req: Request) -> bool:
    try:
        return req.is_secure
    except RuntimeError:  # outside a request
        return False


def _set_headers(response: Response) -> Response:
    headers = response.headers
    for name, value in HEADERS.items():
        headers.setdefault(name, value)
    if request.is_secure:
        headers.setdefault("Strict-Transport-Security", "max-age=31536000; includeSubDomains")
    return response


def init_app(app: Flask) -> None:
    """Headers and cookie flags on every answer; forwarded headers from trusted proxies only.

    ``ROSTER_TRUSTED_PROXIES`` = N trusts the last N hops of ``X-Forwarded-For`` / ``-Proto`` /
    ``-Host`` / ``-Port`` (N reverse proxies in front). 0, the default, trusts none: the client
    address is the connecting peer's, so a client cannot pick its own address (and escape the
    failure limits) by sending ``X-Forwarded-For``. This is the only place forwarded headers are
    read; ``roster serve`` tells gunicorn to read none (webapp.serving).
    """
    proxies = app.config["ROSTER_TRUSTED_PROXIES"]
    if proxies:
        app.wsgi_app = ProxyFix(  # type: ignore[method-assign]
            app.wsgi_app, x_for=proxies, x_proto=proxies, x_host=proxies, x_port=proxies
        )
    app.session_interface = SessionInterface()
    app.after_request(_set_headers)
