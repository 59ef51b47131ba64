"""Account security: change password, list and end sessions."""

from __future__ import annotations

import asyncio
from typing import cast

import msgspec
import pytest
from redis.asyncio import Redis

from pet_auth.config import Settings
from pet_auth.redis_store.sessions import SessionRecord
from tests.support.clients import PASSWORD, Client, MakeClient, register, unique_email

NEW_PASSWORD = "a brand new passphrase 42"


async def signed_in_pair(make_client: MakeClient) -> tuple[Client, Client, str]:
    """Two devices signed in as one user."""
    first, second = await make_client(), await make_client()
    email = unique_email()
    await register(first, email)
    login = await second.post("/api/auth/login", json=login_of(email))
    assert login.status_code == 200
    return first, second, email


def login_of(email: str) -> dict[str, str]:
    return {"email": email, "password": PASSWORD}


async def list_sessions(client: Client) -> list[dict[str, object]]:
    response = await client.get("/api/auth/sessions")
    assert response.status_code == 200, response.text
    sessions: list[dict[str, object]] = response.json()["sessions"]
    return sessions


async def test_sessions_are_listed_with_the_current_one_marked(make_client: MakeClient, settings: Settings) -> None:
    first, second, _ = await signed_in_pair(make_client)
    sessions = await list_sessions(first)
    assert len(sessions) == 2
    assert [s["current"] for s in sessions].count(True) == 1
    for session in sessions:
        assert set(session) == {"id", "createdAt", "lastSeenAt", "userAgent", "ip", "current"}
        assert session["userAgent"] == "testclient"
    cookie_values = {first.cookies[settings.session_cookie_name], second.cookies[settings.session_cookie_name]}
    assert not cookie_values & {str(s["id"]) for s in sessions}  # public handles, never the cookie


async def test_one_device_ends_the_other(make_client: MakeClient) -> None:
    first, second, _ = await signed_in_pair(make_client)
    other = next(s for s in await list_sessions(first) if not s["current"])
    response = await first.delete(f"/api/auth/sessions/{other['id']}")
    assert response.status_code == 204
    assert (await second.get("/api/auth/me")).status_code == 401
    assert (await first.get("/api/auth/me")).status_code == 200
    assert len(await list_sessions(first)) == 1


async def test_ending_the_current_session_signs_out(client: Client) -> None:
    await register(client)
    [current] = await list_sessions(client)
    response = await client.delete(f"/api/auth/sessions/{current['id']}")
    assert response.status_code == 204
    assert "Max-Age=0" in response.headers["set-cookie"]
    assert (await client.get("/api/auth/me")).status_code == 401


async def test_another_users_session_is_not_found(make_client: MakeClient) -> None:
    mine, theirs = await make_client(), await make_client()
    await register(mine)
    await register(theirs)
    [their_session] = await list_sessions(theirs)
    for handle in (their_session["id"], "no-such-session"):
        response = await mine.delete(f"/api/auth/sessions/{handle}")
        assert response.status_code == 404
        assert response.json()["code"] == "not_found"
    assert (await theirs.get("/api/auth/me")).status_code == 200


async def test_revoke_others_keeps_only_this_session(make_client: MakeClient) -> None:
    first, second, _ = await signed_in_pair(make_client)
    assert (await first.post("/api/auth/sessions/revoke-others")).status_code == 204
    assert (await second.get("/api/auth/me")).status_code == 401
    sessions = await list_sessions(first)
    assert len(sessions) == 1
    assert sessions[0]["current"] is True


async def sessions_key(client: Client, settings: Settings) -> str:
    """The Redis hash of the signed-in user's sessions."""
    return f"{settings.redis_namespace}:session:{{{(await client.get('/api/auth/me')).json()['user']['id']}}}"


async def go_quiet(redis: Redis, settings: Settings, key: str, *digests: str) -> None:
    """Move these sessions' last use back by an idle timeout, as if their devices had gone quiet."""
    for digest in digests:
        record = msgspec.msgpack.decode(cast(bytes, await redis.hget(key, digest)), type=SessionRecord)
        quiet_since = record.last_seen_ms - settings.session_idle_timeout * 1000
        quiet = msgspec.structs.replace(record, last_seen_ms=quiet_since)
        await redis.hset(key, digest, msgspec.msgpack.encode(quiet))


async def test_expired_sessions_are_not_listed(make_client: MakeClient, settings: Settings, redis: Redis) -> None:
    first, second, _ = await signed_in_pair(make_client)
    other = next(s for s in await list_sessions(first) if not s["current"])
    key = await sessions_key(first, settings)
    await go_quiet(redis, settings, key, str(other["id"]))
    assert [s["current"] for s in await list_sessions(first)] == [True]
    # The user's fields, their version, the credential version and the live session: the ended one is gone too.
    assert await redis.hlen(key) == 4
    assert (await second.get("/api/auth/me")).status_code == 401


async def sign_in(make_client: MakeClient, email: str, **settings: object) -> Client:
    device = await make_client(**settings)
    assert (await device.post("/api/auth/login", json=login_of(email))).status_code == 200
    return device


async def test_signing_in_past_the_limit_ends_the_least_recently_used_session(make_client: MakeClient) -> None:
    limits = {"sessions_per_user": 3, "session_idle_timeout": 10}  # a use is recorded after 100 ms
    email = unique_email()
    first = await make_client(**limits)
    await register(first, email)
    second, third = await sign_in(make_client, email, **limits), await sign_in(make_client, email, **limits)
    await asyncio.sleep(0.15)
    assert (await first.get("/api/auth/me")).status_code == 200  # now the second is the least recently used
    fourth = await sign_in(make_client, email, **limits)
    statuses = [(await device.get("/api/auth/me")).status_code for device in (first, second, third, fourth)]
    assert statuses == [200, 401, 200, 200]


async def test_signing_in_past_the_limit_ends_sessions_past_a_deadline_first(
    make_client: MakeClient, settings: Settings, redis: Redis
) -> None:
    email = unique_email()
    first = await make_client(sessions_per_user=3)
    await register(first, email)
    quiet = [await sign_in(make_client, email, sessions_per_user=3) for _ in range(2)]
    key = await sessions_key(first, settings)
    await go_quiet(redis, settings, key, *[str(s["id"]) for s in await list_sessions(first) if not s["current"]])
    await sign_in(make_client, email, sessions_per_user=3)
    # The user's fields, the two versions, the first session and the new one: the quiet ones ended.
    assert await redis.hlen(key) == 5
    assert (await first.get("/api/auth/me")).status_code == 200
    assert [(await device.get("/api/auth/me")).status_code for device in quiet] == [401, 401]


async def test_sessions_need_a_login(client: Client) -> None:
    assert (await client.get("/api/auth/sessions")).status_code == 401
    assert (await client.post("/api/auth/sessions/revoke-others")).status_code == 401
    assert (await client.delete("/api/auth/sessions/anything")).status_code == 401


@pytest.mark.smoke
async def test_change_password_leaves_exactly_one_live_session(make_client: MakeClient, settings: Settings) -> None:
    first, second, email = await signed_in_pair(make_client)
    old_cookie = first.cookies[settings.session_cookie_name]
    response = await first.post(
        "/api/auth/change-password", json={"currentPassword": PASSWORD, "newPassword": NEW_PASSWORD}
    )
    assert response.status_code == 204
    assert first.cookies[settings.session_cookie_name] != old_cookie  # this session got a new id
    assert (await first.get("/api/auth/me")).status_code == 200
    assert (await second.get("/api/auth/me")).status_code == 401
    assert len(await list_sessions(first)) == 1
    third = await make_client()
    assert (await third.post("/api/auth/login", json={"email": email, "password": PASSWORD})).status_code == 401
    assert (await third.post("/api/auth/login", json={"email": email, "password": NEW_PASSWORD})).status_code == 200


@pytest.mark.smoke
async def test_change_password_checks_the_current_password(client: Client) -> None:
    await register(client)
    response = await client.post(
        "/api/auth/change-password", json={"currentPassword": "not it at all", "newPassword": NEW_PASSWORD}
    )
    assert response.status_code == 401
    assert response.json()["code"] == "invalid_credentials"
    assert (await client.get("/api/auth/me")).status_code == 200


async def test_wrong_current_passwords_count_against_the_login_limit(make_client: MakeClient) -> None:
    client = await make_client(rate_limit_login_per_account=2, rate_limit_login_per_device=2)
    await register(client)
    body = {"currentPassword": "not it at all", "newPassword": NEW_PASSWORD}
    statuses = [(await client.post("/api/auth/change-password", json=body)).status_code for _ in range(3)]
    assert statuses == [401, 401, 429]


async def test_new_password_follows_the_policy_and_differs(client: Client) -> None:
    await register(client)
    for new_password, reason in ((PASSWORD, "differ"), ("password123", "common"), ("short", "at least 8")):
        response = await client.post(
            "/api/auth/change-password", json={"currentPassword": PASSWORD, "newPassword": new_password}
        )
        assert response.status_code == 400
        body = response.json()
        assert body["code"] == "validation_error"
        assert body["errors"][0]["field"] == "newPassword"
        assert reason in body["errors"][0]["message"]


async def test_change_password_needs_a_login(client: Client) -> None:
    response = await client.post(
        "/api/auth/change-password", json={"currentPassword": PASSWORD, "newPassword": NEW_PASSWORD}
    )
    assert response.status_code == 401
