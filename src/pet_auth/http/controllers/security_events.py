"""The signed-in user's activity log."""

from __future__ import annotations

from typing import Annotated

from litestar import Controller
from litestar.di import NamedDependency
from litestar.params import Parameter

from pet_auth.domain.account import AccountService
from pet_auth.domain.errors import InvalidInput
from pet_auth.domain.models import CurrentUser
from pet_auth.domain.security_events import DEFAULT_PAGE_SIZE, MAX_EVENT_ID, MAX_PAGE_SIZE
from pet_auth.http.guards import guarded_get
from pet_auth.http.openapi import problems
from pet_auth.http.schemas import SecurityEventsResponse

Before = Annotated[
    int | None,
    Parameter(
        ge=1,
        le=MAX_EVENT_ID,
        description="Only events older than this one: the `nextBefore` of the previous page. Omitted: the newest.",
    ),
]
Limit = Annotated[int, Parameter(ge=1, le=MAX_PAGE_SIZE, description="Most events in the answer.")]


class SecurityEventsController(Controller):
    """In the signed-in router (http/routes.py), which adds `/api/auth`, the login guard, the current user and the
    security requirement."""

    path = ""
    tags = ["account"]

    @guarded_get("/security-events", operation_class=problems(InvalidInput, read_only=True))
    async def security_events(
        self,
        user: NamedDependency[CurrentUser],
        account: NamedDependency[AccountService],
        before: Before = None,
        limit: Limit = DEFAULT_PAGE_SIZE,
    ) -> SecurityEventsResponse:
        """The account's activity log, newest first: sign-ins, changes of the password, address and second factor,
        sessions ended, locks. Each event has its kind, time, approximate place (the client's network) and device.
        Page with `before` (the previous answer's `nextBefore`, null after the last page)."""
        return SecurityEventsResponse.of(await account.security_events(user.id, before, limit))
