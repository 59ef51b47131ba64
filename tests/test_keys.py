"""One key per purpose, derived from SESSION_SECRET: a digest made for one purpose means nothing for another."""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import fields

from redis.asyncio import Redis

from pet_auth.config import Settings
from pet_auth.keys import Keys, derive_keys
from tests.support.clients import Client, unique_email

SECRET = "k" * 48


def test_every_purpose_has_its_own_key() -> None:
    keys = derive_keys(SECRET)
    values = [getattr(keys, field.name) for field in fields(Keys)]
    assert {field.name for field in fields(Keys)} == {
        "session_digest",
        "reset_token",
        "rate_limit",
        "audit",
        "device_cookie",
        "email_link",
        "mfa_pending",
        "webauthn_challenge",
    }
    assert len(set(values)) == len(values)
    assert all(len(value) == 32 and value != SECRET.encode() for value in values)
    assert derive_keys(SECRET) == keys  # the same secret gives the same keys in every worker
    assert derive_keys(SECRET + "x").session_digest != keys.session_digest
    assert not any(repr(value) in repr(keys) for value in values)  # a logged or printed Keys shows no key


async def test_rate_limit_subjects_are_keyed_with_their_own_key(
    client: Client, settings: Settings, redis: Redis
) -> None:
    await client.post("/api/auth/login", json={"email": unique_email(), "password": "not the password"})
    stored = {key.decode() async for key in redis.scan_iter(match=f"{settings.redis_namespace}:ratelimit:*")}
    keys = derive_keys(settings.session_secret)

    def ip_counter_with(secret: bytes) -> str:
        digest = hmac.new(secret, b"testclient", hashlib.sha256).hexdigest()[:32]  # the test client's address
        return f"{settings.redis_namespace}:ratelimit:login-ip:{{{digest}}}"  # braces: the cluster hash tag

    assert ip_counter_with(keys.rate_limit) in stored
    assert ip_counter_with(settings.session_secret.encode()) not in stored
