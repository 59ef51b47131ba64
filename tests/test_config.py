"""Settings are validated once; production refuses to start without a real session secret."""

from __future__ import annotations

import subprocess
import sys

import pytest

from pet_auth.config import EXAMPLE_SESSION_SECRET, SettingsError, load_settings

STRONG_SECRET = "s" * 48


@pytest.mark.parametrize("secret", [None, EXAMPLE_SESSION_SECRET, "too-short-31-bytes-secret-value"])
def test_production_refuses_a_missing_example_or_short_secret(secret: str | None) -> None:
    environ = {"APP_ENV": "production"}
    if secret is not None:
        environ["SESSION_SECRET"] = secret
    with pytest.raises(SettingsError, match="SESSION_SECRET"):
        load_settings(environ, env_file=None)


def test_production_accepts_a_strong_secret_and_hardens_the_cookie() -> None:
    settings = load_settings({"APP_ENV": "production", "SESSION_SECRET": STRONG_SECRET}, env_file=None)
    assert settings.session_cookie_name.startswith("__Host-")


def test_server_exits_with_one_clear_line_when_misconfigured() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "pet_auth", "serve"],
        env={"APP_ENV": "production", "PATH": "/usr/bin:/bin"},
        cwd="/",
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert result.returncode != 0
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1
    assert "SESSION_SECRET" in lines[0]


def test_plain_postgres_url_uses_asyncpg() -> None:
    settings = load_settings({"DATABASE_URL": "postgresql://u:p@db:5432/pets"}, env_file=None)
    assert settings.async_database_url == "postgresql+asyncpg://u:p@db:5432/pets"


def test_defaults_and_parsing() -> None:
    settings = load_settings({"PORT": "8080", "CORS_ORIGINS": "http://a.test, http://b.test/"}, env_file=None)
    assert settings.port == 8080
    assert settings.cors_origins == ("http://a.test", "http://b.test")
    assert load_settings({}, env_file=None).cors_origins == ("http://localhost:5173",)


@pytest.mark.parametrize(
    ("name", "value"), [("PORT", "abc"), ("CORS_ORIGINS", "*"), ("SESSION_IDLE_TIMEOUT", "0"), ("APP_ENV", "staging")]
)
def test_invalid_values_are_refused(name: str, value: str) -> None:
    with pytest.raises(SettingsError):
        load_settings({name: value}, env_file=None)


def test_sentinel_settings_are_a_list_of_addresses_and_wait_for_a_replica() -> None:
    settings = load_settings({"REDIS_SENTINELS": "10.0.0.1:26379, sentinel-2:26379,[::1]:26379"}, env_file=None)
    assert settings.redis_sentinels == ("10.0.0.1:26379", "sentinel-2:26379", "[::1]:26379")
    assert settings.wait_replicas == 1
    assert load_settings({}, env_file=None).wait_replicas == 0
    assert load_settings({"REDIS_SENTINELS": "a:1", "REDIS_WAIT_REPLICAS": "0"}, env_file=None).wait_replicas == 0


@pytest.mark.parametrize(
    ("environ", "named"),
    [
        ({"REDIS_SENTINELS": "sentinel-without-port"}, "REDIS_SENTINELS"),
        ({"REDIS_SENTINELS": "a:1", "REDIS_CLUSTER": "true"}, "REDIS_CLUSTER"),
        ({"REDIS_WAIT_REPLICAS": "-1"}, "REDIS_WAIT_REPLICAS"),
        ({"REDIS_WAIT_TIMEOUT_MS": "0"}, "REDIS_WAIT_TIMEOUT_MS"),
    ],
)
def test_bad_redis_topology_settings_are_refused(environ: dict[str, str], named: str) -> None:
    with pytest.raises(SettingsError, match=named):
        load_settings(environ, env_file=None)


def test_migrations_default_to_the_database_url() -> None:
    pooled = "postgresql://app@pgbouncer:6432/pet_auth"
    assert load_settings({"DATABASE_URL": pooled}, env_file=None).async_migration_database_url == (
        "postgresql+asyncpg://app@pgbouncer:6432/pet_auth"
    )
    direct = "postgres://app@db:5432/pet_auth"
    settings = load_settings({"DATABASE_URL": pooled, "MIGRATION_DATABASE_URL": direct}, env_file=None)
    assert settings.async_migration_database_url == "postgresql+asyncpg://app@db:5432/pet_auth"
    assert settings.async_database_url == "postgresql+asyncpg://app@pgbouncer:6432/pet_auth"
