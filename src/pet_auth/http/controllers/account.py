"""The account's life: verify the address, change it, delete the account."""

from __future__ import annotations

from typing import Any

from litestar import Controller, Request, Response, post
from litestar.di import NamedDependency
from litestar.params import JSONBody

from pet_auth.domain.account import AccountService
from pet_auth.domain.addresses import AddressService
from pet_auth.domain.errors import (
    EmailNotVerified,
    EmailTaken,
    InvalidCredentials,
    InvalidToken,
    RateLimited,
    ReauthenticationRequired,
)
from pet_auth.domain.models import CurrentUser
from pet_auth.http.cookies import HttpOnlyCookie, renewed_response
from pet_auth.http.guards import client_ip, client_of, requires_verified_email
from pet_auth.http.openapi import problems
from pet_auth.http.schemas import (
    ChangeEmailRequest,
    DeleteAccountRequest,
    MessageResponse,
    TokenRequest,
    UserOut,
    UserResponse,
)
from pet_auth.http.session_cookie import current_session, current_session_handle, drop_session_cookie

AnyRequest = Request[Any, Any, Any]
VERIFICATION_SENT_REPLY = "If your address is not verified yet, a new link is on its way."
CHANGE_REQUESTED_REPLY = "Check the new address for a link to confirm the change."


class EmailLinkController(Controller):
    """The links mailed to an address (verify it, confirm a change to it): no session needed."""

    path = "/api/auth"
    tags = ["account"]

    @post("/verify-email", status_code=200, operation_class=problems(InvalidToken))
    async def verify_email(
        self,
        data: JSONBody[TokenRequest],
        request: AnyRequest,
        addresses: NamedDependency[AddressService],
        device_cookie: NamedDependency[HttpOnlyCookie],
    ) -> Response[UserResponse]:
        """Verify the address a link was mailed to; needs no session. As the first proof of the address it ends
        every session, device cookie, link and second factor set up before it; a browser signed in to the account
        gets a new session and device cookie."""
        verified = await addresses.verify(data.token, client_of(request), current_session(request))
        content = UserResponse(user=UserOut.of(verified.user))
        if verified.renewed is None:
            return Response(content, status_code=200)
        return renewed_response(request, verified.renewed, device_cookie, content, 200)

    @post("/confirm-email", status_code=200, operation_class=problems(InvalidToken, EmailTaken))
    async def confirm_email(
        self, data: JSONBody[TokenRequest], request: AnyRequest, addresses: NamedDependency[AddressService]
    ) -> UserResponse:
        """Move the account to the address the link was mailed to, verified; every session and device cookie of the
        account ends, and the old address gets a notice."""
        return UserResponse(user=UserOut.of(await addresses.confirm_change(data.token, client_of(request))))


class AccountController(Controller):
    """The signed-in user's account; in the signed-in router (http/routes.py), which adds `/api/auth`, the login guard,
    the current user and the security requirement."""

    path = ""
    tags = ["account"]

    @post("/verify-email/resend", status_code=202, operation_class=problems(RateLimited))
    async def resend_verification(
        self, request: AnyRequest, user: NamedDependency[CurrentUser], addresses: NamedDependency[AddressService]
    ) -> MessageResponse:
        """Mail a fresh verification link, unless the address is verified already."""
        await addresses.resend_verification(user, client_ip(request))
        return MessageResponse(message=VERIFICATION_SENT_REPLY)

    @post(
        "/change-email",
        status_code=202,
        guards=[requires_verified_email],
        operation_class=problems(InvalidCredentials, ReauthenticationRequired, EmailNotVerified, RateLimited),
    )
    async def change_email(
        self,
        data: JSONBody[ChangeEmailRequest],
        request: AnyRequest,
        user: NamedDependency[CurrentUser],
        addresses: NamedDependency[AddressService],
        device_cookie: NamedDependency[HttpOnlyCookie],
    ) -> MessageResponse:
        """Mail a confirmation link to the new address; the answer is the same whether or not it is taken."""
        await addresses.request_change(
            user,
            current_session_handle(request),
            data.current_password,
            data.new_email,
            client_of(request),
            device_cookie.read(request),
        )
        return MessageResponse(message=CHANGE_REQUESTED_REPLY)

    @post(
        "/delete-account",
        status_code=204,
        guards=[requires_verified_email],
        operation_class=problems(InvalidCredentials, ReauthenticationRequired, EmailNotVerified, RateLimited),
    )
    async def delete_account(
        self,
        data: JSONBody[DeleteAccountRequest],
        request: AnyRequest,
        user: NamedDependency[CurrentUser],
        account: NamedDependency[AccountService],
        device_cookie: NamedDependency[HttpOnlyCookie],
    ) -> None:
        """Delete the account: every session ends and this one's cookie is expired."""
        await account.delete_account(
            user,
            current_session_handle(request),
            data.current_password,
            client_of(request),
            device_cookie.read(request),
        )
        drop_session_cookie(request)
