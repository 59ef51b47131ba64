"""Pending sign-ins in Redis: a password was accepted for an account with two-factor sign-in, the code is awaited.

One hash per pending sign-in, `<ns>:<digest>`, under a keyed digest of its token (the token itself, the cookie
value, is never stored): `u` user id, `v` the credential version the password matched, `d` the device id of a
genuine device cookie ('' without one), `f` wrong codes so far. It expires `ttl` seconds after the password.
"""

from __future__ import annotations

from typing import cast

from pet_auth.domain.models import PendingSignIn
from pet_auth.domain.tokens import TOKEN_PATTERN, new_token, short_keyed_digest
from pet_auth.redis_store.client import AnyRedis

# Counts a wrong code (ARGV[1] the most allowed); the pending sign-in ends at the last. Never extends its life.
_FAILED = """
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
if redis.call('HINCRBY', KEYS[1], 'f', 1) >= tonumber(ARGV[1]) then redis.call('DEL', KEYS[1]) end
return 1
"""


class PendingSignInStore:
    def __init__(self, redis: AnyRedis, namespace: str, key: bytes, ttl: int) -> None:
        self._redis, self._namespace, self._key, self.ttl = redis, namespace, key, ttl
        self._failed = redis.register_script(_FAILED)

    def _redis_key(self, token: str) -> str:
        return f"{self._namespace}:{short_keyed_digest(self._key, token)}"

    async def start(self, pending: PendingSignIn) -> str:
        token = new_token()
        fields: list[str | int] = [
            "u",
            pending.user_id,
            "v",
            pending.credential_version,
            "d",
            pending.device_id or "",
            "f",
            0,
        ]
        key = self._redis_key(token)
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.hset(key, items=fields)
            pipe.expire(key, self.ttl)
            await pipe.execute()
        return token

    async def get(self, token: str) -> PendingSignIn | None:
        if not TOKEN_PATTERN.fullmatch(token):
            return None
        fields = await self._redis.hmget(self._redis_key(token), ["u", "v", "d"])
        user_id, version, device_id = cast("list[bytes | None]", fields)
        if user_id is None or version is None:
            return None
        return PendingSignIn(int(user_id), int(version), device_id.decode() if device_id else None)

    async def failed(self, token: str, most: int) -> None:
        await self._failed(keys=[self._redis_key(token)], args=[most])

    async def end(self, token: str) -> bool:
        return bool(await self._redis.delete(self._redis_key(token)))
