"""In-memory fakes of the domain's ports (pet_auth.domain.ports), and the services built on them, for the unit tier.

The fakes keep the contracts the adapters state (db/repositories.py, sessions/): a change conditional on a verified
credential version makes nothing when the version has moved; an email link is consumed only under the credential
version it was issued under; a transaction commits when its block ends and rolls back when it raises; ending a
user's sessions refuses any session later offered for an earlier version, and fails when the caller's own session
has ended. What the services do to them is written in one `journal`, in order, so that a test can say what happened
inside a transaction and in which order (the lock first, then the token, then the version, then the sessions).

mypy checks every fake against its port: a port that changes breaks them here, not silently.
"""

from __future__ import annotations

import copy
import re
import secrets
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

from pet_auth.domain.account import AccountService
from pet_auth.domain.addresses import AddressService
from pet_auth.domain.audit import AuditLog
from pet_auth.domain.auth import AuthService
from pet_auth.domain.devices import DeviceTokens
from pet_auth.domain.email_links import EmailLinks
from pet_auth.domain.errors import CredentialsChanged, EmailTaken, SessionEnded
from pet_auth.domain.mfa import MfaService
from pet_auth.domain.models import (
    Client,
    Credentials,
    CurrentUser,
    IssuedChallenge,
    LockedAccount,
    MfaRecord,
    NewPasskey,
    Passkey,
    PasskeyDescriptor,
    PasskeyOwner,
    PendingSignIn,
    Profile,
    SessionInfo,
    SessionRef,
    SignIn,
    User,
)
from pet_auth.domain.notices import ConfirmNewEmail, Notice, ResetLink, VerifyEmail
from pet_auth.domain.passkey_ceremonies import RelyingParty
from pet_auth.domain.passkeys import PasskeyService
from pet_auth.domain.password_reset import PasswordResetService
from pet_auth.domain.passwords import PasswordHasher, PasswordPolicy
from pet_auth.domain.ports import Check, Collaborators, Limit, Limits, Outcome, Repositories
from pet_auth.domain.secret_box import SecretBox
from pet_auth.domain.security_events import EventKind, EventPage, RecordedEvent, SecurityEvent
from pet_auth.domain.sudo import SudoMode

T = TypeVar("T")

PASSWORD = "correct horse battery staple"
NEW_PASSWORD = "a brand new passphrase, 2nd edition"
ADA_ID = 7
ADA_EMAIL = "ada@example.com"
IP = "192.0.2.1"
CLIENT = Client(IP, "Firefox 133 on Linux", known_device="Firefox 133 on Linux")
FRONTEND_URL = "https://pets.example"
RELYING_PARTY = RelyingParty(id="pets.example", name="Pet Manager", origins=(FRONTEND_URL,), timeout_ms=300_000)
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
    passkey_options_per_ip=Limit("passkey-options-ip", 100, 900),
)
# Two-factor sign-in turned on within this before a reset is removed by it (RESET_REMOVES_MFA_ENABLED_WITHIN).
REMOVES_MFA_ENABLED_WITHIN = timedelta(days=1)
SUDO_WINDOW = 300
_LINK_TOKEN = re.compile(r"token=([A-Za-z0-9_-]{43})")
LinkNotice = ResetLink | VerifyEmail | ConfirmNewEmail


# --- the database ---------------------------------------------------------------------------------------------------


@dataclass
class UserRow:
    id: int
    email: str
    password_hash: str
    created_at: datetime
    credential_version: int = 1
    email_verified: bool = False
    profile_version: int = 1
    webauthn_user_handle: bytes | None = None


@dataclass
class ResetTokenRow:
    user_id: int
    expires_at: datetime
    used: bool = False


@dataclass
class EmailTokenRow:
    user_id: int
    purpose: str
    email: str
    expires_at: datetime
    credential_version: int
    used: bool = False


@dataclass
class MfaRow:
    secret_ciphertext: bytes
    created_at: datetime
    enabled_at: datetime | None = None
    last_used_step: int | None = None
    recovery_codes: set[str] = field(default_factory=set)


@dataclass
class PasskeyRow:
    id: int
    user_id: int
    new: NewPasskey
    created_at: datetime
    sign_count: int
    backed_up: bool
    name: str
    last_used_at: datetime | None = None

    def passkey(self) -> Passkey:
        return Passkey(self.id, self.name, self.created_at, self.last_used_at, self.backed_up, self.new.transports)


@dataclass
class Tables:
    users: dict[int, UserRow] = field(default_factory=dict)
    reset_tokens: dict[str, ResetTokenRow] = field(default_factory=dict)  # by token hash
    email_tokens: dict[str, EmailTokenRow] = field(default_factory=dict)  # by token hash
    mfa: dict[int, MfaRow] = field(default_factory=dict)  # by user id
    security_events: list[tuple[int, RecordedEvent]] = field(default_factory=list)  # (user id, event)
    passkeys: dict[int, PasskeyRow] = field(default_factory=dict)  # by id

    def events(self, user_id: int) -> list[EventKind]:
        return [event.kind for owner, event in self.security_events if owner == user_id]


def _now() -> datetime:
    return datetime.now(UTC)


class FakeUsers:
    def __init__(self, db: FakeDatabase) -> None:
        self._db = db

    def _row(self, user_id: int) -> UserRow | None:
        return self._db.tables.users.get(user_id)

    def _user(self, row: UserRow) -> User:
        mfa = self._db.tables.mfa.get(row.id)
        mfa_enabled = mfa is not None and mfa.enabled_at is not None
        return User(row.id, Profile(row.email, row.created_at, row.email_verified, mfa_enabled), row.profile_version)

    def _by_email(self, email: str) -> UserRow | None:
        return next((row for row in self._db.tables.users.values() if row.email == email), None)

    async def add(self, email: str, password_hash: str) -> Credentials:
        if self._by_email(email) is not None:
            raise EmailTaken
        row = UserRow(max(self._db.tables.users, default=0) + 1, email, password_hash, _now())
        self._db.tables.users[row.id] = row
        self._db.note(f"add user {row.id}")
        return Credentials(self._user(row), password_hash, row.credential_version)

    async def get_credentials_by_email(self, email: str) -> Credentials | None:
        row = self._by_email(email)
        return None if row is None else Credentials(self._user(row), row.password_hash, row.credential_version)

    async def get(self, user_id: int) -> User | None:
        row = self._row(user_id)
        return None if row is None else self._user(row)

    async def get_id_by_email(self, email: str) -> int | None:
        row = self._by_email(email)
        return None if row is None else row.id

    async def lock(self, user_id: int) -> LockedAccount | None:
        self._db.note(f"lock user {user_id}")
        row = self._row(user_id)
        if row is None:
            return None
        return LockedAccount(row.credential_version, row.email, row.email_verified, row.password_hash != "")

    def _advance(self, user_id: int, verified_version: int | None) -> UserRow | None:
        row = self._row(user_id)
        if row is None or (verified_version is not None and row.credential_version != verified_version):
            return None
        row.credential_version += 1
        return row

    async def change_password_hash(
        self, user_id: int, password_hash: str, *, verified_version: int | None, proves_email: bool = False
    ) -> int | None:
        row = self._advance(user_id, verified_version)
        if row is None:
            self._db.note(f"password of user {user_id} not changed: version moved past {verified_version}")
            return None
        row.password_hash = password_hash
        if proves_email:
            row.email_verified = True
            row.profile_version += 1
        self._db.note(f"password of user {user_id} changed: version {row.credential_version}")
        return row.credential_version

    async def upgrade_password_hash(self, user_id: int, verified_hash: str, new_hash: str) -> bool:
        row = self._row(user_id)
        if row is None or row.password_hash != verified_hash:
            self._db.note(f"hash of user {user_id} not upgraded")
            return False
        row.password_hash = new_hash
        self._db.note(f"hash of user {user_id} upgraded")
        return True

    async def advance_credential_version(self, user_id: int, verified_version: int | None) -> int | None:
        row = self._advance(user_id, verified_version)
        if row is None:
            self._db.note(f"version of user {user_id} not advanced: it moved past {verified_version}")
            return None
        self._db.note(f"version of user {user_id} advanced: version {row.credential_version}")
        return row.credential_version

    async def credential_version(self, user_id: int) -> int | None:
        row = self._row(user_id)
        return None if row is None else row.credential_version

    async def lock_credential_version(self, user_id: int) -> int | None:
        self._db.note(f"lock user {user_id} to read its version")
        return await self.credential_version(user_id)

    async def mark_email_verified(self, user_id: int, email: str) -> User | None:
        row = self._row(user_id)
        if row is None or row.email != email:
            return None
        row.email_verified = True
        row.profile_version += 1
        self._db.note(f"address of user {user_id} verified")
        return self._user(row)

    async def change_email(self, user_id: int, email: str) -> Credentials | None:
        row = self._row(user_id)
        if row is None:
            return None
        if self._by_email(email) not in (None, row):
            raise EmailTaken
        row.email, row.email_verified = email, True
        row.profile_version += 1
        row.credential_version += 1
        self._db.note(f"address of user {user_id} changed: version {row.credential_version}")
        return Credentials(self._user(row), "", row.credential_version)

    async def delete(self, user_id: int, verified_version: int) -> bool:
        row = self._row(user_id)
        if row is None or row.credential_version != verified_version:
            return False
        del self._db.tables.users[user_id]
        for passkey_id in [p.id for p in self._db.tables.passkeys.values() if p.user_id == user_id]:
            del self._db.tables.passkeys[passkey_id]  # ON DELETE CASCADE
        self._db.note(f"delete user {user_id}")
        return True

    async def webauthn_user_handle(self, user_id: int) -> bytes | None:
        row = self._row(user_id)
        if row is None:
            return None
        if row.webauthn_user_handle is None:
            row.webauthn_user_handle = secrets.token_bytes(64)
        return row.webauthn_user_handle


class FakeResetTokens:
    def __init__(self, db: FakeDatabase) -> None:
        self._db = db

    async def replace_for_user(self, user_id: int, token_hash: str, expires_at: datetime) -> None:
        tokens = self._db.tables.reset_tokens
        for other in [h for h, row in tokens.items() if row.user_id == user_id]:
            del tokens[other]
        tokens[token_hash] = ResetTokenRow(user_id, expires_at)
        self._db.note(f"reset link for user {user_id}")

    def _live(self, token_hash: str) -> ResetTokenRow | None:
        row = self._db.tables.reset_tokens.get(token_hash)
        return row if row is not None and not row.used and row.expires_at > _now() else None

    async def live_user(self, token_hash: str) -> int | None:
        row = self._live(token_hash)
        return None if row is None else row.user_id

    async def consume(self, token_hash: str) -> int | None:
        row = self._live(token_hash)
        if row is None:
            self._db.note("reset link not consumed")
            return None
        row.used = True
        self._db.note("reset link consumed")
        return row.user_id

    async def delete_for_user(self, user_id: int, keep_token_hash: str | None = None) -> None:
        tokens = self._db.tables.reset_tokens
        for token_hash in [h for h, row in tokens.items() if row.user_id == user_id and h != keep_token_hash]:
            del tokens[token_hash]
        self._db.note(f"reset links of user {user_id} deleted")

    async def purge_dead(self) -> int:
        tokens = self._db.tables.reset_tokens
        dead = [h for h in tokens if self._live(h) is None]
        for token_hash in dead:
            del tokens[token_hash]
        return len(dead)


class FakeEmailTokens:
    def __init__(self, db: FakeDatabase) -> None:
        self._db = db

    async def replace_for_user(
        self, user_id: int, purpose: str, email: str, token_hash: str, expires_at: datetime, credential_version: int
    ) -> None:
        await self.delete_for_user(user_id, purpose)
        self._db.tables.email_tokens[token_hash] = EmailTokenRow(
            user_id, purpose, email, expires_at, credential_version
        )
        self._db.note(f"{purpose} link for user {user_id} at version {credential_version}")

    def _live(self, token_hash: str, purpose: str) -> EmailTokenRow | None:
        row = self._db.tables.email_tokens.get(token_hash)
        live = row is not None and row.purpose == purpose and not row.used and row.expires_at > _now()
        return row if live else None

    async def live_user(self, token_hash: str, purpose: str) -> int | None:
        row = self._live(token_hash, purpose)
        return None if row is None else row.user_id

    async def consume(self, token_hash: str, purpose: str, credential_version: int) -> str | None:
        row = self._live(token_hash, purpose)
        if row is None or row.credential_version != credential_version:
            self._db.note(f"{purpose} link not consumed at version {credential_version}")
            return None
        row.used = True
        self._db.note(f"{purpose} link consumed")
        return row.email

    async def delete_for_user(self, user_id: int, purpose: str | None = None) -> None:
        tokens = self._db.tables.email_tokens
        for token_hash in [h for h, row in tokens.items() if row.user_id == user_id and purpose in (None, row.purpose)]:
            del tokens[token_hash]
        if purpose is None:
            self._db.note(f"email links of user {user_id} deleted")

    async def purge_dead(self) -> int:
        tokens = self._db.tables.email_tokens
        dead = [h for h, row in tokens.items() if self._live(h, row.purpose) is None]
        for token_hash in dead:
            del tokens[token_hash]
        return len(dead)


class FakeMfa:
    def __init__(self, db: FakeDatabase) -> None:
        self._db = db

    def _record(self, user_id: int) -> MfaRecord | None:
        row = self._db.tables.mfa.get(user_id)
        if row is None:
            return None
        return MfaRecord(row.secret_ciphertext, row.enabled_at is not None, row.last_used_step, row.created_at)

    async def get(self, user_id: int) -> MfaRecord | None:
        return self._record(user_id)

    async def lock(self, user_id: int) -> MfaRecord | None:
        self._db.note(f"lock second factor of user {user_id}")
        return self._record(user_id)

    async def begin_setup(self, user_id: int, secret_ciphertext: bytes) -> bool:
        row = self._db.tables.mfa.get(user_id)
        if row is not None and row.enabled_at is not None:
            return False
        self._db.tables.mfa[user_id] = MfaRow(secret_ciphertext, _now())
        self._db.note(f"second factor of user {user_id} set up")
        return True

    async def enable(self, user_id: int, code_hashes: list[str]) -> None:
        self._db.tables.mfa[user_id].enabled_at = _now()
        await self.replace_recovery_codes(user_id, code_hashes)
        self._db.note(f"second factor of user {user_id} on")

    async def use_step(self, user_id: int, step: int) -> None:
        self._db.tables.mfa[user_id].last_used_step = step
        self._db.note(f"code of step {step} used")

    async def use_recovery_code(self, user_id: int, code_hash: str) -> bool:
        row = self._db.tables.mfa.get(user_id)
        if row is None or code_hash not in row.recovery_codes:
            return False
        row.recovery_codes.remove(code_hash)
        self._db.note("recovery code used")
        return True

    async def count_recovery_codes(self, user_id: int) -> int:
        row = self._db.tables.mfa.get(user_id)
        return 0 if row is None else len(row.recovery_codes)

    async def replace_recovery_codes(self, user_id: int, code_hashes: list[str]) -> None:
        self._db.tables.mfa[user_id].recovery_codes = set(code_hashes)

    async def delete(self, user_id: int) -> None:
        if self._db.tables.mfa.pop(user_id, None) is not None:
            self._db.note(f"second factor of user {user_id} deleted")

    async def delete_enabled_after(self, user_id: int, since: datetime | None) -> bool:
        row = self._db.tables.mfa.get(user_id)
        if row is None or (since is not None and row.enabled_at is not None and row.enabled_at <= since):
            return False
        del self._db.tables.mfa[user_id]
        self._db.note(f"second factor of user {user_id} deleted")
        return row.enabled_at is not None


class FakeSecurityEvents:
    def __init__(self, db: FakeDatabase) -> None:
        self._db = db

    async def add(self, user_id: int, event: SecurityEvent) -> None:
        if user_id not in self._db.tables.users:
            return  # the foreign key: a deleted account logs nothing
        events = self._db.tables.security_events
        recorded = RecordedEvent(len(events) + 1, event.kind, _now(), event.network, event.device, event.detail)
        events.append((user_id, recorded))
        self._db.note(f"event {event.kind} for user {user_id}")

    async def page_for_user(self, user_id: int, before: int | None, limit: int) -> EventPage:
        mine = [e for owner, e in reversed(self._db.tables.security_events) if owner == user_id]
        older = [e for e in mine if before is None or e.id < before]
        page = older[:limit]
        return EventPage(page, page[-1].id if len(older) > limit else None)

    async def purge_older_than(self, days: int) -> int:
        events = self._db.tables.security_events
        cutoff = _now() - timedelta(days=days)
        kept = [(owner, e) for owner, e in events if e.occurred_at >= cutoff]
        purged, events[:] = len(events) - len(kept), kept
        return purged


class FakePasskeys:
    def __init__(self, db: FakeDatabase) -> None:
        self._db = db

    def _of(self, user_id: int) -> list[PasskeyRow]:
        return sorted((p for p in self._db.tables.passkeys.values() if p.user_id == user_id), key=lambda p: p.id)

    async def list_for_user(self, user_id: int) -> list[Passkey]:
        return [row.passkey() for row in self._of(user_id)]

    async def descriptors_for_user(self, user_id: int) -> list[PasskeyDescriptor]:
        return [PasskeyDescriptor(row.new.credential_id, row.new.transports) for row in self._of(user_id)]

    async def count_for_user(self, user_id: int) -> int:
        return len(self._of(user_id))

    async def add(self, user_id: int, passkey: NewPasskey) -> Passkey | None:
        rows = self._db.tables.passkeys
        if any(row.new.credential_id == passkey.credential_id for row in rows.values()):
            return None
        row = PasskeyRow(
            max(rows, default=0) + 1, user_id, passkey, _now(), passkey.sign_count, passkey.backed_up, passkey.name
        )
        rows[row.id] = row
        self._db.note(f"passkey {row.id} of user {user_id} added")
        return row.passkey()

    async def get_for_sign_in(self, credential_id: bytes) -> PasskeyOwner | None:
        row = next((r for r in self._db.tables.passkeys.values() if r.new.credential_id == credential_id), None)
        user = None if row is None else self._db.tables.users.get(row.user_id)
        if row is None or user is None:
            return None
        credentials = Credentials(FakeUsers(self._db)._user(user), "", user.credential_version)
        return PasskeyOwner(row.id, row.new.public_key, row.sign_count, user.webauthn_user_handle, credentials)

    async def record_use(self, passkey_id: int, user_id: int, sign_count: int, backed_up: bool) -> bool:
        row = self._db.tables.passkeys.get(passkey_id)
        if (
            row is None
            or row.user_id != user_id
            or not (row.sign_count < sign_count or row.sign_count == sign_count == 0)
        ):
            self._db.note(f"use of passkey {passkey_id} not recorded")
            return False
        row.sign_count, row.backed_up, row.last_used_at = sign_count, backed_up, _now()
        self._db.note(f"use of passkey {passkey_id} recorded")
        return True

    async def rename(self, user_id: int, passkey_id: int, name: str) -> Passkey | None:
        row = self._db.tables.passkeys.get(passkey_id)
        if row is None or row.user_id != user_id:
            return None
        row.name = name
        return row.passkey()

    async def delete(self, user_id: int, passkey_id: int) -> Passkey | None:
        row = self._db.tables.passkeys.get(passkey_id)
        if row is None or row.user_id != user_id:
            return None
        del self._db.tables.passkeys[passkey_id]
        self._db.note(f"passkey {passkey_id} of user {user_id} deleted")
        return row.passkey()

    async def delete_added_after(self, user_id: int, since: datetime | None) -> list[str]:
        removed = [row for row in self._of(user_id) if since is None or row.created_at > since]
        for row in removed:
            del self._db.tables.passkeys[row.id]
            self._db.note(f"passkey {row.id} of user {user_id} deleted")
        return [row.name for row in removed]


class FakeRepositories:
    def __init__(self, db: FakeDatabase) -> None:
        self.users = FakeUsers(db)
        self.reset_tokens = FakeResetTokens(db)
        self.email_tokens = FakeEmailTokens(db)
        self.mfa = FakeMfa(db)
        self.security_events = FakeSecurityEvents(db)
        self.passkeys = FakePasskeys(db)


class FakeDatabase:
    """The unit of work: a transaction commits when its block ends normally, and rolls the tables back to what they
    were when it began when it raises. Locks are written in the journal, not held: a test runs one rule at a time
    (the races themselves are the integration suite's)."""

    def __init__(self, journal: list[str]) -> None:
        self.tables = Tables()
        self.journal = journal
        self._in_transaction = False

    def note(self, event: str) -> None:
        self.journal.append(event)

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[Repositories]:
        assert not self._in_transaction, "a transaction inside another"
        before = copy.deepcopy(self.tables)
        self._in_transaction = True
        self.note("begin")
        try:
            yield FakeRepositories(self)
        except BaseException:
            self.tables = before
            self.note("rollback")
            raise
        else:
            self.note("commit")
        finally:
            self._in_transaction = False

    @asynccontextmanager
    async def read(self) -> AsyncIterator[Repositories]:
        yield FakeRepositories(self)

    async def retrying(self, work: Callable[[Repositories], Awaitable[T]]) -> T:
        async with self.transaction() as repos:
            return await work(repos)


# --- Redis: sessions, pending sign-ins, limits ----------------------------------------------------------------------


@dataclass
class FakeSession:
    user_id: int
    credential_version: int
    handle: str
    proved_at: int = 0


class FakeSessions:
    """The session registry. `down`: Redis does not answer (every call raises ConnectionError)."""

    def __init__(self, journal: list[str]) -> None:
        self.journal = journal
        self.live: dict[str, FakeSession] = {}  # by token (the cookie value)
        self._floor: dict[int, int] = {}  # the lowest credential version a new session may be stored for
        self.down = False

    def _reachable(self) -> None:
        if self.down:
            raise ConnectionError("Redis does not answer")

    def of(self, user_id: int) -> list[FakeSession]:
        return [session for session in self.live.values() if session.user_id == user_id]

    def handle(self, token: str) -> str:
        return self.live[token].handle

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
        self._reachable()
        if not force and credential_version < self._floor.get(user.id, 0):
            raise CredentialsChanged
        if replaces is not None:
            await self.end_one_session(replaces.user_id, replaces.handle)
        token = secrets.token_urlsafe(16)
        proved_at = int(time.time()) if proved else 0
        self.live[token] = FakeSession(user.id, credential_version, secrets.token_hex(4), proved_at)
        self.journal.append(f"session of user {user.id} started at version {credential_version}")
        return token

    async def record_proof(self, user_id: int, handle: str) -> None:
        self._reachable()
        for session in self.of(user_id):
            if session.handle == handle:
                session.proved_at = int(time.time())
                return
        raise SessionEnded

    async def profile_changed(self, user: User) -> None:
        self._reachable()
        self.journal.append(f"sessions of user {user.id} show the new profile")

    async def credentials_changed(self, user_id: int, credential_version: int, caller: str | None = None) -> None:
        self._reachable()
        if caller is not None and caller not in {session.handle for session in self.of(user_id)}:
            raise SessionEnded
        self.live = {token: session for token, session in self.live.items() if session.user_id != user_id}
        self._floor[user_id] = max(self._floor.get(user_id, 0), credential_version)
        self.journal.append(f"sessions of user {user_id} ended at version {credential_version}")

    async def list_sessions(self, user_id: int) -> list[SessionInfo]:
        now = _now()
        return [SessionInfo(session.handle, now, now, "a browser", IP) for session in self.of(user_id)]

    async def end_one_session(self, user_id: int, handle: str) -> bool:
        for token, session in list(self.live.items()):
            if session.user_id == user_id and session.handle == handle:
                del self.live[token]
                return True
        return False

    async def end_all_sessions(self, user_id: int, keep: str | None = None) -> int:
        ended = [t for t, s in self.live.items() if s.user_id == user_id and s.handle != keep]
        for token in ended:
            del self.live[token]
        return len(ended)


class FakePending:
    """Pending two-factor sign-ins, and the wrong codes counted against each."""

    def __init__(self, journal: list[str]) -> None:
        self.journal = journal
        self.pending: dict[str, PendingSignIn] = {}
        self.wrong_codes: dict[str, int] = {}

    async def start(self, pending: PendingSignIn) -> str:
        token = secrets.token_urlsafe(16)
        self.pending[token] = pending
        return token

    async def get(self, token: str) -> PendingSignIn | None:
        return self.pending.get(token)

    async def failed(self, token: str, most: int) -> None:
        self.wrong_codes[token] = self.wrong_codes.get(token, 0) + 1
        self.journal.append("wrong code counted against the pending sign-in")
        if self.wrong_codes[token] >= most:
            self.pending.pop(token, None)

    async def end(self, token: str) -> bool:
        return self.pending.pop(token, None) is not None


class FakeChallenges:
    """WebAuthn challenges by (purpose, binding), each taken once."""

    def __init__(self) -> None:
        self.live: dict[tuple[str, str], IssuedChallenge] = {}

    async def issue(self, purpose: str, binding: str, issued: IssuedChallenge) -> None:
        self.live[purpose, binding] = issued

    async def take(self, purpose: str, binding: str) -> IssuedChallenge | None:
        return self.live.pop((purpose, binding), None)


@dataclass
class FakeLimiter:
    """Refuses nothing: it records what the rules count, under which subjects. `reached_by_failures`: every failure
    reaches every limit it is counted under (the answer of `end_attempt`)."""

    hits: list[tuple[Check, ...]] = field(default_factory=list)
    begun: list[tuple[Check, ...]] = field(default_factory=list)
    ended: list[Outcome] = field(default_factory=list)
    reached_by_failures: bool = False

    async def hit(self, *checks: Check) -> None:
        self.hits.append(checks)

    async def begin_attempt(self, *checks: Check) -> str:
        self.begun.append(checks)
        return f"attempt {len(self.begun)}"

    async def end_attempt(self, attempt: str, outcome: Outcome, *checks: Check) -> tuple[Check, ...]:
        self.ended.append(outcome)
        return checks if self.reached_by_failures and outcome is Outcome.FAILURE else ()


# --- notices, and work after the response ---------------------------------------------------------------------------


@dataclass
class FakeNotifier:
    sent: list[Notice] = field(default_factory=list)

    async def notify(self, notice: Notice) -> None:
        self.sent.append(notice)

    def of(self, kind: type[T]) -> list[T]:
        return [notice for notice in self.sent if isinstance(notice, kind)]

    def token(self, kind: type[LinkNotice]) -> str:
        """The token of the link in the last notice of this kind."""
        notice = self.of(kind)[-1]
        match = _LINK_TOKEN.search(notice.link)
        assert match is not None, notice.link
        return match[1]


class Spawned:
    """The work a service leaves for after the response (notices), kept until `run`."""

    def __init__(self) -> None:
        self.work: list[tuple[str, Coroutine[Any, Any, None]]] = []

    def __call__(self, work: Coroutine[Any, Any, None], what: str) -> None:
        self.work.append((what, work))

    async def run(self) -> list[str]:
        done, self.work = self.work, []
        for _, work in done:
            await work
        return [what for what, _ in done]

    def close(self) -> None:
        for _, work in self.work:
            work.close()
        self.work = []


class Unused:
    """A port the rule under test never reaches."""

    def __getattr__(self, name: str) -> Any:
        raise AssertionError(f"unexpected call: {name}")


class HookedHasher(PasswordHasher):
    """A hasher that runs `after_hash` / `after_verify` (once each, if set): something committed meanwhile."""

    after_hash: Callable[[], None] | None = None
    after_verify: Callable[[], None] | None = None

    async def hash(self, password: str) -> str:
        hashed = await super().hash(password)
        if self.after_hash is not None:
            self.after_hash()
            self.after_hash = None
        return hashed

    async def verify(self, password_hash: str, password: str) -> Any:
        verification = await super().verify(password_hash, password)
        if self.after_verify is not None:
            self.after_verify()
            self.after_verify = None
        return verification


def fast_hasher() -> HookedHasher:
    return HookedHasher(threads=1, time_cost=1, memory_cost_kib=1024)


# --- the services on the fakes --------------------------------------------------------------------------------------


class Fakes:
    """Every port faked, with the services built on them, as the app's composition root builds them."""

    def __init__(self, hasher: HookedHasher, policy: PasswordPolicy | None = None) -> None:
        self.journal: list[str] = []
        self.db = FakeDatabase(self.journal)
        self.limiter = FakeLimiter()
        self.sessions = FakeSessions(self.journal)
        self.pending = FakePending(self.journal)
        self.notifier = FakeNotifier()
        self.spawned = Spawned()
        self.hasher = hasher
        self.devices = DeviceTokens(b"d" * 32)
        self.secret_box = SecretBox(b"s" * 32)
        self.recovery_code_key = b"c" * 32
        audit = AuditLog(b"a" * 32)
        policy = policy or PasswordPolicy()
        self.links = EmailLinks(
            notifier=self.notifier,
            spawn=self.spawned,
            secret=b"e" * 32,
            frontend_url=FRONTEND_URL,
            verify_ttl=3600,
            change_ttl=3600,
        )
        shared = Collaborators(
            db=self.db,
            limiter=self.limiter,
            limits=LIMITS,
            sessions=self.sessions,
            notifier=self.notifier,
            spawn=self.spawned,
            audit=audit,
        )
        self.auth = AuthService(
            shared,
            hasher=hasher,
            devices=self.devices,
            links=self.links,
            pending=self.pending,
            frontend_url=FRONTEND_URL,
            policy=policy,
        )
        self.password_reset = PasswordResetService(
            shared,
            hasher=hasher,
            secret=b"r" * 32,
            frontend_url=FRONTEND_URL,
            token_ttl=3600,
            removes_mfa_enabled_within=REMOVES_MFA_ENABLED_WITHIN,
            policy=policy,
        )
        self.seconds_passed = 0.0  # how far sudo mode's clock is ahead of the real one (`later`)
        self.sudo = SudoMode(
            shared, auth=self.auth, window_seconds=SUDO_WINDOW, clock=lambda: time.time() + self.seconds_passed
        )
        self.account = AccountService(
            shared, hasher=hasher, auth=self.auth, sudo=self.sudo, policy=policy, frontend_url=FRONTEND_URL
        )
        self.addresses = AddressService(
            shared, auth=self.auth, sudo=self.sudo, links=self.links, frontend_url=FRONTEND_URL
        )
        self.mfa = MfaService(
            shared,
            auth=self.auth,
            sudo=self.sudo,
            pending=self.pending,
            secret_box=self.secret_box,
            recovery_code_key=self.recovery_code_key,
            frontend_url=FRONTEND_URL,
        )
        self.challenges = FakeChallenges()
        self.passkeys = PasskeyService(
            shared,
            auth=self.auth,
            sudo=self.sudo,
            challenges=self.challenges,
            relying_party=RELYING_PARTY,
            frontend_url=FRONTEND_URL,
        )

    # Arranged directly in the tables, as the integration tests arrange rows in SQL.

    async def add_account(
        self, email: str = ADA_EMAIL, password: str = PASSWORD, *, verified: bool = True, user_id: int = ADA_ID
    ) -> User:
        password_hash = await self.hasher.hash(password)
        self.db.tables.users[user_id] = UserRow(user_id, email, password_hash, _now(), email_verified=verified)
        return self.user(user_id)

    def row(self, user_id: int = ADA_ID) -> UserRow:
        return self.db.tables.users[user_id]

    def user(self, user_id: int = ADA_ID) -> User:
        """The account as PostgreSQL has it now."""
        return FakeUsers(self.db)._user(self.row(user_id))

    def current(self, user_id: int = ADA_ID, token: str | None = None) -> CurrentUser:
        """The account as a session of it shows it now: with `token`, that session's last proof of a factor;
        without, a session that has just signed in (in sudo mode)."""
        user = self.user(user_id)
        proved_at = int(time.time()) if token is None else self.sessions.live[token].proved_at
        return CurrentUser(user.id, user.profile, proved_at)

    def later(self, seconds: float) -> None:
        """Let `seconds` pass for sudo mode."""
        self.seconds_passed += seconds

    def change_committed_elsewhere(self, user_id: int = ADA_ID) -> None:
        """A credential change (a reset, say) committed by another request: the version moves on."""
        self.row(user_id).credential_version += 1
        self.journal.append(f"elsewhere: version of user {user_id} advanced")

    # Through the services.

    async def sign_in(self, email: str = ADA_EMAIL, password: str = PASSWORD) -> str:
        """A session's token (the cookie value), signed in with the password alone (its new-device mail sent)."""
        sign_in = await self.auth.login(email, password, CLIENT, None, None)
        assert isinstance(sign_in, SignIn), "two-factor sign-in is on"
        await self.spawned.run()
        return sign_in.session_token

    async def reset_token(self, email: str = ADA_EMAIL) -> str:
        """The token of a reset link mailed to the address."""
        await self.password_reset.request_reset(email, IP)
        await self.spawned.run()
        return self.notifier.token(ResetLink)


def in_order(journal: list[str], *events: str) -> bool:
    """The events are in the journal in this order (others may come between)."""
    remaining = iter(journal)
    return all(event in remaining for event in events)


def transactions(journal: list[str]) -> list[list[str]]:
    """The journal's transactions, each as the events from its `begin` to its `commit` or `rollback`."""
    found: list[list[str]] = []
    current: list[str] | None = None
    for event in journal:
        if event == "begin":
            current = [event]
        elif current is not None:
            current.append(event)
            if event in ("commit", "rollback"):
                found.append(current)
                current = None
    return found
