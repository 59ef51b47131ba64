"""The session middleware's gaps, closed: fixation, adoption, anonymous writes, rewrites, timeouts, cookie, keys."""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime
from http.cookies import SimpleCookie
from typing import cast

import msgspec
import pytest
from redis.asyncio import Redis

from pet_auth.config import Settings
from pet_auth.domain import models
from pet_auth.domain.errors import CredentialsChanged
from pet_auth.keys import derive_keys
from pet_auth.redis_store.sessions import (
    CREDENTIAL_VERSION,
    CREDENTIAL_VERSION_GRACE_SECONDS,
    PROFILE,
    PROFILE_VERSION,
    Profile,
    SessionRecord,
    SessionStore,
    session_handle,
)
from tests.support.clients import PASSWORD, Client, MakeClient, register, unique_email


def session_cookie(response_headers: list[str], name: str) -> SimpleCookie:
    for header in response_headers:
        cookie: SimpleCookie = SimpleCookie()
        cookie.load(header)
        if name in cookie:
            return cookie
    raise AssertionError(f"no {name} cookie in {response_headers}")


async def session_keys(redis: Redis, settings: Settings) -> list[bytes]:
    return [key async for key in redis.scan_iter(match=f"{settings.redis_namespace}:session:*")]


def use_cookie(client: Client, name: str, value: str) -> None:
    """Replace whatever session cookie the client holds by `value`."""
    client.cookies.clear()
    client.cookies.set(name, value)


def user_key(settings: Settings, token: str) -> str:
    """The Redis hash of the user's sessions; the cookie starts with the user id."""
    return f"{settings.redis_namespace}:session:{{{token.split('.')[0]}}}"


def handle_of(settings: Settings, token: str) -> str:
    return session_handle(derive_keys(settings.session_secret).session_digest, token)


async def is_stored(redis: Redis, settings: Settings, token: str) -> bool:
    return bool(await redis.hexists(user_key(settings, token), handle_of(settings, token)))


async def test_login_issues_a_new_id_and_the_old_one_dies(client: Client, settings: Settings, redis: Redis) -> None:
    email = unique_email()
    await register(client, email)
    name = settings.session_cookie_name
    before = client.cookies[name]
    response = await client.post("/api/auth/login", json={"email": email, "password": PASSWORD})
    after = client.cookies[name]
    assert response.status_code == 200
    assert after != before
    assert await is_stored(redis, settings, after)
    assert not await is_stored(redis, settings, before)
    use_cookie(client, name, before)
    assert (await client.get("/api/auth/me")).status_code == 401


async def test_a_planted_cookie_is_never_adopted(client: Client, settings: Settings, redis: Redis) -> None:
    email = unique_email()
    await register(client, email)
    user_id = (await client.get("/api/auth/me")).json()["user"]["id"]
    await client.post("/api/auth/logout")
    planted = f"{user_id}.{secrets.token_urlsafe(32)}"  # well-formed, but never issued by the server
    use_cookie(client, settings.session_cookie_name, planted)
    me = await client.get("/api/auth/me")
    assert me.status_code == 401
    assert "Max-Age=0" in me.headers["set-cookie"]  # the unknown cookie is expired
    use_cookie(client, settings.session_cookie_name, planted)
    login = await client.post("/api/auth/login", json={"email": email, "password": PASSWORD})
    assert login.status_code == 200
    issued = session_cookie(login.headers.get_list("set-cookie"), settings.session_cookie_name)
    assert issued[settings.session_cookie_name].value != planted
    assert not await is_stored(redis, settings, planted)


async def test_anonymous_requests_write_no_session_keys(client: Client, settings: Settings, redis: Redis) -> None:
    client.cookies.set(settings.session_cookie_name, "garbage")
    for _ in range(3):
        await client.get("/api/auth/me")
        await client.get("/api/auth/session")
        await client.post("/api/auth/logout")
        await client.post("/api/auth/login", json={"email": unique_email(), "password": "wrong password"})
        await client.get("/health")
    client.cookies.clear()
    await client.get("/api/auth/me")
    assert await session_keys(redis, settings) == []


@pytest.fixture
async def keyspace_events(redis: Redis) -> AsyncIterator[Redis]:
    """Turns on Redis keyspace notifications for the test, restoring the server's setting after."""
    previous = str((await redis.config_get("notify-keyspace-events"))["notify-keyspace-events"])
    await redis.config_set("notify-keyspace-events", "Kh$g")  # hash, string and generic commands
    yield redis
    await redis.config_set("notify-keyspace-events", previous)


async def keyspace_events_during(redis: Redis, key: str, requests: Callable[[], Awaitable[None]]) -> list[bytes]:
    """The keyspace events (commands that changed `key`) while `requests` ran."""
    pubsub = redis.pubsub()
    await pubsub.subscribe(f"__keyspace@0__:{key}")
    await pubsub.get_message(timeout=1)  # the subscription confirmation
    await requests()
    events = []
    while (message := await pubsub.get_message(ignore_subscribe_messages=True, timeout=0.5)) is not None:
        events.append(message["data"])
    await pubsub.aclose()  # type: ignore[no-untyped-call]
    return events


async def test_an_unchanged_session_is_not_rewritten(
    client: Client, settings: Settings, keyspace_events: Redis
) -> None:
    await register(client)
    key = user_key(settings, client.cookies[settings.session_cookie_name])

    async def three_requests() -> None:
        for _ in range(3):
            response = await client.get("/api/auth/me")
            assert response.status_code == 200
            assert "set-cookie" not in response.headers

    assert await keyspace_events_during(keyspace_events, key, three_requests) == []


async def test_a_session_records_its_use_once_per_touch_interval(
    make_client: MakeClient, settings: Settings, keyspace_events: Redis
) -> None:
    client = await make_client(session_idle_timeout=10)  # a touch interval of 100 ms
    await register(client)
    key = user_key(settings, client.cookies[settings.session_cookie_name])

    async def requests_after_the_interval() -> None:
        await asyncio.sleep(0.15)
        for _ in range(3):
            assert (await client.get("/api/auth/me")).status_code == 200

    events = await keyspace_events_during(keyspace_events, key, requests_after_the_interval)
    assert events.count(b"hset") == 1  # the first request recorded its use; the next two had nothing to write
    assert set(events) <= {b"hset", b"expire"}


async def test_idle_timeout_slides_and_then_ends_the_session(make_client: MakeClient) -> None:
    client = await make_client(session_idle_timeout=1)
    await register(client)
    for _ in range(3):  # 1.8 s in all: alive only because each request slid the timeout
        await asyncio.sleep(0.6)
        assert (await client.get("/api/auth/me")).status_code == 200
    await asyncio.sleep(1.6)
    response = await client.get("/api/auth/me")
    assert response.status_code == 401


async def test_idle_timeout_ends_a_quiet_session_while_the_users_other_one_stays_active(
    make_client: MakeClient,
) -> None:
    # Both sessions live in one Redis hash that the active one keeps alive: the check on each read ends the quiet one.
    quiet, active = await make_client(session_idle_timeout=1), await make_client(session_idle_timeout=1)
    email = unique_email()
    await register(quiet, email)
    assert (await active.post("/api/auth/login", json={"email": email, "password": PASSWORD})).status_code == 200
    for _ in range(3):
        await asyncio.sleep(0.5)
        assert (await active.get("/api/auth/me")).status_code == 200
    assert (await quiet.get("/api/auth/me")).status_code == 401
    assert (await active.get("/api/auth/me")).status_code == 200


async def test_absolute_lifetime_ends_even_an_active_session(make_client: MakeClient) -> None:
    client = await make_client(session_absolute_lifetime=2)
    await register(client)
    assert (await client.get("/api/auth/me")).status_code == 200
    statuses = []
    for _ in range(6):
        await asyncio.sleep(0.5)
        statuses.append((await client.get("/api/auth/me")).status_code)
    assert statuses[0] == 200
    assert statuses[-1] == 401


async def test_a_cookie_naming_another_user_is_refused(make_client: MakeClient, settings: Settings) -> None:
    mine, theirs = await make_client(), await make_client()
    await register(mine)
    await register(theirs)
    name = settings.session_cookie_name
    their_id, my_token = theirs.cookies[name].split(".")[0], mine.cookies[name].split(".")[1]
    use_cookie(mine, name, f"{their_id}.{my_token}")
    assert (await mine.get("/api/auth/me")).status_code == 401
    assert (await theirs.get("/api/auth/me")).status_code == 200


async def test_a_session_ended_meanwhile_is_not_touched_back(settings: Settings, redis: Redis) -> None:
    """A request read its session; a logout deleted it; the request's late record of use must not bring it back."""
    client = Redis.from_url(settings.redis_url)
    store = SessionStore(
        client, f"{settings.redis_namespace}:session", 60, 600, most_per_user=4, read_timeout=2, secret=b"s" * 32
    )
    try:
        user = models.User(7, models.Profile("a@example.com", datetime.now(UTC)), profile_version=1)
        token = await store.start(user, 1, models.Client(ip="192.0.2.1", device="curl/8"), replaces=None)
        handle = session_handle(b"s" * 32, token)
        loaded = await store.load(7, handle)
        assert loaded is not None
        raw = msgspec.msgpack.encode(loaded.record)
        await store.remove(7, handle)
        touched = msgspec.structs.replace(loaded.record, last_seen_ms=loaded.record.last_seen_ms + 1)
        assert not await store._set_if_unchanged(7, handle, raw, touched)
        assert await store.load(7, handle) is None
        stored = await redis.hkeys(f"{settings.redis_namespace}:session:{{7}}")
        assert sorted(stored) == [PROFILE_VERSION.encode(), CREDENTIAL_VERSION.encode()]
    finally:
        await client.aclose()


async def test_cookie_attributes_in_development(client: Client, settings: Settings) -> None:
    response = await client.post("/api/auth/register", json={"email": unique_email(), "password": PASSWORD})
    cookie = session_cookie(response.headers.get_list("set-cookie"), settings.session_cookie_name)
    morsel = cookie[settings.session_cookie_name]
    assert morsel["httponly"]
    assert morsel["samesite"].lower() == "lax"
    assert morsel["path"] == "/"
    assert not morsel["domain"]
    user_id, token = morsel.value.split(".")
    assert int(user_id) == (await client.get("/api/auth/me")).json()["user"]["id"]
    assert len(token) == 43  # 32 random bytes, base64url: 256 bits


async def test_cookie_is_secure_with_host_prefix_in_production(make_client: MakeClient) -> None:
    client = await make_client(app_env="production", session_secret="p" * 48)
    response = await client.post("/api/auth/register", json={"email": unique_email(), "password": PASSWORD})
    header = next(h for h in response.headers.get_list("set-cookie") if h.startswith("__Host-pet_auth_session="))
    attributes = {part.strip().lower() for part in header.split(";")[1:]}
    assert {"secure", "httponly", "path=/", "samesite=lax"} <= attributes
    assert not any(attribute.startswith("domain") for attribute in attributes)


async def test_redis_keys_are_keyed_hashes_and_hold_no_secret(client: Client, settings: Settings, redis: Redis) -> None:
    user = await register(client)
    token = client.cookies[settings.session_cookie_name]
    keys = await session_keys(redis, settings)
    assert keys == [user_key(settings, token).encode()]
    stored = cast("dict[bytes, bytes]", await redis.hgetall(keys[0]))
    versions = {CREDENTIAL_VERSION.encode(), PROFILE_VERSION.encode()}
    assert set(stored) == {PROFILE.encode(), *versions, handle_of(settings, token).encode()}
    assert [stored.pop(version) for version in versions] == [b"1", b"1"]
    secret = token.split(".")[1].encode()
    assert not any(secret in part for part in (keys[0], *stored, *stored.values()))
    profile = msgspec.msgpack.decode(stored.pop(PROFILE.encode()), type=Profile)
    assert profile.email == user["email"]
    record = msgspec.msgpack.decode(stored.popitem()[1], type=SessionRecord)
    data = {**msgspec.structs.asdict(profile), **msgspec.structs.asdict(record)}
    assert not any("hash" in name or "password" in name for name in data)
    assert not any(isinstance(value, str) and value.startswith("$argon2") for value in data.values())


@pytest.mark.smoke
async def test_logout_deletes_the_key_and_expires_the_cookie_alike(
    client: Client, settings: Settings, redis: Redis
) -> None:
    await register(client)
    token = client.cookies[settings.session_cookie_name]
    response = await client.post("/api/auth/logout")
    assert response.status_code == 204
    assert not await is_stored(redis, settings, token)
    # The user's last session: only the credential version stays, for minutes, not for the idle timeout.
    [key] = await session_keys(redis, settings)
    assert await redis.hgetall(key) == {CREDENTIAL_VERSION.encode(): b"1", PROFILE_VERSION.encode(): b"1"}
    assert 0 < await redis.ttl(key) <= CREDENTIAL_VERSION_GRACE_SECONDS
    cookie = session_cookie(response.headers.get_list("set-cookie"), settings.session_cookie_name)
    morsel = cookie[settings.session_cookie_name]
    assert morsel["max-age"] == "0"
    assert morsel["path"] == "/"
    assert morsel["httponly"]
    assert morsel["samesite"].lower() == "lax"
    use_cookie(client, settings.session_cookie_name, token)
    assert (await client.get("/api/auth/me")).status_code == 401


async def test_session_ids_differ_between_sessions(make_client: MakeClient, settings: Settings) -> None:
    ids = set()
    for _ in range(3):
        client = await make_client()
        await register(client)
        ids.add(client.cookies[settings.session_cookie_name])
    assert len(ids) == 3


async def test_a_credential_change_that_never_committed_locks_no_one_out(
    make_client: MakeClient, settings: Settings, redis: Redis
) -> None:
    """A reset raises the version in Redis before its transaction commits; should the commit then fail, Redis
    is ahead of PostgreSQL. A sign-in refused for that is confirmed against PostgreSQL, and goes ahead."""
    client = await make_client(settings)
    email = unique_email()
    user = await register(client, email)
    key = f"{settings.redis_namespace}:session:{{{user['id']}}}"
    await redis.hset(key, CREDENTIAL_VERSION, 2)  # as a reset whose commit failed leaves it; PostgreSQL has 1

    response = await client.post("/api/auth/login", json={"email": email, "password": PASSWORD})
    assert response.status_code == 200, response.text
    assert (await client.get("/api/auth/me")).status_code == 200
    assert await redis.hget(key, CREDENTIAL_VERSION) == b"1"


async def test_a_session_for_superseded_credentials_is_refused(settings: Settings) -> None:
    client = Redis.from_url(settings.redis_url)
    store = SessionStore(
        client, f"{settings.redis_namespace}:session", 60, 600, most_per_user=4, read_timeout=2, secret=b"s" * 32
    )
    user = models.User(8, models.Profile("b@example.com", datetime.now(UTC)), profile_version=1)
    device = models.Client(ip="192.0.2.1", device="curl/8")
    try:
        await store.credentials_changed(8, 3)
        with pytest.raises(CredentialsChanged):
            await store.start(user, 2, device, replaces=None)
        token = await store.start(user, 3, device, replaces=None)
        assert await store.load(8, session_handle(b"s" * 32, token)) is not None
    finally:
        await client.aclose()
