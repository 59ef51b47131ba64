"""The links mailed to prove an address: the account's own (verification) or a new one (an address change).

Tokens follow the reset-token rules: 256 bits from `secrets`, only a keyed hash stored, single use (consumed
atomically), an expiry. A link proves the address it was mailed to, and only while that is still the one it was
meant for.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from datetime import UTC, datetime, timedelta
from urllib.parse import urlencode

from pet_auth.domain.errors import InvalidLink
from pet_auth.domain.models import User
from pet_auth.domain.ports import Mailer, Repositories, Spawn, UnitOfWork
from pet_auth.mail.messages import confirm_new_email_message, verify_email_message

VERIFY, CHANGE = "verify", "change"
_TOKEN_SHAPE = re.compile(r"[A-Za-z0-9_-]{43}")  # secrets.token_urlsafe(32)


class EmailLinks:
    """Issues and mails the links; shared by sign-up (the first verification link) and `EmailService`."""

    def __init__(
        self,
        *,
        db: UnitOfWork,
        mailer: Mailer,
        spawn: Spawn,
        secret: bytes,
        frontend_url: str,
        verify_ttl: int,
        change_ttl: int,
    ) -> None:
        self._db, self._mailer, self._spawn, self._secret = db, mailer, spawn, secret
        self._frontend_url, self._verify_ttl, self._change_ttl = frontend_url.rstrip("/"), verify_ttl, change_ttl

    def token_hash(self, token: str) -> str | None:
        """The stored form of a token; None for one that cannot be ours (no lookup needed)."""
        return self._token_hash(token) if _TOKEN_SHAPE.fullmatch(token) else None

    async def consume(self, repos: Repositories, token: str, purpose: str) -> tuple[int, str]:
        """The user id and address of a live link of this purpose, used up now; `InvalidLink` for any other token
        (unknown, used, expired, malformed: no lookup for a token that cannot be ours)."""
        token_hash = self.token_hash(token)
        consumed = None if token_hash is None else await repos.email_tokens.consume(token_hash, purpose)
        if consumed is None:
            raise InvalidLink
        return consumed

    def send_verification(self, user: User) -> None:
        """After the response: a new verification link to the account's address (earlier ones end)."""
        self._spawn(self._issue(user.id, VERIFY, user.email, self._verify_ttl), "verification email")

    async def mail_change_confirmation(self, user_id: int, new_email: str) -> None:
        await self._issue(user_id, CHANGE, new_email, self._change_ttl)

    async def _issue(self, user_id: int, purpose: str, email: str, ttl: int) -> None:
        token = secrets.token_urlsafe(32)
        expires_at = datetime.now(UTC) + timedelta(seconds=ttl)
        async with self._db.transaction() as repos:
            await repos.email_tokens.replace_for_user(user_id, purpose, email, self._token_hash(token), expires_at)
        if purpose == VERIFY:
            link = f"{self._frontend_url}/verify-email?{urlencode({'token': token})}"
            await self._mailer.send(verify_email_message(email, link, max(1, ttl // 3600)))
        else:
            link = f"{self._frontend_url}/confirm-email?{urlencode({'token': token})}"
            await self._mailer.send(confirm_new_email_message(email, link, max(1, ttl // 60)))

    def _token_hash(self, token: str) -> str:
        return hmac.new(self._secret, token.encode(), hashlib.sha256).hexdigest()
