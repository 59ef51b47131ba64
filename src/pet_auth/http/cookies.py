"""The device cookie, and the response that completes a sign-in (session cookie and device cookie)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from litestar import Response
from litestar.connection import ASGIConnection
from litestar.datastructures import Cookie

from pet_auth.domain.models import SignIn
from pet_auth.http.schemas import UserOut, UserResponse
from pet_auth.sessions.backend import begin_session

# Long-lived: the device is remembered for a year after its latest sign-in (browsers cap cookies at 400 days).
DEVICE_COOKIE_MAX_AGE = 365 * 24 * 3600


@dataclass(frozen=True, slots=True)
class DeviceCookie:
    name: str
    secure: bool

    def read(self, connection: ASGIConnection[Any, Any, Any, Any]) -> str | None:
        return connection.cookies.get(self.name)

    def carrying(self, token: str) -> Cookie:
        return Cookie(
            key=self.name,
            value=token,
            max_age=DEVICE_COOKIE_MAX_AGE,
            path="/",
            secure=self.secure,
            httponly=True,
            samesite="lax",
        )


def signed_in_response(
    connection: ASGIConnection[Any, Any, Any, Any], sign_in: SignIn, device_cookie: DeviceCookie, status_code: int
) -> Response[UserResponse]:
    """The user, with the new session's cookie and the device cookie (refreshed, or new)."""
    begin_session(connection, sign_in.session_token)
    return Response(
        UserResponse(user=UserOut.of(sign_in.user)),
        status_code=status_code,
        cookies=[device_cookie.carrying(sign_in.device_token)],
    )
