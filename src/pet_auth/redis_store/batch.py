"""Session reads of concurrent requests go to Redis together, as one pipeline.

Every signed-in request reads its session with one command. redis-py spends more CPU on each command (pool
checkout and release, retry wrapper, instrumentation hooks, a timeout per read) than the round trip costs
Redis. Under load many requests wait for their session in the same event-loop turn: the reads queued in that
turn are written to one connection at once and their replies read back in order, so that per-command cost is
paid once per batch. One request alone is a batch of one: no waiting for company, no added latency.
On a Redis Cluster the batch is a cluster pipeline: redis-py sends it to each node its keys live on, together.
"""

from __future__ import annotations

import asyncio
import builtins
import math
from typing import Any

from redis.asyncio import RedisCluster
from redis.exceptions import ConnectionError, ResponseError, TimeoutError

from pet_auth.redis_store.client import AnyRedis, connection_for

_Pending = list[tuple[tuple[Any, ...], "asyncio.Future[Any]"]]


class ReadBatcher:
    def __init__(self, redis: AnyRedis, timeout: float) -> None:
        self._redis = redis
        self._timeout = timeout
        self._pending: _Pending = []
        self._flushes: set[asyncio.Task[None]] = set()

    def read(self, *command: str | int) -> asyncio.Future[Any]:
        """Send a read-only command (`"HGET", key, field`) with the other reads of this turn; its reply."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[Any] = loop.create_future()
        if not self._pending:
            flush = loop.create_task(self._flush())  # its first step runs after the tasks already ready
            self._flushes.add(flush)
            flush.add_done_callback(self._flushes.discard)
        self._pending.append((command, future))
        return future

    async def _flush(self) -> None:
        batch, self._pending = self._pending, []
        try:
            try:
                await self._send(batch)
            except ConnectionError:
                # Once more on a fresh connection (as redis-py's own retry would): reads are idempotent.
                await self._send([item for item in batch if not item[1].done()])
        except Exception as exc:  # whatever it is, every request of the batch hears of it: none waits forever
            for _, future in batch:
                if not future.done():
                    future.set_exception(exc)

    async def _send(self, batch: _Pending) -> None:
        try:
            # One deadline for the whole batch, not a timer per reply.
            async with asyncio.timeout(self._timeout):
                if isinstance(self._redis, RedisCluster):
                    await self._send_to_cluster(self._redis, batch)
                    return
                async with connection_for(self._redis, "") as connection:
                    await connection.send_packed_command(connection.pack_commands([args for args, _ in batch]))
                    for _, future in batch:
                        try:
                            reply = await connection.read_response(timeout=math.inf)
                        except ResponseError as exc:
                            reply = exc
                        _settle(future, reply)
        except builtins.TimeoutError:
            raise TimeoutError("Redis did not answer in time") from None

    @staticmethod
    async def _send_to_cluster(cluster: RedisCluster, batch: _Pending) -> None:
        pipeline = cluster.pipeline(transaction=False)
        for args, _ in batch:
            pipeline.execute_command(*args)
        replies = await pipeline.execute(raise_on_error=False)
        for (_, future), reply in zip(batch, replies, strict=True):
            _settle(future, reply)


def _settle(future: asyncio.Future[Any], reply: Any) -> None:
    if future.done():  # its request was cancelled; the reply is read all the same
        return
    if isinstance(reply, Exception):
        future.set_exception(reply)
    else:
        future.set_result(reply)
