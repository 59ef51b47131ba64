"""Sign-up, sign-in, sign-out, who-am-I, change password."""

from __future__ import annotations

from typing import Any

from litestar import Controller, Request, Response, post
from litestar.di import NamedDependency
from litestar.params import JSONBody

from pet_auth.domain.account import AccountService
from pet_auth.domain.auth import AuthService
from pet_auth.domain.models import User
from pet_auth.http.cookies import DeviceCookie, signed_in_response
from pet_auth.http.guards import CURRENT_USER, client_ip, client_of, guarded_get, requires_login
from pet_auth.http.openapi import problems
from pet_auth.http.schemas import ChangePasswordRequest, LoginRequest, RegisterRequest, UserOut, UserResponse
from pet_auth.sessions.backend import begin_session, current_session, end_session

AnyRequest = Request[Any, Any, Any]


class AuthController(Controller):
    path = "/api/auth"
    tags = ["auth"]

    @post("/register", status_code=201, responses=problems(409, 429))
    async def register(
        self,
        data: JSONBody[RegisterRequest],
        request: AnyRequest,
        auth: NamedDependency[AuthService],
        device_cookie: NamedDependency[DeviceCookie],
    ) -> Response[UserResponse]:
        """Create an account and sign in."""
        sign_in = await auth.register(data.email, data.password, client_of(request), current_session(request))
        return signed_in_response(request, sign_in, device_cookie, status_code=201)

    @post("/login", status_code=200, responses=problems(401, 429))
    async def login(
        self,
        data: JSONBody[LoginRequest],
        request: AnyRequest,
        auth: NamedDependency[AuthService],
        device_cookie: NamedDependency[DeviceCookie],
    ) -> Response[UserResponse]:
        """Sign in; the session gets a new id."""
        sign_in = await auth.login(
            data.email, data.password, client_of(request), device_cookie.read(request), current_session(request)
        )
        return signed_in_response(request, sign_in, device_cookie, status_code=200)

    @post("/logout", status_code=204, responses=problems())
    async def logout(self, request: AnyRequest, auth: NamedDependency[AuthService]) -> None:
        """Sign out: the server-side session is deleted and the cookie expired (the device cookie stays)."""
        user_id = request.session.get("uid")
        end_session(request)
        if user_id is not None:
            auth.logged_out(user_id, client_ip(request))

    @guarded_get("/me", guards=[requires_login], dependencies=CURRENT_USER, responses=problems(401))
    async def me(self, user: NamedDependency[User]) -> UserResponse:
        """The signed-in user."""
        return UserResponse(user=UserOut.of(user))

    @post(
        "/change-password",
        status_code=204,
        guards=[requires_login],
        dependencies=CURRENT_USER,
        responses=problems(401, 429),
    )
    async def change_password(
        self,
        data: JSONBody[ChangePasswordRequest],
        request: AnyRequest,
        user: NamedDependency[User],
        account: NamedDependency[AccountService],
        device_cookie: NamedDependency[DeviceCookie],
    ) -> None:
        """Change the password; this session gets a new id and every other session ends."""
        session_token = await account.change_password(
            user, data.current_password, data.new_password, client_of(request), device_cookie.read(request)
        )
        begin_session(request, session_token)
