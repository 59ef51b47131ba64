"""The mail port, as the domain declares it (domain/ports.py); console.py and smtp.py implement it."""

from __future__ import annotations

from pet_auth.domain.ports import Mailer, Message

__all__ = ["Mailer", "Message"]
