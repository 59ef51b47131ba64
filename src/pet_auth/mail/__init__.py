"""Outgoing mail: the domain's notices rendered (messages.py) and sent by a `Mailer`, console or SMTP."""

from pet_auth.mail.base import Mailer, Message
from pet_auth.mail.console import ConsoleMailer
from pet_auth.mail.notifier import MailNotifier
from pet_auth.mail.smtp import SmtpMailer

__all__ = ["ConsoleMailer", "MailNotifier", "Mailer", "Message", "SmtpMailer"]
