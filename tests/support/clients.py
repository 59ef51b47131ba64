"""The API through a test client: the origins the suite uses, an account's password, and signing up."""

from __future__ import annotations

import secrets
from collections.abc import Awaitable, Callable
from http.cookies import SimpleCookie
from typing import Any

import httpx
import msgspec
from litestar.testing import AsyncTestClient

API_ORIGIN = "http://testserver.local"
SPA_ORIGIN = "http://localhost:5173"
PASSWORD = "correct horse battery staple"

Client = AsyncTestClient[Any]
MakeClient = Callable[..., Awaitable[Client]]


def unique_email(prefix: str = "user") -> str:
    return f"{prefix}-{secrets.token_hex(5)}@example.com"


def forget_device(client: Client) -> None:
    """Drop the device cookie, so that the client's next sign-in comes from a device the account never saw."""
    for name in [name for name in client.cookies if name.endswith("pet_auth_device")]:
        client.cookies.delete(name)


async def register(client: Client, email: str | None = None, password: str = PASSWORD) -> dict[str, Any]:
    response = await client.post("/api/auth/register", json={"email": email or unique_email(), "password": password})
    assert response.status_code == 201, response.text
    return msgspec.json.decode(response.content)["user"]  # type: ignore[no-any-return]


def set_cookies(response: httpx.Response) -> dict[str, Any]:
    cookies: dict[str, Any] = {}
    for header in response.headers.get_list("set-cookie"):
        jar: SimpleCookie = SimpleCookie()
        jar.load(header)
        cookies.update(jar)
    return cookies


def problem_code(response: httpx.Response) -> str:
    assert response.headers["content-type"].startswith("application/problem+json"), response.text
    return str(response.json()["code"])
