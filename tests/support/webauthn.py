"""A software authenticator for the tests: passkeys made and used without a browser, written out here from the
WebAuthn spec (not the service's code, nor py_webauthn's): P-256 keys (cryptography), CBOR (cbor2), "none"
attestation, authenticator data with the UP/UV/BE/BS/AT flags, a signature counter and the RP ID's hash, client data
with its type, challenge and origin, and ES256 signatures over authenticatorData || SHA-256(clientDataJSON).

`create` answers a `PublicKeyCredentialCreationOptionsJSON` with a `RegistrationResponseJSON`, `get` answers a
`PublicKeyCredentialRequestOptionsJSON` with an `AuthenticationResponseJSON`, each as a browser's `toJSON()` gives
it. Their keyword arguments make every answer a test needs wrong: another origin or RP ID, no user verification,
another challenge, another user handle, a counter that goes backwards.
"""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
from dataclasses import dataclass
from typing import Any

import cbor2
import httpx
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec

from tests.support.clients import SPA_ORIGIN

UP, UV, BE, BS, AT = 0x01, 0x04, 0x08, 0x10, 0x40
ES256 = -7
# An AAGUID of our own, so that a stored one can be told from all zeros.
AAGUID = bytes.fromhex("9f0e1b6a4d2c4e8fb1a3c5d7e9f10203")
Json = dict[str, Any]


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def from_b64url(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


@dataclass
class Passkey:
    """A credential the authenticator holds (a discoverable one: it keeps the user handle)."""

    credential_id: bytes
    key: ec.EllipticCurvePrivateKey
    rp_id: str
    user_handle: bytes
    sign_count: int = 0

    @property
    def id(self) -> str:
        return b64url(self.credential_id)

    def cose_public_key(self) -> bytes:
        numbers = self.key.public_key().public_numbers()
        return cbor2.dumps(
            {1: 2, 3: ES256, -1: 1, -2: numbers.x.to_bytes(32, "big"), -3: numbers.y.to_bytes(32, "big")}
        )


def authenticator_data(rp_id: str, flags: int, sign_count: int, attested: bytes = b"") -> bytes:
    return hashlib.sha256(rp_id.encode()).digest() + bytes([flags]) + sign_count.to_bytes(4, "big") + attested


def client_data(kind: str, challenge: str, origin: str) -> bytes:
    return json.dumps({"type": kind, "challenge": challenge, "origin": origin, "crossOrigin": False}).encode()


class SoftwareAuthenticator:
    """A platform authenticator with user verification. `counter`: it keeps a signature counter (else it sends 0,
    as synced passkeys do); `backed_up`: its passkeys are backup eligible and backed up."""

    def __init__(self, *, counter: bool = True, backed_up: bool = True, origin: str = SPA_ORIGIN) -> None:
        self.counter, self.backed_up, self.origin = counter, backed_up, origin
        self.passkeys: list[Passkey] = []

    def _flags(self, *, user_verified: bool, user_present: bool) -> int:
        flags = (UP if user_present else 0) | (UV if user_verified else 0)
        return flags | (BE | BS if self.backed_up else 0)

    def create(
        self,
        options: Json,
        *,
        origin: str | None = None,
        rp_id: str | None = None,
        challenge: str | None = None,
        user_verified: bool = True,
        user_present: bool = True,
        keep: bool = True,
    ) -> Json:
        """A new passkey for `options` (kept for later sign-ins unless `keep` is False), as RegistrationResponseJSON.
        Unlike a real authenticator, it makes one even when it holds a passkey the options exclude: one software
        authenticator stands for several devices."""
        passkey = Passkey(
            secrets.token_bytes(32),
            ec.generate_private_key(ec.SECP256R1()),
            options["rp"]["id"],
            from_b64url(options["user"]["id"]),
        )
        public_key = passkey.cose_public_key()
        attested = AAGUID + len(passkey.credential_id).to_bytes(2, "big") + passkey.credential_id + public_key
        flags = self._flags(user_verified=user_verified, user_present=user_present) | AT
        data = authenticator_data(rp_id or passkey.rp_id, flags, 0, attested)
        attestation = cbor2.dumps({"fmt": "none", "attStmt": {}, "authData": data})
        if keep:
            self.passkeys.append(passkey)
        return {
            "id": passkey.id,
            "rawId": passkey.id,
            "type": "public-key",
            "response": {
                "clientDataJSON": b64url(
                    client_data("webauthn.create", challenge or options["challenge"], origin or self.origin)
                ),
                "attestationObject": b64url(attestation),
                "transports": ["hybrid", "internal"],
            },
            "clientExtensionResults": {},
            "authenticatorAttachment": "platform",
        }

    def get(
        self,
        options: Json,
        *,
        passkey: Passkey | None = None,
        origin: str | None = None,
        rp_id: str | None = None,
        challenge: str | None = None,
        user_verified: bool = True,
        user_handle: bytes | None = None,
        sign_count: int | None = None,
    ) -> Json:
        """An assertion by `passkey` (default: the newest one the options allow), as AuthenticationResponseJSON."""
        if passkey is None:
            allowed = {descriptor["id"] for descriptor in options.get("allowCredentials", [])}
            candidates = [p for p in self.passkeys if p.rp_id == options["rpId"] and (not allowed or p.id in allowed)]
            assert candidates, "no passkey of this authenticator answers these options"
            passkey = candidates[-1]
        if sign_count is None:
            passkey.sign_count += 1 if self.counter else 0
            sign_count = passkey.sign_count
        data = authenticator_data(
            rp_id or passkey.rp_id, self._flags(user_verified=user_verified, user_present=True), sign_count
        )
        client_data_json = client_data("webauthn.get", challenge or options["challenge"], origin or self.origin)
        signature = passkey.key.sign(data + hashlib.sha256(client_data_json).digest(), ec.ECDSA(hashes.SHA256()))
        return {
            "id": passkey.id,
            "rawId": passkey.id,
            "type": "public-key",
            "response": {
                "clientDataJSON": b64url(client_data_json),
                "authenticatorData": b64url(data),
                "signature": b64url(signature),
                "userHandle": b64url(user_handle if user_handle is not None else passkey.user_handle),
            },
            "clientExtensionResults": {},
            "authenticatorAttachment": "platform",
        }


# --- the passkey routes, through any httpx client (the in-process test client, or a live server's) ----------------

REGISTER_OPTIONS = "/api/auth/passkeys/register/options"
REGISTER = "/api/auth/passkeys/register"
SIGN_IN_OPTIONS = "/api/auth/login/passkey/options"
SIGN_IN = "/api/auth/login/passkey"
PASSKEYS = "/api/auth/passkeys"
REAUTHENTICATE_OPTIONS = "/api/auth/reauthenticate/passkey/options"
REAUTHENTICATE = "/api/auth/reauthenticate/passkey"
ADDED_SUBJECT = "A passkey was added to your Pet Manager account"
REMOVED_SUBJECT = "A passkey was removed from your Pet Manager account"


async def registration_options(client: httpx.AsyncClient) -> Json:
    response = await client.post(REGISTER_OPTIONS)
    assert response.status_code == 200, response.text
    options: Json = response.json()
    return options


async def register_passkey(
    client: httpx.AsyncClient, authenticator: SoftwareAuthenticator, name: str | None = None
) -> Json:
    """A new passkey of the signed-in user (the client's jar takes the renewed session); the passkey as listed."""
    credential = authenticator.create(await registration_options(client))
    response = await client.post(REGISTER, json={"credential": credential, "name": name})
    assert response.status_code == 201, response.text
    passkey: Json = response.json()["passkey"]
    return passkey


async def sign_in_options(client: httpx.AsyncClient) -> Json:
    response = await client.post(SIGN_IN_OPTIONS)
    assert response.status_code == 200, response.text
    options: Json = response.json()
    return options


async def passkey_sign_in(
    client: httpx.AsyncClient, authenticator: SoftwareAuthenticator, **answer: Any
) -> httpx.Response:
    """Ask for sign-in options (the jar takes the flow cookie) and answer them with the authenticator."""
    credential = authenticator.get(await sign_in_options(client), **answer)
    return await client.post(SIGN_IN, json={"credential": credential})
