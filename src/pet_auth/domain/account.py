"""A signed-in user's own security: change password, see and end sessions, review the activity log."""

from __future__ import annotations

from pet_auth.domain.auth import AuthService
from pet_auth.domain.errors import FieldError, InvalidCredentials, InvalidInput, LastSignInMethod, SessionNotFound
from pet_auth.domain.limits import within_limits
from pet_auth.domain.models import Client, Credentials, CurrentUser, Renewed, SessionInfo
from pet_auth.domain.notices import AccountDeleted, PasswordChanged, PasswordRemoved
from pet_auth.domain.passwords import NO_PASSWORD, PasswordHasher, PasswordPolicy
from pet_auth.domain.ports import Collaborators, Repositories
from pet_auth.domain.security_events import (
    DEFAULT_PAGE_SIZE,
    MAX_EVENT_ID,
    MAX_PAGE_SIZE,
    EventKind,
    EventPage,
    activity_link,
    record_alone,
    security_event,
)
from pet_auth.domain.sudo import SudoMode

NEW_PASSWORD = "newPassword"  # noqa: S105 - a field's name
# Past any version an account can reach: a sign-in still in flight for a deleted account stores no session.
DELETED_CREDENTIAL_VERSION = 2**62


class AccountService:
    def __init__(
        self,
        shared: Collaborators,
        *,
        hasher: PasswordHasher,
        auth: AuthService,
        sudo: SudoMode,
        policy: PasswordPolicy,
        frontend_url: str,
    ) -> None:
        self._db, self._limiter, self._limits = shared.db, shared.limiter, shared.limits
        self._sessions, self._notifier = shared.sessions, shared.notifier
        self._spawn, self._audit = shared.spawn, shared.audit
        self._hasher, self._auth, self._sudo, self._policy = hasher, auth, sudo, policy
        self._activity_link = activity_link(frontend_url)

    async def change_password(
        self,
        user: CurrentUser,
        caller: str | None,
        current_password: str | None,
        new_password: str,
        client: Client,
        device_token: str | None,
    ) -> Renewed:
        """Set a new password (sudo mode: the current password given with it, or a recent proof), if the
        credentials verified are still current and the caller's session (`caller`,
        its handle) still exists when it is written: every session and device cookie of the user ends, and the
        caller gets new ones. Reset links already mailed stay usable: the mailbox outranks a session. The new
        password's minimum length is that of a password used with a second factor when two-factor sign-in is on."""
        self._policy.check(new_password, NEW_PASSWORD, mfa=user.profile.mfa_enabled)  # as the session knows the account
        if new_password == current_password:
            raise InvalidInput(FieldError(NEW_PASSWORD, "must differ from the current password"))
        credentials, _ = await self._sudo.confirm(user, current_password, client, device_token)
        # As the database knows it (the change below is conditional on these credentials, and turning two-factor
        # sign-in on or off advances them).
        self._policy.check(new_password, NEW_PASSWORD, mfa=credentials.user.profile.mfa_enabled)
        # Only a caller who knows the password gets the corpus of breached passwords asked; before the budget of
        # changes, which a refused password does not spend.
        await self._policy.check_not_breached(new_password, NEW_PASSWORD)
        # Counted once the password is right: each change mails a notice, which a loop must not flood.
        check = (self._limits.password_changes_per_account, f"user:{user.id}")
        await within_limits(self._limiter, self._audit, "password_change", check, ip=client.ip, user_id=user.id)
        new_hash = await self._hasher.hash(new_password)

        async def change(repos: Repositories) -> int:
            version = await repos.users.change_password_hash(user.id, new_hash, verified_version=credentials.version)
            if version is None:  # a credential change (a reset) committed since the password was checked
                raise InvalidCredentials
            await repos.security_events.add(user.id, security_event(EventKind.PASSWORD_CHANGED, client))
            # Inside the transaction: if Redis fails, or the caller's session has ended, nothing commits.
            await self._sessions.credentials_changed(user.id, version, caller)
            return version

        version = await self._db.retrying(change)
        self._audit.record("password_changed", ip=client.ip, user_id=user.id)
        self._spawn(self._notifier.notify(PasswordChanged(user.profile.email, this_device_kept=True)), "password email")
        return await self._auth.renew(Credentials(credentials.user, new_hash, version), client)

    async def remove_password(self, user: CurrentUser, caller: str | None, client: Client) -> Renewed:
        """Remove the password (sudo mode), if the account has a passkey to sign in with: a credential change (every
        other session and device cookie ends; the caller gets new ones). A reset, or a change of password in sudo
        mode, sets one again."""
        await self._sudo.require(user)

        async def remove(repos: Repositories) -> Credentials:
            account = await repos.users.lock(user.id)  # first, as every credential change: one lock order
            if account is None:
                raise InvalidCredentials
            if await repos.passkeys.count_for_user(user.id) == 0:
                raise LastSignInMethod("Add a passkey first: the password is the only way to sign in to the account.")
            version = await repos.users.change_password_hash(
                user.id, NO_PASSWORD, verified_version=account.credential_version
            )
            current = await repos.users.get(user.id)
            # The row is locked in this transaction: it is there, at the version read.
            assert version is not None
            assert current is not None
            await repos.security_events.add(user.id, security_event(EventKind.PASSWORD_REMOVED, client))
            # Inside the transaction: if Redis fails, or the caller's session has ended, nothing commits.
            await self._sessions.credentials_changed(user.id, version, caller)
            return Credentials(current, NO_PASSWORD, version)

        credentials = await self._db.retrying(remove)
        self._audit.record("password_removed", ip=client.ip, user_id=user.id)
        notice = PasswordRemoved(user.profile.email, self._activity_link)
        self._spawn(self._notifier.notify(notice), "password removed email")
        return await self._auth.renew(credentials, client)

    async def delete_account(
        self,
        user: CurrentUser,
        caller: str | None,
        current_password: str | None,
        client: Client,
        device_token: str | None,
    ) -> None:
        """Delete the account with its tokens (sudo mode), if the credentials verified are still current and the
        caller's session still exists; every session ends, and none can be stored for it again."""
        credentials, _ = await self._sudo.confirm(user, current_password, client, device_token)

        async def delete(repos: Repositories) -> None:
            if not await repos.users.delete(user.id, credentials.version):
                raise InvalidCredentials
            # Inside the transaction: if Redis fails, or the caller's session has ended, nothing commits. A
            # version no sign-in can hold.
            await self._sessions.credentials_changed(user.id, DELETED_CREDENTIAL_VERSION, caller)

        await self._db.retrying(delete)
        self._audit.record("account_deleted", ip=client.ip, user_id=user.id)
        self._spawn(self._notifier.notify(AccountDeleted(credentials.user.profile.email)), "goodbye email")

    async def sessions(self, user_id: int) -> list[SessionInfo]:
        return sorted(await self._sessions.list_sessions(user_id), key=lambda s: s.last_seen_at, reverse=True)

    async def revoke_session(self, user_id: int, handle: str, client: Client) -> None:
        if not await self._sessions.end_one_session(user_id, handle):
            raise SessionNotFound
        self._audit.record("session_ended", ip=client.ip, user_id=user_id)
        # Sessions live in Redis: no transaction to join. The event gets a small one, once the session has ended.
        await record_alone(self._db, user_id, security_event(EventKind.SESSION_ENDED, client))

    async def end_other_sessions(self, user: CurrentUser, current_session: str | None, client: Client) -> None:
        """End every session of the user but the caller's (sudo mode)."""
        await self._sudo.require(user)
        user_id = user.id
        ended = await self._sessions.end_all_sessions(user_id, keep=current_session)
        await self._sudo.restart(user_id, current_session)
        self._audit.record("other_sessions_ended", ip=client.ip, user_id=user_id)
        # As `revoke_session`: a small transaction of its own, once they have ended.
        event = security_event(EventKind.OTHER_SESSIONS_REVOKED, client, sessionsEnded=ended)
        await record_alone(self._db, user_id, event)

    async def security_events(self, user_id: int, before: int | None, limit: int = DEFAULT_PAGE_SIZE) -> EventPage:
        """The user's own activity log, newest first: up to `limit` events older than the event `before` (None:
        from the newest)."""
        if not 1 <= limit <= MAX_PAGE_SIZE:
            raise InvalidInput(FieldError("limit", f"must be from 1 to {MAX_PAGE_SIZE}"))
        if before is not None and not 1 <= before <= MAX_EVENT_ID:
            raise InvalidInput(FieldError("before", "must be the id of an event"))
        async with self._db.read() as repos:
            return await repos.security_events.page_for_user(user_id, before, limit)
