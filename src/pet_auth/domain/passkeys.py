"""Passkeys (WebAuthn): registering one from a session, signing in with one, re-authenticating with one, and the
user's list of them.

A passkey with user verification is two factors in one: signing in with it completes the sign-in, with no TOTP step,
and starts a session exactly as a password sign-in does (`AuthService.finish_login`: a rotated session, the device
cookie and the new-device rules). Adding or removing one is a credential change, like every other: the credential
version advances (in the transaction, under the lock on the user's row), every session and device cookie of the user
ends, and the caller gets new ones. So a sign-in racing a removal, or a reset, stores no session: it read the
credential version with the passkey, and a session is only stored for the version it was verified against.

Each challenge is single-use (read and deleted in one step, whatever the answer), lives WEBAUTHN_CHALLENGE_TTL (5
minutes), and is bound to what it was issued for: a registration's and a re-authentication's to the caller's
session, a sign-in's to the token of a short-lived HttpOnly flow cookie. Registering needs a verified address, as
setting up an authenticator app does: else an address could be squatted with a passkey (the first proof of the
address removes passkeys, as it removes a second factor: addresses.py).
"""

from __future__ import annotations

import unicodedata
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

from pet_auth.domain import passkey_ceremonies as ceremonies
from pet_auth.domain.auth import AuthService
from pet_auth.domain.errors import (
    EmailNotVerified,
    FieldError,
    InvalidCredentials,
    InvalidInput,
    LastSignInMethod,
    PasskeyAlreadyRegistered,
    PasskeyChallengeInvalid,
    PasskeyError,
    PasskeyLimitReached,
    PasskeyNotFound,
    PasskeyNotRecognized,
    PasskeySignInInvalid,
    RateLimited,
    SessionEnded,
)
from pet_auth.domain.limits import within_limits
from pet_auth.domain.models import (
    Client,
    Credentials,
    CurrentUser,
    IssuedChallenge,
    Passkey,
    PasskeyOwner,
    Renewed,
    SessionRef,
    SignIn,
)
from pet_auth.domain.notices import PasskeyAdded, PasskeyRemoved
from pet_auth.domain.passkey_ceremonies import OptionsJSON, RelyingParty
from pet_auth.domain.ports import Collaborators, Outcome, PasskeyChallenges, Repositories
from pet_auth.domain.security_events import EventKind, activity_link, now_in_words, security_event
from pet_auth.domain.sudo import SudoMode
from pet_auth.domain.tokens import new_token

MAX_PASSKEYS = 10
MAX_NAME_LENGTH = 120
DEFAULT_NAME = "Passkey"
# Passkey ids are PostgreSQL bigints: a larger number is no passkey at all.
MAX_PASSKEY_ID = 2**63 - 1
# What each challenge is bound to: the purpose, then the session handle or the flow cookie's token.
REGISTRATION, SIGN_IN, REAUTHENTICATION = "register", "sign-in", "reauthenticate"
# How the activity log's sign-in event names the factor.
PASSKEY_FACTOR = "passkey"


@dataclass(frozen=True, slots=True)
class SignInFlow:
    """The options of a passkey sign-in, and the token of the flow cookie its challenge is bound to."""

    token: str
    options: OptionsJSON


@dataclass(frozen=True, slots=True)
class RegisteredPasskey:
    passkey: Passkey
    renewed: Renewed  # the caller's new session and device cookie


class _Attempt:
    outcome = Outcome.ABANDONED


def passkey_name(raw: str | None, *, required: bool) -> str:
    """A passkey's name: trimmed, 1 to 120 characters, no control characters. Without one (or only spaces), a
    registration names it "Passkey"; a rename must give one."""
    name = (raw or "").strip()
    if not name:
        if required:
            raise InvalidInput(FieldError("name", "must not be empty"))
        return DEFAULT_NAME
    if len(name) > MAX_NAME_LENGTH:
        raise InvalidInput(FieldError("name", f"must be at most {MAX_NAME_LENGTH} characters"))
    if any(unicodedata.category(character) == "Cc" for character in name):
        raise InvalidInput(FieldError("name", "must not contain control characters"))
    return name


class PasskeyService:
    def __init__(
        self,
        shared: Collaborators,
        *,
        auth: AuthService,
        sudo: SudoMode,
        challenges: PasskeyChallenges,
        relying_party: RelyingParty,
        frontend_url: str,
    ) -> None:
        self._db, self._limiter, self._limits = shared.db, shared.limiter, shared.limits
        self._sessions, self._notifier = shared.sessions, shared.notifier
        self._spawn, self._audit = shared.spawn, shared.audit
        self._auth, self._sudo, self._challenges, self._rp = auth, sudo, challenges, relying_party
        self._activity_link = activity_link(frontend_url)

    # --- registration ---------------------------------------------------------------------------------------------

    async def registration_options(self, user: CurrentUser, caller: str | None) -> OptionsJSON:
        """Creation options for a new passkey of the signed-in user (sudo mode), the challenge bound to the caller's
        session."""
        handle = _session(caller)
        await self._sudo.require(user)
        async with self._db.transaction() as repos:
            account = await repos.users.get(user.id)  # as PostgreSQL has it: the address may be verified since
            user_handle = await repos.users.webauthn_user_handle(user.id)
            existing = await repos.passkeys.descriptors_for_user(user.id)
        if account is None or user_handle is None:
            raise InvalidCredentials
        if not account.profile.email_verified:
            raise EmailNotVerified
        if len(existing) >= MAX_PASSKEYS:
            raise PasskeyLimitReached
        challenge = ceremonies.new_challenge()
        await self._challenges.issue(REGISTRATION, handle, IssuedChallenge(user.id, challenge))
        return ceremonies.creation_options(self._rp, challenge, user_handle, user.profile.email, existing)

    async def register(
        self, user: CurrentUser, caller: str | None, credential: Mapping[str, Any], name: str | None, client: Client
    ) -> RegisteredPasskey:
        """Verify a registration answer against the challenge of the caller's session and store the passkey: a
        credential change (every other session and device cookie ends; the caller gets new ones). Sudo mode."""
        name = passkey_name(name, required=False)
        await self._sudo.require(user)
        issued = await self._take(REGISTRATION, caller, user.id)
        new = ceremonies.verify_registration(self._rp, credential, issued.challenge, name)

        async def add(repos: Repositories) -> tuple[Passkey, Credentials]:
            account = await repos.users.lock(user.id)  # first, as every credential change: one lock order
            if account is None:
                raise InvalidCredentials
            if not account.email_verified:
                raise EmailNotVerified
            if await repos.passkeys.count_for_user(user.id) >= MAX_PASSKEYS:
                raise PasskeyLimitReached
            passkey = await repos.passkeys.add(user.id, new)
            if passkey is None:
                raise PasskeyAlreadyRegistered
            await repos.security_events.add(user.id, security_event(EventKind.PASSKEY_ADDED, client, passkey=name))
            return passkey, await self._credentials_changed(repos, user.id, account.credential_version, caller)

        passkey, credentials = await self._db.retrying(add)
        renewed = await self._auth.renew(credentials, client)
        self._audit.record("passkey_added", ip=client.ip, user_id=user.id)
        notice = PasskeyAdded(user.profile.email, name, client.known_device, now_in_words(), self._activity_link)
        self._spawn(self._notifier.notify(notice), "passkey added email")
        return RegisteredPasskey(passkey, renewed)

    # --- sign-in --------------------------------------------------------------------------------------------------

    async def sign_in_options(self, client: Client) -> SignInFlow:
        """Request options for any discoverable passkey (an empty allow-list: the sign-in button and the browser's
        autofill alike), the challenge bound to a new flow token for the caller's flow cookie."""
        check = (self._limits.passkey_options_per_ip, client.ip)
        await within_limits(self._limiter, self._audit, "passkey_options", check, ip=client.ip)
        challenge, token = ceremonies.new_challenge(), new_token()
        await self._challenges.issue(SIGN_IN, token, IssuedChallenge(None, challenge))
        return SignInFlow(token, ceremonies.request_options(self._rp, challenge))

    async def sign_in(
        self,
        flow_token: str | None,
        credential: Mapping[str, Any],
        client: Client,
        device_token: str | None,
        replaces: SessionRef | None,
    ) -> SignIn:
        """Sign in with a passkey's assertion for the challenge of the caller's flow: a rotated session, as after a
        password (and, with the account's two-factor sign-in on, no code: user verification was the second factor).
        Refusals count against the sign-in limit of the client's network."""
        async with self._attempt(client) as attempt:
            credentials = await self._verified_sign_in(flow_token, credential, client)
            attempt.outcome = Outcome.SUCCESS
        # A credential change (a reset, this passkey's removal) committed since the passkey was read wins here:
        # `CredentialsChanged`, a 401.
        return await self._auth.finish_login(credentials, client, device_token, replaces, second_factor=PASSKEY_FACTOR)

    async def _verified_sign_in(
        self, flow_token: str | None, credential: Mapping[str, Any], client: Client
    ) -> Credentials:
        issued = None if flow_token is None else await self._challenges.take(SIGN_IN, flow_token)
        if issued is None:
            raise PasskeyChallengeInvalid
        assertion = ceremonies.parse_assertion(credential)
        async with self._db.read() as repos:  # the passkey, its owner and their credential version: one read
            owner = await repos.passkeys.get_for_sign_in(assertion.credential_id)
        if owner is None:
            self._audit.record("passkey_login_failed", ip=client.ip)
            raise PasskeyNotRecognized
        if not ceremonies.user_handle_matches(assertion.user_handle, owner.user_handle):
            self._audit.record("passkey_login_failed", ip=client.ip, user_id=owner.credentials.user.id)
            raise PasskeySignInInvalid("The passkey does not belong to the account it names.")
        await self._verify_use(owner, assertion, issued.challenge, client)
        return owner.credentials

    async def _verify_use(
        self, owner: PasskeyOwner, assertion: ceremonies.Assertion, challenge: bytes, client: Client
    ) -> None:
        """Verify the assertion with the stored key, refuse (and log) a signature counter that went backwards, and
        record the use, only if the passkey still exists and its counter was not moved past meanwhile."""
        user_id = owner.credentials.user.id
        try:
            verified = ceremonies.verify_assertion(self._rp, assertion, challenge, owner.public_key)
        except PasskeyError:
            self._audit.record("passkey_login_failed", ip=client.ip, user_id=user_id)
            raise
        if ceremonies.sign_count_regressed(owner.sign_count, verified.sign_count):
            # Possibly a cloned authenticator: the audit log says so (never the key); the owner's passkey stays.
            self._audit.record("passkey_sign_count_regressed", ip=client.ip, user_id=user_id)
            raise PasskeySignInInvalid("This passkey's signature counter went backwards; it may have been copied.")
        async with self._db.transaction() as repos:
            used = await repos.passkeys.record_use(owner.passkey_id, user_id, verified.sign_count, verified.backed_up)
        if not used:  # removed since it was read (or a concurrent use moved its counter past this one's)
            raise PasskeyNotRecognized

    @asynccontextmanager
    async def _attempt(self, client: Client) -> AsyncIterator[_Attempt]:
        """One passkey assertion under the sign-in limit of the client's network: a refusal counts as a failed
        sign-in; an outage counts as nothing."""
        checks = ((self._limits.login_per_ip, client.ip),)
        try:
            attempt_id = await self._limiter.begin_attempt(*checks)
        except RateLimited:
            self._audit.record("login_rate_limited", ip=client.ip)
            raise
        attempt = _Attempt()
        try:
            yield attempt
        except PasskeyError:
            attempt.outcome = Outcome.FAILURE
            raise
        finally:
            await self._limiter.end_attempt(attempt_id, attempt.outcome, *checks)

    # --- re-authentication (sudo mode) ----------------------------------------------------------------------------

    async def reauthentication_options(self, user_id: int, session_handle: str | None) -> OptionsJSON:
        """Request options for one of the user's own passkeys (its allow-list), the challenge bound to the session;
        `PasskeyNotFound` when the user has none."""
        handle = _session(session_handle)
        async with self._db.read() as repos:
            passkeys = await repos.passkeys.descriptors_for_user(user_id)
        if not passkeys:
            raise PasskeyNotFound("This account has no passkey.")
        challenge = ceremonies.new_challenge()
        await self._challenges.issue(REAUTHENTICATION, handle, IssuedChallenge(user_id, challenge))
        return ceremonies.request_options(self._rp, challenge, passkeys)

    async def verify_reauthentication(
        self, user_id: int, session_handle: str | None, credential: Mapping[str, Any], client: Client
    ) -> None:
        """Returns when the assertion is one of the user's passkeys, with user verification, for the challenge of
        this session (and records its use); raises a `PasskeyError` otherwise (counted as a failed sign-in of the
        client's network)."""
        async with self._attempt(client) as attempt:
            issued = await self._take(REAUTHENTICATION, session_handle, user_id)
            assertion = ceremonies.parse_assertion(credential)
            async with self._db.read() as repos:
                owner = await repos.passkeys.get_for_sign_in(assertion.credential_id)
            if owner is None or owner.credentials.user.id != user_id:
                self._audit.record("passkey_reauthentication_failed", ip=client.ip, user_id=user_id)
                raise PasskeyNotRecognized
            if assertion.user_handle is not None and not ceremonies.user_handle_matches(
                assertion.user_handle, owner.user_handle
            ):
                raise PasskeySignInInvalid("The passkey does not belong to this account.")
            await self._verify_use(owner, assertion, issued.challenge, client)
            attempt.outcome = Outcome.SUCCESS
        await self._sudo.restart(user_id, session_handle)
        self._audit.record("passkey_reauthenticated", ip=client.ip, user_id=user_id)

    # --- the user's passkeys --------------------------------------------------------------------------------------

    async def list_passkeys(self, user_id: int) -> list[Passkey]:
        async with self._db.read() as repos:
            return await repos.passkeys.list_for_user(user_id)

    async def rename(self, user_id: int, passkey_id: int, name: str) -> Passkey:
        name = passkey_name(name, required=True)
        _check_id(passkey_id)
        async with self._db.transaction() as repos:
            passkey = await repos.passkeys.rename(user_id, passkey_id, name)
        if passkey is None:
            raise PasskeyNotFound
        return passkey

    async def delete(self, user: CurrentUser, caller: str | None, passkey_id: int, client: Client) -> Renewed:
        """Remove one of the user's passkeys, unless it is the last way left to sign in (no password, no other
        passkey): a credential change, as adding one. Sudo mode."""
        _check_id(passkey_id)
        await self._sudo.require(user)

        async def remove(repos: Repositories) -> tuple[Passkey, Credentials]:
            account = await repos.users.lock(user.id)  # first, as every credential change: one lock order
            if account is None:
                raise InvalidCredentials
            passkey = await repos.passkeys.delete(user.id, passkey_id)
            if passkey is None:
                raise PasskeyNotFound
            if not account.has_password and await repos.passkeys.count_for_user(user.id) == 0:
                raise LastSignInMethod  # the transaction rolls back: the passkey stays
            event = security_event(EventKind.PASSKEY_REMOVED, client, passkey=passkey.name)
            await repos.security_events.add(user.id, event)
            return passkey, await self._credentials_changed(repos, user.id, account.credential_version, caller)

        passkey, credentials = await self._db.retrying(remove)
        renewed = await self._auth.renew(credentials, client)
        self._audit.record("passkey_removed", ip=client.ip, user_id=user.id)
        notice = PasskeyRemoved(
            user.profile.email, passkey.name, client.known_device, now_in_words(), self._activity_link
        )
        self._spawn(self._notifier.notify(notice), "passkey removed email")
        return renewed

    # --- shared ---------------------------------------------------------------------------------------------------

    async def _take(self, purpose: str, session_handle: str | None, user_id: int) -> IssuedChallenge:
        """The challenge issued to this session for `purpose`, used up; `PasskeyChallengeInvalid` without one."""
        issued = await self._challenges.take(purpose, _session(session_handle))
        if issued is None or issued.user_id != user_id:
            raise PasskeyChallengeInvalid
        return issued

    async def _credentials_changed(
        self, repos: Repositories, user_id: int, verified_version: int, caller: str | None
    ) -> Credentials:
        """Advance the credential version (still the one read under the lock) and end every session of the user if
        the caller's still exists (inside the transaction: if Redis fails, nothing commits)."""
        version = await repos.users.advance_credential_version(user_id, verified_version)
        if version is None:
            raise InvalidCredentials
        await self._sessions.credentials_changed(user_id, version, caller)
        user = await repos.users.get(user_id)
        assert user is not None  # the row is locked by this transaction
        return Credentials(user, password_hash="", version=version)


def _session(handle: str | None) -> str:
    if handle is None:
        raise SessionEnded
    return handle


def _check_id(passkey_id: int) -> None:
    if not 1 <= passkey_id <= MAX_PASSKEY_ID:
        raise PasskeyNotFound
