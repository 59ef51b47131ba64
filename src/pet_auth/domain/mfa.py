"""Two-factor sign-in: a TOTP authenticator app (RFC 6238) and ten single-use recovery codes.

A sign-in of an account with two-factor sign-in stops after the password (`AuthService.login` returns an
`MfaChallenge`, a pending sign-in); a code completes it here. Turning two-factor sign-in on or off and making new
recovery codes are credential changes: the credential version advances (only from the version the password was
checked against), every session and device cookie of the user ends, and the caller gets new ones. Setting up an
authenticator needs a verified address (else an address could be squatted with a second factor); a setup not
confirmed within ten minutes expires, and wrong codes count against the account's budget for codes.

Every use of a user's codes holds the lock on their `users` row, then on their `user_mfa` row (the order of every
credential change), until it commits, so a code is accepted once however many requests carry it, and a pending
sign-in is completed once.
"""

from __future__ import annotations

import enum
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from pet_auth.domain import recovery_codes, totp
from pet_auth.domain.auth import AuthService
from pet_auth.domain.clients import display_network
from pet_auth.domain.errors import (
    CodeAlreadyUsed,
    EmailNotVerified,
    InvalidCode,
    InvalidCredentials,
    InvalidSignInCode,
    MfaAlreadyEnabled,
    MfaExpired,
    MfaNotEnabled,
    MfaSetupRequired,
    RateLimited,
    SignInCodeAlreadyUsed,
)
from pet_auth.domain.limits import counted_within
from pet_auth.domain.models import (
    Client,
    Credentials,
    CurrentUser,
    MfaRecord,
    PendingSignIn,
    Renewed,
    SessionRef,
    SignIn,
    User,
)
from pet_auth.domain.notices import MfaDisabled, MfaEnabled, MfaFailures, RecoveryCodesReplaced, RecoveryCodeUsed
from pet_auth.domain.ports import (
    Collaborators,
    Outcome,
    PendingSignIns,
    Repositories,
)
from pet_auth.domain.secret_box import SecretBox
from pet_auth.domain.security_events import (
    EventKind,
    activity_link,
    now_in_words,
    record_alone,
    security_event,
)
from pet_auth.domain.sudo import SudoMode

# Wrong codes that end a pending sign-in (the password must then be given again).
MAX_WRONG_CODES = 5
# How long an authenticator setup waits for its first code.
SETUP_LIFETIME = timedelta(minutes=10)
# Second factors refused after the right password, in a window, that mail the owner (once per window): someone has
# the password. `Limits.mfa_failures_per_account` tolerates one fewer.
FAILED_CODES_NOTICED = 3
TOTP, RECOVERY_CODE = "totp", "recovery_code"


class _Code(enum.Enum):
    """What a code turned out to be."""

    ACCEPTED = "accepted"
    WRONG = "wrong"
    # A right TOTP code of a step already used (or older): refused as a wrong one, with its own answer.
    USED = "used"


@dataclass(frozen=True, slots=True)
class TotpSetup:
    secret: str  # base32, to type into an authenticator app
    otpauth_uri: str  # the same, for a QR code


@dataclass(frozen=True, slots=True)
class MfaStatus:
    enabled: bool
    recovery_codes_left: int


@dataclass(frozen=True, slots=True)
class RecoveryCodes:
    """New recovery codes, shown this once, and the caller's new session and device cookie (the change ended every
    other)."""

    codes: list[str]
    renewed: Renewed


@dataclass(slots=True)
class _Attempt:
    # Unless the code gets an answer, the attempt counts as nothing (an outage is not a guess).
    outcome: Outcome = Outcome.ABANDONED


class MfaService:
    def __init__(
        self,
        shared: Collaborators,
        *,
        auth: AuthService,
        sudo: SudoMode,
        pending: PendingSignIns,
        secret_box: SecretBox,
        recovery_code_key: bytes,
        frontend_url: str,
    ) -> None:
        self._db, self._limiter, self._limits = shared.db, shared.limiter, shared.limits
        self._sessions, self._notifier = shared.sessions, shared.notifier
        self._spawn, self._audit = shared.spawn, shared.audit
        self._auth, self._pending, self._box, self._code_key = auth, pending, secret_box, recovery_code_key
        self._sudo = sudo
        self._activity_link = activity_link(frontend_url)

    async def status(self, user_id: int) -> MfaStatus:
        async with self._db.read() as repos:
            record = await repos.mfa.get(user_id)
            if record is None or not record.enabled:
                return MfaStatus(enabled=False, recovery_codes_left=0)
            return MfaStatus(enabled=True, recovery_codes_left=await repos.mfa.count_recovery_codes(user_id))

    async def begin_setup(
        self,
        user: CurrentUser,
        caller: str | None,
        current_password: str | None,
        client: Client,
        device_token: str | None,
    ) -> TotpSetup:
        """A new secret, not active until `confirm_setup` sees a code of it; it replaces an unconfirmed one. Only
        for a verified address, in sudo mode."""
        credentials, _ = await self._sudo.confirm(user, current_password, client, device_token)
        secret = totp.new_secret()

        async def begin(repos: Repositories) -> None:
            account = await repos.users.lock(user.id)
            if account is None or account.credential_version != credentials.version:
                raise InvalidCredentials
            if not account.email_verified:
                raise EmailNotVerified
            if not await repos.mfa.begin_setup(user.id, self._box.seal(secret, user.id)):
                raise MfaAlreadyEnabled

        await self._db.retrying(begin)
        await self._sudo.restart(user.id, caller)
        self._audit.record("mfa_setup_started", ip=client.ip, user_id=user.id)
        return TotpSetup(secret=totp.base32(secret), otpauth_uri=totp.otpauth_uri(secret, user.profile.email))

    async def confirm_setup(self, user: CurrentUser, caller: str | None, code: str, client: Client) -> RecoveryCodes:
        """Turn two-factor sign-in on with a first code of the new secret, within the setup's lifetime, from a
        session (`caller`, its handle) that still exists when it is written. Wrong codes count against the
        account's budget for codes, as at sign-in."""
        codes = recovery_codes.new_codes()
        async with self._db.read() as repos:
            version = await repos.users.credential_version(user.id)
        if version is None:
            raise InvalidCredentials
        async with self._code_attempt(user.id, version, None, client) as attempt:

            async def enable(repos: Repositories) -> Credentials:
                await repos.users.lock(user.id)  # first, as every credential change: one lock order
                record = await repos.mfa.lock(user.id)
                if record is not None and record.enabled:
                    raise MfaAlreadyEnabled
                if record is None or record.created_at < datetime.now(UTC) - SETUP_LIFETIME:
                    raise MfaSetupRequired
                checked = await self._use_totp(repos, user.id, record, code)
                if checked is not _Code.ACCEPTED:
                    attempt.outcome = Outcome.FAILURE
                    raise CodeAlreadyUsed if checked is _Code.USED else InvalidCode
                await repos.mfa.enable(user.id, self._hashes(user.id, codes))
                await repos.security_events.add(user.id, security_event(EventKind.MFA_ENABLED, client))
                return await self._credentials_changed(repos, user.id, version, caller)

            credentials = await self._db.retrying(enable)
            attempt.outcome = Outcome.SUCCESS
        renewed = await self._auth.renew(credentials, client)
        self._audit.record("mfa_enabled", ip=client.ip, user_id=user.id)
        self._spawn(self._notifier.notify(MfaEnabled(user.profile.email)), "mfa enabled email")
        return RecoveryCodes(codes, renewed)

    async def replace_recovery_codes(
        self,
        user: CurrentUser,
        caller: str | None,
        current_password: str | None,
        code: str,
        client: Client,
        device_token: str | None,
    ) -> RecoveryCodes:
        codes = recovery_codes.new_codes()

        async def replace(repos: Repositories) -> None:
            await repos.mfa.replace_recovery_codes(user.id, self._hashes(user.id, codes))
            await repos.security_events.add(user.id, security_event(EventKind.RECOVERY_CODES_REGENERATED, client))

        renewed = await self._change_with_code(user, caller, current_password, code, client, device_token, replace)
        self._audit.record("mfa_recovery_codes_replaced", ip=client.ip, user_id=user.id)
        self._spawn(self._notifier.notify(RecoveryCodesReplaced(user.profile.email)), "recovery codes email")
        return RecoveryCodes(codes, renewed)

    async def disable(
        self,
        user: CurrentUser,
        caller: str | None,
        current_password: str | None,
        code: str,
        client: Client,
        device_token: str | None,
    ) -> Renewed:
        """Turn two-factor sign-in off (the secret and the recovery codes are deleted); returns the caller's new
        session and device cookie."""

        async def delete(repos: Repositories) -> None:
            await repos.mfa.delete(user.id)
            await repos.security_events.add(user.id, security_event(EventKind.MFA_DISABLED, client))

        renewed = await self._change_with_code(user, caller, current_password, code, client, device_token, delete)
        self._audit.record("mfa_disabled", ip=client.ip, user_id=user.id)
        self._spawn(self._notifier.notify(MfaDisabled(user.profile.email)), "mfa disabled email")
        return renewed

    async def reauthenticate(self, user: CurrentUser, caller: str | None, code: str, client: Client) -> None:
        """Re-authenticate (sudo mode) with a code from the authenticator app, under the sign-in limits for codes;
        a code works once, here as at sign-in."""
        async with self._db.read() as repos:
            version = await repos.users.credential_version(user.id)
        if version is None:
            raise InvalidCredentials
        async with self._code_attempt(user.id, version, None, client) as attempt:

            async def use_code(repos: Repositories) -> None:
                record = await repos.mfa.lock(user.id)
                if record is None or not record.enabled:
                    raise MfaNotEnabled
                checked = await self._use_totp(repos, user.id, record, code)
                if checked is not _Code.ACCEPTED:
                    attempt.outcome = Outcome.FAILURE
                    raise CodeAlreadyUsed if checked is _Code.USED else InvalidCode

            await self._db.retrying(use_code)
            attempt.outcome = Outcome.SUCCESS
        await self._sudo.restart(user.id, caller)
        self._audit.record("reauthenticated_with_code", ip=client.ip, user_id=user.id)

    async def complete_sign_in(
        self,
        pending_token: str | None,
        code: str | None,
        recovery_code: str | None,
        client: Client,
        device_token: str | None,
        replaces: SessionRef | None,
    ) -> SignIn:
        """The second step of a sign-in: a TOTP code or a recovery code for the pending sign-in."""
        if (code is None) == (recovery_code is None):
            # No code, or two: nothing to check, and nothing counted against the pending sign-in.
            raise InvalidSignInCode("Send one code: from your authenticator app, or a recovery code.")
        pending = None if pending_token is None else await self._pending.get(pending_token)
        if pending_token is None or pending is None:
            raise MfaExpired
        method = TOTP if recovery_code is None else RECOVERY_CODE
        async with self._code_attempt(
            pending.user_id, pending.credential_version, pending.device_id, client
        ) as attempt:
            try:
                async with self._db.transaction() as repos:
                    user, codes_left = await self._second_factor(
                        repos, pending_token, pending, code, recovery_code, client
                    )
            except InvalidSignInCode:
                attempt.outcome = Outcome.FAILURE
                await self._second_factor_refused(pending.user_id, client, method)
                raise
            attempt.outcome = Outcome.SUCCESS
        # A credential change committed since the lock was released still wins: `CredentialsChanged`, a 401.
        credentials = Credentials(user, password_hash="", version=pending.credential_version)  # no hash needed
        sign_in = await self._auth.finish_login(credentials, client, device_token, replaces, second_factor=method)
        if codes_left is not None:
            self._audit.record("recovery_code_used", ip=client.ip, user_id=user.id)
            self._spawn(self._notifier.notify(RecoveryCodeUsed(user.profile.email, codes_left)), "recovery code email")
        return sign_in

    async def _second_factor(
        self,
        repos: Repositories,
        pending_token: str,
        pending: PendingSignIn,
        code: str | None,
        recovery_code: str | None,
        client: Client,
    ) -> tuple[User, int | None]:
        """Check the code of a pending sign-in and end it, in the caller's transaction: the user, and the recovery
        codes left when one was used. `InvalidSignInCode` for a wrong code (counted against the pending sign-in),
        `MfaExpired` for a sign-in that can no longer complete."""
        user_id = pending.user_id
        account = await repos.users.lock(user_id)  # first, as every credential change: one lock order
        record = await repos.mfa.lock(user_id)
        # Under the lock: a request that completed this sign-in, or a fifth wrong code, has ended it by now; a
        # credential change since the password (a reset, two-factor sign-in turned off) made it stale.
        if (
            account is None
            or record is None
            or not record.enabled
            or account.credential_version != pending.credential_version
            or await self._pending.get(pending_token) is None
        ):
            await self._pending.end(pending_token)
            raise MfaExpired
        if recovery_code is None:
            checked = await self._use_totp(repos, user_id, record, code or "")
        else:
            checked = await self._use_recovery_code(repos, user_id, recovery_code)
        if checked is not _Code.ACCEPTED:
            self._audit.record("login_mfa_failed", ip=client.ip, user_id=user_id)
            await self._pending.failed(pending_token, MAX_WRONG_CODES)
            raise SignInCodeAlreadyUsed if checked is _Code.USED else InvalidSignInCode
        # Before the commit: should it fail, the code stays unused and the pending sign-in is gone.
        await self._pending.end(pending_token)
        user = await repos.users.get(user_id)
        if user is None:  # the lock on the user's row kept it
            raise MfaExpired
        if recovery_code is None:
            return user, None
        codes_left = await repos.mfa.count_recovery_codes(user_id)
        event = security_event(EventKind.RECOVERY_CODE_USED, client, codesLeft=codes_left)
        await repos.security_events.add(user_id, event)
        return user, codes_left

    async def _second_factor_refused(self, user_id: int, client: Client, method: str) -> None:
        """After a wrong second factor (whose transaction rolled back, leaving nothing to join): the event, in a
        small transaction of its own; and, in the background, the owner's notice once such failures add up."""
        await record_alone(self._db, user_id, security_event(EventKind.SIGN_IN_FAILED, client, secondFactor=method))
        self._spawn(self._notice_failures(user_id, client), "failed second factors email")

    async def _notice_failures(self, user_id: int, client: Client) -> None:
        """Mail the owner at the `FAILED_CODES_NOTICED`th failure in a window: the one past the counter's limit
        (concurrent failures count atomically), and at most one such mail per window, whatever follows."""
        subject = f"user:{user_id}:mfa-failed"
        failures = (self._limits.mfa_failures_per_account, subject)
        notices = (self._limits.mfa_failure_notices_per_account, subject)
        if await counted_within(self._limiter, failures) or not await counted_within(self._limiter, notices):
            return
        async with self._db.read() as repos:
            user = await repos.users.get(user_id)
        if user is None:
            return
        notice = MfaFailures(
            user.profile.email,
            FAILED_CODES_NOTICED,
            max(1, self._limits.mfa_failures_per_account.window_seconds // 60),
            client.known_device,  # never text taken from the User-Agent
            display_network(client.ip),
            now_in_words(),
            self._activity_link,
        )
        await self._notifier.notify(notice)

    async def _change_with_code(
        self,
        user: CurrentUser,
        caller: str | None,
        current_password: str | None,
        code: str,
        client: Client,
        device_token: str | None,
        change: Callable[[Repositories], Awaitable[None]],
    ) -> Renewed:
        """The password, then a code (TOTP or recovery code), then `change`, made as a credential change from the
        caller's session; returns the caller's new session and device cookie."""
        credentials, device_id = await self._sudo.confirm(user, current_password, client, device_token)
        async with self._code_attempt(user.id, credentials.version, device_id, client) as attempt:

            async def change_with_code(repos: Repositories) -> Credentials:
                await repos.users.lock(user.id)  # first, as every credential change: one lock order
                record = await repos.mfa.lock(user.id)
                if record is None or not record.enabled:
                    raise MfaNotEnabled
                is_totp = totp.as_code(code) is not None
                if is_totp:
                    checked = await self._use_totp(repos, user.id, record, code)
                else:
                    checked = await self._use_recovery_code(repos, user.id, code)
                if checked is not _Code.ACCEPTED:
                    attempt.outcome = Outcome.FAILURE
                    raise CodeAlreadyUsed if checked is _Code.USED else InvalidCode
                if not is_totp:
                    await repos.security_events.add(user.id, security_event(EventKind.RECOVERY_CODE_USED, client))
                await change(repos)
                return await self._credentials_changed(repos, user.id, credentials.version, caller)

            renewed = await self._db.retrying(change_with_code)
            attempt.outcome = Outcome.SUCCESS
        return await self._auth.renew(renewed, client)

    async def _credentials_changed(
        self, repos: Repositories, user_id: int, verified_version: int, caller: str | None
    ) -> Credentials:
        """Advance the credential version if it is still the one verified, and end every session of the user if
        the caller's still exists (inside the transaction: if Redis fails, nothing commits); the credentials the
        caller's new session is stored for. Reset links stay: the mailbox outranks a session."""
        version = await repos.users.advance_credential_version(user_id, verified_version)
        if version is None:  # a credential change (a reset) committed since the password was checked
            raise InvalidCredentials
        await self._sessions.credentials_changed(user_id, version, caller)
        user = await repos.users.get(user_id)
        assert user is not None  # the row was just updated in this transaction
        return Credentials(user, password_hash="", version=version)  # a session needs no hash

    @asynccontextmanager
    async def _code_attempt(
        self, user_id: int, credential_version: int, device_id: str | None, client: Client
    ) -> AsyncIterator[_Attempt]:
        """One check of a second factor under the sign-in limits (the device rules as for passwords). Codes have
        counters of their own beside the password's: a right password forgets the password's failures, and must
        not forget wrong codes. The wrong code that reaches the account's limit locks it (an event)."""
        account = f"user:{user_id}:{credential_version}:mfa"
        if device_id is None:
            check = (self._limits.login_per_account, account)
        else:
            check = (self._limits.login_per_device, f"{account}:device:{device_id}")
        checks = (check, (self._limits.login_per_ip, client.ip))
        try:
            attempt_id = await self._limiter.begin_attempt(*checks)
        except RateLimited:
            self._audit.record("mfa_rate_limited", ip=client.ip, user_id=user_id)
            raise
        attempt = _Attempt()
        try:
            yield attempt
        finally:
            reached = await self._limiter.end_attempt(attempt_id, attempt.outcome, *checks)
            if check in reached:
                await self._auth.account_locked(user_id, check, client, factor="code")

    async def _use_totp(self, repos: Repositories, user_id: int, record: MfaRecord, code: str) -> _Code:
        """Accept a code of the current step or a neighbour, later than the last one accepted, and remember its
        step: a code works once. A right code of a step not later than that one is `USED`: refused all the same
        (the caller counts it as a wrong code), but the user is told to wait for the next code. It tells a guesser
        nothing of use: only a code that can never be accepted again."""
        totp_code = totp.as_code(code)
        if totp_code is None:
            return _Code.WRONG
        secret = self._box.open(record.secret_ciphertext, user_id)
        now, last = time.time(), record.last_used_step
        step = totp.matching_step(secret, totp_code, now, after=last)
        if step is None:
            return _Code.USED if totp.was_used(secret, totp_code, now, after=last) else _Code.WRONG
        await repos.mfa.use_step(user_id, step)
        return _Code.ACCEPTED

    async def _use_recovery_code(self, repos: Repositories, user_id: int, code: str) -> _Code:
        normalized = recovery_codes.normalize(code)
        if normalized is None:
            return _Code.WRONG
        digest = recovery_codes.code_hash(self._code_key, user_id, normalized)
        return _Code.ACCEPTED if await repos.mfa.use_recovery_code(user_id, digest) else _Code.WRONG

    def _hashes(self, user_id: int, codes: list[str]) -> list[str]:
        # New codes are in canonical form but for their hyphen.
        return [recovery_codes.code_hash(self._code_key, user_id, code.replace("-", "")) for code in codes]
