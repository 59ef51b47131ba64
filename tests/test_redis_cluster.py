"""The service on a 3-node Redis Cluster (`redis-cli --cluster create`): every flow, the scripts' keys in one slot,
concurrent reads still batched, sign-in limits split per subject without leaking places."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

import pytest
from redis.asyncio import RedisCluster

from pet_auth.domain.errors import RateLimited
from pet_auth.domain.ports import Limit, Outcome
from pet_auth.redis_store.batch import ReadBatcher
from pet_auth.redis_store.ratelimit import RedisRateLimiter
from tests.support.clients import PASSWORD, MakeClient, forget_device, register, unique_email
from tests.support.recovery import NEW_PASSWORD, request_token, reset
from tests.support.smtp import MailSink, running_sink
from tests.support.topologies import Cluster, redis_cluster

ME = "/api/auth/me"
LOGIN = "/api/auth/login"


@pytest.fixture(scope="module")
def cluster() -> Iterator[Cluster]:
    with redis_cluster() as started:
        yield started


@pytest.fixture
async def cluster_client(cluster: Cluster) -> AsyncIterator[RedisCluster]:
    client = RedisCluster.from_url(cluster.url)
    await client.initialize()
    yield client
    await client.aclose()


@pytest.fixture
def smtp() -> Iterator[MailSink]:
    with running_sink() as sink:
        yield sink


async def test_every_flow_works_on_a_cluster(
    make_client: MakeClient,
    make_settings: Callable[..., Any],
    cluster: Cluster,
    cluster_client: RedisCluster,
    smtp: MailSink,
) -> None:
    settings = make_settings(redis_url=cluster.url, redis_cluster=True, rate_limit_login_per_account=3, **smtp.settings)
    laptop, phone = await make_client(settings), await make_client(settings)
    email = unique_email()
    user = await register(laptop, email)
    assert (await laptop.get(ME)).json()["user"]["id"] == user["id"]

    # A second session, listed and revoked from the first.
    assert (await phone.post(LOGIN, json={"email": email, "password": PASSWORD})).status_code == 200
    sessions = (await laptop.get("/api/auth/sessions")).json()["sessions"]
    assert len(sessions) == 2
    other = next(s for s in sessions if not s["current"])
    assert (await laptop.delete(f"/api/auth/sessions/{other['id']}")).status_code == 204
    assert (await phone.get(ME)).status_code == 401
    assert (await phone.post(LOGIN, json={"email": email, "password": PASSWORD})).status_code == 200
    assert (await laptop.post("/api/auth/sessions/revoke-others")).status_code == 204
    assert (await phone.get(ME)).status_code == 401

    # Signing in over another user's session ends it (two users' keys: two slots).
    someone = await register(phone, unique_email("someone"))
    someone_cookie = dict(phone.cookies)
    assert (await phone.post(LOGIN, json={"email": email, "password": PASSWORD})).status_code == 200
    assert (await phone.get(ME)).json()["user"]["id"] == user["id"]
    phone.cookies.clear()
    phone.cookies.update(someone_cookie)
    assert (await phone.get(ME)).status_code == 401, f"user {someone['id']}'s replaced session still works"

    # Change the password: this session carries on, the others end.
    assert (await phone.post(LOGIN, json={"email": email, "password": PASSWORD})).status_code == 200
    changed = await laptop.post(
        "/api/auth/change-password", json={"currentPassword": PASSWORD, "newPassword": NEW_PASSWORD}
    )
    assert changed.status_code == 204, changed.text
    assert (await laptop.get(ME)).status_code == 200
    assert (await phone.get(ME)).status_code == 401

    # Forgot and reset: every session ends, the new password works.
    token = await request_token(phone, smtp, email)
    assert (await reset(phone, token, PASSWORD)).status_code == 204
    assert (await laptop.get(ME)).status_code == 401
    assert (await laptop.post(LOGIN, json={"email": email, "password": PASSWORD})).status_code == 200
    assert (await laptop.post("/api/auth/logout")).status_code == 204
    assert (await laptop.get(ME)).status_code == 401

    # Failed sign-ins are limited, then refused.
    forget_device(phone)
    statuses = [
        (await phone.post(LOGIN, json={"email": email, "password": "wrong password!!"})).status_code for _ in range(4)
    ]
    assert statuses == [401, 401, 401, 429]

    # The keys are spread over the nodes, each user's in one slot under its hash tag.
    keys = [key async for key in cluster_client.scan_iter(match=f"{settings.redis_namespace}:*")]
    assert f"{settings.redis_namespace}:session:{{{user['id']}}}".encode() in keys
    assert len({cluster_client.keyslot(key) for key in keys}) > 1


async def test_concurrent_reads_go_out_as_one_cluster_pipeline(cluster_client: RedisCluster) -> None:
    keys = [f"pet_auth_test_cluster:batch:{i}" for i in range(40)]  # no hash tag: spread over the nodes
    for i, key in enumerate(keys):
        await cluster_client.set(key, f"value-{i}", ex=10)
    assert len({cluster_client.get_node_from_key(key).name for key in keys}) == 3  # type: ignore[union-attr]
    batcher = ReadBatcher(cluster_client, timeout=2)
    pipelines = 0
    original = RedisCluster.pipeline

    def counting(self: RedisCluster, *args: Any, **kwargs: Any) -> Any:
        nonlocal pipelines
        pipelines += 1
        return original(self, *args, **kwargs)

    RedisCluster.pipeline = counting  # type: ignore[method-assign]
    try:
        values = await asyncio.gather(*(batcher.read("GET", key) for key in keys))
    finally:
        RedisCluster.pipeline = original  # type: ignore[method-assign]
    assert values == [f"value-{i}".encode() for i in range(len(keys))]
    assert pipelines == 1


@pytest.mark.parametrize("refused", [0, 1])
async def test_a_refused_subject_gives_back_the_places_taken_before_it(
    cluster_client: RedisCluster, refused: int
) -> None:
    """Subjects are reserved one by one on a cluster: when one refuses, none keeps a place."""
    limiter = RedisRateLimiter(cluster_client, f"pet_auth_test_cluster:{refused}", b"secret" * 8)
    account, address = Limit("account", 1, 60), Limit("address", 1, 60)
    checks = [(account, "user:1:1"), (address, "203.0.113.9")]
    # One failure fills the refused subject's budget.
    attempt = await limiter.begin_attempt(checks[refused])
    await limiter.end_attempt(attempt, Outcome.FAILURE, checks[refused])
    with pytest.raises(RateLimited):
        await limiter.begin_attempt(*checks)
    other = checks[1 - refused]
    assert await cluster_client.zcard(f"{limiter._key(*other)}:in-flight") == 0
    # The other subject is free: an attempt under it alone still gets its place.
    await limiter.end_attempt(await limiter.begin_attempt(other), Outcome.SUCCESS, other)


async def test_a_revocation_waits_on_the_node_that_holds_the_users_key(
    make_client: MakeClient, make_settings: Callable[..., Any], cluster: Cluster, cluster_client: RedisCluster
) -> None:
    """These masters have no replica: the WAIT, sent with the script to the user's node, times out, and the
    sign-out still goes through."""
    settings = make_settings(
        redis_url=cluster.url, redis_cluster=True, redis_wait_replicas=1, redis_wait_timeout_ms=100
    )
    client = await make_client(settings)
    user = await register(client)
    key = f"{settings.redis_namespace}:session:{{{user['id']}}}"
    node = cluster_client.get_node_from_key(key)
    assert node is not None
    waits = await cluster_client.info("commandstats", target_nodes=node)
    before = waits.get("cmdstat_wait", {}).get("calls", 0)
    assert (await client.post("/api/auth/logout")).status_code == 204
    assert (await client.get(ME)).status_code == 401
    assert sorted(await cluster_client.hkeys(key)) == [b"p", b"v"]  # the versions alone
    waits = await cluster_client.info("commandstats", target_nodes=node)
    assert waits["cmdstat_wait"]["calls"] == before + 1
