"""A real SMTP server in-process (aiosmtpd, in its own thread) that keeps every message it receives.

Mail leaves the service in a background task, so tests wait for it by polling with `MailSink.wait_for`.
"""

from __future__ import annotations

import asyncio
import email
import email.policy
import re
import ssl
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from email.message import EmailMessage
from typing import Any
from urllib.parse import parse_qs, urlsplit

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, AuthResult, LoginPassword

from tools.devinfra import free_port

MAIL_WAIT_SECONDS = 10
_LINK = re.compile(r"https?://\S+")


@dataclass(frozen=True)
class Mail:
    sender: str  # the envelope's MAIL FROM
    recipients: tuple[str, ...]  # the envelope's RCPT TO
    message: EmailMessage

    @property
    def subject(self) -> str:
        return str(self.message["Subject"])

    def body(self, subtype: str) -> str:
        part = self.message.get_body(preferencelist=(subtype,))
        assert part is not None, f"no text/{subtype} part"
        return str(part.get_content())

    @property
    def text(self) -> str:
        return self.body("plain")

    @property
    def html(self) -> str:
        return self.body("html")

    @property
    def links(self) -> list[str]:
        return _LINK.findall(self.text)

    @property
    def token(self) -> str:
        """The token of the only link in the plain-text part."""
        (link,) = self.links
        (token,) = parse_qs(urlsplit(link).query)["token"]
        return token


class _Handler:
    def __init__(self) -> None:
        self.mails: list[Mail] = []
        self.logins: list[tuple[str, str, bool]] = []  # (user, password, over TLS)
        self.open_connections = 0
        self.lock = threading.Lock()

    def authenticate(self, server: Any, session: Any, envelope: Any, mechanism: str, auth_data: Any) -> AuthResult:
        assert isinstance(auth_data, LoginPassword)
        with self.lock:
            self.logins.append((auth_data.login.decode(), auth_data.password.decode(), session.ssl is not None))
        return AuthResult(success=True)

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        message = email.message_from_bytes(envelope.content, policy=email.policy.default)
        assert isinstance(message, EmailMessage)
        with self.lock:
            self.mails.append(Mail(envelope.mail_from, tuple(envelope.rcpt_tos), message))
        return "250 Message accepted for delivery"


class _TrackedSMTP(SMTP):
    """Counts open connections, so that the sink can stop without cutting a delivery in half."""

    def connection_made(self, transport: Any) -> None:
        if self.transport is None:  # not the second call that STARTTLS makes on the same connection
            with self.event_handler.lock:
                self.event_handler.open_connections += 1
        super().connection_made(transport)

    def connection_lost(self, error: Exception | None) -> None:
        super().connection_lost(error)
        with self.event_handler.lock:
            self.event_handler.open_connections -= 1


class _Controller(Controller):
    def factory(self) -> SMTP:
        return _TrackedSMTP(self.handler, **self.SMTP_kwargs)


class MailSink:
    """The server and what it received. `settings` are the overrides that point the service at it.

    With a `tls_context` the server offers STARTTLS and refuses mail and logins without it.
    """

    def __init__(self, tls_context: ssl.SSLContext | None = None) -> None:
        self.port = free_port()
        self.tls = tls_context is not None
        self._handler = _Handler()
        self._controller = _Controller(
            self._handler,
            hostname="127.0.0.1",
            port=self.port,
            tls_context=tls_context,
            require_starttls=tls_context is not None,
            authenticator=self._handler.authenticate,
        )
        self.running = False

    @property
    def settings(self) -> dict[str, str]:
        return {
            "mail_backend": "smtp",
            "smtp_host": "127.0.0.1",
            "smtp_port": str(self.port),
            "smtp_starttls": "true" if self.tls else "false",
        }

    def start(self) -> None:
        self._controller.start()
        self.running = True

    def stop(self, grace_seconds: float = 5) -> None:
        """After this the port refuses connections: mail sent to it fails. Deliveries under way finish first."""
        if not self.running:
            return
        self.running = False
        controller = self._controller
        server = controller.server
        assert server is not None
        controller.loop.call_soon_threadsafe(server.close)  # no new connections from here on
        deadline = time.monotonic() + grace_seconds
        while time.monotonic() < deadline:
            with self._handler.lock:
                if self._handler.open_connections == 0:
                    break
            time.sleep(0.01)
        controller.stop()

    def mails(self, to: str | None = None, subject: str | None = None) -> list[Mail]:
        with self._handler.lock:
            mails = list(self._handler.mails)
        return [
            mail
            for mail in mails
            if (to is None or to in mail.recipients) and (subject is None or subject in mail.subject)
        ]

    @property
    def logins(self) -> list[tuple[str, str, bool]]:
        with self._handler.lock:
            return list(self._handler.logins)

    async def wait_for(self, to: str, subject: str, count: int = 1) -> list[Mail]:
        """Poll until `count` messages to `to` whose subject contains `subject` have arrived."""
        try:
            async with asyncio.timeout(MAIL_WAIT_SECONDS):
                # Mail lands in the server's thread, which no asyncio.Event of this loop can hear: poll.
                while len(found := self.mails(to, subject)) < count:  # noqa: ASYNC110
                    await asyncio.sleep(0.02)
        except TimeoutError:
            got = len(self.mails(to, subject))
            raise AssertionError(
                f"{count} mail(s) {subject!r} not received in {MAIL_WAIT_SECONDS}s; got {got}"
            ) from None
        return found


@contextmanager
def running_sink(tls_context: ssl.SSLContext | None = None) -> Iterator[MailSink]:
    sink = MailSink(tls_context)
    sink.start()
    try:
        yield sink
    finally:
        sink.stop()
