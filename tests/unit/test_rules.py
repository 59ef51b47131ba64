"""Fast unit tests of the domain's rules, through its ports with in-memory fakes (no server).

The integration suite (tests/*.py, real PostgreSQL and Redis) stays the main one; these pin the rules themselves:
what a sign-in counts and under which subject, that a rehash never overwrites a change, and the token rules.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

import bcrypt
import pytest

from pet_auth.domain.audit import AuditLog
from pet_auth.domain.auth import AuthService
from pet_auth.domain.devices import DeviceTokens
from pet_auth.domain.email_links import EmailLinks
from pet_auth.domain.errors import InvalidCredentials, InvalidLink, InvalidToken
from pet_auth.domain.models import Client, Credentials, Profile, User
from pet_auth.domain.password_reset import PasswordResetService
from pet_auth.domain.passwords import BreachCheck, PasswordHasher, PasswordPolicy
from pet_auth.domain.ports import Check, Collaborators, Limit, Limits, Outcome

PASSWORD = "correct horse battery staple"
LIMITS = Limits(
    login_per_account=Limit("login-account", 10, 900, cleared_by_success=True),
    login_per_device=Limit("login-device", 10, 900, cleared_by_success=True),
    login_per_ip=Limit("login-ip", 100, 900),
    register_per_ip=Limit("register-ip", 20, 900),
    forgot_per_ip=Limit("forgot-ip", 20, 900),
    forgot_per_email=Limit("forgot-email", 3, 900),
    email_links_per_account=Limit("email-links", 3, 900),
    password_changes_per_account=Limit("password-changes", 5, 3600),
    new_devices_per_account=Limit("new-devices", 5, 3600),
    mfa_failures_per_account=Limit("mfa-failures", 2, 900),
    mfa_failure_notices_per_account=Limit("mfa-failure-notices", 1, 900),
    email_changed_notices_per_address=Limit("email-changed-notices", 3, 3600),
)
T = TypeVar("T")


@dataclass
class FakeUsers:
    """The users repository: one row, whose hash a concurrent reset may change."""

    user: User
    password_hash: str
    version: int = 1
    upgrades: list[tuple[str, str]] = field(default_factory=list)

    async def get_credentials_by_email(self, email: str) -> Credentials | None:
        return Credentials(self.user, self.password_hash, self.version) if email == self.user.profile.email else None

    async def upgrade_password_hash(self, user_id: int, verified_hash: str, new_hash: str) -> bool:
        self.upgrades.append((verified_hash, new_hash))
        if self.password_hash != verified_hash:
            return False
        self.password_hash = new_hash
        return True


@dataclass
class FakeResetTokens:
    live: set[str] = field(default_factory=set)

    async def live_user(self, token_hash: str) -> int | None:
        return ADA.id if token_hash in self.live else None


@dataclass
class FakeRepositories:
    users: Any
    reset_tokens: Any = field(default_factory=FakeResetTokens)
    email_tokens: Any = None
    mfa: Any = None
    security_events: Any = None


@dataclass
class FakeUnitOfWork:
    repos: FakeRepositories

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[FakeRepositories]:
        yield self.repos

    @asynccontextmanager
    async def read(self) -> AsyncIterator[FakeRepositories]:
        yield self.repos

    async def retrying(self, work: Callable[[FakeRepositories], Awaitable[T]]) -> T:
        return await work(self.repos)


@dataclass
class FakeLimiter:
    begun: list[tuple[Check, ...]] = field(default_factory=list)
    ended: list[Outcome] = field(default_factory=list)

    async def hit(self, *checks: Check) -> None:
        pass

    async def begin_attempt(self, *checks: Check) -> str:
        self.begun.append(checks)
        return "attempt"

    async def end_attempt(self, attempt: str, outcome: Outcome, *checks: Check) -> tuple[Check, ...]:
        self.ended.append(outcome)
        return ()


class Unused:
    """A port the rule under test never reaches."""

    def __getattr__(self, name: str) -> Any:
        raise AssertionError(f"unexpected call: {name}")


def discard(work: Coroutine[Any, Any, None], _what: str) -> None:
    work.close()


@pytest.fixture(scope="module")
def hasher() -> PasswordHasher:
    return PasswordHasher(threads=1, time_cost=1, memory_cost_kib=1024)


DEVICES = DeviceTokens(b"d" * 32)
CLIENT = Client(ip="192.0.2.1", device="Firefox 133 on Linux", known_device="Firefox 133 on Linux")
ADA = User(7, Profile("ada@example.com", datetime(2026, 1, 1, tzinfo=UTC), email_verified=True), profile_version=1)


def shared(db: FakeUnitOfWork, limiter: FakeLimiter) -> Collaborators:
    """The services' shared ports: these fakes, and `Unused` for what the rules under test never reach."""
    return Collaborators(
        db=db,
        limiter=limiter,
        limits=LIMITS,
        sessions=Unused(),
        notifier=Unused(),
        spawn=discard,
        audit=AuditLog(b"a" * 32),
    )


def auth_service(users: FakeUsers, limiter: FakeLimiter, hasher: PasswordHasher, events: Any = None) -> AuthService:
    return AuthService(
        shared(FakeUnitOfWork(FakeRepositories(users, security_events=events)), limiter),
        hasher=hasher,
        devices=DEVICES,
        links=Unused(),  # type: ignore[arg-type]
        pending=Unused(),
        frontend_url="https://pets.example",
        policy=PasswordPolicy(),
    )


async def test_a_legacy_hash_is_replaced_over_the_hash_verified(hasher: PasswordHasher) -> None:
    legacy = bcrypt.hashpw(PASSWORD.encode(), bcrypt.gensalt(4)).decode()
    users = FakeUsers(ADA, legacy)
    await auth_service(users, FakeLimiter(), hasher).authenticate(ADA.profile.email, PASSWORD, CLIENT, None)
    [(verified, new)] = users.upgrades
    assert verified == legacy
    assert users.password_hash == new
    assert new.startswith("$argon2id$")


async def test_a_rehash_never_overwrites_a_change_made_meanwhile(hasher: PasswordHasher) -> None:
    legacy = bcrypt.hashpw(PASSWORD.encode(), bcrypt.gensalt(4)).decode()

    class ResetDuringTheSignIn(FakeUsers):
        async def upgrade_password_hash(self, user_id: int, verified_hash: str, new_hash: str) -> bool:
            self.password_hash = "$argon2id$ the reset's own hash"  # a reset committed while this sign-in hashed
            return await super().upgrade_password_hash(user_id, verified_hash, new_hash)

    users = ResetDuringTheSignIn(ADA, legacy)
    await auth_service(users, FakeLimiter(), hasher).authenticate(ADA.profile.email, PASSWORD, CLIENT, None)
    assert users.password_hash == "$argon2id$ the reset's own hash"


async def test_sign_ins_count_under_the_account_and_its_credential_version(hasher: PasswordHasher) -> None:
    limiter = FakeLimiter()
    users = FakeUsers(ADA, await hasher.hash(PASSWORD), version=3)
    auth = auth_service(users, limiter, hasher)
    await auth.authenticate(ADA.profile.email, PASSWORD, CLIENT, None)
    with pytest.raises(InvalidCredentials):
        await auth.authenticate(ADA.profile.email, "not the password", CLIENT, None)
    with pytest.raises(InvalidCredentials):
        await auth.authenticate("nobody@example.com", PASSWORD, CLIENT, None)
    subjects = [checks[0] for checks in limiter.begun]
    assert subjects == [
        (LIMITS.login_per_account, "user:7:3"),
        (LIMITS.login_per_account, "user:7:3"),
        (LIMITS.login_per_account, "email:nobody@example.com"),
    ]
    assert limiter.ended == [Outcome.SUCCESS, Outcome.FAILURE, Outcome.FAILURE]


async def test_a_known_device_is_counted_on_its_own_and_only_for_its_account(hasher: PasswordHasher) -> None:
    limiter = FakeLimiter()
    auth = auth_service(FakeUsers(ADA, await hasher.hash(PASSWORD)), limiter, hasher)
    own, someone_elses = DEVICES.issue(ADA.id, 1), DEVICES.issue(ADA.id + 1, 1)
    _, device_id = await auth.authenticate(ADA.profile.email, PASSWORD, CLIENT, own)
    await auth.authenticate(ADA.profile.email, PASSWORD, CLIENT, someone_elses)
    assert device_id == own.split(".")[3]
    assert [checks[0] for checks in limiter.begun] == [
        (LIMITS.login_per_device, f"user:7:1:device:{device_id}"),
        (LIMITS.login_per_account, "user:7:1"),
    ]


async def test_a_device_token_ends_with_the_credentials_it_was_issued_under(hasher: PasswordHasher) -> None:
    limiter = FakeLimiter()
    issued_before_a_reset = DEVICES.issue(ADA.id, 1)
    auth = auth_service(FakeUsers(ADA, await hasher.hash(PASSWORD), version=2), limiter, hasher)
    _, device_id = await auth.authenticate(ADA.profile.email, PASSWORD, CLIENT, issued_before_a_reset)
    assert device_id is None
    assert [checks[0] for checks in limiter.begun] == [(LIMITS.login_per_account, "user:7:2")]


@pytest.mark.parametrize("part", range(5))
def test_a_device_token_with_any_part_altered_is_no_device(part: int) -> None:
    token = DEVICES.issue(ADA.id, 4)
    parts = token.split(".")
    parts[part] = "9" if part < 3 else ("A" * 22 if parts[part] != "A" * 22 else "B" * 22)
    assert DEVICES.device_of(token, ADA.id, 4) is not None
    assert DEVICES.device_of(".".join(parts), ADA.id, 4) is None


async def test_an_attempt_cut_short_counts_as_nothing(hasher: PasswordHasher) -> None:
    class Broken(PasswordHasher):
        async def verify(self, password_hash: str, password: str) -> Any:
            raise ConnectionResetError("the hash never got an answer")

    limiter = FakeLimiter()
    broken = Broken(threads=1, time_cost=1, memory_cost_kib=1024)
    auth = auth_service(FakeUsers(ADA, await hasher.hash(PASSWORD)), limiter, broken)
    with pytest.raises(ConnectionResetError):
        await auth.authenticate(ADA.profile.email, PASSWORD, CLIENT, None)
    assert limiter.ended == [Outcome.ABANDONED]


@pytest.mark.parametrize("token", ["", "short", "!" * 43, "a" * 44, "a" * 42])
async def test_a_link_token_of_the_wrong_shape_is_refused_without_a_lookup(token: str) -> None:
    links = EmailLinks(
        notifier=Unused(),
        spawn=discard,
        secret=b"k" * 32,
        frontend_url="https://pets.example",
        verify_ttl=60,
        change_ttl=60,
    )
    no_lookups = FakeRepositories(users=Unused(), reset_tokens=Unused(), email_tokens=Unused())
    with pytest.raises(InvalidLink):
        await links.consume(no_lookups, token, "verify")


async def test_a_reset_with_a_token_that_is_not_live_hashes_no_password_and_asks_no_breach_corpus() -> None:
    class NoHashing(Unused):
        pass

    class NoBreachCorpus:
        async def appearances(self, password: str) -> int | None:
            raise AssertionError("asked about a password for a token that is not live")

    password_reset = PasswordResetService(
        shared(FakeUnitOfWork(FakeRepositories(users=Unused())), FakeLimiter()),
        hasher=NoHashing(),  # type: ignore[arg-type]
        secret=b"r" * 32,
        frontend_url="https://pets.example",
        token_ttl=60,
        removes_mfa_enabled_within=timedelta(days=1),
        policy=PasswordPolicy(breach_check=BreachCheck.FAIL_CLOSED, breached=NoBreachCorpus()),
    )
    with pytest.raises(InvalidToken):
        await password_reset.reset("x" * 43, "a brand new passphrase", CLIENT)
