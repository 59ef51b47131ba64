"""TOTP secrets are stored sealed with AES-256-GCM: a copy of the database alone yields no authenticator."""

from __future__ import annotations

import os

from cryptography.hazmat.primitives.ciphers.aead import AESGCM

NONCE_BYTES = 12


class SecretBox:
    def __init__(self, key: bytes) -> None:
        self._aead = AESGCM(key)

    def seal(self, secret: bytes, user_id: int) -> bytes:
        """A random nonce, then the ciphertext with its tag. Bound to the user: a sealed secret copied to another
        user's row does not open."""
        nonce = os.urandom(NONCE_BYTES)
        return nonce + self._aead.encrypt(nonce, secret, _context(user_id))

    def open(self, sealed: bytes, user_id: int) -> bytes:
        """Raises `cryptography.exceptions.InvalidTag` under another key (see Settings.mfa_encryption_key)."""
        return self._aead.decrypt(sealed[:NONCE_BYTES], sealed[NONCE_BYTES:], _context(user_id))


def _context(user_id: int) -> bytes:
    return f"pet_auth user_mfa {user_id}".encode()
