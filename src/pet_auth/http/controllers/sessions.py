"""The signed-in user's sessions (devices)."""

from __future__ import annotations

from typing import Any

from litestar import Controller, Request, delete, post
from litestar.di import NamedDependency
from litestar.params import FromPath

from pet_auth.domain.account import AccountService
from pet_auth.domain.errors import ReauthenticationRequired, SessionNotFound
from pet_auth.domain.models import CurrentUser
from pet_auth.http.guards import client_of, guarded_get
from pet_auth.http.openapi import problems
from pet_auth.http.schemas import SessionOut, SessionsResponse
from pet_auth.http.session_cookie import current_session_handle, drop_session_cookie

AnyRequest = Request[Any, Any, Any]


class SessionsController(Controller):
    """In the signed-in router (http/routes.py), which adds `/api/auth`, the login guard, the current user and the
    security requirement."""

    path = "/sessions"
    tags = ["sessions"]

    @guarded_get("/", operation_class=problems(read_only=True))
    async def list_sessions(
        self, request: AnyRequest, user: NamedDependency[CurrentUser], account: NamedDependency[AccountService]
    ) -> SessionsResponse:
        """Every live session of the signed-in user, the current one marked."""
        current = current_session_handle(request)
        return SessionsResponse(sessions=[SessionOut.of(s, current) for s in await account.sessions(user.id)])

    @delete("/{session_id:str}", status_code=204, operation_class=problems(SessionNotFound))
    async def end_session(
        self,
        session_id: FromPath[str],
        request: AnyRequest,
        user: NamedDependency[CurrentUser],
        account: NamedDependency[AccountService],
    ) -> None:
        """End one session; ending the current one signs out."""
        await account.revoke_session(user.id, session_id, client_of(request))
        if session_id == current_session_handle(request):
            drop_session_cookie(request)

    @post("/revoke-others", status_code=204, operation_class=problems(ReauthenticationRequired))
    async def revoke_other_sessions(
        self, request: AnyRequest, user: NamedDependency[CurrentUser], account: NamedDependency[AccountService]
    ) -> None:
        """End every session of the user but this one (sudo mode)."""
        await account.end_other_sessions(user, current_session_handle(request), client_of(request))
