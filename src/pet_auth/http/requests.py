"""The request class of the app: a body the JSON decoder cannot read is a `SerializationException`, whatever the
decoder raised, so that the error handlers tell malformed JSON from a bad field by exception type alone."""

from __future__ import annotations

from typing import Any

from litestar import Request
from litestar.exceptions import SerializationException


class ApiRequest(Request[Any, Any, Any]):
    async def json(self) -> Any:
        try:
            return await super().json()
        except (UnicodeDecodeError, RecursionError) as exc:  # bytes that are not UTF-8; JSON nested too deep
            raise SerializationException(f"undecodable JSON body: {type(exc).__name__}") from exc
