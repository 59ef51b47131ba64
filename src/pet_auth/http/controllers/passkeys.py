"""Passkeys: signing in with one (no session needed), and the signed-in user's own: register, list, rename, remove,
and re-authenticate with one."""

from __future__ import annotations

from typing import Any

import msgspec
from litestar import Controller, Request, Response, delete, patch, post
from litestar.di import NamedDependency
from litestar.params import FromPath, JSONBody

from pet_auth.domain.errors import (
    EmailNotVerified,
    InvalidCredentials,
    LastSignInMethod,
    PasskeyAlreadyRegistered,
    PasskeyChallengeInvalid,
    PasskeyError,
    PasskeyInvalid,
    PasskeyLimitReached,
    PasskeyNotFound,
    PasskeyNotRecognized,
    PasskeySignInInvalid,
    RateLimited,
    ReauthenticationRequired,
)
from pet_auth.domain.models import CurrentUser
from pet_auth.domain.passkeys import PasskeyService
from pet_auth.http.cookies import HttpOnlyCookie, renewed_response, signed_in_response
from pet_auth.http.errors import problem, status_of
from pet_auth.http.guards import client_of, guarded_get
from pet_auth.http.openapi import problems, response
from pet_auth.http.schemas import (
    PasskeyCredentialRequest,
    PasskeyOut,
    PasskeyResponse,
    PasskeysResponse,
    PublicKeyCredentialCreationOptionsJSON,
    PublicKeyCredentialRequestOptionsJSON,
    RegisterPasskeyRequest,
    RenamePasskeyRequest,
    UserResponse,
)
from pet_auth.http.session_cookie import current_session, current_session_handle

AnyRequest = Request[Any, Any, Any]


def _request_options(options: dict[str, Any]) -> PublicKeyCredentialRequestOptionsJSON:
    return msgspec.convert(options, PublicKeyCredentialRequestOptionsJSON)


class PasskeySignInController(Controller):
    """Signing in with a passkey: no session needed."""

    path = "/api/auth"
    tags = ["passkeys"]

    @post("/login/passkey/options", status_code=200, operation_class=problems(RateLimited))
    async def passkey_sign_in_options(
        self,
        request: AnyRequest,
        passkeys: NamedDependency[PasskeyService],
        passkey_cookie: NamedDependency[HttpOnlyCookie],
    ) -> Response[PublicKeyCredentialRequestOptionsJSON]:
        """The options of a passkey sign-in (for `navigator.credentials.get()`, the button and the browser's autofill
        alike): any discoverable passkey may answer, with user verification. The challenge is bound to a short-lived
        HttpOnly cookie set here, and works once, within 5 minutes."""
        flow = await passkeys.sign_in_options(client_of(request))
        return Response(_request_options(flow.options), cookies=[passkey_cookie.carrying(flow.token)])

    @post(
        "/login/passkey",
        status_code=200,
        responses={200: response(UserResponse, "Signed in")},
        operation_class=problems(
            PasskeyChallengeInvalid, PasskeySignInInvalid, PasskeyNotRecognized, InvalidCredentials, RateLimited
        ),
    )
    async def passkey_sign_in(
        self,
        data: JSONBody[PasskeyCredentialRequest],
        request: AnyRequest,
        passkeys: NamedDependency[PasskeyService],
        device_cookie: NamedDependency[HttpOnlyCookie],
        passkey_cookie: NamedDependency[HttpOnlyCookie],
    ) -> Response[Any]:
        """Sign in with a passkey's answer to the options of `POST /login/passkey/options` (from this browser: its
        cookie names the challenge). Signs in as `/login` does, with no second step: the passkey's user verification
        is the second factor. The flow's cookie is expired, whatever the outcome."""
        try:
            sign_in = await passkeys.sign_in(
                passkey_cookie.read(request),
                msgspec.to_builtins(data.credential),
                client_of(request),
                device_cookie.read(request),
                current_session(request),
            )
        except PasskeyError as exc:
            refused = problem(status_of(type(exc)), exc.code, exc.detail)
            refused.cookies.append(passkey_cookie.expired())
            return refused
        return signed_in_response(request, sign_in, device_cookie, 200, passkey_cookie.expired())


class PasskeysController(Controller):
    """The signed-in user's passkeys, and re-authentication with one; in the signed-in router (http/routes.py), which
    adds `/api/auth`, the login guard, the current user and the security requirement."""

    path = ""
    tags = ["passkeys"]

    @post(
        "/passkeys/register/options",
        status_code=200,
        operation_class=problems(EmailNotVerified, PasskeyLimitReached, InvalidCredentials, ReauthenticationRequired),
    )
    async def passkey_registration_options(
        self, request: AnyRequest, user: NamedDependency[CurrentUser], passkeys: NamedDependency[PasskeyService]
    ) -> PublicKeyCredentialCreationOptionsJSON:
        """The options of a new passkey (for `navigator.credentials.create()`): a discoverable credential with user
        verification, no attestation, none of the user's passkeys again. The challenge is bound to this session and
        works once, within 5 minutes. Needs a verified address; at most 10 passkeys."""
        options = await passkeys.registration_options(user, current_session_handle(request))
        return msgspec.convert(options, PublicKeyCredentialCreationOptionsJSON)

    @post(
        "/passkeys/register",
        status_code=201,
        operation_class=problems(
            PasskeyChallengeInvalid,
            PasskeyInvalid,
            PasskeyLimitReached,
            PasskeyAlreadyRegistered,
            EmailNotVerified,
            InvalidCredentials,
            ReauthenticationRequired,
        ),
    )
    async def register_passkey(
        self,
        data: JSONBody[RegisterPasskeyRequest],
        request: AnyRequest,
        user: NamedDependency[CurrentUser],
        passkeys: NamedDependency[PasskeyService],
        device_cookie: NamedDependency[HttpOnlyCookie],
    ) -> Response[PasskeyResponse]:
        """Store a passkey from the authenticator's answer to this session's registration options. A credential
        change: this session gets a new id and device cookie, every other session and device cookie ends, and the
        owner is mailed."""
        registered = await passkeys.register(
            user, current_session_handle(request), msgspec.to_builtins(data.credential), data.name, client_of(request)
        )
        content = PasskeyResponse(passkey=PasskeyOut.of(registered.passkey))
        return renewed_response(request, registered.renewed, device_cookie, content, 201)

    @guarded_get("/passkeys", operation_class=problems(read_only=True))
    async def list_passkeys(
        self, user: NamedDependency[CurrentUser], passkeys: NamedDependency[PasskeyService]
    ) -> PasskeysResponse:
        """The signed-in user's passkeys, oldest first."""
        return PasskeysResponse(passkeys=[PasskeyOut.of(p) for p in await passkeys.list_passkeys(user.id)])

    @patch("/passkeys/{passkey_id:int}", status_code=200, operation_class=problems(PasskeyNotFound))
    async def rename_passkey(
        self,
        passkey_id: FromPath[int],
        data: JSONBody[RenamePasskeyRequest],
        user: NamedDependency[CurrentUser],
        passkeys: NamedDependency[PasskeyService],
    ) -> PasskeyResponse:
        """Rename one of the user's passkeys."""
        return PasskeyResponse(passkey=PasskeyOut.of(await passkeys.rename(user.id, passkey_id, data.name)))

    @delete(
        "/passkeys/{passkey_id:int}",
        status_code=204,
        operation_class=problems(PasskeyNotFound, LastSignInMethod, InvalidCredentials, ReauthenticationRequired),
    )
    async def delete_passkey(
        self,
        passkey_id: FromPath[int],
        request: AnyRequest,
        user: NamedDependency[CurrentUser],
        passkeys: NamedDependency[PasskeyService],
        device_cookie: NamedDependency[HttpOnlyCookie],
    ) -> Response[None]:
        """Remove one of the user's passkeys, unless it is the last way left to sign in. A credential change: this
        session gets a new id and device cookie, every other session and device cookie ends, and the owner is
        mailed."""
        renewed = await passkeys.delete(user, current_session_handle(request), passkey_id, client_of(request))
        return renewed_response(request, renewed, device_cookie, None, 204)

    @post("/reauthenticate/passkey/options", status_code=200, operation_class=problems(PasskeyNotFound))
    async def passkey_reauthentication_options(
        self, request: AnyRequest, user: NamedDependency[CurrentUser], passkeys: NamedDependency[PasskeyService]
    ) -> PublicKeyCredentialRequestOptionsJSON:
        """The options of a re-authentication with one of the user's passkeys (its allow-list), with user
        verification; the challenge is bound to this session and works once, within 5 minutes. 404 when the user
        has no passkey."""
        options = await passkeys.reauthentication_options(user.id, current_session_handle(request))
        return _request_options(options)

    @post(
        "/reauthenticate/passkey",
        status_code=204,
        operation_class=problems(PasskeyChallengeInvalid, PasskeySignInInvalid, PasskeyNotRecognized, RateLimited),
    )
    async def reauthenticate_with_passkey(
        self,
        data: JSONBody[PasskeyCredentialRequest],
        request: AnyRequest,
        user: NamedDependency[CurrentUser],
        passkeys: NamedDependency[PasskeyService],
    ) -> None:
        """Prove a factor again with one of the user's passkeys, answering this session's re-authentication
        options."""
        await passkeys.verify_reauthentication(
            user.id, current_session_handle(request), msgspec.to_builtins(data.credential), client_of(request)
        )
