"""An account through the API: signing up (and the verification link mailed), /me, signing in, asking to move to
another address."""

from __future__ import annotations

from typing import Any

import httpx

from pet_auth.config import Settings
from tests.support.clients import PASSWORD, Client, MakeClient, register, unique_email
from tests.support.smtp import MailSink

VERIFY_SUBJECT = "Confirm your Pet Manager email address"
CONFIRM_SUBJECT = "Confirm your new Pet Manager email address"
ME = "/api/auth/me"


async def signed_up(make_client: MakeClient, settings: Settings, smtp: MailSink) -> tuple[Client, str, str]:
    """A new user's browser, their address and the token of the verification link sign-up mailed them."""
    client = await make_client(settings)
    email = unique_email()
    await register(client, email)
    [mail] = await smtp.wait_for(email, VERIFY_SUBJECT)
    return client, email, mail.token


async def me(client: Client) -> dict[str, Any]:
    response = await client.get(ME)
    assert response.status_code == 200, response.text
    return response.json()["user"]  # type: ignore[no-any-return]


async def login(client: Client, email: str, password: str = PASSWORD) -> httpx.Response:
    return await client.post("/api/auth/login", json={"email": email, "password": password})


async def change_email(client: Client, new_email: str, password: str = PASSWORD) -> httpx.Response:
    return await client.post("/api/auth/change-email", json={"currentPassword": password, "newEmail": new_email})
