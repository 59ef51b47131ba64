from __future__ import annotations

import logging

from pet_auth.mail.base import Message

logger = logging.getLogger("pet_auth.mail")


class ConsoleMailer:
    """Development mailer: writes the message (links included) to the log instead of sending it."""

    async def send(self, message: Message) -> None:
        logger.info("mail to %s: %s\n%s", message.to, message.subject, message.text)
