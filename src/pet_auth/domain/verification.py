"""Proving an address: verification of the account's address, and a change of address confirmed from the new one
(the links: domain/email_links.py)."""

from __future__ import annotations

from pet_auth.domain.audit import AuditLog
from pet_auth.domain.auth import AuthService
from pet_auth.domain.email_links import CHANGE, VERIFY, EmailLinks
from pet_auth.domain.emails import normalize_email
from pet_auth.domain.errors import FieldError, InvalidInput, InvalidLink
from pet_auth.domain.limits import within_limits
from pet_auth.domain.models import Client, User
from pet_auth.domain.ports import Limits, Mailer, RateLimiter, SessionRegistry, Spawn, UnitOfWork
from pet_auth.mail.messages import address_in_use_message, email_change_requested_message


class EmailService:
    def __init__(
        self,
        *,
        db: UnitOfWork,
        auth: AuthService,
        links: EmailLinks,
        limiter: RateLimiter,
        limits: Limits,
        sessions: SessionRegistry,
        mailer: Mailer,
        spawn: Spawn,
        audit: AuditLog,
    ) -> None:
        self._db, self._auth, self._links, self._limiter, self._limits = db, auth, links, limiter, limits
        self._sessions, self._mailer, self._spawn, self._audit = sessions, mailer, spawn, audit

    async def verify(self, token: str, ip: str) -> User:
        """Mark the address a verification link was mailed to verified; every session shows it at once."""
        async with self._db.transaction() as repos:
            user = await repos.users.mark_email_verified(*await self._links.consume(repos, token, VERIFY))
            if user is None:  # the account moved to another address since: this link proves nothing now
                raise InvalidLink
        await self._sessions.profile_changed(user)
        self._audit.record("email_verified", ip=ip, user_id=user.id)
        return user

    async def resend_verification(self, user: User, ip: str) -> None:
        """A fresh link, unless the address is verified already (then nothing)."""
        await self._count_link_request(user, ip)
        async with self._db.read() as repos:
            current = await repos.users.get(user.id)
        if current is not None and not current.email_verified:
            self._links.send_verification(current)

    async def request_change(
        self, user: User, current_password: str, new_email: str, client: Client, device_token: str | None
    ) -> None:
        """Mail a confirmation link to the new address and a notice to the current one. The answer is the same
        whether or not the new address has an account: the lookup happens after the response."""
        new_email = normalize_email(new_email, field="newEmail")
        credentials, _ = await self._auth.confirm_password(user, current_password, client.ip, device_token)
        current = credentials.user
        if new_email == current.email:
            raise InvalidInput(FieldError("newEmail", "must differ from the current email"))
        await self._count_link_request(current, client.ip)
        self._audit.record("email_change_requested", ip=client.ip, user_id=current.id)
        self._spawn(self._mail_change(current, new_email), "email change emails")

    async def _mail_change(self, user: User, new_email: str) -> None:
        async with self._db.read() as repos:
            taken = await repos.users.get_id_by_email(new_email) is not None
        if taken:
            await self._mailer.send(address_in_use_message(new_email))
        else:
            await self._links.mail_change_confirmation(user.id, new_email)
        await self._mailer.send(email_change_requested_message(user.email))

    async def confirm_change(self, token: str, ip: str) -> User:
        """Move the account to the address the link was mailed to; `EmailTaken` (and nothing changes) if another
        account took it meanwhile."""
        async with self._db.transaction() as repos:
            user_id, new_email = await self._links.consume(repos, token, CHANGE)
            user = await repos.users.change_email(user_id, new_email)
            if user is None:
                raise InvalidLink
            # Links mailed to the old address prove nothing about the account any more.
            await repos.reset_tokens.delete_for_user(user_id)
            await repos.email_tokens.delete_for_user(user_id, VERIFY)
        await self._sessions.profile_changed(user)
        self._audit.record("email_changed", ip=ip, user_id=user.id)
        return user

    async def _count_link_request(self, user: User, ip: str) -> None:
        check = (self._limits.email_links_per_account, f"user:{user.id}")
        await within_limits(self._limiter, self._audit, "email_links", check, ip=ip, user_id=user.id)
