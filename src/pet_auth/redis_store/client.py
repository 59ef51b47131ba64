"""The Redis client, for whichever topology the settings name: one server, a Sentinel-watched master with
replicas, or a Redis Cluster.

Every script and pipeline of the service touches the keys of one hash slot (their names carry a `{hash tag}`),
so the same code runs on all three. What differs is how to reach the server that holds a key, one connection at
a time: `connection_for` gives the connection, on a cluster from the node that owns the key's slot.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any, TypeAlias

from redis.asyncio import Redis, RedisCluster
from redis.asyncio.connection import Connection, parse_url
from redis.asyncio.sentinel import Sentinel
from redis.backoff import NoBackoff
from redis.exceptions import SlotNotCoveredError
from redis.retry import Retry

from pet_auth.config import Settings

AnyRedis: TypeAlias = Redis | RedisCluster

TIMEOUT_SECONDS = 2


def create_redis(settings: Settings) -> AnyRedis:
    """Fail fast during an outage (503 at once), reconnect by itself when Redis is back or, under Sentinel,
    once a replica has been promoted: the pool asks the sentinels for the master on every new connection."""
    options: dict[str, Any] = {
        "socket_connect_timeout": TIMEOUT_SECONDS,
        "socket_timeout": TIMEOUT_SECONDS,
        "retry": Retry(NoBackoff(), retries=1),
        "health_check_interval": 30,
    }
    if settings.redis_cluster:
        return RedisCluster.from_url(settings.redis_url, **options)
    if settings.redis_sentinels:
        # The db number and the master's credentials come from REDIS_URL; its host is ignored.
        from_url = {k: v for k, v in parse_url(settings.redis_url).items() if k in ("db", "username", "password")}
        sentinels = [_host_port(address) for address in settings.redis_sentinels]
        sentinel = Sentinel(  # type: ignore[no-untyped-call]
            sentinels,
            sentinel_kwargs={"socket_connect_timeout": TIMEOUT_SECONDS, "socket_timeout": TIMEOUT_SECONDS},
            **options,
            **from_url,
        )
        master: Redis = sentinel.master_for(settings.redis_sentinel_master)
        return master
    return Redis.from_url(settings.redis_url, **options)


def _host_port(address: str) -> tuple[str, int]:
    host, _, port = address.rpartition(":")
    return host.strip("[]"), int(port)


@asynccontextmanager
async def connection_for(redis: AnyRedis, key: str) -> AsyncIterator[Connection]:
    """A connection to the server that holds `key`, for commands that must share one (a write and the WAIT
    that counts its replicas). A failure leaves the connection closed: replies may still be on their way."""
    if isinstance(redis, RedisCluster):
        await redis.initialize()
        node = redis.get_node_from_key(key)
        if node is None:
            raise SlotNotCoveredError(f"no node serves the slot of {key!r}")
        connection = node.acquire_connection()
        try:
            yield connection
        except BaseException:
            await connection.disconnect()
            raise
        finally:
            node.release(connection)
        return
    pool = redis.connection_pool
    connection = await pool.get_connection()  # type: ignore[no-untyped-call]
    try:
        yield connection
    except BaseException:
        await connection.disconnect()
        raise
    finally:
        await pool.release(connection)
