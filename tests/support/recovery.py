"""Password recovery through the API: ask for a link, read its token from the mail, reset."""

from __future__ import annotations

from typing import Any

import httpx

from tests.support.clients import Client
from tests.support.smtp import MailSink

FORGOT = "/api/auth/forgot-password"
RESET = "/api/auth/reset-password"
RESET_SUBJECT = "Reset your Pet Manager password"
NEW_PASSWORD = "a brand new passphrase, 2nd edition"


async def forgot(client: Client | httpx.AsyncClient, email: str, **kwargs: Any) -> httpx.Response:
    return await client.post(FORGOT, json={"email": email}, **kwargs)


async def request_token(client: Client | httpx.AsyncClient, smtp: MailSink, email: str, nth: int = 1) -> str:
    """Ask for a reset link and return the token of the `nth` reset email that user has received."""
    response = await forgot(client, email)
    assert response.status_code == 202, response.text
    mails = await smtp.wait_for(email, RESET_SUBJECT, count=nth)
    return mails[nth - 1].token


async def reset(client: Client | httpx.AsyncClient, token: str, password: str = NEW_PASSWORD) -> httpx.Response:
    return await client.post(RESET, json={"token": token, "password": password})


def assert_invalid_token(response: httpx.Response) -> None:
    assert response.status_code == 400, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["code"] == "invalid_token"
