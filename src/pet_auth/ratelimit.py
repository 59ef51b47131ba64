"""Fixed-window rate limits kept in Redis: atomic, shared by every worker process."""

from __future__ import annotations

import hashlib
import hmac

from redis.asyncio import Redis

from pet_auth.domain.clients import client_network
from pet_auth.domain.errors import RateLimited
from pet_auth.domain.ports import Limit

# For each key: count one hit, start its window on the first; return the counts and remaining milliseconds.
_HIT = """
local result = {}
for i, key in ipairs(KEYS) do
  local count = redis.call('INCR', key)
  if count == 1 then redis.call('PEXPIRE', key, ARGV[i]) end
  result[#result + 1] = count
  result[#result + 1] = redis.call('PTTL', key)
end
return result
"""

# Forget KEYS[1]; take one hit back from KEYS[2], if given, only while its window lasts: a DECR on a key whose
# window has just ended would create a counter at -1 with no expiry, which would never be reset again.
_FORGIVE = """
redis.call('DEL', KEYS[1])
if KEYS[2] and redis.call('EXISTS', KEYS[2]) == 1 then redis.call('DECR', KEYS[2]) end
"""


class RedisRateLimiter:
    def __init__(self, redis: Redis, namespace: str, secret: bytes) -> None:
        self._redis = redis
        self._prefix = f"{namespace}:ratelimit:"
        self._secret = secret
        self._hit = redis.register_script(_HIT)
        self._forgive = redis.register_script(_FORGIVE)

    def _key(self, limit: Limit, subject: str) -> str:
        if limit.per_client_network:
            subject = client_network(subject)
        # Subjects (emails, addresses) are stored keyed-hashed: a key listing shows no personal data.
        digest = hmac.new(self._secret, subject.encode(), hashlib.sha256).hexdigest()[:32]
        return f"{self._prefix}{limit.name}:{digest}"

    async def hit(self, *checks: tuple[Limit, str]) -> None:
        keys = [self._key(limit, subject) for limit, subject in checks]
        windows = [limit.window_seconds * 1000 for limit, _ in checks]
        replies = await self._hit(keys=keys, args=windows)
        retry_after = 0
        for (limit, _), count, ttl_ms in zip(checks, replies[::2], replies[1::2], strict=True):
            if int(count) > limit.max_hits:
                retry_after = max(retry_after, -(-int(ttl_ms) // 1000))
        if retry_after:
            raise RateLimited(retry_after)

    async def forgive(self, limit: Limit, subject: str, refund: tuple[Limit, str] | None = None) -> None:
        keys = [self._key(limit, subject)]
        if refund is not None:
            keys.append(self._key(*refund))
        await self._forgive(keys=keys)
