"""What the domain services need from the outside world, as interfaces: the unit of work and its repositories
(db/ implements them), the notifier (mail/), the session registry, pending sign-ins and the rate limiter (all three
in Redis: redis_store/), the corpus of breached passwords (pwned.py). The services depend on these alone, never on a
concrete adapter."""

from __future__ import annotations

import enum
from collections.abc import Awaitable, Callable, Coroutine
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol, TypeVar

from pet_auth.domain.audit import AuditLog
from pet_auth.domain.models import (
    Client,
    Credentials,
    IssuedChallenge,
    LockedAccount,
    MfaRecord,
    NewPasskey,
    Passkey,
    PasskeyDescriptor,
    PasskeyOwner,
    PendingSignIn,
    SessionInfo,
    SessionRef,
    User,
)
from pet_auth.domain.notices import Notice
from pet_auth.domain.security_events import EventPage, SecurityEvent

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class Limit:
    name: str
    max_hits: int
    window_seconds: int
    # For sign-in limits: a successful attempt forgets the failures counted so far (the account's, the
    # device's); it never does for a client address shared by many accounts.
    cleared_by_success: bool = False
    # Subjects are client addresses, counted per network: an IPv6 client per /64 (see domain/clients.py).
    per_client_network: bool = False


@dataclass(frozen=True, slots=True)
class Limits:
    login_per_account: Limit
    login_per_device: Limit
    login_per_ip: Limit
    register_per_ip: Limit
    forgot_per_ip: Limit
    forgot_per_email: Limit
    email_links_per_account: Limit
    # Successful password changes from a session (each mails a notice).
    password_changes_per_account: Limit
    # New device cookies: each would bring a guessing budget of its own.
    new_devices_per_account: Limit
    # Second factors refused after the right password, per account: the one past this limit (the third) mails the
    # owner, within `mfa_failure_notices_per_account`.
    mfa_failures_per_account: Limit
    # Notices, so that no loop floods a mailbox: of failed second factors per account, of completed address changes
    # per old address.
    mfa_failure_notices_per_account: Limit
    email_changed_notices_per_address: Limit
    # Passkey sign-in options (each stores a challenge), per client network.
    passkey_options_per_ip: Limit


Check = tuple[Limit, str]  # a limit and the subject it is counted for


class Outcome(enum.Enum):
    SUCCESS = "success"
    FAILURE = "failure"
    # Ended without an answer on the password (an outage): it counts as nothing.
    ABANDONED = "abandoned"


class RateLimiter(Protocol):
    async def hit(self, *checks: Check) -> None:
        """Count one attempt against each check; raise `RateLimited` when any is over."""

    async def begin_attempt(self, *checks: Check) -> str:
        """Reserve a place for one sign-in attempt under each check, returning its id. Failures counted plus
        attempts in flight never exceed a limit: while attempts in flight hold the rest of the budget, this
        waits for them; when the failures alone reach it, it raises `RateLimited`."""

    async def end_attempt(self, attempt: str, outcome: Outcome, *checks: Check) -> tuple[Check, ...]:
        """Release the attempt's place; count it as a failure, or forget earlier failures on success. Returns the
        checks whose limit this failure reached (once per window each): from now on they refuse."""


class SessionRegistry(Protocol):
    async def start(
        self,
        user: User,
        credential_version: int,
        client: Client,
        replaces: SessionRef | None,
        *,
        force: bool = False,
        proved: bool = True,
    ) -> str:
        """Store a new session and return its token (the cookie value). Raises `CredentialsChanged` when the
        user's credentials were changed past `credential_version`, unless `force` (the caller has just
        confirmed the version with the database). With `proved`, the session starts with a proof of a factor
        (sudo mode); without it (a session renewed after a mailed link), it has none."""

    async def record_proof(self, user_id: int, handle: str) -> None:
        """Record that the session has just proved a factor of its user; `SessionEnded` if it has ended."""

    async def profile_changed(self, user: User) -> None:
        """Show the user's new fields (address, verification) in every session of theirs at once."""

    async def credentials_changed(self, user_id: int, credential_version: int, caller: str | None = None) -> None:
        """End every session of the user, and refuse any session later offered for an earlier version. With
        `caller` (a session handle), only if that session of the user still exists, in the same step; else
        `SessionEnded`, and nothing changes."""

    async def list_sessions(self, user_id: int) -> list[SessionInfo]: ...

    async def end_one_session(self, user_id: int, handle: str) -> bool: ...

    async def end_all_sessions(self, user_id: int, keep: str | None = None) -> int: ...


class PendingSignIns(Protocol):
    """Sign-ins whose password was accepted and whose second factor is awaited; each lives a few minutes."""

    async def start(self, pending: PendingSignIn) -> str:
        """Keep a pending sign-in; return the token that names it (for the caller's cookie)."""

    async def get(self, token: str) -> PendingSignIn | None: ...

    async def failed(self, token: str, most: int) -> None:
        """Count a wrong code; the pending sign-in ends at the `most`th."""

    async def end(self, token: str) -> bool:
        """End it; False when it had already ended (used, expired, or too many wrong codes)."""


class PasskeyChallenges(Protocol):
    """WebAuthn challenges, each bound to what it was issued for (`purpose` and `binding`: a session handle, or the
    token of a sign-in's flow cookie), usable once, for a few minutes."""

    async def issue(self, purpose: str, binding: str, issued: IssuedChallenge) -> None:
        """Keep the challenge for this binding (over an earlier one of the same binding)."""

    async def take(self, purpose: str, binding: str) -> IssuedChallenge | None:
        """Read and delete it in one step: of two requests with one binding only one gets it. None when there is
        none (never issued, used, expired)."""


# Runs a coroutine after the response, off the request path.
Spawn = Callable[[Coroutine[Any, Any, None], str], None]


# --- persistence --------------------------------------------------------------------------------------------------


class UserRepository(Protocol):
    async def add(self, email: str, password_hash: str) -> Credentials: ...

    async def get_credentials_by_email(self, email: str) -> Credentials | None: ...

    async def get(self, user_id: int) -> User | None: ...

    async def get_id_by_email(self, email: str) -> int | None: ...

    async def lock(self, user_id: int) -> LockedAccount | None: ...

    async def change_password_hash(
        self, user_id: int, password_hash: str, *, verified_version: int | None, proves_email: bool = False
    ) -> int | None: ...

    async def upgrade_password_hash(self, user_id: int, verified_hash: str, new_hash: str) -> bool: ...

    async def advance_credential_version(self, user_id: int, verified_version: int | None) -> int | None: ...

    async def credential_version(self, user_id: int) -> int | None: ...

    async def lock_credential_version(self, user_id: int) -> int | None: ...

    async def mark_email_verified(self, user_id: int, email: str) -> User | None: ...

    async def change_email(self, user_id: int, email: str) -> Credentials | None: ...

    async def delete(self, user_id: int, verified_version: int) -> bool: ...

    async def webauthn_user_handle(self, user_id: int) -> bytes | None:
        """The user's WebAuthn user handle, made (64 random bytes) and stored on first use; of concurrent first uses
        all get the one stored. None when there is no such user."""


class PasskeyRepository(Protocol):
    async def list_for_user(self, user_id: int) -> list[Passkey]:
        """The user's passkeys, oldest first."""

    async def descriptors_for_user(self, user_id: int) -> list[PasskeyDescriptor]: ...

    async def count_for_user(self, user_id: int) -> int: ...

    async def add(self, user_id: int, passkey: NewPasskey) -> Passkey | None:
        """Store a passkey; None (and nothing stored) when its credential id is registered already."""

    async def get_for_sign_in(self, credential_id: bytes) -> PasskeyOwner | None:
        """The passkey with this credential id and its owner's account (and credential version), in one read."""

    async def record_use(self, passkey_id: int, user_id: int, sign_count: int, backed_up: bool) -> bool:
        """A verified use: the new sign count, backup state and time, only if the passkey still exists and its stored
        count is below `sign_count` (or both are 0); False (nothing written) otherwise."""

    async def rename(self, user_id: int, passkey_id: int, name: str) -> Passkey | None:
        """None when the user has no such passkey."""

    async def delete(self, user_id: int, passkey_id: int) -> Passkey | None:
        """The passkey deleted; None when the user has no such passkey."""

    async def delete_added_after(self, user_id: int, since: datetime | None) -> list[str]:
        """Delete the user's passkeys added after `since` (None: all); the names of those deleted."""


class ResetTokenRepository(Protocol):
    async def replace_for_user(self, user_id: int, token_hash: str, expires_at: datetime) -> None: ...

    async def live_user(self, token_hash: str) -> int | None: ...

    async def consume(self, token_hash: str) -> int | None: ...

    async def delete_for_user(self, user_id: int, keep_token_hash: str | None = None) -> None: ...

    async def purge_dead(self) -> int: ...


class EmailTokenRepository(Protocol):
    async def replace_for_user(
        self, user_id: int, purpose: str, email: str, token_hash: str, expires_at: datetime, credential_version: int
    ) -> None: ...

    async def live_user(self, token_hash: str, purpose: str) -> int | None: ...

    async def consume(self, token_hash: str, purpose: str, credential_version: int) -> str | None: ...

    async def delete_for_user(self, user_id: int, purpose: str | None = None) -> None: ...

    async def purge_dead(self) -> int: ...


class MfaRepository(Protocol):
    async def get(self, user_id: int) -> MfaRecord | None: ...

    async def lock(self, user_id: int) -> MfaRecord | None: ...

    async def begin_setup(self, user_id: int, secret_ciphertext: bytes) -> bool: ...

    async def enable(self, user_id: int, code_hashes: list[str]) -> None: ...

    async def use_step(self, user_id: int, step: int) -> None: ...

    async def use_recovery_code(self, user_id: int, code_hash: str) -> bool: ...

    async def count_recovery_codes(self, user_id: int) -> int: ...

    async def replace_recovery_codes(self, user_id: int, code_hashes: list[str]) -> None: ...

    async def delete(self, user_id: int) -> None: ...

    async def delete_enabled_after(self, user_id: int, since: datetime | None) -> bool: ...


class SecurityEventRepository(Protocol):
    async def add(self, user_id: int, event: SecurityEvent) -> None: ...

    async def page_for_user(self, user_id: int, before: int | None, limit: int) -> EventPage: ...

    async def purge_older_than(self, days: int) -> int: ...


class Repositories(Protocol):
    """The repositories of one unit of work, bound to its transaction (or to its one read)."""

    @property
    def users(self) -> UserRepository: ...

    @property
    def reset_tokens(self) -> ResetTokenRepository: ...

    @property
    def email_tokens(self) -> EmailTokenRepository: ...

    @property
    def mfa(self) -> MfaRepository: ...

    @property
    def security_events(self) -> SecurityEventRepository: ...

    @property
    def passkeys(self) -> PasskeyRepository: ...


class UnitOfWork(Protocol):
    def transaction(self) -> AbstractAsyncContextManager[Repositories]:
        """Commits when the block ends normally, rolls back when it raises."""

    def read(self) -> AbstractAsyncContextManager[Repositories]:
        """For one read-only statement, which needs no transaction around it."""

    async def retrying(self, work: Callable[[Repositories], Awaitable[T]]) -> T:
        """`work` in a transaction (as `transaction`); one that PostgreSQL aborts for a concurrent one (a deadlock, a
        serialization failure) runs again, a few times, before `TransactionConflict`."""


# --- notices --------------------------------------------------------------------------------------------------------


class Notifier(Protocol):
    async def notify(self, notice: Notice) -> None:
        """Tell `notice.to` what happened (mail/ renders the notice and mails it)."""


# --- breached passwords ---------------------------------------------------------------------------------------------


class BreachedPasswords(Protocol):
    async def appearances(self, password: str) -> int | None:
        """How often the password appears in the known breaches (0: never); None when that could not be learnt
        (the source did not answer, or not in time)."""


# --- what every service shares --------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Collaborators:
    """The ports every domain service works through, built once by the composition root and handed to each service
    as one argument: the unit of work, the rate limiter and its limits, the session registry, the notifier, the runner
    of background work and the audit log."""

    db: UnitOfWork
    limiter: RateLimiter
    limits: Limits
    sessions: SessionRegistry
    notifier: Notifier
    spawn: Spawn
    audit: AuditLog
