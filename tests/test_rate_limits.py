"""Rate limits kept in Redis: per account and per IP, shared by every worker process."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import os
import secrets
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import pytest
from redis.asyncio import Redis
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from pet_auth.config import Settings
from pet_auth.domain.errors import RateLimited
from pet_auth.domain.ports import Limit, Outcome
from pet_auth.keys import derive_keys
from pet_auth.redis_store.ratelimit import RedisRateLimiter
from tests.support.clients import PASSWORD, Client, MakeClient, forget_device, register, unique_email
from tests.support.live_server import live_server, worker_processes

LOGIN = "/api/auth/login"
FORGOT = "/api/auth/forgot-password"
WRONG = "wrong password, surely"


def assert_rate_limited(response: httpx.Response, window: int = 900) -> None:
    assert response.status_code == 429, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["code"] == "rate_limited"
    assert 0 < int(response.headers["retry-after"]) <= window


async def login(client: Client, email: str, password: str) -> httpx.Response:
    return await client.post(LOGIN, json={"email": email, "password": password})


async def test_failed_logins_per_account_are_limited(make_client: MakeClient) -> None:
    client = await make_client(rate_limit_login_per_account=3, rate_limit_window_seconds=600)
    email = unique_email()
    await register(client, email)
    forget_device(client)  # from here on, the client is a device the account has never seen
    for _ in range(3):
        assert (await login(client, email, WRONG)).status_code == 401
    assert_rate_limited(await login(client, email, WRONG), window=600)
    # Locked: even the right password is refused until the window ends.
    assert_rate_limited(await login(client, email, PASSWORD), window=600)
    # The limit is the account's, whatever case or spacing the address is typed in.
    assert_rate_limited(await login(client, f"  {email.upper()} ", PASSWORD), window=600)
    # Another account from the same client is not locked.
    other = unique_email()
    await register(client, other)
    assert (await login(client, other, PASSWORD)).status_code == 200


async def test_a_successful_login_clears_the_accounts_failure_count(make_client: MakeClient) -> None:
    client = await make_client(rate_limit_login_per_account=3)
    email = unique_email()
    await register(client, email)
    forget_device(client)
    for _ in range(2):
        assert (await login(client, email, WRONG)).status_code == 401
    assert (await login(client, email, PASSWORD)).status_code == 200
    forget_device(client)
    # Counting starts again from zero: three more failures are allowed, the fourth is not.
    for _ in range(3):
        assert (await login(client, email, WRONG)).status_code == 401
    assert_rate_limited(await login(client, email, WRONG))


async def test_logins_per_ip_are_limited_across_accounts(make_client: MakeClient) -> None:
    client = await make_client(rate_limit_login_per_ip=3, rate_limit_login_per_account=100)
    email = unique_email()
    await register(client, email)
    for _ in range(3):
        assert (await login(client, unique_email("nobody"), WRONG)).status_code == 401
    assert_rate_limited(await login(client, unique_email("nobody"), WRONG))
    assert_rate_limited(await login(client, email, PASSWORD))


async def test_successful_logins_do_not_use_up_the_ip_limit(make_client: MakeClient) -> None:
    client = await make_client(rate_limit_login_per_ip=2)
    email = unique_email()
    await register(client, email)
    for _ in range(4):
        assert (await login(client, email, PASSWORD)).status_code == 200


async def test_a_failure_after_its_window_ended_starts_a_new_window(redis: Redis, run_namespace: str) -> None:
    """Should the window end while an attempt is in flight, its failure starts the next window, with an expiry:
    a counter without one would never be reset, and the address would count towards its limit forever."""
    namespace = f"{run_namespace}:{secrets.token_hex(4)}"
    limiter = RedisRateLimiter(redis, namespace, b"a test secret")
    check = (Limit("login_ip", 2, 600), "192.0.2.7")
    attempt = await limiter.begin_attempt(check)
    await limiter.end_attempt(attempt, Outcome.FAILURE, check)
    [counter] = [
        key async for key in redis.scan_iter(match=f"{namespace}:ratelimit:login_ip:*") if b"flight" not in key
    ]
    attempt = await limiter.begin_attempt(check)
    await redis.delete(counter)  # the window ends, as it would by expiry

    await limiter.end_attempt(attempt, Outcome.FAILURE, check)

    assert await redis.get(counter) == b"1"
    assert 0 < await redis.ttl(counter) <= 600
    attempt = await limiter.begin_attempt(check)
    await limiter.end_attempt(attempt, Outcome.FAILURE, check)
    with pytest.raises(RateLimited):
        await limiter.begin_attempt(check)


async def test_the_failure_that_reaches_a_limit_is_told_once(redis: Redis, run_namespace: str) -> None:
    """`end_attempt` names the checks whose limit a failure reached (a lock begins), once per window, also when the
    failures end together."""
    limiter = RedisRateLimiter(redis, f"{run_namespace}:{secrets.token_hex(4)}", b"a test secret")
    account, ip = (Limit("login_account", 3, 600), "user:1:1"), (Limit("login_ip", 100, 600), "192.0.2.8")
    attempt = await limiter.begin_attempt(account, ip)
    assert await limiter.end_attempt(attempt, Outcome.SUCCESS, account, ip) == ()
    attempts = await asyncio.gather(*(limiter.begin_attempt(account, ip) for _ in range(3)))
    ended = await asyncio.gather(*(limiter.end_attempt(a, Outcome.FAILURE, account, ip) for a in attempts))
    assert sorted(ended, key=len) == [(), (), (account,)]
    with pytest.raises(RateLimited):
        await limiter.begin_attempt(account, ip)
    other = (Limit("login_account", 3, 600), "user:2:1")
    for _ in range(2):
        attempt = await limiter.begin_attempt(other)
        assert await limiter.end_attempt(attempt, Outcome.FAILURE, other) == ()
    attempt = await limiter.begin_attempt(other)
    assert await limiter.end_attempt(attempt, Outcome.ABANDONED, other) == ()  # an outage counts as nothing


async def test_registrations_per_ip_are_limited(make_client: MakeClient) -> None:
    client = await make_client(rate_limit_register_per_ip=2)
    await register(client)
    await register(client)
    response = await client.post("/api/auth/register", json={"email": unique_email(), "password": PASSWORD})
    assert_rate_limited(response)


async def test_forgot_password_per_ip_is_limited(make_client: MakeClient) -> None:
    client = await make_client(rate_limit_forgot_per_ip=2, rate_limit_forgot_per_email=100)
    for _ in range(2):
        assert (await client.post(FORGOT, json={"email": unique_email()})).status_code == 202
    assert_rate_limited(await client.post(FORGOT, json={"email": unique_email()}))


async def test_forgot_password_per_email_is_limited(make_client: MakeClient) -> None:
    client = await make_client(rate_limit_forgot_per_email=2, rate_limit_forgot_per_ip=100)
    email = unique_email()
    await register(client, email)
    assert (await client.post(FORGOT, json={"email": email})).status_code == 202
    assert (await client.post(FORGOT, json={"email": email.upper()})).status_code == 202
    # No mail bombing: a third request for the same address, however spelled, is refused.
    assert_rate_limited(await client.post(FORGOT, json={"email": f" {email} "}))
    # Another address is unaffected.
    assert (await client.post(FORGOT, json={"email": unique_email()})).status_code == 202


async def test_a_locked_account_can_still_reset_its_password(
    make_client: MakeClient, settings: Settings, db: AsyncEngine
) -> None:
    client = await make_client(settings)
    email = unique_email()
    user = await register(client, email)
    forget_device(client)
    for _ in range(settings.rate_limit_login_per_account):
        assert (await login(client, email, WRONG)).status_code == 401
    assert_rate_limited(await login(client, email, PASSWORD))

    assert (await client.post(FORGOT, json={"email": email})).status_code == 202
    # The emailed token is issued after the response, replacing the user's other tokens: wait for it, so that
    # the known token arranged below is not replaced. (It is stored as HMAC(secret, token).)
    for _ in range(500):
        async with db.connect() as connection:
            query = text("SELECT count(*) FROM password_reset_tokens WHERE user_id = :u")
            if await connection.scalar(query, {"u": user["id"]}):
                break
        await asyncio.sleep(0.01)
    else:
        raise AssertionError("no reset token was issued for the locked account")
    token = secrets.token_urlsafe(32)
    token_hash = hmac.new(derive_keys(settings.session_secret).reset_token, token.encode(), hashlib.sha256).hexdigest()
    async with db.begin() as connection:
        await connection.execute(
            text("INSERT INTO password_reset_tokens (user_id, token_hash, expires_at) VALUES (:u, :h, :e)"),
            {"u": user["id"], "h": token_hash, "e": datetime.now(UTC) + timedelta(hours=1)},
        )
    new_password = "a brand new passphrase"
    response = await client.post("/api/auth/reset-password", json={"token": token, "password": new_password})
    assert response.status_code == 204, response.text
    # The reset clears the failure count: the new password works at once.
    assert (await login(client, email, new_password)).status_code == 200


def _connection_owners(server_port: int, workers: list[int]) -> dict[int, int]:
    """Client port -> the worker process holding that connection's server end (from /proc)."""
    owner_of_inode = {}
    for pid in workers:
        for fd in Path(f"/proc/{pid}/fd").iterdir():
            with contextlib.suppress(OSError):
                target = os.readlink(fd)
                if target.startswith("socket:["):
                    owner_of_inode[target[8:-1]] = pid
    owners = {}
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        fields = line.split()
        local_port, remote_port = (int(address.split(":")[1], 16) for address in fields[1:3])
        established = fields[3] == "01"
        if established and local_port == server_port and fields[9] in owner_of_inode:
            owners[remote_port] = owner_of_inode[fields[9]]
    return owners


def _client_port(response: httpx.Response) -> int:
    return int(response.extensions["network_stream"].get_extra_info("client_addr")[1])


def test_the_login_limit_holds_across_two_worker_processes(make_settings: Callable[..., Settings]) -> None:
    limit = 4
    settings = make_settings(rate_limit_login_per_account=limit, rate_limit_login_per_ip=1000)
    email = unique_email()
    with live_server(settings, workers=2) as server, contextlib.ExitStack() as stack:
        workers = worker_processes(server.process.pid)
        assert len(workers) == 2, workers
        # Open keep-alive connections at once, so that both workers accept some; find which worker holds each.
        https = [stack.enter_context(httpx.Client(base_url=server.url, timeout=10)) for _ in range(16)]
        with ThreadPoolExecutor(max_workers=len(https)) as pool:
            ports = list(pool.map(lambda http: _client_port(http.get("/health")), https))
        owners = _connection_owners(urlsplit(server.url).port or 0, workers)
        by_worker = {owners[port]: (http, port) for http, port in zip(https, ports, strict=True)}
        assert set(by_worker) == set(workers), "one worker accepted every connection"

        # Failed logins for one account, alternating between the two workers.
        statuses = []
        for attempt in range(2 * limit + 2):
            http, port = by_worker[workers[attempt % 2]]
            response = http.post(LOGIN, json={"email": email, "password": WRONG})
            assert _client_port(response) == port  # still the same connection, so the same worker
            statuses.append(response.status_code)

    # Counted per process, each worker would let `limit` attempts through: 2 x limit 401s.
    assert statuses == [401] * limit + [429] * (limit + 2), statuses
