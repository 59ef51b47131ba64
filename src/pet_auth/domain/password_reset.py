"""Password recovery: an emailed, single-use token, then a new password.

A reset link is proof of the mailbox, and the mailbox outranks a session: only another reset, a change of address
or the account's deletion ends a link already mailed, never a change made from a session (a new password, two-factor
sign-in turned on or off). Once a reset answers, nothing that existed before it can sign in or change the account:
every session, device cookie, pending sign-in and mailed link ends with the credential version it advances; a
change racing it loses (each is conditional on the version it verified); and when it is the first proof of the
address, the second factor set up before it goes too (addresses.py).

Passkeys stay (a lost password is no reason to lose them), and the notice names them, except those added within
RESET_REMOVES_MFA_ENABLED_WITHIN before it (or, on the first proof of the address, all): as a second factor turned on
shortly before, they may be a phisher's, who held a session. The notice names those removed too.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from urllib.parse import urlencode

from pet_auth.domain.emails import normalize_email
from pet_auth.domain.errors import InvalidToken
from pet_auth.domain.limits import within_limits
from pet_auth.domain.models import Client, User
from pet_auth.domain.notices import PasswordChanged, ResetLink
from pet_auth.domain.passwords import PasswordHasher, PasswordPolicy
from pet_auth.domain.ports import Collaborators, Repositories
from pet_auth.domain.security_events import EventKind, security_event
from pet_auth.domain.tokens import keyed_digest, new_token


@dataclass(frozen=True, slots=True)
class _ResetDone:
    user: User
    mfa_removed: bool
    passkeys_kept: tuple[str, ...]
    passkeys_removed: tuple[str, ...]


class PasswordResetService:
    def __init__(
        self,
        shared: Collaborators,
        *,
        hasher: PasswordHasher,
        secret: bytes,
        frontend_url: str,
        token_ttl: int,
        removes_mfa_enabled_within: timedelta,
        policy: PasswordPolicy,
    ) -> None:
        self._db, self._limiter, self._limits = shared.db, shared.limiter, shared.limits
        self._sessions, self._notifier = shared.sessions, shared.notifier
        self._spawn, self._audit = shared.spawn, shared.audit
        self._hasher, self._policy = hasher, policy
        self._secret, self._frontend_url, self._token_ttl = secret, frontend_url.rstrip("/"), token_ttl
        self._removes_mfa_enabled_within = removes_mfa_enabled_within

    def _token_hash(self, token: str) -> str:
        return keyed_digest(self._secret, token)

    async def request_reset(self, email: str, ip: str) -> None:
        """Same work on the request path whether or not the account exists: lookup and mail happen later."""
        email = normalize_email(email)
        limits = self._limits
        checks = (limits.forgot_per_ip, ip), (limits.forgot_per_email, email)
        await within_limits(self._limiter, self._audit, "forgot_password", *checks, ip=ip, email=email)
        self._audit.record("reset_requested", ip=ip, email=email)
        self._spawn(self._issue_and_mail(email), "password reset email")

    async def _issue_and_mail(self, email: str) -> None:
        token = new_token()
        expires_at = datetime.now(UTC) + timedelta(seconds=self._token_ttl)
        async with self._db.transaction() as repos:
            user_id = await repos.users.get_id_by_email(email)
            if user_id is None:
                return
            await repos.reset_tokens.replace_for_user(user_id, self._token_hash(token), expires_at)
        link = f"{self._frontend_url}/reset-password?{urlencode({'token': token})}"
        await self._notifier.notify(ResetLink(email, link, max(1, self._token_ttl // 60)))

    async def reset(self, token: str, new_password: str, client: Client) -> None:
        """The new password's minimum length is that of a password used with a second factor if two-factor
        sign-in is still on once the reset is done, else that of a password that is the only factor."""
        # Whether the account keeps a second factor is known only in the transaction: the lower minimum first.
        self._policy.check(new_password, mfa=None)
        token_hash = self._token_hash(token)
        # Looked up before hashing so that junk tokens cost no argon2 run; `consume` below is what decides.
        async with self._db.read() as repos:
            user_id = await repos.reset_tokens.live_user(token_hash)
        if user_id is None:
            raise InvalidToken
        # Only the holder of a live link gets the corpus of breached passwords asked.
        await self._policy.check_not_breached(new_password)
        new_hash = await self._hasher.hash(new_password)

        async def reset(repos: Repositories) -> _ResetDone:
            account = await repos.users.lock(user_id)  # first, as every credential change: one lock order
            if account is None or await repos.reset_tokens.consume(token_hash) != user_id:
                raise InvalidToken
            # The first proof of the address: a second factor set up before it came from whoever knew the password,
            # who may not own the mailbox (the links go below, the rest with the version). Else one turned on
            # shortly before may be a phisher's, who held a session and the password.
            since = datetime.now(UTC) - self._removes_mfa_enabled_within if account.email_verified else None
            mfa_removed = await repos.mfa.delete_enabled_after(user_id, since)
            passkeys_removed = await repos.passkeys.delete_added_after(user_id, since)
            version = await repos.users.change_password_hash(
                user_id, new_hash, verified_version=None, proves_email=True
            )
            assert version is not None  # the row is locked by this transaction
            await repos.reset_tokens.delete_for_user(user_id, keep_token_hash=token_hash)
            await repos.email_tokens.delete_for_user(user_id)
            user = await repos.users.get(user_id)
            assert user is not None  # likewise
            # The account as the reset leaves it (two-factor sign-in removed or kept): a password too short for
            # it undoes the whole transaction, and the link stays usable.
            self._policy.check(new_password, mfa=user.profile.mfa_enabled)
            # `passkeysRemoved` only when the reset removed any.
            detail = {"passkeysRemoved": len(passkeys_removed)} if passkeys_removed else {}
            event = security_event(EventKind.PASSWORD_RESET, client, mfaRemoved=mfa_removed, **detail)
            await repos.security_events.add(user_id, event)
            kept = tuple(passkey.name for passkey in await repos.passkeys.list_for_user(user_id))
            # Inside the transaction: if Redis fails, nothing commits and the link stays usable. The new version
            # also starts the account's sign-in limits afresh: the link proved the mailbox.
            await self._sessions.credentials_changed(user_id, version)
            return _ResetDone(user, mfa_removed, kept, tuple(passkeys_removed))

        done = await self._db.retrying(reset)
        self._audit.record("reset_completed", ip=client.ip, user_id=user_id)
        notice = PasswordChanged(
            done.user.profile.email,
            this_device_kept=False,
            mfa_removed=done.mfa_removed,
            passkeys_kept=done.passkeys_kept,
            passkeys_removed=done.passkeys_removed,
        )
        self._spawn(self._notifier.notify(notice), "password changed email")
