"""Rate limits kept in Redis: atomic, shared by every worker process.

Two kinds of budget, both in fixed windows started by the first counted event:
- `hit` counts every request (sign-ups, reset requests).
- Sign-in attempts count failures only, and hold a place while in flight, so that failures plus attempts in
  flight never exceed a limit. Concurrent sign-ins with the right password are then never refused for each
  other's sake (a waiting attempt gets the place of one that succeeded), concurrent guesses can't check more
  passwords than the limit allows, and an attempt cut short by an outage counts as nothing.

A subject's counter and its set of attempts in flight share a hash tag (`{digest}`): one Redis Cluster slot.
The subjects of one check (an account and an address) may sit on different nodes, so on a cluster each is
reserved by its own script, in a fixed order, and the places taken are given back when a later subject refuses;
on one server all go in one script, one round trip.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import secrets
import time
from typing import Any

from redis.asyncio import RedisCluster

from pet_auth.domain.clients import client_network
from pet_auth.domain.errors import RateLimited
from pet_auth.domain.ports import Check, Limit, Outcome
from pet_auth.domain.tokens import keyed_digest
from pet_auth.redis_store.client import AnyRedis

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

# KEYS: per check, its failure counter and its sorted set of attempts in flight (scored by lease deadline).
# ARGV: attempt id, lease (ms), then each check's limit. Returns {'limited', ms until the window ends},
# {'busy', 0} while attempts in flight hold the rest of a budget, or {'ok', 0} with the attempt's places taken.
_BEGIN = """
local now = redis.call('TIME')
now = tonumber(now[1]) * 1000 + math.floor(tonumber(now[2]) / 1000)
local attempt, lease = ARGV[1], tonumber(ARGV[2])
local busy, retry_ms = false, 0
for i = 1, #KEYS / 2 do
  local counter, in_flight, most = KEYS[2 * i - 1], KEYS[2 * i], tonumber(ARGV[2 + i])
  redis.call('ZREMRANGEBYSCORE', in_flight, '-inf', now)
  local failures = tonumber(redis.call('GET', counter) or '0')
  if failures >= most then
    local ttl = redis.call('PTTL', counter)
    retry_ms = math.max(retry_ms, ttl > 0 and ttl or 1000)
  elseif failures + redis.call('ZCARD', in_flight) >= most then
    busy = true
  end
end
if retry_ms > 0 then return {'limited', retry_ms} end
if busy then return {'busy', 0} end
for i = 1, #KEYS / 2 do
  redis.call('ZADD', KEYS[2 * i], now + lease, attempt)
  redis.call('PEXPIRE', KEYS[2 * i], lease)
end
return {'ok', 0}
"""

# KEYS as for _BEGIN. ARGV: attempt id, outcome, then per check its window (ms) and '1' if a success clears it.
# Returns per check the failures counted after this one (0 unless it is a failure).
_END = """
local attempt, outcome = ARGV[1], ARGV[2]
local counts = {}
for i = 1, #KEYS / 2 do
  local counter = KEYS[2 * i - 1]
  redis.call('ZREM', KEYS[2 * i], attempt)
  counts[i] = 0
  if outcome == 'failure' then
    counts[i] = redis.call('INCR', counter)
    if counts[i] == 1 then redis.call('PEXPIRE', counter, ARGV[1 + 2 * i]) end
  elseif outcome == 'success' and ARGV[2 + 2 * i] == '1' then
    redis.call('DEL', counter)
  end
end
return counts
"""

# An attempt holds its place at most this long, should its process die before releasing it.
ATTEMPT_LEASE_MS = 60_000


class RedisRateLimiter:
    def __init__(self, redis: AnyRedis, namespace: str, secret: bytes, *, wait_seconds: float = 5.0) -> None:
        self._redis = redis
        self._per_subject = isinstance(redis, RedisCluster)
        self._prefix = f"{namespace}:ratelimit:"
        self._secret = secret
        self._wait_seconds = wait_seconds
        self._hit = redis.register_script(_HIT)
        self._begin = redis.register_script(_BEGIN)
        self._end = redis.register_script(_END)

    def _key(self, limit: Limit, subject: str) -> str:
        if limit.per_client_network:
            subject = client_network(subject)
        # Subjects (emails, addresses, devices) are stored keyed-hashed: a key listing shows no personal data.
        digest = keyed_digest(self._secret, subject, hex_chars=32)
        return f"{self._prefix}{limit.name}:{{{digest}}}"

    def _attempt_keys(self, checks: tuple[Check, ...]) -> list[str]:
        keys = []
        for limit, subject in checks:
            counter = self._key(limit, subject)
            keys += [counter, f"{counter}:in-flight"]
        return keys

    async def hit(self, *checks: Check) -> None:
        keys = [self._key(limit, subject) for limit, subject in checks]
        windows = [limit.window_seconds * 1000 for limit, _ in checks]
        if self._per_subject:
            parts = await asyncio.gather(*(self._hit(keys=[k], args=[w]) for k, w in zip(keys, windows, strict=True)))
            replies = [reply for part in parts for reply in part]
        else:
            replies = await self._hit(keys=keys, args=windows)
        retry_after = 0
        for (limit, _), count, ttl_ms in zip(checks, replies[::2], replies[1::2], strict=True):
            if int(count) > limit.max_hits:
                retry_after = max(retry_after, -(-int(ttl_ms) // 1000))
        if retry_after:
            raise RateLimited(retry_after)

    async def begin_attempt(self, *checks: Check) -> str:
        attempt = secrets.token_hex(8)
        deadline = time.monotonic() + self._wait_seconds
        while True:
            status, retry_ms = await self._reserve(attempt, checks)
            if status == b"ok":
                return attempt
            if status == b"limited":
                raise RateLimited(-(-int(retry_ms) // 1000))
            if time.monotonic() >= deadline:
                raise RateLimited(1)  # the attempts in flight took too long; their outcome is seconds away
            await asyncio.sleep(0.02 + random.random() * 0.02)  # noqa: S311 - jitter, not a secret

    async def _reserve(self, attempt: str, checks: tuple[Check, ...]) -> list[Any]:
        """Take a place under every check, or none: `[b'ok', 0]`, else `_BEGIN`'s refusal."""
        if not self._per_subject:
            every: list[str | int] = [attempt, ATTEMPT_LEASE_MS, *(limit.max_hits for limit, _ in checks)]
            return list(await self._begin(keys=self._attempt_keys(checks), args=every))
        taken: list[Check] = []
        try:
            # A fixed order: two attempts on the same subjects never hold one each and refuse each other.
            for check in sorted(checks, key=lambda check: self._key(*check)):
                one: list[str | int] = [attempt, ATTEMPT_LEASE_MS, check[0].max_hits]
                reply = await self._begin(keys=self._attempt_keys((check,)), args=one)
                if reply[0] != b"ok":
                    await self.end_attempt(attempt, Outcome.ABANDONED, *taken)
                    return list(reply)
                taken.append(check)
        except BaseException:
            with contextlib.suppress(Exception):  # Redis failing now: the places expire with their lease
                await self.end_attempt(attempt, Outcome.ABANDONED, *taken)
            raise
        return [b"ok", 0]

    async def end_attempt(self, attempt: str, outcome: Outcome, *checks: Check) -> tuple[Check, ...]:
        groups = [(check,) for check in checks] if self._per_subject else [checks]
        replies = await asyncio.gather(*(self._end_group(attempt, outcome, group) for group in groups if group))
        counts = [int(count) for reply in replies for count in reply]
        # The failure counted exactly at the limit is the one that reached it: once per window, however many race.
        return tuple(check for check, count in zip(checks, counts, strict=True) if count == check[0].max_hits)

    async def _end_group(self, attempt: str, outcome: Outcome, checks: tuple[Check, ...]) -> list[Any]:
        args: list[str | int] = [attempt, outcome.value]
        for limit, _ in checks:
            args += [limit.window_seconds * 1000, "1" if limit.cleared_by_success else "0"]
        return list(await self._end(keys=self._attempt_keys(checks), args=args))
