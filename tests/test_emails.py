"""One mailbox, one account: addresses a mail system would reinterpret are refused, and every form of one address
(case, NFC or NFD, IDNA ASCII or Unicode domain) is one account."""

from __future__ import annotations

import asyncio
import unicodedata
from collections.abc import Awaitable, Callable

import pytest
from alembic import command
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from pet_auth.domain.emails import normalize_email
from pet_auth.domain.errors import InvalidInput
from tests.support.clients import PASSWORD, Client, MakeClient, register, unique_email
from tests.support.database import alembic_config

REINTERPRETED = {
    "trailing-comment": "alice@example.com(x)",  # Python's mail parser delivers this to alice@example.com
    "leading-comment": "(x)alice@example.com",
    "ip-literal": "a@[127.0.0.1]",
    "ipv6-literal": "a@[IPv6:::1]",
    "hyphen-starts-domain": "a@-example.com",
    "dot-ends-local-part": "a.@example.com",
    "dot-starts-local-part": ".a@example.com",
    "two-dots": "a..b@example.com",
    "closing-bracket": "a@example.com>",
    "angle-brackets": "<a@example.com>",
    "display-name": "Alice <a@example.com>",
    "quoted-local-part": '"alice"@example.com',
    "obsolete-spaces-around-dot": "a . b@example.com",
}


@pytest.mark.parametrize("email", REINTERPRETED.values(), ids=REINTERPRETED.keys())
async def test_an_address_a_mail_system_would_reinterpret_is_refused(client: Client, email: str) -> None:
    response = await client.post("/api/auth/register", json={"email": email, "password": PASSWORD})
    assert response.status_code == 400, response.text
    body = response.json()
    assert body["code"] == "validation_error"
    assert [error["field"] for error in body["errors"]] == ["email"]
    forgot = await client.post("/api/auth/forgot-password", json={"email": email})
    assert forgot.status_code == 400
    assert [error["field"] for error in forgot.json()["errors"]] == ["email"]


async def test_nfc_and_nfd_forms_are_one_account(client: Client, make_client: MakeClient) -> None:
    local = unique_email("josé").split("@")[0]
    nfc, nfd = (unicodedata.normalize(form, f"{local}@example.com") for form in ("NFC", "NFD"))
    assert nfc != nfd
    user = await register(client, nfc)
    assert user["email"] == nfc
    other = await make_client()
    duplicate = await other.post("/api/auth/register", json={"email": nfd, "password": PASSWORD})
    assert duplicate.status_code == 409
    assert duplicate.json()["code"] == "email_taken"
    for form in (nfc, nfd):
        login = await other.post("/api/auth/login", json={"email": form, "password": PASSWORD})
        assert login.status_code == 200, login.text
        assert login.json()["user"]["id"] == user["id"]


@pytest.mark.parametrize(
    ("first", "second"),
    [("{}@bücher.de", "{}@xn--bcher-kva.de"), ("{}@XN--BCHER-KVA.DE", "{}@Bücher.de")],
    ids=["unicode-then-ascii", "ascii-then-unicode"],
)
async def test_idna_ascii_and_unicode_domains_are_one_account(
    client: Client, make_client: MakeClient, first: str, second: str
) -> None:
    local = unique_email().split("@")[0]
    user = await register(client, first.format(local))
    assert user["email"] == f"{local}@bücher.de"  # the canonical form keeps the domain in Unicode
    other = await make_client()
    duplicate = await other.post("/api/auth/register", json={"email": second.format(local), "password": PASSWORD})
    assert duplicate.status_code == 409
    assert duplicate.json()["code"] == "email_taken"
    for form in (first, second):
        login = await other.post("/api/auth/login", json={"email": form.format(local), "password": PASSWORD})
        assert login.status_code == 200, login.text
        assert login.json()["user"]["id"] == user["id"]


async def test_a_reinterpretable_address_at_sign_in_is_a_plain_401(client: Client) -> None:
    email = unique_email()
    await register(client, email)
    response = await client.post("/api/auth/login", json={"email": f"{email}(x)", "password": PASSWORD})
    assert response.status_code == 401
    assert response.json()["code"] == "invalid_credentials"


@pytest.mark.parametrize(
    ("raw", "canonical"),
    [
        ("  Ada@Example.COM ", "ada@example.com"),
        (unicodedata.normalize("NFD", "JOSÉ@Bücher.DE"), "josé@bücher.de"),
        ("josé@xn--bcher-kva.de", "josé@bücher.de"),
        ("a@\uff25\uff38\uff21\uff2d\uff30\uff2c\uff25.com", "a@example.com"),  # fullwidth EXAMPLE, mapped by IDNA
        ("user+tag@example.com", "user+tag@example.com"),
    ],
)
def test_canonical_form_is_stable(raw: str, canonical: str) -> None:
    assert normalize_email(raw) == canonical
    assert normalize_email(canonical) == canonical  # stored addresses look themselves up
    assert unicodedata.is_normalized("NFC", canonical)


def test_the_error_names_the_field_it_was_given() -> None:
    with pytest.raises(InvalidInput) as caught:
        normalize_email("a@[127.0.0.1]", field="newEmail")
    assert caught.value.errors[0].field == "newEmail"


PREVIOUS_REVISION = "0004"  # the one before the canonicalization


async def _migrated_to_previous_revision_with(create_database: Callable[[], Awaitable[str]], emails: list[str]) -> str:
    url = await create_database()
    await asyncio.to_thread(command.upgrade, alembic_config(url), PREVIOUS_REVISION)
    engine = create_async_engine(url)
    async with engine.begin() as connection:
        for email in emails:
            await connection.execute(
                text("INSERT INTO users (email, password_hash) VALUES (:email, 'x')"), {"email": email}
            )
    await engine.dispose()
    return url


async def _rows(url: str) -> tuple[list[tuple[int, str]], str]:
    engine = create_async_engine(url)
    async with engine.connect() as connection:
        result = await connection.execute(text("SELECT id, email FROM users ORDER BY id"))
        rows = [(row.id, row.email) for row in result]
        version = str(await connection.scalar(text("SELECT version_num FROM alembic_version")))
    await engine.dispose()
    return rows, version


async def test_the_migration_canonicalizes_stored_addresses(create_database: Callable[[], Awaitable[str]]) -> None:
    nfd = unicodedata.normalize("NFD", "josé@example.com")
    url = await _migrated_to_previous_revision_with(create_database, [nfd, "ada@xn--bcher-kva.de", "plain@example.com"])
    await asyncio.to_thread(command.upgrade, alembic_config(url), "head")
    rows, version = await _rows(url)
    assert [email for _, email in rows] == ["josé@example.com", "ada@bücher.de", "plain@example.com"]
    assert version != PREVIOUS_REVISION
    engine = create_async_engine(url)
    async with engine.connect() as connection:
        with pytest.raises(Exception, match="uq_users_email"):  # the unique constraint now holds the canonical form
            await connection.execute(text("INSERT INTO users (email, password_hash) VALUES ('plain@example.com', 'x')"))
    await engine.dispose()


async def test_the_migration_stops_on_a_collision_and_changes_nothing(
    create_database: Callable[[], Awaitable[str]],
) -> None:
    nfc, nfd = (unicodedata.normalize(form, "josé@example.com") for form in ("NFC", "NFD"))
    url = await _migrated_to_previous_revision_with(create_database, [nfc, "ada@xn--bcher-kva.de", nfd])
    before = await _rows(url)
    with pytest.raises(Exception, match="nothing was changed") as caught:
        await asyncio.to_thread(command.upgrade, alembic_config(url), "head")
    (first_id, _), _, (third_id, _) = before[0]
    # One problem, naming the two rows; the IDNA row, which would change alone, is not among them.
    assert str(caught.value).splitlines()[1:] == [f"  users {first_id}, {third_id} would all become 'josé@example.com'"]
    assert await _rows(url) == before
    assert before[1] == PREVIOUS_REVISION


async def test_the_migration_stops_on_an_invalid_stored_address(create_database: Callable[[], Awaitable[str]]) -> None:
    url = await _migrated_to_previous_revision_with(create_database, ["alice@example.com(x)", "JOSÉ@example.com"])
    before = await _rows(url)
    with pytest.raises(Exception, match=r"user \d+ 'alice@example.com\(x\)'"):
        await asyncio.to_thread(command.upgrade, alembic_config(url), "head")
    assert await _rows(url) == before
