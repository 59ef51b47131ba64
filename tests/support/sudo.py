"""Sudo mode in the tests: let a session's last proof of a factor grow older than the window, in Redis, without
waiting for it."""

from __future__ import annotations

from typing import cast

import msgspec
from redis.asyncio import Redis

from pet_auth.config import Settings
from pet_auth.redis_store.sessions import SessionRecord
from tests.support.clients import Client

REAUTHENTICATE = "/api/auth/reauthenticate"


async def let_sudo_lapse(client: Client, settings: Settings, redis: Redis) -> None:
    """Move the client's session's last proof back past the sudo window (as if it had been signed in a while)."""
    user_id = (await client.get("/api/auth/me")).json()["user"]["id"]
    sessions = (await client.get("/api/auth/sessions")).json()["sessions"]
    handle = next(session["id"] for session in sessions if session["current"])
    await let_session_sudo_lapse(settings, redis, user_id, handle)


async def let_session_sudo_lapse(settings: Settings, redis: Redis, user_id: int, handle: str) -> None:
    """The same for the session `handle` (its `id` in the sessions list) of the user, wherever it lives (a browser)."""
    key = f"{settings.redis_namespace}:session:{{{user_id}}}"
    record = msgspec.msgpack.decode(cast(bytes, await redis.hget(key, handle)), type=SessionRecord)
    lapsed = msgspec.structs.replace(record, proved_at=record.proved_at - settings.sudo_window - 1)
    await redis.hset(key, handle, msgspec.msgpack.encode(lapsed))
