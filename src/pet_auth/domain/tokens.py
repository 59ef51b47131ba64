"""Tokens and keyed digests, written once.

Every secret the service hands out (session, reset and email-link tokens, pending sign-ins) is `new_token()`: 256
bits from `secrets`, URL-safe base64 without padding, 43 characters, which `TOKEN_PATTERN` recognizes before any
lookup. What is stored or used as a name is a keyed digest, HMAC-SHA256 under the key of its purpose (keys.py), in
one of two encodings:
- `keyed_digest`: hex, the whole digest (stored hashes of tokens and codes in PostgreSQL), or its first
  `hex_chars` (Redis key names of rate-limit subjects, the audit log's email hashes);
- `short_keyed_digest`: its first 128 bits in URL-safe base64, 22 characters (session handles, pending sign-ins'
  names, device cookies' MACs), where the bytes count.
Each caller's digests are byte-identical to what it stored before this module existed.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import secrets

TOKEN_BYTES = 32
TOKEN_PATTERN = re.compile(r"[A-Za-z0-9_-]{43}")  # new_token(): 32 bytes, URL-safe base64, unpadded


def new_token(nbytes: int = TOKEN_BYTES) -> str:
    return secrets.token_urlsafe(nbytes)


def keyed_digest(key: bytes, message: str, hex_chars: int = 64) -> str:
    return hmac.new(key, message.encode(), hashlib.sha256).hexdigest()[:hex_chars]


def short_keyed_digest(key: bytes, message: str) -> str:
    mac = hmac.digest(key, message.encode(), "sha256")[:16]
    return base64.urlsafe_b64encode(mac).rstrip(b"=").decode()
