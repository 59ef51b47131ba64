"""Device cookies: guesses from elsewhere lock out unknown devices only, never the owner's browser."""

from __future__ import annotations

import time
from http.cookies import SimpleCookie

import httpx
from redis.asyncio import Redis

from pet_auth.config import Settings
from tests.support.clients import PASSWORD, Client, MakeClient, register, unique_email

LOGIN = "/api/auth/login"
WRONG = "wrong password, surely"


async def login(client: Client, email: str, password: str = PASSWORD) -> httpx.Response:
    return await client.post(LOGIN, json={"email": email, "password": password})


def device_cookie(response: httpx.Response, name: str) -> SimpleCookie:
    for header in response.headers.get_list("set-cookie"):
        cookie: SimpleCookie = SimpleCookie()
        cookie.load(header)
        if name in cookie:
            return cookie
    raise AssertionError(f"no {name} cookie in {response.headers.get_list('set-cookie')}")


async def locked_by_strangers(make_client: MakeClient, email: str, settings: Settings) -> Client:
    """Guesses from a browser the account never saw, until the account is locked for such browsers."""
    stranger = await make_client(settings)
    for _ in range(settings.rate_limit_login_per_account):
        assert (await login(stranger, email, WRONG)).status_code == 401
    assert (await login(stranger, email)).status_code == 429
    return stranger


async def test_a_sign_in_sets_a_long_lived_device_cookie(client: Client, settings: Settings) -> None:
    email = unique_email()
    for response in (
        await client.post("/api/auth/register", json={"email": email, "password": PASSWORD}),
        await login(client, email),
    ):
        assert response.status_code in (200, 201)
        morsel = device_cookie(response, settings.device_cookie_name)[settings.device_cookie_name]
        assert morsel["httponly"]
        assert morsel["samesite"].lower() == "lax"
        assert morsel["path"] == "/"
        assert not morsel["secure"]  # development: plain http on localhost
        assert int(morsel["max-age"]) >= 180 * 24 * 3600
        user_id, credential_version, issued_at, device_id, mac = morsel.value.split(".")
        assert int(user_id) == response.json()["user"]["id"]
        assert int(credential_version) == 1
        assert abs(int(issued_at) - time.time()) < 60
        assert len(device_id) == len(mac) == 22  # 128 bits each


async def test_in_production_the_device_cookie_is_host_only_and_secure(make_client: MakeClient) -> None:
    client = await make_client(
        app_env="production", cors_origins="https://pets.example", frontend_url="https://pets.example"
    )
    response = await client.post("/api/auth/register", json={"email": unique_email(), "password": PASSWORD})
    assert response.status_code == 201, response.text
    morsel = device_cookie(response, "__Host-pet_auth_device")["__Host-pet_auth_device"]
    assert morsel["secure"]
    assert morsel["httponly"]
    assert morsel["path"] == "/"
    assert not morsel["domain"]


async def test_strangers_lock_out_unknown_devices_but_not_the_owners_browser(
    make_client: MakeClient, settings: Settings
) -> None:
    owner = await make_client(settings)
    email = unique_email()
    await register(owner, email)
    assert (await owner.post("/api/auth/logout")).status_code == 204  # the device cookie stays

    await locked_by_strangers(make_client, email, settings)

    assert (await login(owner, email)).status_code == 200
    assert (await owner.get("/api/auth/me")).status_code == 200
    newcomer = await make_client(settings)  # the owner on a new device shares the account's lock
    assert (await login(newcomer, email)).status_code == 429


async def test_logout_keeps_the_device_cookie(client: Client, settings: Settings) -> None:
    await register(client)
    device = client.cookies[settings.device_cookie_name]
    response = await client.post("/api/auth/logout")
    assert response.status_code == 204
    assert not any(settings.device_cookie_name in header for header in response.headers.get_list("set-cookie"))
    assert client.cookies[settings.device_cookie_name] == device


async def test_a_device_is_limited_on_its_own(make_client: MakeClient, settings: Settings) -> None:
    email = unique_email()
    laptop = await make_client(settings)
    await register(laptop, email)
    phone = await make_client(settings)
    assert (await login(phone, email)).status_code == 200
    for _ in range(settings.rate_limit_login_per_device):
        assert (await login(laptop, email, WRONG)).status_code == 401
    assert (await login(laptop, email)).status_code == 429  # this device is locked
    assert (await login(phone, email)).status_code == 200  # another known device is not
    newcomer = await make_client(settings)
    assert (await login(newcomer, email)).status_code == 200  # nor the account for unknown devices


async def test_a_device_cookie_of_one_account_gives_nothing_for_another(
    make_client: MakeClient, settings: Settings
) -> None:
    mine, theirs = unique_email(), unique_email()
    browser = await make_client(settings)
    await register(browser, mine)
    await register(await make_client(settings), theirs)
    # My browser's guesses at their account count under their account's lock, as any stranger's do.
    for _ in range(settings.rate_limit_login_per_account):
        assert (await login(browser, theirs, WRONG)).status_code == 401
    assert (await login(browser, theirs)).status_code == 429
    stranger = await make_client(settings)
    assert (await login(stranger, theirs)).status_code == 429


async def test_a_forged_device_cookie_counts_as_an_unknown_device(make_client: MakeClient, settings: Settings) -> None:
    owner = await make_client(settings)
    email = unique_email()
    await register(owner, email)
    user_id, version, issued_at, device_id, mac = owner.cookies[settings.device_cookie_name].split(".")
    forger = await locked_by_strangers(make_client, email, settings)
    for forged in (
        f"{user_id}.{version}.{issued_at}.{device_id}.{mac[::-1]}",
        f"{user_id}.{version}.{issued_at}.{'A' * 22}.{mac}",
        f"{user_id}.{int(version) + 1}.{issued_at}.{device_id}.{mac}",
        f"{user_id}.{device_id}.{mac}",  # the earlier format
        "garbage",
        "",
    ):
        forger.cookies.set(settings.device_cookie_name, forged)
        assert (await login(forger, email)).status_code == 429


async def test_a_device_cookie_is_not_a_session(make_client: MakeClient, settings: Settings) -> None:
    owner = await make_client(settings)
    await register(owner)
    device = owner.cookies[settings.device_cookie_name]
    other = await make_client(settings)
    other.cookies.set(settings.device_cookie_name, device)
    assert (await other.get("/api/auth/me")).status_code == 401
    other.cookies.set(settings.session_cookie_name, device)
    assert (await other.get("/api/auth/me")).status_code == 401


async def test_device_ids_never_appear_in_redis_key_names(
    make_client: MakeClient, settings: Settings, redis: Redis
) -> None:
    client = await make_client(settings)
    email = unique_email()
    await register(client, email)
    assert (await login(client, email, WRONG)).status_code == 401  # counted under the device
    device_id = client.cookies[settings.device_cookie_name].split(".")[3]
    keys = [key async for key in redis.scan_iter(match=f"{settings.redis_namespace}:*")]
    assert any(b":login-device:" in key for key in keys)
    assert not any(device_id.encode() in key for key in keys)
