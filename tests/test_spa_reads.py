"""What a browser app needs beyond the routes: the headers CORS exposes, and a session read that never answers 401
(the development problems: tests/test_development.py)."""

from __future__ import annotations

from tests.support.clients import SPA_ORIGIN, Client, register, unique_email

SESSION = "/api/auth/session"
OTHER_ORIGIN = "http://127.0.0.1:5174"


async def test_cors_exposes_retry_after(client: Client) -> None:
    response = await client.get("/api/auth/me", headers={"Origin": SPA_ORIGIN})
    exposed = {name.strip().lower() for name in response.headers["access-control-expose-headers"].split(",")}
    assert "retry-after" in exposed


async def test_the_session_is_null_when_signed_out_never_a_401(client: Client) -> None:
    signed_out = await client.get(SESSION)
    assert signed_out.status_code == 200
    assert signed_out.json() == {"user": None}

    email = unique_email()
    await register(client, email)
    signed_in = await client.get(SESSION)
    assert signed_in.status_code == 200
    assert signed_in.json()["user"]["email"] == email
    assert signed_in.json()["user"] == (await client.get("/api/auth/me")).json()["user"]

    await client.post("/api/auth/logout")
    assert (await client.get(SESSION)).json() == {"user": None}
