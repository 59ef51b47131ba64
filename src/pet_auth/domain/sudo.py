"""Sudo mode: sensitive changes need a recent proof of a factor.

A session records when it last proved a factor of its user: at sign-in, and on re-authentication (a password, a
TOTP code, a passkey). Changing the password or the address, deleting the account, turning two-factor sign-in on or
off, new recovery codes, adding or removing a passkey and ending the other sessions need that proof to be at most
`window_seconds` old; each such change restarts the window. Outside it they raise `ReauthenticationRequired`, naming
the ways this user can prove themselves. A route that took the current password keeps taking it: a right password
given with the change is a proof too.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from pet_auth.domain.auth import AuthService
from pet_auth.domain.errors import InvalidCredentials, ReauthenticationRequired
from pet_auth.domain.models import Client, Credentials, CurrentUser
from pet_auth.domain.passwords import NO_PASSWORD
from pet_auth.domain.ports import Collaborators

PASSWORD, TOTP, PASSKEY = "password", "totp", "passkey"


class SudoMode:
    def __init__(
        self,
        shared: Collaborators,
        *,
        auth: AuthService,
        window_seconds: int,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._db, self._sessions, self._audit = shared.db, shared.sessions, shared.audit
        self._auth, self._window, self._clock = auth, window_seconds, clock

    def is_recent(self, user: CurrentUser) -> bool:
        return user.proved_at > 0 and self._clock() - user.proved_at <= self._window

    async def require(self, user: CurrentUser) -> None:
        """Refuse unless the caller's session proved a factor within the window."""
        if not self.is_recent(user):
            raise ReauthenticationRequired(await self.methods(user))

    async def methods(self, user: CurrentUser) -> tuple[str, ...]:
        """The ways this user can re-authenticate."""
        async with self._db.read() as repos:
            credentials = await repos.users.get_credentials_by_email(user.profile.email)
            has_passkey = await repos.passkeys.count_for_user(user.id) > 0
        has_password = credentials is not None and credentials.password_hash != NO_PASSWORD
        return (
            *((PASSWORD,) if has_password else ()),
            *((TOTP,) if user.profile.mfa_enabled else ()),
            *((PASSKEY,) if has_passkey else ()),
        )

    async def confirm(
        self, user: CurrentUser, current_password: str | None, client: Client, device_token: str | None
    ) -> tuple[Credentials, str | None]:
        """The user's current credentials (and the device id of a genuine device token) for a sensitive change:
        proved by `current_password` given with it (checked under the sign-in limits), else by a recent proof of
        the caller's session."""
        if current_password is not None:
            return await self._auth.confirm_password(user, current_password, client, device_token)
        await self.require(user)
        async with self._db.read() as repos:
            credentials = await repos.users.get_credentials_by_email(user.profile.email)
        if credentials is None or credentials.user.id != user.id:
            raise InvalidCredentials  # deleted, or the address moved to another account meanwhile
        # A device token only matters to the limits of password and code checks; none was checked here.
        return credentials, None

    async def restart(self, user_id: int, caller: str | None) -> None:
        """Restart the caller's window: it has just proved a factor, or made a sensitive change."""
        if caller is not None:
            await self._sessions.record_proof(user_id, caller)

    async def with_password(
        self, user: CurrentUser, caller: str | None, password: str, client: Client, device_token: str | None
    ) -> None:
        """Re-authenticate with the password (under the sign-in limits)."""
        await self._auth.confirm_password(user, password, client, device_token)
        await self.restart(user.id, caller)
        self._audit.record("reauthenticated_with_password", ip=client.ip, user_id=user.id)
