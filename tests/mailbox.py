"""A real SMTP server on localhost (aiosmtpd) that the tests read mail from.

The suite's apps send to it through ``ROSTER_SMTP_URL`` exactly as they would to a mail
provider: Flask-Mailman's SMTP backend, a TCP connection, the SMTP dialogue. Nothing of the
sender is mocked. ``Mailbox`` keeps what arrived, parsed, for the test to read.
"""

from __future__ import annotations

import asyncio
import re
import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from email import message_from_bytes, policy
from email.message import EmailMessage
from typing import Any

from aiosmtpd.controller import Controller


@dataclass(frozen=True)
class Mail:
    """One mail as the server received it."""

    sender: str
    recipients: list[str]
    message: EmailMessage

    @property
    def subject(self) -> str:
        return str(self.message["Subject"])

    @property
    def to(self) -> str:
        return str(self.message["To"])

    def part(self, kind: str) -> str:
        found = self.message.get_body(preferencelist=(kind,))
        if found is None or found.get_content_type() != f"text/{kind}":
            raise AssertionError(f"no text/{kind} part in {self.subject!r}")
        return str(found.get_content())

    @property
    def text(self) -> str:
        return self.part("plain")

    @property
    def html(self) -> str:
        return self.part("html")

    def links(self) -> list[str]:
        return re.findall(r"https?://\S+", self.text)


class Mailbox:
    """aiosmtpd's handler: every mail the server accepts, in order."""

    HOLD_MAX = 30  # seconds a held server waits at most, so a broken test cannot hang the run

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._mails: list[Mail] = []
        self._open = threading.Event()
        self._open.set()

    @contextmanager
    def held(self) -> Iterator[None]:
        """A stalled mail server while the block runs: each mail's DATA is answered only after
        it ends, as a slow provider would."""
        self._open.clear()
        try:
            yield
        finally:
            self._open.set()

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        if not self._open.is_set():
            await asyncio.get_running_loop().run_in_executor(None, self._open.wait, self.HOLD_MAX)
        parsed = message_from_bytes(envelope.content, policy=policy.default)
        assert isinstance(parsed, EmailMessage)
        with self._lock:
            self._mails.append(Mail(envelope.mail_from, list(envelope.rcpt_tos), parsed))
        return "250 Message accepted for delivery"

    @property
    def mails(self) -> list[Mail]:
        with self._lock:
            return list(self._mails)

    def to(self, address: str) -> list[Mail]:
        return [m for m in self.mails if address in m.recipients]

    def clear(self) -> None:
        with self._lock:
            self._mails.clear()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class SmtpServer:
    """The server, started once for the run."""

    def __init__(self) -> None:
        self.mailbox = Mailbox()
        self.port = free_port()
        self._controller = Controller(self.mailbox, hostname="127.0.0.1", port=self.port)

    @property
    def url(self) -> str:
        return f"smtp://127.0.0.1:{self.port}"

    def start(self) -> None:
        self._controller.start()

    def stop(self) -> None:
        self._controller.stop()
