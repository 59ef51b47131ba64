"""The device and pending sign-in cookies, and the response that completes a sign-in (session and device cookies)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, TypeVar

from litestar import Response
from litestar.connection import ASGIConnection
from litestar.datastructures import Cookie

from pet_auth.domain.models import Renewed, SignIn
from pet_auth.http.schemas import UserOut, UserResponse
from pet_auth.http.session_cookie import begin_session

T = TypeVar("T")

# Long-lived: the device is remembered for a year after its latest sign-in (browsers cap cookies at 400 days).
DEVICE_COOKIE_MAX_AGE = 365 * 24 * 3600


@dataclass(frozen=True, slots=True)
class HttpOnlyCookie:
    """A cookie of ours besides the session's, out of scripts' reach: the device cookie (long-lived) and the
    pending two-factor sign-in's (as long as that lives). `__Host-` names come with `secure` in production."""

    name: str
    secure: bool
    max_age: int

    def read(self, connection: ASGIConnection[Any, Any, Any, Any]) -> str | None:
        return connection.cookies.get(self.name)

    def carrying(self, token: str) -> Cookie:
        return self._cookie(token, self.max_age)

    def expired(self) -> Cookie:
        return self._cookie("", 0)

    def _cookie(self, value: str, max_age: int) -> Cookie:
        return Cookie(
            key=self.name, value=value, max_age=max_age, path="/", secure=self.secure, httponly=True, samesite="lax"
        )


def signed_in_response(
    connection: ASGIConnection[Any, Any, Any, Any],
    sign_in: SignIn,
    device_cookie: HttpOnlyCookie,
    status_code: int,
    *also: Cookie,
) -> Response[UserResponse]:
    """The user, with the new session's cookie and the device cookie (refreshed, or new: none when the account's
    budget of new device cookies is spent), and `also`."""
    begin_session(connection, sign_in.session_token)
    device = [] if sign_in.device_token is None else [device_cookie.carrying(sign_in.device_token)]
    return Response(UserResponse(user=UserOut.of(sign_in.user)), status_code=status_code, cookies=[*device, *also])


def renewed_response(
    connection: ASGIConnection[Any, Any, Any, Any],
    renewed: Renewed,
    device_cookie: HttpOnlyCookie,
    content: T,
    status_code: int,
) -> Response[T]:
    """`content`, with the new session and device cookies of a browser that has just made a credential change."""
    begin_session(connection, renewed.session_token)
    return Response(content, status_code=status_code, cookies=[device_cookie.carrying(renewed.device_token)])
