"""Work that runs after the response, off the request path; failures are logged, never raised."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Coroutine
from typing import Any

logger = logging.getLogger("pet_auth.background")


class BackgroundTasks:
    def __init__(self) -> None:
        self._tasks: set[asyncio.Task[None]] = set()

    def spawn(self, work: Coroutine[Any, Any, None], what: str) -> None:
        task = asyncio.get_running_loop().create_task(self._guard(work, what))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def drain(self, grace_seconds: float = 10) -> None:
        """Let pending work finish (at shutdown), for at most `grace_seconds`."""
        if self._tasks:
            await asyncio.wait(set(self._tasks), timeout=grace_seconds)

    @staticmethod
    async def _guard(work: Coroutine[Any, Any, None], what: str) -> None:
        try:
            await work
        except Exception as exc:
            # The exception type only: its text could carry an address or a link.
            logger.error("background task %r failed: %s", what, type(exc).__name__)
