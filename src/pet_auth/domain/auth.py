"""Sign-up and sign-in."""

from __future__ import annotations

from pet_auth.domain.devices import DeviceTokens
from pet_auth.domain.email_links import VERIFY, EmailLinks
from pet_auth.domain.emails import normalize_email, sign_in_email
from pet_auth.domain.errors import CredentialsChanged, InvalidCredentials, ProfileChanged, RateLimited
from pet_auth.domain.limits import within_limits
from pet_auth.domain.models import (
    Client,
    Credentials,
    CurrentUser,
    MfaChallenge,
    PendingSignIn,
    Renewed,
    SessionRef,
    SignIn,
    User,
)
from pet_auth.domain.notices import NewDevice
from pet_auth.domain.passwords import PasswordHasher, PasswordPolicy, Verification
from pet_auth.domain.ports import (
    Check,
    Collaborators,
    Outcome,
    PendingSignIns,
)
from pet_auth.domain.security_events import EventKind, now_in_words, record_alone, security_event


class AuthService:
    def __init__(
        self,
        shared: Collaborators,
        *,
        hasher: PasswordHasher,
        devices: DeviceTokens,
        links: EmailLinks,
        pending: PendingSignIns,
        frontend_url: str,
        policy: PasswordPolicy,
    ) -> None:
        self._db, self._limiter, self._limits = shared.db, shared.limiter, shared.limits
        self._sessions, self._notifier = shared.sessions, shared.notifier
        self._spawn, self._audit = shared.spawn, shared.audit
        self._hasher, self._policy, self._devices, self._links, self._pending = hasher, policy, devices, links, pending
        self._frontend_url = frontend_url.rstrip("/")

    async def register(self, email: str, password: str, client: Client, replaces: SessionRef | None) -> SignIn:
        email = normalize_email(email)
        self._policy.check(password, mfa=False)  # a new account has no second factor: the password is the only one
        register_per_ip = (self._limits.register_per_ip, client.ip)
        await within_limits(self._limiter, self._audit, "register", register_per_ip, ip=client.ip, email=email)
        # After the budget: sign-ups past it ask the corpus of breached passwords nothing.
        await self._policy.check_not_breached(password)
        password_hash = await self._hasher.hash(password)
        async with self._db.transaction() as repos:
            credentials = await repos.users.add(email, password_hash)
            verification = await self._links.issue(repos, credentials.user.id, credentials.version, VERIFY, email)
        user = credentials.user
        self._audit.record("register", ip=client.ip, user_id=user.id)
        session_token = await self.start_session(credentials, client, replaces)
        self._links.mail(VERIFY, email, verification)
        return SignIn(user, session_token, await self._new_device_token(credentials, client.ip), new_device=True)

    async def login(
        self, email: str, password: str, client: Client, device_token: str | None, replaces: SessionRef | None
    ) -> SignIn | MfaChallenge:
        credentials, device_id = await self.authenticate(email, password, client, device_token)
        user = credentials.user
        if user.profile.mfa_enabled:
            # A password alone proves too little here: no session and no device cookie before the second factor.
            self._audit.record("login_mfa_required", ip=client.ip, user_id=user.id)
            return MfaChallenge(await self._pending.start(PendingSignIn(user.id, credentials.version, device_id)))
        return await self.finish_login(credentials, client, device_token, replaces)

    async def finish_login(
        self,
        credentials: Credentials,
        client: Client,
        device_token: str | None,
        replaces: SessionRef | None,
        second_factor: str | None = None,
    ) -> SignIn:
        """What every completed sign-in does (after the password, or after the `second_factor`): a new session,
        the device cookie, and the activity log's events."""
        user = credentials.user
        session_token = await self.start_session(credentials, client, replaces)
        self._audit.record("login", ip=client.ip, user_id=user.id)
        known = device_token is not None and self._devices.device_of(device_token, user.id, credentials.version)
        detail = {} if second_factor is None else {"secondFactor": second_factor}
        events = [security_event(EventKind.SIGN_IN, client, **detail)]
        if not known:
            events.append(security_event(EventKind.NEW_DEVICE, client))
        # The session lives in Redis: no transaction to join. The events get a small one, once it is stored.
        await record_alone(self._db, user.id, *events)
        if known:
            return SignIn(user, session_token, device_token, new_device=False)
        self._notify_new_device(user, client)
        return SignIn(user, session_token, await self._new_device_token(credentials, client.ip), new_device=True)

    async def renew(self, credentials: Credentials, client: Client, *, proved: bool = True) -> Renewed:
        """A new session and device token for the browser that has just made a credential change (which ended
        its own): the owner's browser keeps working. `proved`: the change proved a factor (sudo mode)."""
        session_token = await self.start_session(credentials, client, replaces=None, proved=proved)
        return Renewed(session_token, self._devices.issue(credentials.user.id, credentials.version))

    async def _new_device_token(self, credentials: Credentials, ip: str) -> str | None:
        """A device token, unless the account's budget of new ones is spent: each brings a guessing budget of its
        own, so sign-ins must not mint them without end. The sign-in itself goes ahead."""
        user_id = credentials.user.id
        try:
            await self._limiter.hit((self._limits.new_devices_per_account, f"user:{user_id}"))
        except RateLimited:
            self._audit.record("device_cookie_withheld", ip=ip, user_id=user_id)
            return None
        return self._devices.issue(user_id, credentials.version)

    def _notify_new_device(self, user: User, client: Client) -> None:
        forgot_link = f"{self._frontend_url}/forgot-password"
        # A notice names a known browser and system only, never text taken from the User-Agent.
        notice = NewDevice(user.profile.email, client.known_device, client.ip, now_in_words(), forgot_link)
        self._spawn(self._notifier.notify(notice), "new device email")

    def logged_out(self, user_id: int, ip: str) -> None:
        self._audit.record("logout", ip=ip, user_id=user_id)

    async def authenticate(
        self, email: str, password: str, client: Client, device_token: str | None
    ) -> tuple[Credentials, str | None]:
        """Check a password under the sign-in limits; return the credentials and the device id of a genuine
        device token for the account. A weaker hash of the right password is replaced by a current one."""
        email = sign_in_email(email)
        # Read first: an outage of PostgreSQL here ends the attempt before anything was counted.
        async with self._db.read() as repos:
            credentials = await repos.users.get_credentials_by_email(email)
        device_id = (
            None
            if credentials is None
            else self._devices.device_of(device_token, credentials.user.id, credentials.version)
        )
        account_check = self._account_check(credentials, email, device_id)
        checks = (account_check, (self._limits.login_per_ip, client.ip))
        try:
            attempt = await self._limiter.begin_attempt(*checks)
        except RateLimited:
            self._audit.record("login_rate_limited", ip=client.ip, email=email)
            raise
        outcome = Outcome.ABANDONED  # unless the password gets an answer, the attempt counts as nothing
        try:
            verification = await self._verify(credentials, password)
            outcome = Outcome.FAILURE if verification is None else Outcome.SUCCESS
        finally:
            reached = await self._limiter.end_attempt(attempt, outcome, *checks)
        if credentials is None or verification is None:
            user_id = None if credentials is None else credentials.user.id
            self._audit.record("login_failed", ip=client.ip, user_id=user_id, email=email if user_id is None else None)
            if credentials is not None and account_check in reached:
                await self.account_locked(credentials.user.id, account_check, client, factor="password")
            raise InvalidCredentials
        if verification.needs_rehash:
            new_hash = await self._hasher.hash(password)
            async with self._db.transaction() as repos:
                # Only over the hash that was verified: a reset or change committed meanwhile wins.
                await repos.users.upgrade_password_hash(credentials.user.id, credentials.password_hash, new_hash)
        return credentials, device_id

    async def _verify(self, credentials: Credentials | None, password: str) -> Verification | None:
        """The verification of a right password; None for a wrong one, or no account (a dummy hash is verified)."""
        if credentials is None:
            await self._hasher.verify_dummy(password)
            return None
        verification = await self._hasher.verify(credentials.password_hash, password)
        return verification if verification.ok else None

    async def account_locked(self, user_id: int, check: Check, client: Client, *, factor: str) -> None:
        """Log a lock of the account: failures (of passwords, or of codes) reached the limit that browsers without
        a device cookie for it share. A device's own limit locks only that device."""
        if check[0] != self._limits.login_per_account:
            return
        # The limits live in Redis: no transaction to join. The event gets a small one, right after the failure.
        await record_alone(self._db, user_id, security_event(EventKind.ACCOUNT_LOCKED, client, factor=factor))

    async def confirm_password(
        self, user: CurrentUser, password: str, client: Client, device_token: str | None
    ) -> tuple[Credentials, str | None]:
        """The signed-in user's own password, checked under the sign-in limits (as `authenticate`); an address that
        now names another account is no match."""
        credentials, device_id = await self.authenticate(user.profile.email, password, client, device_token)
        if credentials.user.id != user.id:
            raise InvalidCredentials
        return credentials, device_id

    def _account_check(self, credentials: Credentials | None, email: str, device_id: str | None) -> Check:
        """A known device of the account is limited on its own; any other client shares the account's limit.
        An existing account's counters are named by its id, however its address is typed, and by its credential
        version, so that a reset (or a password change) starts them afresh."""
        if credentials is None:
            return self._limits.login_per_account, f"email:{email}"
        account = f"user:{credentials.user.id}:{credentials.version}"
        if device_id is not None:
            return self._limits.login_per_device, f"{account}:device:{device_id}"
        return self._limits.login_per_account, account

    async def start_session(
        self, credentials: Credentials, client: Client, replaces: SessionRef | None, *, proved: bool = True
    ) -> str:
        """Store a session for credentials just verified, unless they were changed since."""
        user, version = credentials.user, credentials.version
        try:
            return await self._sessions.start(user, version, client, replaces, proved=proved)
        except ProfileChanged:
            # The address or its verification changed after `user` was read: read it again. Redis learns a profile
            # version only after its commit, so the fresh read is at least as new; another retry follows only
            # another change committed meanwhile.
            async with self._db.read() as repos:
                fresh = await repos.users.get(user.id)
            if fresh is None:
                raise InvalidCredentials from None
            fresh_credentials = Credentials(fresh, credentials.password_hash, version)
            return await self.start_session(fresh_credentials, client, replaces, proved=proved)
        except CredentialsChanged:
            # A credential change committed after these credentials were read (this sign-in loses), or one
            # failed to commit after it had already ended the sessions. PostgreSQL tells which, once any change
            # in flight has ended; no other can start until this transaction ends.
            async with self._db.transaction() as repos:
                if await repos.users.lock_credential_version(user.id) != version:
                    raise
                return await self._sessions.start(user, version, client, replaces, force=True, proved=proved)
