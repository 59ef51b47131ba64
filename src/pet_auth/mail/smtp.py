from __future__ import annotations

import asyncio
import smtplib
import ssl
from email.message import EmailMessage

import idna

from pet_auth.mail.base import Message


def with_ascii_domain(address: str) -> str:
    """The address with its domain IDNA-encoded (`a@bücher.de` -> `a@xn--bcher-kva.de`): stored addresses keep the
    Unicode form, and a server without SMTPUTF8 then still takes an address whose local part is ASCII."""
    local, _, domain = address.rpartition("@")
    return f"{local}@{idna.encode(domain).decode()}"


class SmtpMailer:
    """Sends through an SMTP server with the standard library, in a worker thread."""

    def __init__(
        self, host: str, port: int, sender: str, username: str = "", password: str = "", starttls: bool = True
    ) -> None:
        self._host, self._port, self._sender = host, port, sender
        self._username, self._password, self._starttls = username, password, starttls

    async def send(self, message: Message) -> None:
        await asyncio.to_thread(self._send, message)

    def _send(self, message: Message) -> None:
        email = EmailMessage()
        email["From"] = self._sender
        email["To"] = with_ascii_domain(message.to)
        email["Subject"] = message.subject
        email.set_content(message.text)
        email.add_alternative(message.html, subtype="html")
        with smtplib.SMTP(self._host, self._port, timeout=10) as client:
            if self._starttls:
                # Without a context smtplib would accept any certificate: verify it and the host name.
                client.starttls(context=ssl.create_default_context())
            if self._username:
                client.login(self._username, self._password)
            client.send_message(email)
