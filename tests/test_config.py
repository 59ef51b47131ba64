"""Settings are validated once; production is the default, and refuses to start with development-only settings."""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from pet_auth.config import EXAMPLE_SESSION_SECRET, SettingsError, load_settings

ROOT = Path(__file__).resolve().parent.parent
STRONG_SECRET = "s" * 48
DEVELOPMENT_ENV_FILE = f"APP_ENV=development\nSESSION_SECRET={EXAMPLE_SESSION_SECRET}\nPORT=4321\n"


@pytest.mark.parametrize("secret", [None, EXAMPLE_SESSION_SECRET, "too-short-31-bytes-secret-value"])
def test_production_refuses_a_missing_example_or_short_secret(secret: str | None) -> None:
    environ = {"APP_ENV": "production"}
    if secret is not None:
        environ["SESSION_SECRET"] = secret
    with pytest.raises(SettingsError, match="SESSION_SECRET"):
        load_settings(environ, env_file=None)


# Outside production, where the example SESSION_SECRET is refused first.
TEST = {"APP_ENV": "test"}


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
    settings = load_settings({"APP_ENV": "test", "DATABASE_URL": "postgresql://u:p@db:5432/pets"}, env_file=None)
    assert settings.async_database_url == "postgresql+asyncpg://u:p@db:5432/pets"


def test_defaults_and_parsing() -> None:
    environ = {"APP_ENV": "test", "PORT": "8080", "CORS_ORIGINS": "http://a.test, http://b.test/"}
    settings = load_settings(environ, env_file=None)
    assert settings.port == 8080
    assert settings.cors_origins == ("http://a.test", "http://b.test")
    assert load_settings({"APP_ENV": "test"}, env_file=None).cors_origins == ("http://localhost:5173",)


@pytest.mark.parametrize(
    ("name", "value"),
    [("PORT", "abc"), ("CORS_ORIGINS", "*"), ("SESSION_IDLE_TIMEOUT", "0"), ("APP_ENV", "staging")],
)
def test_invalid_values_are_refused(name: str, value: str) -> None:
    with pytest.raises(SettingsError, match=name):
        load_settings({"APP_ENV": "test", name: value}, env_file=None)


def test_production_is_the_default() -> None:
    settings = load_settings({"SESSION_SECRET": STRONG_SECRET}, env_file=None)
    assert settings.is_production
    assert settings.session_cookie_name.startswith("__Host-")
    assert not settings.serves_openapi


def test_env_file_is_read_only_when_the_environment_says_development(tmp_path: Path) -> None:
    env_file = tmp_path / ".env"
    env_file.write_text(DEVELOPMENT_ENV_FILE)
    # The file's own APP_ENV=development does not count: this is production, and the example secret is refused.
    with pytest.raises(SettingsError, match="SESSION_SECRET"):
        load_settings({}, env_file=env_file)
    assert load_settings({"SESSION_SECRET": STRONG_SECRET}, env_file=env_file).port == 3000
    assert load_settings({"APP_ENV": "development"}, env_file=env_file).port == 4321


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("CORS_ORIGINS", "http://app.example.com"),
        ("CORS_ORIGINS", "https://app.example.com,http://admin.example.com"),
        ("CORS_ORIGINS", "http://localhost.example.com"),
        ("FRONTEND_URL", "http://app.example.com"),
        ("FRONTEND_URL", "ftp://app.example.com"),
        ("FRONTEND_URL", "http://[::1"),
    ],
)
def test_production_refuses_plain_http_origins_and_links(name: str, value: str) -> None:
    with pytest.raises(SettingsError, match=f"^{name} must .* https") as caught:
        load_settings({"SESSION_SECRET": STRONG_SECRET, name: value}, env_file=None)
    assert "\n" not in str(caught.value)


@pytest.mark.parametrize(
    "origin", ["https://app.example.com", "http://localhost:5173", "http://127.0.0.1:5173", "http://[::1]:5173"]
)
def test_production_accepts_https_and_localhost(origin: str) -> None:
    environ = {"SESSION_SECRET": STRONG_SECRET, "CORS_ORIGINS": origin, "FRONTEND_URL": origin}
    assert load_settings(environ, env_file=None).is_production


@pytest.mark.parametrize(
    ("value", "development", "production"), [(None, True, False), ("true", True, True), ("false", False, False)]
)
def test_openapi_pages_are_off_in_production_unless_enabled(
    value: str | None, development: bool, production: bool
) -> None:
    extra = {} if value is None else {"OPENAPI_ENABLED": value}
    assert load_settings({"APP_ENV": "development", **extra}, env_file=None).serves_openapi is development
    assert load_settings({"SESSION_SECRET": STRONG_SECRET, **extra}, env_file=None).serves_openapi is production


def _refusal(command: list[str], cwd: Path, environ: dict[str, str] | None = None) -> list[str]:
    """Runs a command that must refuse to start (with no APP_ENV unless given); the lines of its stderr. A
    PYTHONPATH is kept: it names the code under test (a checkout's src ahead of the installed one)."""
    path = {"PYTHONPATH": os.environ["PYTHONPATH"]} if "PYTHONPATH" in os.environ else {}
    result = subprocess.run(
        command,
        env={"PATH": "/usr/bin:/bin", **path, **(environ or {})},
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode != 0
    return result.stderr.strip().splitlines()


def test_make_start_without_app_env_is_production_and_refuses_the_example_secret() -> None:
    # -o: do not rebuild the virtual environment from here, whatever its stamp's age.
    lines = _refusal(["make", "--no-print-directory", "-o", ".venv/.installed", "start"], ROOT)
    ours = [line for line in lines if line.startswith("pet_auth:")]  # make adds its own "Error 1" line
    assert len(ours) == 1
    assert "SESSION_SECRET" in ours[0]


def test_serve_without_app_env_ignores_a_development_env_file(tmp_path: Path) -> None:
    (tmp_path / ".env").write_text(DEVELOPMENT_ENV_FILE)
    lines = _refusal([sys.executable, "-m", "pet_auth", "serve"], tmp_path)
    assert len(lines) == 1
    assert "SESSION_SECRET" in lines[0]


def test_serve_refuses_a_plain_http_frontend_with_one_line(tmp_path: Path) -> None:
    environ = {"SESSION_SECRET": STRONG_SECRET, "FRONTEND_URL": "http://pets.example.com"}
    assert _refusal([sys.executable, "-m", "pet_auth", "serve"], tmp_path, environ) == [
        "pet_auth: FRONTEND_URL must be an https URL in production, not 'http://pets.example.com'"
    ]


def test_sentinel_settings_are_a_list_of_addresses_and_wait_for_a_replica() -> None:
    settings = load_settings({**TEST, "REDIS_SENTINELS": "10.0.0.1:26379, sentinel-2:26379,[::1]:26379"}, env_file=None)
    assert settings.redis_sentinels == ("10.0.0.1:26379", "sentinel-2:26379", "[::1]:26379")
    assert settings.wait_replicas == 1
    assert load_settings(TEST, env_file=None).wait_replicas == 0
    assert (
        load_settings({**TEST, "REDIS_SENTINELS": "a:1", "REDIS_WAIT_REPLICAS": "0"}, env_file=None).wait_replicas == 0
    )


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
        load_settings({**TEST, **environ}, env_file=None)


def test_migrations_default_to_the_database_url() -> None:
    pooled = "postgresql://app@pgbouncer:6432/pet_auth"
    assert load_settings({**TEST, "DATABASE_URL": pooled}, env_file=None).async_migration_database_url == (
        "postgresql+asyncpg://app@pgbouncer:6432/pet_auth"
    )
    direct = "postgres://app@db:5432/pet_auth"
    settings = load_settings({**TEST, "DATABASE_URL": pooled, "MIGRATION_DATABASE_URL": direct}, env_file=None)
    assert settings.async_migration_database_url == "postgresql+asyncpg://app@db:5432/pet_auth"
    assert settings.async_database_url == "postgresql+asyncpg://app@pgbouncer:6432/pet_auth"


OPEN_METRICS = "METRICS_TOKEN must be set in production when METRICS_ENABLED=true"


def test_production_refuses_metrics_open_to_anyone() -> None:
    with pytest.raises(SettingsError, match=f"^{OPEN_METRICS}") as caught:
        load_settings({"SESSION_SECRET": STRONG_SECRET, "METRICS_ENABLED": "true"}, env_file=None)
    assert "\n" not in str(caught.value)
    assert "METRICS_BIND" in str(caught.value)  # the other way out
    # Allowed: behind a token, on an internal address, off, or outside production.
    for extra in ({"METRICS_TOKEN": "t" * 32}, {"METRICS_BIND": "127.0.0.1:9464"}, {"METRICS_ENABLED": "false"}):
        settings = load_settings({"SESSION_SECRET": STRONG_SECRET, "METRICS_ENABLED": "true", **extra}, env_file=None)
        assert settings.is_production
    assert load_settings({**TEST, "METRICS_ENABLED": "true"}, env_file=None).metrics_enabled


def test_serve_refuses_metrics_open_to_anyone_with_one_line(tmp_path: Path) -> None:
    environ = {"SESSION_SECRET": STRONG_SECRET, "METRICS_ENABLED": "true"}
    lines = _refusal([sys.executable, "-m", "pet_auth", "serve"], tmp_path, environ)
    assert len(lines) == 1
    assert lines[0].startswith(f"pet_auth: {OPEN_METRICS}")


@pytest.mark.parametrize(
    ("value", "address"),
    [
        ("9464", ("127.0.0.1", 9464)),
        ("127.0.0.1:9464", ("127.0.0.1", 9464)),
        ("0.0.0.0:9464", ("0.0.0.0", 9464)),  # noqa: S104 - a value parsed, nothing bound
        ("metrics.internal:9464", ("metrics.internal", 9464)),
        ("[::1]:9464", ("::1", 9464)),
    ],
)
def test_metrics_bind_is_a_host_and_port(value: str, address: tuple[str, int]) -> None:
    assert load_settings({**TEST, "METRICS_BIND": value}, env_file=None).metrics_address == address
    assert load_settings(TEST, env_file=None).metrics_address is None


@pytest.mark.parametrize(
    "value", ["metrics", ":9464", "localhost:", "localhost:0", "localhost:65536", "::1:9464", "http://localhost:9464"]
)
def test_a_bad_metrics_bind_is_refused(value: str) -> None:
    refusal = f"METRICS_BIND must be host:port or a port, not {value!r}"
    with pytest.raises(SettingsError, match=f"^{re.escape(refusal)}$"):
        load_settings({**TEST, "METRICS_BIND": value}, env_file=None)


def test_metrics_bind_is_not_the_app_port() -> None:
    with pytest.raises(SettingsError, match=r"^METRICS_BIND must name another port"):
        load_settings({**TEST, "PORT": "9464", "METRICS_BIND": "127.0.0.1:9464"}, env_file=None)


def test_serve_reports_a_metrics_bind_it_cannot_listen_on_with_one_line(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        bind = f"127.0.0.1:{taken.getsockname()[1]}"
        environ = {"SESSION_SECRET": STRONG_SECRET, "METRICS_ENABLED": "true", "METRICS_BIND": bind}
        lines = _refusal([sys.executable, "-m", "pet_auth", "serve"], tmp_path, environ)
    assert lines == [f"pet_auth: METRICS_BIND {bind} cannot be listened on: Address already in use"]


# --- passkeys (WebAuthn): the relying party ---------------------------------------------------------------------


def test_the_relying_party_defaults_to_the_frontend() -> None:
    settings = load_settings({**TEST, "FRONTEND_URL": "https://pets.example.com/app/"}, env_file=None)
    assert settings.relying_party_id == "pets.example.com"
    assert settings.relying_party_origins == ("https://pets.example.com",)
    assert settings.webauthn_rp_name == "Pet Manager"
    assert settings.webauthn_challenge_ttl == 300
    development = load_settings({**TEST}, env_file=None)
    assert (development.relying_party_id, development.relying_party_origins) == (
        "localhost",
        ("http://localhost:5173",),
    )


def test_production_accepts_a_parent_domain_for_several_origins() -> None:
    environ = {
        "SESSION_SECRET": STRONG_SECRET,
        "FRONTEND_URL": "https://app.example.com",
        "CORS_ORIGINS": "https://app.example.com",
        "WEBAUTHN_RP_ID": "example.com",
        "WEBAUTHN_ORIGINS": "https://app.example.com, https://example.com/",
        "WEBAUTHN_RP_NAME": "Pets",
    }
    settings = load_settings(environ, env_file=None)
    assert settings.relying_party_id == "example.com"
    assert settings.relying_party_origins == ("https://app.example.com", "https://example.com")


@pytest.mark.parametrize(
    ("rp_id", "origins", "named"),
    [
        ("example.com", "https://app.example.org", "WEBAUTHN_RP_ID"),  # not a suffix of the host
        ("example.com", "https://badexample.com", "WEBAUTHN_RP_ID"),  # a suffix, but not after a dot
        ("app.example.com", "https://example.com", "WEBAUTHN_RP_ID"),  # longer than the host
        ("com", "https://app.example.com", "WEBAUTHN_RP_ID"),  # a bare public suffix
        ("example.com", "http://app.example.com", "WEBAUTHN_ORIGINS"),  # not https
        ("example.com", "https://app.example.com/login", "WEBAUTHN_ORIGINS"),  # not an origin
        ("example.com", "app.example.com", "WEBAUTHN_ORIGINS"),
    ],
)
def test_production_refuses_a_relying_party_that_cannot_work(rp_id: str, origins: str, named: str) -> None:
    environ = {
        "SESSION_SECRET": STRONG_SECRET,
        "FRONTEND_URL": "https://app.example.com",
        "CORS_ORIGINS": "https://app.example.com",
        "WEBAUTHN_RP_ID": rp_id,
        "WEBAUTHN_ORIGINS": origins,
    }
    with pytest.raises(SettingsError, match=f"^{named} ") as caught:
        load_settings(environ, env_file=None)
    assert "\n" not in str(caught.value)


def test_development_allows_http_origins_but_not_a_mismatched_rp_id() -> None:
    environ = {**TEST, "WEBAUTHN_ORIGINS": "http://pets.test:8080", "WEBAUTHN_RP_ID": "pets.test"}
    settings = load_settings(environ, env_file=None)
    assert settings.relying_party_origins == ("http://pets.test:8080",)
    with pytest.raises(SettingsError, match=r"^WEBAUTHN_RP_ID"):
        load_settings({**TEST, "WEBAUTHN_RP_ID": "example.com"}, env_file=None)
