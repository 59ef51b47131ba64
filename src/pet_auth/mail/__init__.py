"""Outgoing mail: a `Mailer` interface, a console and an SMTP implementation, and the messages we send."""

from pet_auth.mail.base import Mailer, Message
from pet_auth.mail.console import ConsoleMailer
from pet_auth.mail.smtp import SmtpMailer

__all__ = ["ConsoleMailer", "Mailer", "Message", "SmtpMailer"]
