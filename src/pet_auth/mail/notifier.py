"""The domain's `Notifier` port, by mail: each notice rendered (messages.py) and sent by a mailer."""

from __future__ import annotations

from pet_auth.domain.notices import Notice
from pet_auth.mail.base import Mailer
from pet_auth.mail.messages import render


class MailNotifier:
    def __init__(self, mailer: Mailer) -> None:
        self._mailer = mailer

    async def notify(self, notice: Notice) -> None:
        await self._mailer.send(render(notice))


__all__ = ["MailNotifier"]
