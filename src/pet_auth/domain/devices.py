"""Device tokens (OWASP's device cookies): a browser that signed in to an account once carries a signed token
naming the account and the device. Its sign-ins are then limited per device, so guesses from elsewhere lock out
unknown devices only, never the owner's browser. A device token is never a session: it proves nothing but that
this browser once signed in to that account.
"""

from __future__ import annotations

import base64
import hmac
import re
import secrets

_TOKEN = re.compile(r"([1-9][0-9]{0,17})\.([A-Za-z0-9_-]{22})\.([A-Za-z0-9_-]{22})")


class DeviceTokens:
    def __init__(self, key: bytes) -> None:
        self._key = key

    def _mac(self, user_id: int, device_id: str) -> str:
        mac = hmac.digest(self._key, f"{user_id}.{device_id}".encode(), "sha256")[:16]
        return base64.urlsafe_b64encode(mac).rstrip(b"=").decode()

    def issue(self, user_id: int) -> str:
        """`<user id>.<device id, 128 random bits>.<HMAC of both, 128 bits>`"""
        device_id = secrets.token_urlsafe(16)
        return f"{user_id}.{device_id}.{self._mac(user_id, device_id)}"

    def device_of(self, token: str | None, user_id: int) -> str | None:
        """The device id of a genuine token for this account; None for any other token."""
        match = _TOKEN.fullmatch(token) if token else None
        if match is None or int(match[1]) != user_id:
            return None
        device_id = match[2]
        return device_id if hmac.compare_digest(match[3], self._mac(user_id, device_id)) else None
