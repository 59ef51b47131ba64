"""Proving an address: verification of the account's address, and a change of address confirmed from the new one
(the links: domain/email_links.py).

The first proof of an address that was never verified (a verification link, or a reset: password_reset.py) cleans the
account: whatever was set up before it (sessions, device cookies, a second factor, passkeys, links) came from whoever
knew the password, who may not own the mailbox. Completing an address change is a credential change too: every session
and device cookie ends.
"""

from __future__ import annotations

from dataclasses import dataclass

from pet_auth.domain.auth import AuthService
from pet_auth.domain.clients import display_network
from pet_auth.domain.email_links import CHANGE, VERIFY, EmailLinks
from pet_auth.domain.emails import normalize_email
from pet_auth.domain.errors import FieldError, InvalidCredentials, InvalidInput, InvalidLink
from pet_auth.domain.limits import counted_within, within_limits
from pet_auth.domain.models import Client, Credentials, CurrentUser, Renewed, SessionRef, User
from pet_auth.domain.notices import AddressInUse, EmailChanged, EmailChangeRequested
from pet_auth.domain.ports import Collaborators, Repositories
from pet_auth.domain.security_events import EventKind, activity_link, now_in_words, security_event
from pet_auth.domain.sudo import SudoMode


@dataclass(frozen=True, slots=True)
class Verified:
    user: User
    # The caller's new session and device cookie, when it came signed in to the account and the proof ended them.
    renewed: Renewed | None


class AddressService:
    def __init__(
        self,
        shared: Collaborators,
        *,
        auth: AuthService,
        sudo: SudoMode,
        links: EmailLinks,
        frontend_url: str,
    ) -> None:
        self._db, self._limiter, self._limits = shared.db, shared.limiter, shared.limits
        self._sessions, self._notifier = shared.sessions, shared.notifier
        self._spawn, self._audit = shared.spawn, shared.audit
        self._auth, self._sudo, self._links = auth, sudo, links
        self._activity_link = activity_link(frontend_url)

    async def verify(self, token: str, client: Client, caller: SessionRef | None) -> Verified:
        """Mark the address a verification link was mailed to verified. As the first proof of the address it
        ends every session, device cookie, link and second factor of the account; a caller signed in to the account
        (it has just proved the mailbox) gets a new session."""

        async def verify(repos: Repositories) -> tuple[User, int | None]:
            user_id, email, account = await self._links.consume(repos, token, VERIFY)
            user = await repos.users.mark_email_verified(user_id, email)
            if user is None:  # the account moved to another address since: this link proves nothing now
                raise InvalidLink
            await repos.security_events.add(user_id, security_event(EventKind.EMAIL_VERIFIED, client))
            if account.email_verified:
                return user, None
            # The first proof of the address: whoever set up a second factor or asked for links knew the
            # password, and may not own the mailbox; the new version ends every session and device cookie.
            await repos.mfa.delete(user_id)
            await repos.passkeys.delete_added_after(user_id, None)
            await repos.reset_tokens.delete_for_user(user_id)
            await repos.email_tokens.delete_for_user(user_id)
            version = await repos.users.advance_credential_version(user_id, verified_version=None)
            assert version is not None  # the row is locked by this transaction
            # Inside the transaction: if Redis fails, nothing commits.
            await self._sessions.credentials_changed(user_id, version)
            return await repos.users.get(user_id) or user, version

        user, version = await self._db.retrying(verify)
        self._audit.record("email_verified", ip=client.ip, user_id=user.id)
        if version is None:
            await self._sessions.profile_changed(user)
            return Verified(user, renewed=None)
        if caller is None or caller.user_id != user.id:
            return Verified(user, renewed=None)
        # A mailed link proves the mailbox, not a factor: the renewed session is not in sudo mode.
        return Verified(user, await self._auth.renew(Credentials(user, "", version), client, proved=False))

    async def resend_verification(self, user: CurrentUser, ip: str) -> None:
        """A fresh link, unless the address is verified already (then nothing)."""
        await self._count_link_request(user.id, ip)

        async def issue(repos: Repositories) -> tuple[str, str] | None:
            account = await repos.users.lock(user.id)
            if account is None or account.email_verified:
                return None
            token = await self._links.issue(repos, user.id, account.credential_version, VERIFY, account.email)
            return account.email, token

        issued = await self._db.retrying(issue)
        if issued is not None:
            self._links.mail(VERIFY, *issued)

    async def request_change(
        self,
        user: CurrentUser,
        caller: str | None,
        current_password: str | None,
        new_email: str,
        client: Client,
        device_token: str | None,
    ) -> None:
        """Write a confirmation link for the new address, under the credentials just confirmed (sudo mode); after
        the response, mail it (or, when the new address has an account, a notice instead: the answer must not tell)
        and a notice to the current address."""
        new_email = normalize_email(new_email, field="newEmail")
        credentials, _ = await self._sudo.confirm(user, current_password, client, device_token)
        current = credentials.user
        if new_email == current.profile.email:
            raise InvalidInput(FieldError("newEmail", "must differ from the current email"))
        await self._count_link_request(current.id, client.ip)

        async def issue(repos: Repositories) -> str:
            account = await repos.users.lock(current.id)
            if account is None or account.credential_version != credentials.version:
                raise InvalidCredentials  # a credential change (a reset) committed since the password was checked
            await repos.security_events.add(current.id, security_event(EventKind.EMAIL_CHANGE_REQUESTED, client))
            return await self._links.issue(repos, current.id, credentials.version, CHANGE, new_email)

        token = await self._db.retrying(issue)
        await self._sudo.restart(current.id, caller)
        self._audit.record("email_change_requested", ip=client.ip, user_id=current.id)
        self._spawn(self._mail_change(current.profile.email, new_email, token), "email change emails")

    async def _mail_change(self, old_email: str, new_email: str, token: str) -> None:
        async with self._db.read() as repos:
            taken = await repos.users.get_id_by_email(new_email) is not None
        if taken:
            await self._notifier.notify(AddressInUse(new_email))
        else:
            await self._links.send(CHANGE, new_email, token)
        await self._notifier.notify(EmailChangeRequested(old_email))

    async def confirm_change(self, token: str, client: Client) -> User:
        """Move the account to the address the link was mailed to, a credential change: every session, device
        cookie and earlier link ends, and the old address gets a notice. `EmailTaken` (and nothing changes) if
        another account took it meanwhile."""

        async def confirm(repos: Repositories) -> tuple[Credentials, str]:
            user_id, new_email, account = await self._links.consume(repos, token, CHANGE)
            changed = await repos.users.change_email(user_id, new_email)
            if changed is None:
                raise InvalidLink
            # Links mailed to the old address prove nothing about the account any more.
            await repos.reset_tokens.delete_for_user(user_id)
            await repos.email_tokens.delete_for_user(user_id)
            await repos.security_events.add(user_id, security_event(EventKind.EMAIL_CHANGED, client))
            # Inside the transaction: if Redis fails, nothing commits.
            await self._sessions.credentials_changed(user_id, changed.version)
            return changed, account.email

        changed, old_email = await self._db.retrying(confirm)
        self._audit.record("email_changed", ip=client.ip, user_id=changed.user.id)
        self._spawn(self._notify_old_address(old_email, client), "email changed email")
        return changed.user

    async def _notify_old_address(self, old_email: str, client: Client) -> None:
        """Tell the address the account left, a few times an hour at most: a loop of changes back and forth must not
        flood it."""
        if not await counted_within(
            self._limiter, (self._limits.email_changed_notices_per_address, f"email:{old_email}")
        ):
            return
        network = display_network(client.ip)
        notice = EmailChanged(old_email, client.known_device, network, now_in_words(), self._activity_link)
        await self._notifier.notify(notice)

    async def _count_link_request(self, user_id: int, ip: str) -> None:
        check = (self._limits.email_links_per_account, f"user:{user_id}")
        await within_limits(self._limiter, self._audit, "email_links", check, ip=ip, user_id=user_id)
