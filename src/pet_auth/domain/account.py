"""A signed-in user's own security: change password, see and end sessions."""

from __future__ import annotations

from pet_auth.domain.audit import AuditLog
from pet_auth.domain.auth import AuthService
from pet_auth.domain.email_links import CHANGE
from pet_auth.domain.errors import FieldError, InvalidCredentials, InvalidInput, SessionNotFound
from pet_auth.domain.models import Client, Credentials, SessionInfo, User
from pet_auth.domain.passwords import PasswordHasher, check_password_policy
from pet_auth.domain.ports import Mailer, SessionRegistry, Spawn, UnitOfWork
from pet_auth.mail.messages import account_deleted_message, password_changed_message

# Past any version an account can reach: a sign-in still in flight for a deleted account stores no session.
DELETED_CREDENTIAL_VERSION = 2**62


class AccountService:
    def __init__(
        self,
        *,
        db: UnitOfWork,
        hasher: PasswordHasher,
        auth: AuthService,
        sessions: SessionRegistry,
        mailer: Mailer,
        spawn: Spawn,
        audit: AuditLog,
    ) -> None:
        self._db, self._hasher, self._auth, self._sessions = db, hasher, auth, sessions
        self._mailer, self._spawn, self._audit = mailer, spawn, audit

    async def change_password(
        self, user: User, current_password: str, new_password: str, client: Client, device_token: str | None
    ) -> str:
        """Set a new password: every session of the user ends, pending reset links die, and the caller gets a
        new session, whose token this returns."""
        check_password_policy(new_password, field="newPassword")
        if new_password == current_password:
            raise InvalidInput(FieldError("newPassword", "must differ from the current password"))
        credentials, _ = await self._auth.confirm_password(user, current_password, client.ip, device_token)
        new_hash = await self._hasher.hash(new_password)
        async with self._db.transaction() as repos:
            version = await repos.users.change_password_hash(user.id, new_hash)
            await repos.reset_tokens.delete_for_user(user.id)
            await repos.email_tokens.delete_for_user(user.id, CHANGE)
            # Inside the transaction: if Redis fails, nothing commits.
            await self._sessions.credentials_changed(user.id, version)
        self._audit.record("password_changed", ip=client.ip, user_id=user.id)
        self._spawn(self._mailer.send(password_changed_message(user.email, this_device_kept=True)), "password email")
        return await self._auth.start_session(Credentials(credentials.user, new_hash, version), client, replaces=None)

    async def delete_account(self, user: User, current_password: str, client: Client, device_token: str | None) -> None:
        """Delete the account with its tokens; every session ends, and none can be stored for it again."""
        credentials, _ = await self._auth.confirm_password(user, current_password, client.ip, device_token)
        async with self._db.transaction() as repos:
            if not await repos.users.delete(user.id):
                raise InvalidCredentials
            # Inside the transaction: if Redis fails, nothing commits. A version no sign-in can hold.
            await self._sessions.credentials_changed(user.id, DELETED_CREDENTIAL_VERSION)
        self._audit.record("account_deleted", ip=client.ip, user_id=user.id)
        self._spawn(self._mailer.send(account_deleted_message(credentials.user.email)), "goodbye email")

    async def sessions(self, user_id: int) -> list[SessionInfo]:
        return sorted(await self._sessions.list_sessions(user_id), key=lambda s: s.last_seen_at, reverse=True)

    async def end_session(self, user_id: int, handle: str, ip: str) -> None:
        if not await self._sessions.end_session(user_id, handle):
            raise SessionNotFound
        self._audit.record("session_ended", ip=ip, user_id=user_id)

    async def end_other_sessions(self, user_id: int, current_session: str | None, ip: str) -> None:
        await self._sessions.end_all_sessions(user_id, keep=current_session)
        self._audit.record("other_sessions_ended", ip=ip, user_id=user_id)
