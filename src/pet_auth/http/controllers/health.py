"""Liveness and readiness."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

from litestar import Controller, Response, get
from litestar.di import NamedDependency

from pet_auth.http.errors import is_unavailable, problem
from pet_auth.http.openapi import problems
from pet_auth.http.schemas import MessageResponse

Ping = Callable[[], Awaitable[object]]


class HealthController(Controller):
    path = ""
    tags = ["health"]
    opt = {"skip_session": True}

    @get("/health")
    async def health(self) -> MessageResponse:
        """The process is alive; touches nothing else."""
        return MessageResponse(message="ok")

    @get("/ready", responses=problems(503, api_route=False))
    async def ready(self, pings: NamedDependency[dict[str, Ping]]) -> Response[Any]:
        """PostgreSQL and Redis answer; 503 names those that do not."""
        results = await asyncio.gather(*(_answers(ping) for ping in pings.values()))
        down = [name for name, ok in zip(pings, results, strict=True) if not ok]
        if down:
            return problem(503, "service_unavailable", f"Unavailable: {', '.join(down)}.")
        return Response(MessageResponse(message="ready"))


async def _answers(ping: Ping) -> bool:
    try:
        await asyncio.wait_for(ping(), timeout=2)
    except Exception as exc:
        if not is_unavailable(exc):
            raise
        return False
    return True
