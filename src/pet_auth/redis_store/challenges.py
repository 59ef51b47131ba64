"""WebAuthn challenges in Redis: one string per challenge, `<ns>:<purpose>:<digest>`, under a keyed digest of what it
is bound to (a session handle, or the token of a passkey sign-in's flow cookie, which is never stored itself). The
value is `<user id>:<challenge>` (user id 0 for an anonymous sign-in). It expires `ttl` seconds after it was issued,
and is read with GETDEL: one request gets it, once.
"""

from __future__ import annotations

from pet_auth.domain.models import IssuedChallenge
from pet_auth.domain.tokens import short_keyed_digest
from pet_auth.redis_store.client import AnyRedis

MAX_BINDING_LENGTH = 256


class ChallengeStore:
    def __init__(self, redis: AnyRedis, namespace: str, key: bytes, ttl: int) -> None:
        self._redis, self._namespace, self._key, self.ttl = redis, namespace, key, ttl

    def _redis_key(self, purpose: str, binding: str) -> str:
        return f"{self._namespace}:{purpose}:{short_keyed_digest(self._key, binding)}"

    async def issue(self, purpose: str, binding: str, issued: IssuedChallenge) -> None:
        value = f"{issued.user_id or 0}:".encode() + issued.challenge
        await self._redis.set(self._redis_key(purpose, binding), value, ex=self.ttl)

    async def take(self, purpose: str, binding: str) -> IssuedChallenge | None:
        if not binding or len(binding) > MAX_BINDING_LENGTH:
            return None
        value = await self._redis.getdel(self._redis_key(purpose, binding))
        if not isinstance(value, bytes):
            return None
        user_id, _, challenge = value.partition(b":")
        return IssuedChallenge(int(user_id) or None, challenge)
