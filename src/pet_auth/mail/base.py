"""A mail as we send it, and the interface of the mailers that send it (console.py, smtp.py)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol


@dataclass(frozen=True, slots=True)
class Message:
    to: str
    subject: str
    text: str
    html: str


class Mailer(Protocol):
    async def send(self, message: Message) -> None: ...


__all__ = ["Mailer", "Message"]
