from __future__ import annotations

import logging

from pet_auth.mail.base import Message

logger = logging.getLogger("pet_auth.mail")


class ConsoleMailer:
    """Development mailer: writes the message (links included) to the log instead of sending it.

    With `reveal_body=False` (production) only the recipient and subject are logged: a reset link is a secret.
    """

    def __init__(self, reveal_body: bool = True) -> None:
        self._reveal_body = reveal_body

    async def send(self, message: Message) -> None:
        if self._reveal_body:
            logger.info("mail to %s: %s\n%s", message.to, message.subject, message.text)
        else:
            logger.warning("MAIL_BACKEND=console: not sent, body withheld: to %s: %s", message.to, message.subject)
