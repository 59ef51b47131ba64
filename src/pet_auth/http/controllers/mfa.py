"""Two-factor sign-in: set up and confirm an authenticator app, recovery codes, turn it off, and the sign-in's
second step."""

from __future__ import annotations

from typing import Any

from litestar import Controller, Request, Response, post
from litestar.di import NamedDependency
from litestar.params import JSONBody

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
from pet_auth.domain.mfa import MfaService
from pet_auth.domain.models import CurrentUser
from pet_auth.http.cookies import HttpOnlyCookie, renewed_response, signed_in_response
from pet_auth.http.errors import problem
from pet_auth.http.guards import client_of, guarded_get
from pet_auth.http.openapi import problems, response
from pet_auth.http.schemas import (
    CodeRequest,
    CurrentPasswordRequest,
    MfaSignInRequest,
    MfaStatusResponse,
    PasswordAndCodeRequest,
    RecoveryCodesResponse,
    TotpSetupResponse,
    UserResponse,
)
from pet_auth.http.session_cookie import current_session, current_session_handle

AnyRequest = Request[Any, Any, Any]


class MfaController(Controller):
    """The signed-in user's second factor; in the signed-in router (http/routes.py), which adds `/api/auth`, the login
    guard, the current user and the security requirement."""

    path = ""
    tags = ["mfa"]

    @guarded_get("/mfa", operation_class=problems(read_only=True))
    async def mfa_status(
        self, user: NamedDependency[CurrentUser], mfa: NamedDependency[MfaService]
    ) -> MfaStatusResponse:
        """Whether two-factor sign-in is on, and how many recovery codes are left."""
        status = await mfa.status(user.id)
        return MfaStatusResponse(mfa_enabled=status.enabled, recovery_codes_left=status.recovery_codes_left)

    @post(
        "/mfa/totp/setup",
        status_code=200,
        operation_class=problems(InvalidCredentials, EmailNotVerified, MfaAlreadyEnabled, RateLimited),
    )
    async def setup_totp(
        self,
        data: JSONBody[CurrentPasswordRequest],
        request: AnyRequest,
        user: NamedDependency[CurrentUser],
        mfa: NamedDependency[MfaService],
        device_cookie: NamedDependency[HttpOnlyCookie],
    ) -> TotpSetupResponse:
        """A new authenticator secret (and its otpauth:// URI for a QR code); not active until confirmed, within ten
        minutes. Needs a verified address."""
        setup = await mfa.begin_setup(user, data.current_password, client_of(request), device_cookie.read(request))
        return TotpSetupResponse(secret=setup.secret, otpauth_uri=setup.otpauth_uri)

    @post(
        "/mfa/totp/confirm",
        status_code=200,
        operation_class=problems(InvalidCode, CodeAlreadyUsed, MfaSetupRequired, MfaAlreadyEnabled, RateLimited),
    )
    async def confirm_totp(
        self,
        data: JSONBody[CodeRequest],
        request: AnyRequest,
        user: NamedDependency[CurrentUser],
        mfa: NamedDependency[MfaService],
        device_cookie: NamedDependency[HttpOnlyCookie],
    ) -> Response[RecoveryCodesResponse]:
        """Turn two-factor sign-in on with a first code; returns the recovery codes, shown this once. This session
        gets a new id and device cookie, every other session and device cookie ends. Wrong codes count against
        the account's budget for codes."""
        issued = await mfa.confirm_setup(user, current_session_handle(request), data.code, client_of(request))
        return renewed_response(request, issued.renewed, device_cookie, RecoveryCodesResponse(issued.codes), 200)

    @post(
        "/mfa/recovery-codes",
        status_code=200,
        operation_class=problems(InvalidCredentials, InvalidCode, CodeAlreadyUsed, MfaNotEnabled, RateLimited),
    )
    async def replace_recovery_codes(
        self,
        data: JSONBody[PasswordAndCodeRequest],
        request: AnyRequest,
        user: NamedDependency[CurrentUser],
        mfa: NamedDependency[MfaService],
        device_cookie: NamedDependency[HttpOnlyCookie],
    ) -> Response[RecoveryCodesResponse]:
        """A new set of recovery codes; the earlier set stops working. This session gets a new id and device
        cookie, every other session and device cookie ends."""
        issued = await mfa.replace_recovery_codes(
            user,
            current_session_handle(request),
            data.current_password,
            data.code,
            client_of(request),
            device_cookie.read(request),
        )
        return renewed_response(request, issued.renewed, device_cookie, RecoveryCodesResponse(issued.codes), 200)

    @post(
        "/mfa/disable",
        status_code=204,
        operation_class=problems(InvalidCredentials, InvalidCode, CodeAlreadyUsed, MfaNotEnabled, RateLimited),
    )
    async def disable_mfa(
        self,
        data: JSONBody[PasswordAndCodeRequest],
        request: AnyRequest,
        user: NamedDependency[CurrentUser],
        mfa: NamedDependency[MfaService],
        device_cookie: NamedDependency[HttpOnlyCookie],
    ) -> Response[None]:
        """Turn two-factor sign-in off (`code`: of the authenticator, or a recovery code). This session gets a new
        id and device cookie, every other session and device cookie ends."""
        renewed = await mfa.disable(
            user,
            current_session_handle(request),
            data.current_password,
            data.code,
            client_of(request),
            device_cookie.read(request),
        )
        return renewed_response(request, renewed, device_cookie, None, 204)


class MfaSignInController(Controller):
    """The sign-in's second step: no session yet."""

    path = "/api/auth"
    tags = ["mfa"]

    @post(
        "/login/mfa",
        status_code=200,
        responses={200: response(UserResponse, "Signed in")},
        operation_class=problems(InvalidSignInCode, SignInCodeAlreadyUsed, MfaExpired, RateLimited),
    )
    async def login_mfa(
        self,
        data: JSONBody[MfaSignInRequest],
        request: AnyRequest,
        mfa: NamedDependency[MfaService],
        device_cookie: NamedDependency[HttpOnlyCookie],
        mfa_cookie: NamedDependency[HttpOnlyCookie],
    ) -> Response[Any]:
        """The second step of a sign-in (after a 202 from `/login`): a code of the authenticator app or a recovery
        code. Signs in as `/login` does; the pending sign-in's cookie is expired."""
        try:
            sign_in = await mfa.complete_sign_in(
                mfa_cookie.read(request),
                data.code,
                data.recovery_code,
                client_of(request),
                device_cookie.read(request),
                current_session(request),
            )
        except MfaExpired as exc:
            expired = problem(401, exc.code, exc.detail)
            expired.cookies.append(mfa_cookie.expired())
            return expired
        return signed_in_response(request, sign_in, device_cookie, 200, mfa_cookie.expired())
