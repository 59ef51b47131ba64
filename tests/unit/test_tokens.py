"""The one place for tokens and keyed digests: the shapes every caller relied on before it existed, written out
again here with hmac directly, so that no stored digest or Redis name changes (no migration, no sign-out)."""

from __future__ import annotations

import base64
import hashlib
import hmac

from pet_auth.domain.audit import AuditLog
from pet_auth.domain.recovery_codes import code_hash
from pet_auth.domain.tokens import TOKEN_PATTERN, keyed_digest, new_token, short_keyed_digest
from pet_auth.redis_store.sessions import session_handle

KEY = b"k" * 32


def test_a_new_token_is_256_bits_in_the_shape_every_lookup_checks() -> None:
    tokens = {new_token() for _ in range(100)}
    assert len(tokens) == 100
    assert all(TOKEN_PATTERN.fullmatch(token) for token in tokens)
    assert all(len(base64.urlsafe_b64decode(token + "=")) == 32 for token in tokens)
    assert not TOKEN_PATTERN.fullmatch(new_token()[:-1])


def test_stored_token_digests_are_the_whole_hmac_in_hex() -> None:
    # Reset tokens and email links in PostgreSQL.
    assert keyed_digest(KEY, "a token") == hmac.new(KEY, b"a token", hashlib.sha256).hexdigest()
    # Recovery codes, keyed per user.
    assert code_hash(KEY, 7, "abcde12345") == hmac.new(KEY, b"7:abcde12345", hashlib.sha256).hexdigest()


def test_truncated_hex_digests_keep_their_length() -> None:
    full = hmac.new(KEY, b"ada@example.com", hashlib.sha256).hexdigest()
    assert keyed_digest(KEY, "ada@example.com", hex_chars=32) == full[:32]  # rate-limit subjects
    assert AuditLog(KEY).email_hash("ada@example.com") == full[:16]  # the audit log's email hashes


def test_short_digests_are_128_bits_in_unpadded_url_safe_base64() -> None:
    mac = hmac.digest(KEY, b"1.token", "sha256")[:16]
    expected = base64.urlsafe_b64encode(mac).rstrip(b"=").decode()
    assert short_keyed_digest(KEY, "1.token") == expected
    assert session_handle(KEY, "1.token") == expected  # a session's Redis field
    assert len(expected) == 22
