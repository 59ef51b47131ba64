"""The WebAuthn ceremonies, with py_webauthn: the options a browser passes to `navigator.credentials.create()` and
`.get()` (as WebAuthn's JSON: PublicKeyCredentialCreationOptionsJSON / PublicKeyCredentialRequestOptionsJSON), and
the verification of what the authenticator answered (RegistrationResponseJSON / AuthenticationResponseJSON).

Pure computation over its arguments (no I/O), like totp.py: the import rules let the domain use a protocol library
(as secret_box.py uses cryptography), so no port stands between. Every ceremony asks for user verification, so a
passkey is two factors in one (something held, and a PIN or biometric); registration asks for a discoverable
credential ("resident key", which is what makes it a passkey) and no attestation.

Whatever a client sends is hostile until verified: any failure to parse or verify is a `PasskeyInvalid` (or
`PasskeySignInInvalid`, at sign-in), a challenge that is not the one issued a `PasskeyChallengeInvalid`; nothing a
client sends raises anything else.
"""

from __future__ import annotations

import hmac
import secrets
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from webauthn import (
    generate_authentication_options,
    generate_registration_options,
    verify_authentication_response,
    verify_registration_response,
)
from webauthn.helpers import options_to_json_dict, parse_client_data_json
from webauthn.helpers.parse_authentication_credential_json import parse_authentication_credential_json
from webauthn.helpers.parse_registration_credential_json import parse_registration_credential_json
from webauthn.helpers.structs import (
    AttestationConveyancePreference,
    AuthenticationCredential,
    AuthenticatorSelectionCriteria,
    AuthenticatorTransport,
    CredentialDeviceType,
    PublicKeyCredentialDescriptor,
    RegistrationCredential,
    ResidentKeyRequirement,
    UserVerificationRequirement,
)

from pet_auth.domain.errors import PasskeyChallengeInvalid, PasskeyInvalid, PasskeySignInInvalid
from pet_auth.domain.models import NewPasskey, PasskeyDescriptor

CHALLENGE_BYTES = 32
_TRANSPORTS = {transport.value for transport in AuthenticatorTransport}

# The options a browser gets, as WebAuthn's JSON objects.
OptionsJSON = dict[str, Any]


@dataclass(frozen=True, slots=True)
class RelyingParty:
    """The relying party (WEBAUTHN_RP_ID, WEBAUTHN_RP_NAME) and the origins a ceremony may come from."""

    id: str
    name: str
    origins: tuple[str, ...]
    timeout_ms: int


@dataclass(frozen=True, slots=True)
class Assertion:
    """A sign-in's answer, parsed but not verified: the credential it names, and the user handle it claims."""

    credential_id: bytes
    user_handle: bytes | None
    parsed: AuthenticationCredential


@dataclass(frozen=True, slots=True)
class VerifiedAssertion:
    sign_count: int
    backed_up: bool


def new_challenge() -> bytes:
    return secrets.token_bytes(CHALLENGE_BYTES)


def _descriptors(passkeys: Sequence[PasskeyDescriptor]) -> list[PublicKeyCredentialDescriptor]:
    return [
        PublicKeyCredentialDescriptor(
            id=passkey.credential_id,
            transports=[AuthenticatorTransport(t) for t in passkey.transports if t in _TRANSPORTS] or None,
        )
        for passkey in passkeys
    ]


def creation_options(
    rp: RelyingParty, challenge: bytes, user_handle: bytes, user_name: str, exclude: Sequence[PasskeyDescriptor]
) -> OptionsJSON:
    """Options for registering a passkey: a discoverable credential, user verification, no attestation, none of
    the user's existing passkeys again."""
    options = generate_registration_options(
        rp_id=rp.id,
        rp_name=rp.name,
        user_id=user_handle,
        user_name=user_name,
        user_display_name=user_name,
        challenge=challenge,
        timeout=rp.timeout_ms,
        attestation=AttestationConveyancePreference.NONE,
        authenticator_selection=AuthenticatorSelectionCriteria(
            resident_key=ResidentKeyRequirement.REQUIRED, user_verification=UserVerificationRequirement.REQUIRED
        ),
        exclude_credentials=_descriptors(exclude),
    )
    return options_to_json_dict(options)


def request_options(rp: RelyingParty, challenge: bytes, allow: Sequence[PasskeyDescriptor] = ()) -> OptionsJSON:
    """Options for an assertion with user verification: any discoverable credential (an empty allow-list, for a
    sign-in and the browser's autofill), or one of `allow` (re-authentication)."""
    options = generate_authentication_options(
        rp_id=rp.id,
        challenge=challenge,
        timeout=rp.timeout_ms,
        allow_credentials=_descriptors(allow),
        user_verification=UserVerificationRequirement.REQUIRED,
    )
    return options_to_json_dict(options)


def _check_challenge(client_data_json: bytes, challenge: bytes, invalid: type[PasskeyInvalid]) -> None:
    """The answer must carry the challenge issued to this flow; one from another flow (or none) is refused as a
    challenge, before anything else is verified."""
    try:
        carried = parse_client_data_json(client_data_json).challenge
    except Exception as exc:  # hostile input: any failure to parse is a refusal
        raise invalid("The passkey's client data could not be read.") from exc
    if not isinstance(carried, bytes) or not hmac.compare_digest(carried, challenge):
        raise PasskeyChallengeInvalid


def verify_registration(rp: RelyingParty, credential: Mapping[str, Any], challenge: bytes, name: str) -> NewPasskey:
    """The passkey a registration answer made, verified against the challenge, the origins and the relying party,
    with user verification; `PasskeyInvalid` otherwise."""
    try:
        parsed: RegistrationCredential = parse_registration_credential_json(dict(credential))
    except Exception as exc:
        raise PasskeyInvalid("The passkey's answer is malformed.") from exc
    _check_challenge(parsed.response.client_data_json, challenge, PasskeyInvalid)
    try:
        verified = verify_registration_response(
            credential=parsed,
            expected_challenge=challenge,
            expected_rp_id=rp.id,
            expected_origin=list(rp.origins),
            require_user_verification=True,
        )
    except Exception as exc:  # py_webauthn raises its own errors, and others on crafted structures
        raise PasskeyInvalid from exc
    return NewPasskey(
        credential_id=verified.credential_id,
        public_key=verified.credential_public_key,
        sign_count=verified.sign_count,
        transports=tuple(dict.fromkeys(t.value for t in parsed.response.transports or ())),
        aaguid=verified.aaguid,
        backup_eligible=verified.credential_device_type == CredentialDeviceType.MULTI_DEVICE,
        backed_up=verified.credential_backed_up,
        name=name,
    )


def parse_assertion(credential: Mapping[str, Any]) -> Assertion:
    try:
        parsed = parse_authentication_credential_json(dict(credential))
    except Exception as exc:
        raise PasskeySignInInvalid("The passkey's answer is malformed.") from exc
    return Assertion(parsed.raw_id, parsed.response.user_handle, parsed)


def verify_assertion(rp: RelyingParty, assertion: Assertion, challenge: bytes, public_key: bytes) -> VerifiedAssertion:
    """Verify the signature over the challenge, origin and relying party, with user verification. The signature
    counter is left to the caller (it is compared with the stored one, and a regression logged)."""
    _check_challenge(assertion.parsed.response.client_data_json, challenge, PasskeySignInInvalid)
    try:
        verified = verify_authentication_response(
            credential=assertion.parsed,
            expected_challenge=challenge,
            expected_rp_id=rp.id,
            expected_origin=list(rp.origins),
            credential_public_key=public_key,
            credential_current_sign_count=0,  # compared by the caller, after the signature
            require_user_verification=True,
        )
    except Exception as exc:
        raise PasskeySignInInvalid from exc
    return VerifiedAssertion(verified.new_sign_count, verified.credential_backed_up)


def sign_count_regressed(stored: int, received: int) -> bool:
    """A counter that does not increase, when either is non-zero: a sign of a cloned authenticator (WebAuthn §6.1.1).
    Authenticators that keep no counter (synced passkeys) send 0 every time."""
    return (stored > 0 or received > 0) and received <= stored


def user_handle_matches(claimed: bytes | None, stored: bytes | None) -> bool:
    return claimed is not None and stored is not None and hmac.compare_digest(claimed, stored)
