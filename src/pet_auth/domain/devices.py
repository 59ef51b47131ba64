"""Device tokens (OWASP's device cookies): a browser that signed in to an account once carries a signed token
naming the account and the device. Its sign-ins are then limited per device, so guesses from elsewhere lock out
unknown devices only, never the owner's browser. A device token is never a session: it proves nothing but that
this browser once signed in to that account.

A token names the credential version it was issued under, and ends with it: any credential change (a reset, a new
password, two-factor sign-in turned on or off, a new address) ends every device token of the account, so budgets
collected before the change are worth nothing after it. How many are issued is limited by the caller (auth.py).
"""

from __future__ import annotations

import hmac
import re
import secrets
import time

from pet_auth.domain.tokens import short_keyed_digest

_TOKEN = re.compile(r"([1-9][0-9]{0,17})\.([1-9][0-9]{0,17})\.([0-9]{1,12})\.([A-Za-z0-9_-]{22})\.([A-Za-z0-9_-]{22})")


class DeviceTokens:
    def __init__(self, key: bytes) -> None:
        self._key = key

    def _mac(self, claims: str) -> str:
        return short_keyed_digest(self._key, claims)

    def issue(self, user_id: int, credential_version: int) -> str:
        """`<user id>.<credential version>.<issued at, s>.<device id, 128 random bits>.<HMAC of the rest, 128
        bits>`"""
        claims = f"{user_id}.{credential_version}.{int(time.time())}.{secrets.token_urlsafe(16)}"
        return f"{claims}.{self._mac(claims)}"

    def device_of(self, token: str | None, user_id: int, credential_version: int) -> str | None:
        """The device id of a genuine token for this account, issued under its current credential version; None
        for any other token."""
        match = _TOKEN.fullmatch(token) if token else None
        if match is None or int(match[1]) != user_id or int(match[2]) != credential_version:
            return None
        claims, mac = match[0].rsplit(".", 1)
        return match[4] if hmac.compare_digest(mac, self._mac(claims)) else None
