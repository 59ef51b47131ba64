"""Sign-up, sign-in, sign-out, the session's state, who-am-I, change password."""

from __future__ import annotations

from typing import Any

from litestar import Controller, Request, Response, delete, get, post
from litestar.di import NamedDependency
from litestar.params import JSONBody

from pet_auth.domain.account import AccountService
from pet_auth.domain.auth import AuthService
from pet_auth.domain.errors import (
    EmailTaken,
    InvalidCredentials,
    LastSignInMethod,
    PasswordCheckUnavailable,
    RateLimited,
    ReauthenticationRequired,
)
from pet_auth.domain.models import CurrentUser, MfaChallenge
from pet_auth.http.cookies import HttpOnlyCookie, renewed_response, signed_in_response
from pet_auth.http.guards import client_ip, client_of, guarded_get
from pet_auth.http.openapi import problems, response
from pet_auth.http.schemas import (
    ChangePasswordRequest,
    LoginRequest,
    MfaRequiredResponse,
    RegisterRequest,
    SessionStateResponse,
    UserOut,
    UserResponse,
)
from pet_auth.http.session_cookie import current_session, current_session_handle, drop_session_cookie, live_session

AnyRequest = Request[Any, Any, Any]
LOGIN_RESPONSES = {
    200: response(UserResponse, "Signed in"),
    202: response(MfaRequiredResponse, "Password accepted; the account asks for a second factor (POST /login/mfa)"),
}


class AuthController(Controller):
    """Sign-up, sign-in and sign-out: no session needed."""

    path = "/api/auth"
    tags = ["auth"]

    @post("/register", status_code=201, operation_class=problems(EmailTaken, RateLimited, PasswordCheckUnavailable))
    async def register(
        self,
        data: JSONBody[RegisterRequest],
        request: AnyRequest,
        auth: NamedDependency[AuthService],
        device_cookie: NamedDependency[HttpOnlyCookie],
    ) -> Response[UserResponse]:
        """Create an account and sign in."""
        sign_in = await auth.register(data.email, data.password, client_of(request), current_session(request))
        return signed_in_response(request, sign_in, device_cookie, status_code=201)

    @post(
        "/login",
        status_code=200,
        responses=LOGIN_RESPONSES,
        operation_class=problems(InvalidCredentials, RateLimited),
    )
    async def login(
        self,
        data: JSONBody[LoginRequest],
        request: AnyRequest,
        auth: NamedDependency[AuthService],
        device_cookie: NamedDependency[HttpOnlyCookie],
        mfa_cookie: NamedDependency[HttpOnlyCookie],
    ) -> Response[Any]:
        """Sign in; the session gets a new id. With two-factor sign-in on: 202, no session yet, and a short-lived
        cookie naming the pending sign-in, which `POST /login/mfa` completes."""
        result = await auth.login(
            data.email, data.password, client_of(request), device_cookie.read(request), current_session(request)
        )
        if isinstance(result, MfaChallenge):
            return Response(
                MfaRequiredResponse(mfa_required=True), status_code=202, cookies=[mfa_cookie.carrying(result.token)]
            )
        return signed_in_response(request, result, device_cookie, status_code=200)

    @get("/session", operation_class=problems(read_only=True))
    async def session(self, request: AnyRequest) -> SessionStateResponse:
        """The signed-in user, or `user: null` when signed out: never a 401, for the first look of a page (`/me`
        answers 401 without a session)."""
        live = live_session(request)
        if live is None:
            return SessionStateResponse(user=None)
        user = CurrentUser(id=live.user_id, profile=live.profile, proved_at=live.record.proved_at)
        return SessionStateResponse(user=UserOut.of(user))

    @post("/logout", status_code=204, operation_class=problems())
    async def logout(self, request: AnyRequest, auth: NamedDependency[AuthService]) -> None:
        """Sign out: the server-side session is deleted and the cookie expired (the device cookie stays)."""
        live = live_session(request)
        drop_session_cookie(request)
        if live is not None:
            auth.logged_out(live.user_id, client_ip(request))


class SignedInAuthController(Controller):
    """Who-am-I and change password; in the signed-in router (http/routes.py), which adds `/api/auth`, the login
    guard, the current user and the security requirement."""

    path = ""
    tags = ["auth"]

    @guarded_get("/me", operation_class=problems(read_only=True))
    async def me(self, user: NamedDependency[CurrentUser]) -> UserResponse:
        """The signed-in user."""
        return UserResponse(user=UserOut.of(user))

    @post(
        "/change-password",
        status_code=204,
        operation_class=problems(InvalidCredentials, ReauthenticationRequired, RateLimited, PasswordCheckUnavailable),
    )
    async def change_password(
        self,
        data: JSONBody[ChangePasswordRequest],
        request: AnyRequest,
        user: NamedDependency[CurrentUser],
        account: NamedDependency[AccountService],
        device_cookie: NamedDependency[HttpOnlyCookie],
    ) -> Response[None]:
        """Change the password; this session gets a new id and device cookie, every other session and device
        cookie ends. Reset links already mailed stay usable."""
        renewed = await account.change_password(
            user,
            current_session_handle(request),
            data.current_password,
            data.new_password,
            client_of(request),
            device_cookie.read(request),
        )
        return renewed_response(request, renewed, device_cookie, None, 204)

    @delete(
        "/password",
        status_code=204,
        operation_class=problems(ReauthenticationRequired, LastSignInMethod, InvalidCredentials),
    )
    async def remove_password(
        self,
        request: AnyRequest,
        user: NamedDependency[CurrentUser],
        account: NamedDependency[AccountService],
        device_cookie: NamedDependency[HttpOnlyCookie],
    ) -> Response[None]:
        """Remove the password (sudo mode): the account signs in with its passkeys only, and needs one (409
        `last_sign_in_method` without). This session gets a new id and device cookie, every other session and
        device cookie ends. A reset, or change-password in sudo mode, sets a password again."""
        renewed = await account.remove_password(user, current_session_handle(request), client_of(request))
        return renewed_response(request, renewed, device_cookie, None, 204)
