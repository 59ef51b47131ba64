from __future__ import annotations

import logging
from collections.abc import Callable

from pet_auth.mail.base import Message

logger = logging.getLogger("pet_auth.mail")


class ConsoleMailer:
    """Development mailer: writes the message (links included) to the log instead of sending it.

    With `reveal=False` (production) it logs that a mail was not sent, its subject and the recipient as
    `address_hash(recipient)` (the audit log's keyed hash): neither the address nor the body, whose reset link
    is a secret.
    """

    def __init__(self, reveal: bool, address_hash: Callable[[str], str]) -> None:
        self._reveal = reveal
        self._address_hash = address_hash

    async def send(self, message: Message) -> None:
        if self._reveal:
            logger.info("mail to %s: %s\n%s", message.to, message.subject, message.text)
        else:
            logger.warning(
                "MAIL_BACKEND=console: mail not sent: %r to email_hash %s",
                message.subject,
                self._address_hash(message.to),
            )
