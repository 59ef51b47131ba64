"""One structured log line per auth event. Emails appear only as keyed hashes; secrets never."""

from __future__ import annotations

import json
import logging

from pet_auth.domain.tokens import keyed_digest

logger = logging.getLogger("pet_auth.audit")


class AuditLog:
    def __init__(self, secret: bytes) -> None:
        self._secret = secret

    def email_hash(self, email: str) -> str:
        return keyed_digest(self._secret, email, hex_chars=16)

    def record(self, event: str, *, ip: str, user_id: int | None = None, email: str | None = None) -> None:
        entry: dict[str, object] = {"event": event, "ip": ip}
        if user_id is not None:
            entry["user_id"] = user_id
        if email is not None:
            entry["email_hash"] = self.email_hash(email)
        logger.info(json.dumps(entry, separators=(",", ":")))
