"""The optimizations of issue 8 keep behaviour: compact session encoding, hash threads below the event loop."""

from __future__ import annotations

import asyncio
import os
import secrets
import sys
import threading
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import httpx
import msgspec
import pytest
from redis.asyncio import Redis
from redis.exceptions import ConnectionError, ResponseError

from pet_auth.config import Settings
from pet_auth.domain.passwords import PasswordHasher
from pet_auth.redis_store.batch import ReadBatcher
from pet_auth.redis_store.sessions import Profile, SessionRecord
from tests.support.clients import PASSWORD, Client, register, unique_email
from tests.support.live_server import live_server
from tools.devinfra import free_port

PROFILE = Profile(email="ada@example.com", created_at_us=1_741_064_767_891_011, email_verified=True)
RECORD = SessionRecord(
    issued_at=1_750_000_000, last_seen_ms=1_750_000_123_456, device="Firefox 133 on Linux", ip="1.2.3.4"
)


@pytest.mark.parametrize("stored", [PROFILE, RECORD])
def test_stored_records_round_trip_exactly(stored: Profile | SessionRecord) -> None:
    assert msgspec.msgpack.decode(msgspec.msgpack.encode(stored), type=type(stored)) == stored


@pytest.mark.parametrize("stored", [PROFILE, RECORD])
def test_stored_records_are_arrays_without_field_names(stored: Profile | SessionRecord) -> None:
    # Each name would cost a map its length plus a one-byte header.
    as_map = msgspec.msgpack.encode(msgspec.structs.asdict(stored))
    names = stored.__struct_fields__
    assert len(msgspec.msgpack.encode(stored)) == len(as_map) - sum(len(name) + 1 for name in names)


def test_a_profile_stored_by_the_previous_release_decodes() -> None:
    """The first release stored [email, creation time]; the verification flag came later and defaults to false."""
    previous = msgspec.msgpack.encode(["ada@example.com", 1_741_064_767_891_011])
    profile = msgspec.msgpack.decode(previous, type=Profile)
    assert profile == Profile("ada@example.com", 1_741_064_767_891_011, email_verified=False)


def test_records_written_by_a_newer_release_decode_without_its_fields() -> None:
    """During a rolling upgrade (or a rollback) this release reads what the next one wrote: extra fields last."""
    newer = msgspec.msgpack.encode([*msgspec.structs.astuple(RECORD), "a field of the future", 7])
    assert msgspec.msgpack.decode(newer, type=SessionRecord) == RECORD


async def test_me_reads_the_user_from_the_compact_session(client: Client, settings: Settings, redis: Redis) -> None:
    user = await register(client)
    me = await client.get("/api/auth/me")
    assert me.status_code == 200
    assert me.json()["user"] == user  # createdAt survives the integer encoding to the microsecond
    [key] = [key async for key in redis.scan_iter(match=f"{settings.redis_namespace}:session:*")]
    stored = await redis.hgetall(key)
    assert stored.pop(b"v") == b"1"  # the credential version
    assert stored.pop(b"p") == b"1"  # the version of the user's fields
    for raw in stored.values():  # the user's fields and the session's
        assert isinstance(raw, bytes)
        assert isinstance(msgspec.msgpack.decode(raw), list)


async def test_me_refuses_a_session_without_a_user(client: Client) -> None:
    email = unique_email()
    await register(client, email)
    assert (await client.post("/api/auth/logout")).status_code == 204
    response = await client.get("/api/auth/me")
    assert response.status_code == 401
    assert response.json()["code"] == "not_authenticated"
    login = await client.post("/api/auth/login", json={"email": email, "password": PASSWORD})
    assert login.status_code == 200
    assert (await client.get("/api/auth/me")).status_code == 200


def _os_thread_name(native_id: int) -> str:
    return Path(f"/proc/self/task/{native_id}/comm").read_text().strip()


@pytest.mark.skipif(sys.platform != "linux", reason="per-thread priorities are a Linux feature")
async def test_hash_threads_run_below_the_event_loop_priority_under_their_own_name() -> None:
    hasher = PasswordHasher(threads=2)
    try:
        await hasher.hash("a password to hash")
        workers = [thread for thread in threading.enumerate() if thread.name.startswith("password-hash")]
        assert workers
        mine = os.getpriority(os.PRIO_PROCESS, threading.get_native_id())
        for thread in workers:
            assert thread.native_id is not None
            assert os.getpriority(os.PRIO_PROCESS, thread.native_id) > mine
            assert _os_thread_name(thread.native_id) == "password-hash"  # as top -H and make bench see it
        assert _os_thread_name(threading.get_native_id()) != "password-hash"
        assert os.getpriority(os.PRIO_PROCESS, threading.get_native_id()) == mine  # the caller is untouched
    finally:
        hasher.close()


# --------------------------------------------------------------------------- batched session reads


@pytest.fixture
async def batch_client(settings: Settings) -> AsyncIterator[Redis]:
    """A Redis client of its own, named so that the server can tell how many connections it opened."""
    client = Redis.from_url(settings.redis_url, client_name=f"batch-{secrets.token_hex(4)}")
    yield client
    await client.aclose()


async def connections_of(client: Redis, redis: Redis) -> int:
    """How many connections the server has open for `client` (asked through `redis`)."""
    name = client.connection_pool.connection_kwargs["client_name"]
    return sum(1 for entry in await redis.client_list() if entry["name"] == name)


async def test_concurrent_session_reads_go_out_together_and_each_gets_its_own_value(
    settings: Settings, redis: Redis, batch_client: Redis
) -> None:
    keys = [f"{settings.redis_namespace}:batch:{i}" for i in range(40)]
    for i, key in enumerate(keys):
        await redis.set(key, f"value-{i}", ex=10)
    batcher = ReadBatcher(batch_client, timeout=2)

    values = await asyncio.gather(*(batcher.read("GETEX", key, "EX", 100) for key in keys))

    assert values == [f"value-{i}".encode() for i in range(len(keys))]
    assert min(await asyncio.gather(*(redis.ttl(key) for key in keys))) > 10  # each expiry slid
    # redis-py alone would have opened a connection per concurrent command.
    assert await connections_of(batch_client, redis) == 1


async def test_a_failed_read_fails_only_its_own_request(settings: Settings, redis: Redis, batch_client: Redis) -> None:
    good, wrong_type = f"{settings.redis_namespace}:batch:good", f"{settings.redis_namespace}:batch:list"
    await redis.set(good, "ok", ex=10)
    await redis.rpush(wrong_type, "not a string")
    await redis.expire(wrong_type, 10)
    batcher = ReadBatcher(batch_client, timeout=2)

    results = await asyncio.gather(
        batcher.read("GET", good), batcher.read("GET", wrong_type), batcher.read("GET", good), return_exceptions=True
    )

    assert results[0] == results[2] == b"ok"
    assert isinstance(results[1], ResponseError)


async def test_a_cancelled_read_leaves_the_others_and_the_connection_usable(
    settings: Settings, redis: Redis, batch_client: Redis
) -> None:
    keys = [f"{settings.redis_namespace}:batch:c{i}" for i in range(3)]
    for key in keys:
        await redis.set(key, key, ex=10)
    batcher = ReadBatcher(batch_client, timeout=2)

    reads = [batcher.read("GET", key) for key in keys]
    reads[1].cancel()
    assert await reads[0] == keys[0].encode()
    assert await reads[2] == keys[2].encode()
    assert await batcher.read("GET", keys[1]) == keys[1].encode()  # the next batch, on the same connection
    assert await connections_of(batch_client, redis) == 1


async def test_a_read_after_the_server_dropped_the_connection_succeeds(
    settings: Settings, redis: Redis, batch_client: Redis
) -> None:
    key = f"{settings.redis_namespace}:batch:dropped"
    await redis.set(key, "still here", ex=10)
    batcher = ReadBatcher(batch_client, timeout=2)
    assert await batcher.read("GET", key) == b"still here"
    name = batch_client.connection_pool.connection_kwargs["client_name"]
    [entry] = [entry for entry in await redis.client_list() if entry["name"] == name]
    await redis.client_kill_filter(_id=entry["id"])
    assert await batcher.read("GET", key) == b"still here"  # a new connection, not an error


async def test_reads_fail_fast_with_a_connection_error_when_redis_is_unreachable() -> None:
    unreachable = Redis.from_url(f"redis://127.0.0.1:{free_port()}", socket_connect_timeout=1)
    batcher = ReadBatcher(unreachable, timeout=2)
    try:
        results = await asyncio.gather(batcher.read("GET", "a"), batcher.read("GET", "b"), return_exceptions=True)
    finally:
        await unreachable.aclose()
    assert all(isinstance(result, ConnectionError) for result in results)


async def test_concurrent_signed_in_requests_each_see_their_own_user(make_settings: Callable[..., Settings]) -> None:
    # A real server: the in-process test client would serve the requests one at a time, never in one batch.
    users = 12
    with live_server(make_settings(rate_limit_register_per_ip=users)) as server:
        async with httpx.AsyncClient(base_url=server.url, timeout=30) as http:
            signed_in: list[tuple[int, str]] = []
            for _ in range(users):
                response = await http.post("/api/auth/register", json={"email": unique_email(), "password": PASSWORD})
                assert response.status_code == 201
                [cookie] = [c for c in response.headers.get_list("set-cookie") if c.startswith("pet_auth_session=")]
                signed_in.append((response.json()["user"]["id"], cookie.split(";")[0]))
                http.cookies.clear()
            replies = await asyncio.gather(
                *(http.get("/api/auth/me", headers={"cookie": cookie}) for _, cookie in signed_in * 5)
            )
    assert [reply.json()["user"]["id"] for reply in replies] == [user_id for user_id, _ in signed_in * 5]
