"""TOTP (RFC 6238) as every authenticator app computes it by default: HMAC-SHA1, 6 digits, 30-second steps.

Small enough to write out with `hmac` and `struct` (RFC 4226's dynamic truncation) rather than take a package
for it; tests/test_mfa.py checks it against the RFC's published values.
"""

from __future__ import annotations

import base64
import hmac
import re
import secrets
import struct
from urllib.parse import quote

ISSUER = "Pet Manager"
STEP_SECONDS = 30
DIGITS = 6
SECRET_BYTES = 20  # 160 bits, the length RFC 4226 recommends
# A code of the step before or after the current one is accepted too: phone clocks drift, and typing takes time.
DRIFT_STEPS = 1
_CODE = re.compile(rf"[0-9]{{{DIGITS}}}")


def new_secret() -> bytes:
    return secrets.token_bytes(SECRET_BYTES)


def base32(secret: bytes) -> str:
    """The secret as authenticator apps take it typed in: base32 without padding (32 characters)."""
    return base64.b32encode(secret).decode().rstrip("=")


def otpauth_uri(secret: bytes, account: str) -> str:
    """The URI a QR code carries (Google Authenticator's Key Uri Format); SHA-1, 6 digits, 30 s are its defaults."""
    label = quote(f"{ISSUER}:{account}", safe=":@")
    return f"otpauth://totp/{label}?secret={base32(secret)}&issuer={quote(ISSUER)}"


def step_at(timestamp: float) -> int:
    return int(timestamp // STEP_SECONDS)


def code_at(secret: bytes, step: int, digits: int = DIGITS) -> str:
    mac = hmac.digest(secret, struct.pack(">Q", step), "sha1")
    offset = mac[-1] & 0x0F
    (value,) = struct.unpack(">I", mac[offset : offset + 4])
    return str((value & 0x7FFFFFFF) % 10**digits).zfill(digits)


def as_code(text: str) -> str | None:
    """What the user typed, as a code: six digits, spaces allowed ("123 456"); None if it is not one."""
    code = "".join(text.split())
    return code if _CODE.fullmatch(code) else None


def was_used(secret: bytes, code: str, now: float, after: int | None) -> bool:
    """Whether this is the code of a step of the window (the current one or a neighbour) that is not later than
    `after`, the step of the last code accepted: a right code that can no longer be accepted. Each step of the
    window is computed and compared, whatever matches."""
    if after is None:
        return False
    current = step_at(now)
    used = False
    for step in range(current - DRIFT_STEPS, current + DRIFT_STEPS + 1):
        used |= step <= after and hmac.compare_digest(code_at(secret, step), code)
    return used


def matching_step(secret: bytes, code: str, now: float, after: int | None) -> int | None:
    """The step whose code this is, the current one or a neighbour, provided it is later than `after` (the step of
    the last code accepted): a code is accepted once, and never one older than the last."""
    current = step_at(now)
    for step in range(current - DRIFT_STEPS, current + DRIFT_STEPS + 1):
        if (after is None or step > after) and hmac.compare_digest(code_at(secret, step), code):
            return step
    return None
