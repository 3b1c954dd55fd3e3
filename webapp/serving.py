"""``roster serve``: gunicorn with Roster's production settings and a worker of its own.

gunicorn reads the request line and the header fields before the app sees anything. When they
are too long (414, 431) or malformed (400), gunicorn answers by itself, with an HTML page and
none of the app's headers. ``RosterWorker`` (gunicorn's threaded worker) keeps gunicorn's
decision (the status) and changes the form: RFC 9457 problem+json when the request is for
``/api`` (DESIGN §4: every answer under ``/api`` is problem+json), the app's kind of error page
otherwise, both with the app's security headers (``webapp.security.HEADERS``).

Forwarded headers are interpreted in one place only: the app's ProxyFix, trusting
``ROSTER_TRUSTED_PROXIES`` hops (``webapp.security``). gunicorn is told to trust no peer and no
header, or a client could set its own scheme through gunicorn even with no proxy trusted.
"""

from __future__ import annotations

import gc
import html
import socket
from collections.abc import Iterator
from contextlib import contextmanager
from http import HTTPStatus
from typing import Any
from urllib.parse import unquote, urlsplit

from flask import Flask
from gunicorn import util
from gunicorn.app.base import BaseApplication
from gunicorn.workers.gthread import ThreadWorker

from webapp.api.problems import PROBLEM_JSON, problem
from webapp.config import HEADER_FIELD_MAX, HEADER_FIELDS_MAX, REQUEST_LINE_MAX
from webapp.errors import FALLBACK_PAGE, is_api_path
from webapp.security import HEADERS

# Enough of the request's first bytes to read the method and where the target starts.
HEAD_BYTES = 512

_DETAILS = {
    400: "The request line or a header field is malformed, so the request was not read.",
    414: (
        f"The request line (method, path and query) is longer than the {REQUEST_LINE_MAX:,} "
        "bytes this server reads. Each path parameter's maxLength in /api/openapi.json says "
        "what fits."
    ),
    431: (
        f"The header fields are larger than this server reads: at most {HEADER_FIELDS_MAX} "
        f"fields of {HEADER_FIELD_MAX:,} bytes each."
    ),
    500: "Something went wrong on our side.",
}
# The stable codes of problems.py where one exists; "http_<status>" otherwise, as there.
_CODES = {414: "uri_too_long", 431: "headers_too_large", 500: "internal_error"}


def gunicorn_options(bind: str, workers: int, threads: int) -> dict[str, Any]:
    """The gunicorn settings of ``roster serve``."""
    return {
        "bind": bind,
        "workers": workers,
        "threads": threads,
        "worker_class": RosterWorker,
        "accesslog": "-",
        "timeout": 30,
        "limit_request_line": REQUEST_LINE_MAX,
        "limit_request_field_size": HEADER_FIELD_MAX,
        "limit_request_fields": HEADER_FIELDS_MAX,
        # The pure-Python parser whether or not gunicorn_h1c is installed: the limits above
        # are measured the same way on every machine, so the documented maximum holds.
        "http_parser": "python",
        # Trust no peer for X-Forwarded-Proto/-Ssl/-Protocol or SCRIPT_NAME headers, and
        # honour none of them even from a Unix socket (which gunicorn always trusts): ProxyFix
        # alone reads forwarded headers, and only as many hops as ROSTER_TRUSTED_PROXIES says.
        "forwarded_allow_ips": "",
        "secure_scheme_headers": {},
        "forwarder_headers": "",
        # gunicorn's control socket has one default path per user: a second `roster serve` on
        # the host would take it over (and remove it on exit). Nothing in Roster uses it.
        "control_socket_disable": True,
        "pre_fork": freeze_before_fork,
    }


def freeze_before_fork(server: Any, worker: Any) -> None:
    """gunicorn's ``pre_fork``: move what the loaded app holds into the permanent generation
    before a worker forks from it. A full collection then scans only what requests allocate,
    not the app's ~130,000 objects: without it, one costs about 90 ms, and a bulk change of
    10,000 members met one on every run (``make bench``'s T8). What is garbage already is
    collected first, so as not to keep it for the worker's life."""
    gc.collect()
    gc.freeze()


class Server(BaseApplication):  # type: ignore[misc]
    """gunicorn serving an app built by the caller, with ``gunicorn_options``."""

    def __init__(self, app: Flask, options: dict[str, Any]) -> None:
        self.application = app
        self.options = options
        super().__init__()

    def load_config(self) -> None:
        for key, value in self.options.items():
            self.cfg.set(key, value)

    def load(self) -> Flask:
        return self.application


class _Connection:
    """The client socket as the worker sees it, with two additions.

    It remembers the first bytes received, so an error answered before the request line is
    parsed can still tell an ``/api`` request from a page; and, inside ``capturing()``, it keeps
    what is sent instead of sending it, so gunicorn's own error page can be replaced. Everything
    else goes to the socket.
    """

    def __init__(self, sock: socket.socket) -> None:
        self._sock = sock
        self.head = b""
        self._captured: bytearray | None = None

    def recv(self, size: int, *flags: int) -> bytes:
        data = self._sock.recv(size, *flags)
        if len(self.head) < HEAD_BYTES:
            self.head += data[: HEAD_BYTES - len(self.head)]
        return data

    def sendall(self, data: bytes, *flags: int) -> None:
        if self._captured is not None:
            self._captured += data
            return
        self._sock.sendall(data, *flags)

    @contextmanager
    def capturing(self) -> Iterator[bytearray]:
        self._captured = captured = bytearray()
        try:
            yield captured
        finally:
            self._captured = None

    def __getattr__(self, name: str) -> Any:
        return getattr(self._sock, name)


class RosterWorker(ThreadWorker):  # type: ignore[misc]
    """gunicorn's threaded worker whose own error answers look like the app's (see the module).

    Threads, not one blocking request at a time: a client that opens a connection and sends
    its request slowly (or never) holds one thread, not the process, so one worker (the default
    without Redis, where failure limits are counted in its memory) still serves everyone else.
    """

    def enqueue_req(self, conn: Any) -> None:
        # Every way a connection reaches a thread (new, kept alive, deferred) passes here.
        if not self.cfg.is_ssl and not isinstance(conn.sock, _Connection):
            # gunicorn wraps the raw socket in TLS itself; roster serve never configures TLS.
            conn.sock = _Connection(conn.sock)
        super().enqueue_req(conn)

    def handle(self, conn: Any) -> Any:
        if isinstance(conn.sock, _Connection) and conn.initialized:
            conn.sock.head = b""  # a kept-alive connection: what comes next is a new request
        return super().handle(conn)

    def handle_error(self, req: Any, client: Any, addr: Any, exc: BaseException) -> None:
        if not isinstance(client, _Connection):
            super().handle_error(req, client, addr, exc)
            return
        # gunicorn decides the status (and logs); only what it would send is replaced.
        with client.capturing() as written:
            super().handle_error(req, client, addr, exc)
        status_line = bytes(written).partition(b"\r\n")[0].decode("latin-1").split(" ", 2)
        if len(status_line) < 2 or not status_line[1].isdigit():
            answer = bytes(written)  # nothing gunicorn would say that we can read: as it was
        else:
            status = int(status_line[1])
            reason = status_line[2] if len(status_line) > 2 else _phrase(status)
            path = getattr(req, "path", None)
            api = wants_problem(client.head) if path is None else is_api_path(unquote(path))
            answer = error_answer(status, reason, api=api)
        if not answer:
            return
        try:
            util.write_nonblock(client, answer)
        except Exception:  # the client went away: nothing else to do, as in gunicorn
            self.log.debug("Failed to send error message.")


def _phrase(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "Error"


def wants_problem(head: bytes) -> bool:
    """Whether an answer to the request starting with ``head`` must be problem+json.

    True when the request target is under ``/api``, and also when the target cannot be read
    from ``head`` (no target yet, or cut short before it can be told apart): that way every
    answer under ``/api`` is problem+json, and only a target known to be elsewhere gets HTML.
    A target is read as the app would route it: percent-decoded, absolute-form reduced to its
    path, the query left out.
    """
    line, crlf, _ = head.partition(b"\r\n")
    _method, space, rest = line.partition(b" ")
    if not space:
        return True
    raw, space, _ = rest.partition(b" ")
    complete = bool(space or crlf)
    target = raw.decode("latin-1")
    if "://" in target[:10]:
        if target.count("/") < 3 and not complete:
            return True  # still inside the authority
        target = urlsplit(target).path or "/"
    path, query, _ = target.partition("?")
    if not complete and not query:
        # Drop a %-escape cut in half; then the start must be long enough to decide.
        cut = path.rfind("%", len(path) - 2)
        path = unquote(path[:cut] if cut >= 0 else path)
        return len(path) < len("/api/") or path.startswith("/api/")
    return is_api_path(unquote(path))


def error_answer(status: int, reason: str, *, api: bool) -> bytes:
    """A whole HTTP/1.1 answer for an error the server found itself; the connection closes."""
    detail = _DETAILS.get(status, f"{reason}.")
    if api:
        code = _CODES.get(status, f"http_{status}")
        body = problem(status, reason, detail, code).get_data()
        content_type = PROBLEM_JSON
    else:
        # The app's error page as fixed markup: nothing is loaded to render one with here.
        page = FALLBACK_PAGE.format(
            status=status, title=html.escape(reason), message=html.escape(detail)
        )
        body = page.encode()
        content_type = "text/html; charset=utf-8"
    headers = {
        "Connection": "close",
        "Content-Type": content_type,
        "Content-Length": str(len(body)),
        "Cache-Control": "no-store",
        **HEADERS,
    }
    head = f"HTTP/1.1 {status} {reason}\r\n" + "".join(f"{k}: {v}\r\n" for k, v in headers.items())
    return (head + "\r\n").encode("latin-1") + body
