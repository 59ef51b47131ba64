"""Redis storage of sessions: Litestar's RedisStore, extended with a per-user index of sessions.

Keys (under the store's namespace):
  <ns>:<digest>             the session data (msgpack, see `encode_session`), TTL = idle timeout, slid by GETEX
  <ns>-index:<user id>      sorted set of that user's session digests, scored by their absolute expiry
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, cast

import msgspec
from litestar.stores.redis import RedisStore
from redis.asyncio import Redis

from pet_auth.domain.models import SessionInfo
from pet_auth.sessions.batch import ReadBatcher

_encoder = msgspec.msgpack.Encoder()
_decoder = msgspec.msgpack.Decoder(list[Any])

# A signed-in session holds exactly these fields (http/guards.py `session_data`, plus `iat`). It is stored as a
# msgpack array in this order, not as a map: the field names are not stored with every session.
SESSION_FIELDS = ("uid", "email", "ucr", "ua", "ip", "iat")

# Ends every session of a user but one (ARGV[2], may be empty), atomically.
_END_ALL = """
local members = redis.call('ZRANGE', KEYS[1], 0, -1)
local ended = 0
for _, digest in ipairs(members) do
  if digest ~= ARGV[2] then
    ended = ended + redis.call('DEL', ARGV[1] .. digest)
    redis.call('ZREM', KEYS[1], digest)
  end
end
return ended
"""


def encode_session(data: dict[str, Any]) -> bytes:
    return _encoder.encode([data[name] for name in SESSION_FIELDS])


def decode_session(raw: bytes) -> dict[str, Any]:
    return dict(zip(SESSION_FIELDS, _decoder.decode(raw), strict=True))


@dataclass(frozen=True, slots=True)
class StoredSession:
    digest: str
    data: dict[str, Any]
    ttl: int


class SessionStore(RedisStore):
    def __init__(
        self, redis: Redis, namespace: str, idle_timeout: int, absolute_lifetime: int, read_timeout: float
    ) -> None:
        super().__init__(redis, namespace=namespace)
        self.idle_timeout = idle_timeout
        self.absolute_lifetime = absolute_lifetime
        self._reads = ReadBatcher(redis, timeout=read_timeout)
        self._end_all = redis.register_script(_END_ALL)

    def _index_key(self, user_id: int) -> str:
        return f"{self.namespace}-index:{user_id}"

    async def load(self, digest: str) -> dict[str, Any] | None:
        """Read a session and slide its idle timeout: one GETEX, batched with the other requests' reads."""
        raw = await self._reads.getex(self._make_key(digest), self.idle_timeout)
        return None if raw is None else decode_session(raw)

    async def create(self, digest: str, data: dict[str, Any], user_id: int, replaces: str | None) -> None:
        """Store a new session and index it under its user; drop the session it replaces in the same step."""
        index = self._index_key(user_id)
        async with self._redis.pipeline(transaction=True) as pipe:
            if replaces is not None:
                pipe.delete(self._make_key(replaces))
                pipe.zrem(index, replaces)
            pipe.set(self._make_key(digest), encode_session(data), ex=self.idle_timeout)
            pipe.zadd(index, {digest: int(data["iat"]) + self.absolute_lifetime})
            pipe.expire(index, self.absolute_lifetime)
            await pipe.execute()

    async def replace_data(self, digest: str, data: dict[str, Any]) -> None:
        await self._redis.set(self._make_key(digest), encode_session(data), keepttl=True, xx=True)

    async def remove(self, digest: str, user_id: int | None) -> None:
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.delete(self._make_key(digest))
            if user_id is not None:
                pipe.zrem(self._index_key(user_id), digest)
            await pipe.execute()

    async def _live_sessions(self, user_id: int) -> list[StoredSession]:
        """The user's live sessions; index entries whose session expired are dropped, never listed."""
        index = self._index_key(user_id)
        await self._redis.zremrangebyscore(index, "-inf", int(time.time()))
        members = cast("list[bytes]", await self._redis.zrange(index, 0, -1))
        digests = [member.decode() for member in members]
        if not digests:
            return []
        async with self._redis.pipeline(transaction=False) as pipe:
            for digest in digests:
                pipe.get(self._make_key(digest))
                pipe.ttl(self._make_key(digest))
            replies = await pipe.execute()
        live, ghosts = [], []
        for digest, raw, ttl in zip(digests, replies[::2], replies[1::2], strict=True):
            if raw is None:
                ghosts.append(digest)
            else:
                live.append(StoredSession(digest, decode_session(raw), int(ttl)))
        if ghosts:
            await self._redis.zrem(index, *ghosts)
        return live

    async def end_all_sessions(self, user_id: int, keep: str | None = None) -> int:
        ended = await self._end_all(keys=[self._index_key(user_id)], args=[self._make_key(""), keep or ""])
        return int(ended)

    async def end_session(self, user_id: int, digest: str) -> bool:
        """End one of the user's sessions; False when the digest is not one of theirs."""
        index = self._index_key(user_id)
        if await self._redis.zscore(index, digest) is None:
            return False
        await self.remove(digest, user_id)
        return True

    async def list_sessions(self, user_id: int) -> list[SessionInfo]:
        return [self._describe(stored) for stored in await self._live_sessions(user_id)]

    def _describe(self, stored: StoredSession) -> SessionInfo:
        # GETEX resets the TTL to the idle timeout on every use, so the TTL tells when it was last used.
        last_seen = time.time() - max(0, self.idle_timeout - stored.ttl)
        data = stored.data
        return SessionInfo(
            handle=stored.digest,
            created_at=datetime.fromtimestamp(data["iat"], UTC),
            last_seen_at=datetime.fromtimestamp(max(last_seen, data["iat"]), UTC),
            user_agent=data.get("ua", ""),
            ip=data.get("ip", ""),
        )
