"""The links mailed to prove an address: the account's own (verification) or a new one (an address change).

Tokens follow the reset-token rules: 256 bits from `secrets`, only a keyed hash stored, single use (consumed
atomically), an expiry. A link proves the address it was mailed to, and only while that is still the one it was
meant for. It carries the credential version it was issued under, and is written in the transaction of the request
that asks for it (never after the response): a credential change (a reset, say) ends every link issued before it.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from urllib.parse import urlencode

from pet_auth.domain.errors import InvalidLink
from pet_auth.domain.models import LockedAccount
from pet_auth.domain.notices import ConfirmNewEmail, VerifyEmail
from pet_auth.domain.ports import Notifier, Repositories, Spawn
from pet_auth.domain.tokens import TOKEN_PATTERN, keyed_digest, new_token

VERIFY, CHANGE = "verify", "change"


class EmailLinks:
    """Issues, mails and consumes the links; shared by sign-up (the first verification link) and `AddressService`."""

    def __init__(
        self,
        *,
        notifier: Notifier,
        spawn: Spawn,
        secret: bytes,
        frontend_url: str,
        verify_ttl: int,
        change_ttl: int,
    ) -> None:
        self._notifier, self._spawn, self._secret = notifier, spawn, secret
        self._frontend_url, self._verify_ttl, self._change_ttl = frontend_url.rstrip("/"), verify_ttl, change_ttl

    async def issue(self, repos: Repositories, user_id: int, credential_version: int, purpose: str, email: str) -> str:
        """A new link of this purpose for `email`, under the credential version just checked (the caller holds the
        lock on the user's row); earlier links of the purpose end. Returns the token, for `mail` after the
        response."""
        token = new_token()
        ttl = self._verify_ttl if purpose == VERIFY else self._change_ttl
        expires_at = datetime.now(UTC) + timedelta(seconds=ttl)
        await repos.email_tokens.replace_for_user(
            user_id, purpose, email, keyed_digest(self._secret, token), expires_at, credential_version
        )
        return token

    def mail(self, purpose: str, email: str, token: str) -> None:
        """After the response: the link to `email`."""
        self._spawn(self.send(purpose, email, token), "verification email" if purpose == VERIFY else "email link")

    async def send(self, purpose: str, email: str, token: str) -> None:
        if purpose == VERIFY:
            link = f"{self._frontend_url}/verify-email?{urlencode({'token': token})}"
            await self._notifier.notify(VerifyEmail(email, link, max(1, self._verify_ttl // 3600)))
        else:
            link = f"{self._frontend_url}/confirm-email?{urlencode({'token': token})}"
            await self._notifier.notify(ConfirmNewEmail(email, link, max(1, self._change_ttl // 60)))

    async def consume(self, repos: Repositories, token: str, purpose: str) -> tuple[int, str, LockedAccount]:
        """Use up a live link of this purpose issued under the user's current credentials: its user id, the address
        it was mailed to, and the user's row, locked (the lock is taken before the link's, as every credential
        change does). `InvalidLink` for any other token (unknown, used, expired, issued before a credential change,
        malformed: no lookup for a token that cannot be ours)."""
        token_hash = keyed_digest(self._secret, token) if TOKEN_PATTERN.fullmatch(token) else None
        user_id = None if token_hash is None else await repos.email_tokens.live_user(token_hash, purpose)
        account = None if user_id is None else await repos.users.lock(user_id)
        if token_hash is None or user_id is None or account is None:
            raise InvalidLink
        email = await repos.email_tokens.consume(token_hash, purpose, account.credential_version)
        if email is None:
            raise InvalidLink
        return user_id, email, account
