"""The optimizations of issue 8 keep behaviour: compact session encoding, hash threads below the event loop."""

from __future__ import annotations

import os
import sys
import threading

import msgspec
import pytest
from redis.asyncio import Redis

from pet_auth.config import Settings
from pet_auth.domain.passwords import PasswordHasher
from pet_auth.sessions.store import SESSION_FIELDS, decode_session, encode_session
from tests.conftest import PASSWORD, Client, register, unique_email

SIGNED_IN = {
    "uid": 42,
    "email": "ada@example.com",
    "ucr": 1_741_064_767_891_011,
    "ua": "Mozilla/5.0 (X11; Linux x86_64) Firefox/133.0",
    "ip": "203.0.113.9",
    "iat": 1_750_000_000,
}


def test_session_data_round_trips_exactly() -> None:
    assert decode_session(encode_session(SIGNED_IN)) == SIGNED_IN


def test_signed_in_session_is_stored_compactly() -> None:
    # An array without the field names: each name costs a map its length plus a one-byte header.
    as_map = msgspec.msgpack.encode(SIGNED_IN)
    assert len(encode_session(SIGNED_IN)) == len(as_map) - sum(len(name) + 1 for name in SESSION_FIELDS)


async def test_me_reads_the_user_from_the_compact_session(client: Client, settings: Settings, redis: Redis) -> None:
    user = await register(client)
    me = await client.get("/api/auth/me")
    assert me.status_code == 200
    assert me.json()["user"] == user  # createdAt survives the integer encoding to the microsecond
    [key] = [key async for key in redis.scan_iter(match=f"{settings.redis_namespace}:session:*")]
    raw = await redis.get(key)
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


@pytest.mark.skipif(sys.platform != "linux", reason="per-thread priorities are a Linux feature")
async def test_hash_threads_run_below_the_event_loop_priority() -> None:
    hasher = PasswordHasher(threads=2)
    try:
        await hasher.hash("a password to hash")
        workers = [thread for thread in threading.enumerate() if thread.name.startswith("password-hash")]
        assert workers
        mine = os.getpriority(os.PRIO_PROCESS, threading.get_native_id())
        for thread in workers:
            assert thread.native_id is not None
            assert os.getpriority(os.PRIO_PROCESS, thread.native_id) > mine
        assert os.getpriority(os.PRIO_PROCESS, threading.get_native_id()) == mine  # the caller is untouched
    finally:
        hasher.close()
