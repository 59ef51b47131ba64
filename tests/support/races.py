"""Two requests raced against each other, round after round, for the race tests."""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from typing import Any

import httpx


async def later(delay: float, request: Coroutine[Any, Any, httpx.Response]) -> httpx.Response:
    await asyncio.sleep(delay)
    return await request


async def race(
    round_: int, rounds: int, first: Coroutine[Any, Any, httpx.Response], second: Coroutine[Any, Any, httpx.Response]
) -> tuple[httpx.Response, httpx.Response]:
    """Send both, the second 0 to 40 ms after the first (more as the rounds go on); who goes first alternates."""
    gap = 0.040 * (round_ // 2) / (rounds // 2 - 1)
    if round_ % 2 == 0:
        return await asyncio.gather(first, later(gap, second))
    return await asyncio.gather(later(gap, first), second)
