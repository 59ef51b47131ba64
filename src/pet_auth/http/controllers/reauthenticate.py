"""Re-authentication: a signed-in session proves a factor again, for sudo mode (domain/sudo.py)."""

from __future__ import annotations

from typing import Any

from litestar import Controller, Request, post
from litestar.di import NamedDependency
from litestar.params import JSONBody

from pet_auth.domain.errors import (
    CodeAlreadyUsed,
    InvalidCode,
    InvalidCredentials,
    MfaNotEnabled,
    RateLimited,
)
from pet_auth.domain.mfa import MfaService
from pet_auth.domain.models import CurrentUser
from pet_auth.domain.sudo import SudoMode
from pet_auth.http.cookies import HttpOnlyCookie
from pet_auth.http.guards import client_of
from pet_auth.http.openapi import problems
from pet_auth.http.schemas import ReauthenticateRequest
from pet_auth.http.session_cookie import current_session_handle

AnyRequest = Request[Any, Any, Any]


class ReauthenticateController(Controller):
    """In the signed-in router (http/routes.py), which adds `/api/auth`, the login guard, the current user and the
    security requirement."""

    path = "/reauthenticate"
    tags = ["auth"]

    @post(
        "/",
        status_code=204,
        operation_class=problems(InvalidCredentials, InvalidCode, CodeAlreadyUsed, MfaNotEnabled, RateLimited),
    )
    async def reauthenticate(
        self,
        data: JSONBody[ReauthenticateRequest],
        request: AnyRequest,
        user: NamedDependency[CurrentUser],
        sudo: NamedDependency[SudoMode],
        mfa: NamedDependency[MfaService],
        device_cookie: NamedDependency[HttpOnlyCookie],
    ) -> None:
        """Prove a factor again (`password`, or `code` of the authenticator app): the session may then make
        sensitive changes for SUDO_WINDOW seconds. Shares the sign-in limits."""
        caller, client = current_session_handle(request), client_of(request)
        if data.password is not None and data.code is None:
            await sudo.with_password(user, caller, data.password, client, device_cookie.read(request))
        elif data.code is not None and data.password is None:
            await mfa.reauthenticate(user, caller, data.code, client)
        else:
            # As the sign-in's second step: no proof, or two, is a failed proof (a 401), nothing counted.
            raise InvalidCredentials("Send one proof: your password, or a code from your authenticator app.")
