"""The composition root's first half: `build_services(settings)` builds the domain services and the adapters they
work through (PostgreSQL, Redis, the notifier, the password hasher, the breach check...). No HTTP here: the Litestar
app is built from what this returns (http/app.py). Nothing connects: the engine and the Redis client connect
on first use, so the OpenAPI document and a server started during an outage need neither to answer."""

from __future__ import annotations

import os
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import timedelta

import httpx
from prometheus_client import CollectorRegistry

from pet_auth.background import BackgroundTasks
from pet_auth.config import Settings, decode_key
from pet_auth.db.database import Database, create_engine
from pet_auth.domain.account import AccountService
from pet_auth.domain.addresses import AddressService
from pet_auth.domain.audit import AuditLog
from pet_auth.domain.auth import AuthService
from pet_auth.domain.devices import DeviceTokens
from pet_auth.domain.email_links import EmailLinks
from pet_auth.domain.mfa import FAILED_CODES_NOTICED, MfaService
from pet_auth.domain.passkey_ceremonies import RelyingParty
from pet_auth.domain.passkeys import PasskeyService
from pet_auth.domain.password_reset import PasswordResetService
from pet_auth.domain.passwords import BreachCheck, PasswordHasher, PasswordPolicy
from pet_auth.domain.ports import Collaborators, Limit, Limits
from pet_auth.domain.secret_box import SecretBox
from pet_auth.domain.sudo import SudoMode
from pet_auth.keys import Keys, derive_keys, derive_mfa_keys
from pet_auth.mail import ConsoleMailer, Mailer, MailNotifier, SmtpMailer
from pet_auth.pwned import PwnedPasswords, create_client, miss_counter
from pet_auth.redis_store.challenges import ChallengeStore
from pet_auth.redis_store.client import TIMEOUT_SECONDS, AnyRedis, create_redis
from pet_auth.redis_store.pending import PendingSignInStore
from pet_auth.redis_store.ratelimit import RedisRateLimiter
from pet_auth.redis_store.sessions import SessionStore

HOUR = 3600
# Notices to an address an account left, per hour: a loop of address changes must not flood it.
EMAIL_CHANGED_NOTICES_PER_HOUR = 3

Pings = dict[str, Callable[[], Awaitable[object]]]


@dataclass(frozen=True, slots=True)
class Resources:
    """What the process holds open, closed once at shutdown."""

    db: Database
    redis: AnyRedis
    hasher: PasswordHasher
    background: BackgroundTasks
    breach_client: httpx.AsyncClient | None  # None when the breach check is off

    async def aclose(self) -> None:
        await self.background.drain()
        self.hasher.close()
        if self.breach_client is not None:
            await self.breach_client.aclose()
        await self.redis.aclose()
        await self.db.engine.dispose()


@dataclass(frozen=True, slots=True)
class Services:
    """What the HTTP layer serves with: the domain services, the session store behind the session cookie, the
    readiness pings and the metrics registry (None when metrics are off); `aclose()` at shutdown."""

    auth: AuthService
    password_reset: PasswordResetService
    account: AccountService
    addresses: AddressService
    mfa: MfaService
    sudo: SudoMode
    passkeys: PasskeyService
    sessions: SessionStore
    session_digest_key: bytes  # the session cookie's digest in Redis
    pings: Pings  # "postgresql", "redis": each answers or raises
    registry: CollectorRegistry | None
    resources: Resources

    async def aclose(self) -> None:
        await self.resources.aclose()


def build_services(settings: Settings) -> Services:
    """Every service and adapter of the process, from the settings; the shared ports go to each service as one
    `Collaborators`. Connects nothing."""
    keys = derive_keys(settings.session_secret)
    resources = open_resources(settings)
    sessions = session_store(settings, resources.redis, keys)
    audit = AuditLog(keys.audit)
    shared = Collaborators(
        db=resources.db,
        limiter=RedisRateLimiter(resources.redis, settings.redis_namespace, keys.rate_limit),
        limits=limits_from(settings),
        sessions=sessions,
        notifier=MailNotifier(create_mailer(settings, audit.email_hash)),
        spawn=resources.background.spawn,
        audit=audit,
    )
    registry = CollectorRegistry() if settings.metrics_enabled else None
    policy = password_policy(settings, resources.breach_client, registry)
    pending = PendingSignInStore(
        resources.redis,
        namespace=f"{settings.redis_namespace}:mfa-pending",
        key=keys.mfa_pending,
        ttl=settings.mfa_pending_ttl,
    )
    links = EmailLinks(
        notifier=shared.notifier,
        spawn=shared.spawn,
        secret=keys.email_link,
        frontend_url=settings.frontend_url,
        verify_ttl=settings.verify_token_ttl,
        change_ttl=settings.email_change_token_ttl,
    )
    hasher = resources.hasher
    auth = AuthService(
        shared,
        hasher=hasher,
        devices=DeviceTokens(keys.device_cookie),
        links=links,
        pending=pending,
        frontend_url=settings.frontend_url,
        policy=policy,
    )
    sudo = SudoMode(shared, auth=auth, window_seconds=settings.sudo_window)
    return Services(
        auth=auth,
        password_reset=password_reset_service(settings, shared, keys, hasher, policy),
        account=AccountService(
            shared, hasher=hasher, auth=auth, sudo=sudo, policy=policy, frontend_url=settings.frontend_url
        ),
        addresses=AddressService(shared, auth=auth, sudo=sudo, links=links, frontend_url=settings.frontend_url),
        mfa=mfa_service(settings, shared, auth, sudo, pending),
        sudo=sudo,
        passkeys=passkey_service(settings, shared, auth, sudo, resources.redis, keys),
        sessions=sessions,
        session_digest_key=keys.session_digest,
        pings={"postgresql": resources.db.ping, "redis": resources.redis.ping},
        registry=registry,
        resources=resources,
    )


def open_resources(settings: Settings) -> Resources:
    """The engine, the Redis client, the hasher's threads, the background tasks and the breach check's HTTP client:
    made here, connected on first use."""
    return Resources(
        db=Database(
            create_engine(settings.async_database_url, transaction_pooler=settings.database_transaction_pooler)
        ),
        redis=create_redis(settings),
        # The worker processes share the cores: together they get one hash thread per core, not one each.
        hasher=PasswordHasher(threads=max(1, (os.cpu_count() or 1) // settings.web_concurrency)),
        background=BackgroundTasks(),
        # One HTTP client for every breach check of the process; none when the check is off (nothing is ever asked).
        breach_client=None if settings.breach_check == "off" else create_client(),
    )


def session_store(settings: Settings, redis: AnyRedis, keys: Keys) -> SessionStore:
    return SessionStore(
        redis,
        namespace=f"{settings.redis_namespace}:session",
        idle_timeout=settings.session_idle_timeout,
        absolute_lifetime=settings.session_absolute_lifetime,
        most_per_user=settings.sessions_per_user,
        read_timeout=TIMEOUT_SECONDS,
        secret=keys.session_digest,
        wait_replicas=settings.wait_replicas,
        wait_timeout_ms=settings.redis_wait_timeout_ms,
    )


def password_reset_service(
    settings: Settings, shared: Collaborators, keys: Keys, hasher: PasswordHasher, policy: PasswordPolicy
) -> PasswordResetService:
    return PasswordResetService(
        shared,
        hasher=hasher,
        secret=keys.reset_token,
        frontend_url=settings.frontend_url,
        token_ttl=settings.reset_token_ttl,
        removes_mfa_enabled_within=timedelta(seconds=settings.reset_removes_mfa_enabled_within),
        policy=policy,
    )


def mfa_service(
    settings: Settings, shared: Collaborators, auth: AuthService, sudo: SudoMode, pending: PendingSignInStore
) -> MfaService:
    encryption_key, recovery_code_key = derive_mfa_keys(
        decode_key(settings.mfa_encryption_key), settings.session_secret
    )
    return MfaService(
        shared,
        auth=auth,
        sudo=sudo,
        pending=pending,
        secret_box=SecretBox(encryption_key),
        recovery_code_key=recovery_code_key,
        frontend_url=settings.frontend_url,
    )


def passkey_service(
    settings: Settings, shared: Collaborators, auth: AuthService, sudo: SudoMode, redis: AnyRedis, keys: Keys
) -> PasskeyService:
    ttl = settings.webauthn_challenge_ttl
    return PasskeyService(
        shared,
        auth=auth,
        sudo=sudo,
        challenges=ChallengeStore(
            redis, namespace=f"{settings.redis_namespace}:webauthn", key=keys.webauthn_challenge, ttl=ttl
        ),
        relying_party=RelyingParty(
            id=settings.relying_party_id,
            name=settings.webauthn_rp_name,
            origins=settings.relying_party_origins,
            timeout_ms=ttl * 1000,
        ),
        frontend_url=settings.frontend_url,
    )


def create_mailer(settings: Settings, address_hash: Callable[[str], str]) -> Mailer:
    if settings.mail_backend == "smtp":
        return SmtpMailer(
            settings.smtp_host,
            settings.smtp_port,
            settings.mail_from,
            username=settings.smtp_username,
            password=settings.smtp_password,
            starttls=settings.smtp_starttls,
        )
    # In production the console mailer logs no address, no body (a reset link is a secret): a keyed hash only.
    return ConsoleMailer(reveal=not settings.is_production, address_hash=address_hash)


def limits_from(settings: Settings) -> Limits:
    window = settings.rate_limit_window_seconds
    return Limits(
        login_per_account=Limit(
            "login-account", settings.rate_limit_login_per_account, window, cleared_by_success=True
        ),
        login_per_device=Limit("login-device", settings.rate_limit_login_per_device, window, cleared_by_success=True),
        login_per_ip=Limit("login-ip", settings.rate_limit_login_per_ip, window, per_client_network=True),
        register_per_ip=Limit("register-ip", settings.rate_limit_register_per_ip, window, per_client_network=True),
        forgot_per_ip=Limit("forgot-ip", settings.rate_limit_forgot_per_ip, window, per_client_network=True),
        forgot_per_email=Limit("forgot-email", settings.rate_limit_forgot_per_email, window),
        email_links_per_account=Limit("email-links-account", settings.rate_limit_email_links_per_account, window),
        password_changes_per_account=Limit(
            "password-changes-account", settings.rate_limit_password_changes_per_account, HOUR
        ),
        new_devices_per_account=Limit("new-devices-account", settings.rate_limit_new_devices_per_account, HOUR),
        mfa_failures_per_account=Limit("mfa-failures-account", FAILED_CODES_NOTICED - 1, window),
        mfa_failure_notices_per_account=Limit("mfa-failure-notices-account", 1, window),
        email_changed_notices_per_address=Limit("email-changed-notices", EMAIL_CHANGED_NOTICES_PER_HOUR, HOUR),
        passkey_options_per_ip=Limit(
            "passkey-options-ip", settings.rate_limit_passkey_options_per_ip, window, per_client_network=True
        ),
    )


def password_policy(
    settings: Settings, http: httpx.AsyncClient | None, registry: CollectorRegistry | None
) -> PasswordPolicy:
    breached = None
    if http is not None:
        misses = None if registry is None else miss_counter(registry)
        breached = PwnedPasswords(http, settings.hibp_range_url, misses)
    return PasswordPolicy(
        min_length_single_factor=settings.password_min_length_single_factor,
        min_length_with_mfa=settings.password_min_length_with_mfa,
        breach_check=BreachCheck(settings.breach_check),
        breached=breached,
    )
