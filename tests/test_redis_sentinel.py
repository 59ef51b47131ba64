"""The service on a Sentinel-watched master with one replica: revocations wait for the replica, and a failover
(the master killed under traffic) costs some 503s, never a 500, and nothing signed in or out before it."""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest

from tests.support.clients import PASSWORD, MakeClient, register, unique_email
from tests.support.live_server import live_server
from tests.support.logs import captured
from tests.support.topologies import SentinelSet, redis_cli, redis_sentinel

ME = "/api/auth/me"
LOGIN = "/api/auth/login"
NEW_PASSWORD = "a brand new passphrase, 2nd edition"
# Sentinel's own timers (a second to call the master down, then an election) come on top.
BACK_WITHIN_SECONDS = 5.0


@pytest.fixture
def sentinel() -> Iterator[SentinelSet]:
    with redis_sentinel() as started:
        yield started


def waits_on(port: int) -> int:
    """How many WAIT commands the server at `port` has run."""
    stats = redis_cli(port, "INFO", "commandstats")
    line = next((line for line in stats.splitlines() if line.startswith("cmdstat_wait:")), "")
    return int(line.split("calls=")[1].split(",")[0]) if line else 0


async def test_revocations_wait_for_the_replica_and_go_through_without_it(
    make_client: MakeClient,
    make_settings: Callable[..., Any],
    sentinel: SentinelSet,
) -> None:
    settings = make_settings(redis_sentinels=sentinel.sentinels, redis_wait_timeout_ms=300)
    assert settings.wait_replicas == 1
    client = await make_client(settings)
    user = await register(client)
    before = waits_on(sentinel.master_port)
    assert (await client.post("/api/auth/logout")).status_code == 204
    assert waits_on(sentinel.master_port) == before + 1
    # Acknowledged: the replica no longer holds the session.
    key = f"{settings.redis_namespace}:session:{{{user['id']}}}"
    assert sorted(redis_cli(sentinel.replica_port, "HKEYS", key).split()) == ["p", "v"]  # the versions alone

    # Every other revocation waits too: ending one session, all others, and a password change.
    other = await make_client(settings)
    for signed_in in (client, other, other):
        assert (await signed_in.post(LOGIN, json={"email": user["email"], "password": PASSWORD})).status_code == 200
    before = waits_on(sentinel.master_port)
    listed = (await client.get("/api/auth/sessions")).json()["sessions"]
    one = next(session["id"] for session in listed if not session["current"])
    assert (await client.delete(f"/api/auth/sessions/{one}")).status_code == 204
    assert (await client.post("/api/auth/sessions/revoke-others")).status_code == 204
    change = {"currentPassword": PASSWORD, "newPassword": NEW_PASSWORD}
    assert (await client.post("/api/auth/change-password", json=change)).status_code == 204
    assert waits_on(sentinel.master_port) == before + 3

    # With the replica gone, a sign-out still succeeds once the wait has timed out, and says so in the log.
    sentinel.processes.kill("replica")
    with captured("pet_auth.sessions") as records:
        started = time.monotonic()
        assert (await client.post("/api/auth/logout")).status_code == 204
    assert 0.3 <= time.monotonic() - started < 2
    assert any("acknowledged by 0 of 1 replicas" in record.getMessage() for record in records)


@pytest.mark.parametrize("master", ["killed", "handed over"])
async def test_a_failover_answers_200_or_503_and_keeps_sessions(
    make_settings: Callable[..., Any], sentinel: SentinelSet, master: str
) -> None:
    """Killed: connections fail until the sentinels agree on a new master. Handed over (SENTINEL FAILOVER): the
    old master turns replica under the service's feet, refusing writes (READONLY) and unblocking WAITs."""
    settings = make_settings(redis_sentinels=sentinel.sentinels, rate_limit_register_per_ip=100_000)
    with live_server(settings) as server:
        kept, ended = await _signed_in(server.url), await _signed_in(server.url)
        async with _as(server.url, ended) as client:
            assert (await client.post("/api/auth/logout")).status_code == 204
        statuses: Counter[int] = Counter()
        stop = asyncio.Event()

        async def traffic() -> None:
            while not stop.is_set():
                async with _as(server.url, kept) as reader:
                    statuses[(await reader.get(ME)).status_code] += 1
                async with httpx.AsyncClient(base_url=server.url, timeout=10) as newcomer:
                    body = {"email": unique_email("failover"), "password": PASSWORD}
                    statuses[(await newcomer.post("/api/auth/register", json=body)).status_code] += 1
                    statuses[(await newcomer.post("/api/auth/logout")).status_code] += 1

        workers = [asyncio.create_task(traffic()) for _ in range(4)]
        try:
            await asyncio.sleep(0.5)
            old_master = sentinel.master_address()
            if master == "killed":
                sentinel.kill_master()
            else:
                redis_cli(sentinel.sentinel_ports[0], "SENTINEL", "FAILOVER", sentinel.name)
            promoted_at = await _promotion(sentinel, old_master)
            back_at = await _first_success(server.url, kept)
            await asyncio.sleep(0.5)  # more traffic on the new master
        finally:
            stop.set()
            await asyncio.gather(*workers)

        assert back_at - promoted_at < BACK_WITHIN_SECONDS
        assert set(statuses) <= {200, 201, 204, 503}, statuses
        assert min(statuses[200], statuses[201], statuses[204]) > 0, statuses
        # What was signed in or out before the failover stays so on the promoted replica.
        async with _as(server.url, kept) as client:
            assert (await client.get(ME)).status_code == 200
        async with _as(server.url, ended) as client:
            assert (await client.get(ME)).status_code == 401


def _as(url: str, session: str) -> httpx.AsyncClient:
    return httpx.AsyncClient(base_url=url, timeout=10, cookies={"pet_auth_session": session})


async def _signed_in(url: str) -> str:
    async with httpx.AsyncClient(base_url=url, timeout=10) as client:
        response = await client.post("/api/auth/register", json={"email": unique_email(), "password": PASSWORD})
    assert response.status_code == 201, response.text
    return response.cookies["pet_auth_session"]


async def _promotion(sentinel: SentinelSet, old_master: str) -> float:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if await asyncio.to_thread(sentinel.master_address) != old_master:
            return time.monotonic()
        await asyncio.sleep(0.05)
    raise AssertionError("the sentinels promoted no replica")


async def _first_success(url: str, session: str) -> float:
    """When a read and a write both succeed again."""
    deadline = time.monotonic() + 30
    async with _as(url, session) as reader, httpx.AsyncClient(base_url=url, timeout=10) as newcomer:
        while time.monotonic() < deadline:
            if (await reader.get(ME)).status_code == 200:
                body = {"email": unique_email("after"), "password": PASSWORD}
                if (await newcomer.post("/api/auth/register", json=body)).status_code == 201:
                    return time.monotonic()
            await asyncio.sleep(0.05)
    raise AssertionError("the service did not come back after the failover")
