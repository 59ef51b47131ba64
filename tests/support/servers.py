"""Where the test suite finds PostgreSQL and Redis.

In order: TEST_DATABASE_URL / TEST_REDIS_URL when set; else testcontainers when a Docker engine answers;
else the servers at the default local addresses; else throwaway private servers in a temporary directory
(tools.devinfra), stopped at the end of the run. Each run then makes its own throwaway database and
Redis key prefix (see tests/conftest.py), so a developer's data is never touched.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass

from pet_auth.reachability import answers, redact
from tools.devinfra import InfraError, temporary_postgres, temporary_redis

LOCAL_POSTGRES = "postgresql://postgres@127.0.0.1:5432/postgres"
LOCAL_REDIS = "redis://127.0.0.1:6379/0"


@dataclass(frozen=True)
class Servers:
    postgres_url: str  # a maintenance database on the server; tests create their own beside it
    redis_url: str
    origin: str


def _docker_answers() -> bool:
    try:
        import docker

        docker.from_env(timeout=2).ping()
    except Exception:
        return False
    return True


@contextmanager
def _containers() -> Iterator[Servers]:
    from testcontainers.postgres import PostgresContainer
    from testcontainers.redis import RedisContainer

    with ExitStack() as stack:
        postgres = stack.enter_context(PostgresContainer("postgres:15-alpine", driver=None))
        redis = stack.enter_context(RedisContainer("redis:7-alpine"))
        redis_url = f"redis://{redis.get_container_host_ip()}:{redis.get_exposed_port(6379)}/0"
        yield Servers(postgres.get_connection_url(), redis_url, "testcontainers")


@contextmanager
def find_servers() -> Iterator[Servers]:
    postgres_url = os.environ.get("TEST_DATABASE_URL")
    redis_url = os.environ.get("TEST_REDIS_URL")
    if postgres_url and redis_url:
        yield Servers(postgres_url, redis_url, "TEST_DATABASE_URL/TEST_REDIS_URL")
        return
    if not (postgres_url or redis_url) and _docker_answers():
        with _containers() as servers:
            yield servers
        return
    for name, url in (("TEST_DATABASE_URL", postgres_url), ("TEST_REDIS_URL", redis_url)):
        if url and not answers(url):
            raise RuntimeError(f"nothing answers at {name}={redact(url)}: start that server or unset {name}")
    postgres_url = postgres_url or LOCAL_POSTGRES
    redis_url = redis_url or LOCAL_REDIS
    origin = "local servers"
    with ExitStack() as stack:
        try:
            if not answers(postgres_url):
                postgres_url, origin = stack.enter_context(temporary_postgres()), "private servers"
            if not answers(redis_url):
                redis_url, origin = stack.enter_context(temporary_redis()), "private servers"
        except InfraError as exc:
            raise RuntimeError(f"{exc}; or set TEST_DATABASE_URL/TEST_REDIS_URL, or run a Docker engine") from None
        yield Servers(postgres_url, redis_url, origin)
