"""Request and response bodies (camelCase on the wire)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

import msgspec

from pet_auth.domain.emails import MAX_EMAIL_LENGTH
from pet_auth.domain.models import CurrentUser, Passkey, SessionInfo, User
from pet_auth.domain.passkeys import MAX_NAME_LENGTH
from pet_auth.domain.passwords import MAX_PASSWORD_LENGTH, MIN_PASSWORD_LENGTH
from pet_auth.domain.security_events import DetailValue, EventKind, EventPage, RecordedEvent
from pet_auth.domain.tokens import TOKEN_PATTERN

# Mirrors the policy's refusal of control characters (Unicode category Cc), as an ECMA-262 pattern.
PASSWORD_PATTERN = r"^[^\u0000-\u001f\u007f-\u009f]*$"  # noqa: S105 - a rule, not a password

# The domain checks emails and new passwords (with messages meant for people); here their rules are documented,
# so that a client can check them before sending. `extra` lands in the OpenAPI schema, msgspec does not enforce it.
Email = Annotated[
    str,
    msgspec.Meta(
        description=f"An email address, at most {MAX_EMAIL_LENGTH} characters; case and outer spaces are ignored.",
        examples=["ada@example.com"],
        extra_json_schema={"extra": {"format": "email", "max_length": MAX_EMAIL_LENGTH}},
    ),
]
NewPassword = Annotated[
    str,
    msgspec.Meta(
        description=f"{MIN_PASSWORD_LENGTH} to {MAX_PASSWORD_LENGTH} characters, no control characters, "
        "not a commonly used password nor one known from a data breach. The service may require more than "
        f"{MIN_PASSWORD_LENGTH} characters (PASSWORD_MIN_LENGTH_SINGLE_FACTOR, PASSWORD_MIN_LENGTH_WITH_MFA).",
        examples=["correct horse battery staple"],
        extra_json_schema={
            "extra": {
                "min_length": MIN_PASSWORD_LENGTH,
                "max_length": MAX_PASSWORD_LENGTH,
                "pattern": PASSWORD_PATTERN,
            }
        },
    ),
]
# A password to check may be anything the user typed; a too-long one simply does not match.
AnyPassword = Annotated[str, msgspec.Meta(max_length=1024)]
# Any other string is an unknown token (400 invalid_token), as is a well-formed one that was never issued.
Token = Annotated[
    str,
    msgspec.Meta(
        max_length=256,
        description="The token of an emailed link: 43 URL-safe base64 characters.",
        extra_json_schema={"extra": {"pattern": f"^{TOKEN_PATTERN.pattern}$"}},
    ),
]
Code = Annotated[
    str,
    msgspec.Meta(
        max_length=64,
        description="A 6-digit code of the authenticator app or, where the call allows it, a recovery code.",
        examples=["123456"],
    ),
]
RecoveryCode = Annotated[str, msgspec.Meta(max_length=64, examples=["7kq2m-x9d4p"])]


class Schema(msgspec.Struct, rename="camel", forbid_unknown_fields=False):
    pass


class RegisterRequest(Schema):
    email: Email
    password: NewPassword


class LoginRequest(Schema):
    email: Email
    password: AnyPassword


class ForgotPasswordRequest(Schema):
    email: Email


class ResetPasswordRequest(Schema):
    token: Token
    password: NewPassword


class ChangePasswordRequest(Schema):
    new_password: NewPassword
    # Sudo mode: the current password given with the change, or none after a recent proof (POST /reauthenticate).
    current_password: AnyPassword | None = None


class TokenRequest(Schema):
    token: Token


class ChangeEmailRequest(Schema):
    new_email: Email
    current_password: AnyPassword | None = None  # as for ChangePasswordRequest


class DeleteAccountRequest(Schema):
    current_password: AnyPassword | None = None  # as for ChangePasswordRequest


class CurrentPasswordRequest(Schema):
    current_password: AnyPassword | None = None  # as for ChangePasswordRequest


class CodeRequest(Schema):
    code: Code


class PasswordAndCodeRequest(Schema):
    code: Code
    current_password: AnyPassword | None = None  # as for ChangePasswordRequest


class ReauthenticateRequest(Schema):
    """One of the two: the password, or a code of the authenticator app."""

    password: AnyPassword | None = None
    code: Code | None = None


class MfaSignInRequest(Schema):
    """One of the two: a code of the authenticator app, or a recovery code."""

    code: Code | None = None
    recovery_code: RecoveryCode | None = None


class MfaRequiredResponse(Schema):
    """Login's 202: always `true`, so that a client tells it from the 200's `{user}` by type."""

    mfa_required: Literal[True]


class TotpSetupResponse(Schema):
    secret: str
    otpauth_uri: str


class RecoveryCodesResponse(Schema):
    recovery_codes: list[str]


class MfaStatusResponse(Schema):
    mfa_enabled: bool
    recovery_codes_left: int


class UserOut(Schema):
    id: int
    email: str
    created_at: datetime
    email_verified: bool
    mfa_enabled: bool

    @classmethod
    def of(cls, user: CurrentUser | User) -> UserOut:
        profile = user.profile
        return cls(
            id=user.id,
            email=profile.email,
            created_at=profile.created_at,
            email_verified=profile.email_verified,
            mfa_enabled=profile.mfa_enabled,
        )


class UserResponse(Schema):
    user: UserOut


class SessionStateResponse(Schema):
    """The signed-in user, or null when signed out."""

    user: UserOut | None


class MessageResponse(Schema):
    message: str


class SessionOut(Schema):
    id: str
    created_at: datetime
    last_seen_at: datetime
    user_agent: str
    ip: str
    current: bool

    @classmethod
    def of(cls, info: SessionInfo, current_handle: str | None) -> SessionOut:
        return cls(
            id=info.handle,
            created_at=info.created_at,
            last_seen_at=info.last_seen_at,
            user_agent=info.user_agent,
            ip=info.ip,
            current=info.handle == current_handle,
        )


class SessionsResponse(Schema):
    sessions: list[SessionOut]


class SecurityEventOut(Schema):
    """One entry of the account's activity log."""

    id: int
    kind: EventKind
    occurred_at: datetime
    # The approximate place: the client's network, its /24 (IPv4) or /64 (IPv6); null when it had no address.
    network: Annotated[str | None, msgspec.Meta(examples=["203.0.113.0/24"])]
    # The short device description, as in the sessions list.
    device: Annotated[str, msgspec.Meta(examples=["Firefox 133 on Windows"])]
    # A few plain facts, by kind: `secondFactor` ("totp", "recovery_code" or "passkey"), `codesLeft`,
    # `sessionsEnded`, `mfaRemoved`, `passkeysRemoved` (of a reset), `factor` ("password" or "code", of a lock),
    # `passkey` (the name of the passkey added or removed).
    detail: dict[str, DetailValue]

    @classmethod
    def of(cls, event: RecordedEvent) -> SecurityEventOut:
        return cls(
            id=event.id,
            kind=event.kind,
            occurred_at=event.occurred_at,
            network=event.network,
            device=event.device,
            detail=dict(event.detail),
        )


class SecurityEventsResponse(Schema):
    events: list[SecurityEventOut]
    # The `before` of the next (older) page; null on the last page.
    next_before: int | None

    @classmethod
    def of(cls, page: EventPage) -> SecurityEventsResponse:
        return cls(events=[SecurityEventOut.of(event) for event in page.events], next_before=page.next_before)


# --- passkeys (WebAuthn) ------------------------------------------------------------------------------------------
# The options are WebAuthn's own JSON objects (PublicKeyCredentialCreationOptionsJSON,
# PublicKeyCredentialRequestOptionsJSON), the answers its RegistrationResponseJSON and AuthenticationResponseJSON:
# a browser hands them to `navigator.credentials` through @simplewebauthn/browser's startRegistration({optionsJSON})
# and startAuthentication({optionsJSON}), or PublicKeyCredential.parseCreationOptionsFromJSON(), and back.

_BASE64URL = r"^[A-Za-z0-9_-]*={0,2}$"
# Bytes in base64url (no padding needed). The limits are generous: the whole body is limited to 16 KiB anyway.
Base64Url = Annotated[
    str, msgspec.Meta(max_length=12_000, pattern=_BASE64URL, description="Bytes, in base64url without padding.")
]
# A credential id is at most 1023 bytes (WebAuthn §5.8.3): 1364 characters.
CredentialId = Annotated[
    str, msgspec.Meta(max_length=1_400, pattern=_BASE64URL, description="A credential id, in base64url.")
]
PublicKeyType = Literal["public-key"]
Transport = Literal["ble", "cable", "hybrid", "internal", "nfc", "smart-card", "usb"]
Requirement = Literal["discouraged", "preferred", "required"]
Attachment = Literal["platform", "cross-platform"]
# As domain/passkeys.py `passkey_name` checks them: no control characters (Unicode category Cc) and, for a new name,
# one that is not only spaces; outer spaces are trimmed.
_NO_CONTROL = r"[^\u0000-\u001f\u007f-\u009f]*"
PasskeyName = Annotated[
    str,
    msgspec.Meta(
        min_length=1,
        max_length=MAX_NAME_LENGTH,
        pattern=rf"^{_NO_CONTROL}[^\s\u0000-\u001f\u007f-\u009f]{_NO_CONTROL}$",
        description=f"1 to {MAX_NAME_LENGTH} characters, not only spaces (which are trimmed), no control characters.",
        examples=["iPhone"],
    ),
]
# Registering, a name is optional: none, or only spaces, names the passkey "Passkey".
OptionalPasskeyName = Annotated[
    str,
    msgspec.Meta(
        max_length=MAX_NAME_LENGTH,
        pattern=rf"^{_NO_CONTROL}$",
        description=f"At most {MAX_NAME_LENGTH} characters, no control characters; outer spaces are trimmed. "
        'Without one (or only spaces): "Passkey".',
        examples=["iPhone"],
    ),
]


class RelyingPartyEntity(Schema):
    name: str
    id: str


class UserEntity(Schema):
    id: Annotated[str, msgspec.Meta(description="The user handle, in base64url.")]
    name: str
    display_name: str


class CredentialParameters(Schema):
    type: PublicKeyType
    alg: Annotated[int, msgspec.Meta(description="A COSE algorithm identifier (-8 EdDSA, -7 ES256, -257 RS256).")]


class CredentialDescriptor(Schema, omit_defaults=True):
    id: str
    type: PublicKeyType
    transports: list[Transport] = msgspec.field(default_factory=list)


class AuthenticatorSelection(Schema):
    resident_key: Requirement
    require_resident_key: bool
    user_verification: Requirement


class PublicKeyCredentialCreationOptionsJSON(Schema):
    """The options of `navigator.credentials.create()`, as WebAuthn's JSON (challenge and ids in base64url)."""

    rp: RelyingPartyEntity
    user: UserEntity
    challenge: str
    pub_key_cred_params: list[CredentialParameters]
    timeout: int
    exclude_credentials: list[CredentialDescriptor]
    authenticator_selection: AuthenticatorSelection
    attestation: Literal["none", "indirect", "direct", "enterprise"]


class PublicKeyCredentialRequestOptionsJSON(Schema):
    """The options of `navigator.credentials.get()`, as WebAuthn's JSON (challenge and ids in base64url). An empty
    `allowCredentials` lets any discoverable passkey answer (and the browser's autofill offer them)."""

    challenge: str
    timeout: int
    rp_id: str
    allow_credentials: list[CredentialDescriptor]
    user_verification: Requirement


class AuthenticatorAttestationResponseJSON(Schema):
    client_data_json: Base64Url = msgspec.field(name="clientDataJSON")
    attestation_object: Base64Url
    transports: Annotated[list[Annotated[str, msgspec.Meta(max_length=32)]], msgspec.Meta(max_length=16)] = (
        msgspec.field(default_factory=list)
    )


class RegistrationResponseJSON(Schema):
    """What `navigator.credentials.create()` answered, as `PublicKeyCredential.toJSON()` (or @simplewebauthn/browser's
    startRegistration) gives it. Other members (`authenticatorData`, `publicKey`, ...) are accepted and ignored."""

    id: CredentialId
    raw_id: CredentialId
    type: PublicKeyType
    response: AuthenticatorAttestationResponseJSON
    client_extension_results: dict[str, Any] = msgspec.field(default_factory=dict)
    authenticator_attachment: Attachment | None = None


class AuthenticatorAssertionResponseJSON(Schema):
    client_data_json: Base64Url = msgspec.field(name="clientDataJSON")
    authenticator_data: Base64Url
    signature: Base64Url
    user_handle: CredentialId | None = None


class AuthenticationResponseJSON(Schema):
    """What `navigator.credentials.get()` answered, as `PublicKeyCredential.toJSON()` (or @simplewebauthn/browser's
    startAuthentication) gives it."""

    id: CredentialId
    raw_id: CredentialId
    type: PublicKeyType
    response: AuthenticatorAssertionResponseJSON
    client_extension_results: dict[str, Any] = msgspec.field(default_factory=dict)
    authenticator_attachment: Attachment | None = None


class RegisterPasskeyRequest(Schema):
    credential: RegistrationResponseJSON
    name: OptionalPasskeyName | None = None


class PasskeyCredentialRequest(Schema):
    credential: AuthenticationResponseJSON


class RenamePasskeyRequest(Schema):
    name: PasskeyName


class PasskeyOut(Schema):
    id: int
    name: str
    created_at: datetime
    last_used_at: datetime | None
    # Synced to the authenticator's cloud account (so it survives the loss of a device).
    backed_up: bool
    transports: list[str]

    @classmethod
    def of(cls, passkey: Passkey) -> PasskeyOut:
        return cls(
            id=passkey.id,
            name=passkey.name,
            created_at=passkey.created_at,
            last_used_at=passkey.last_used_at,
            backed_up=passkey.backed_up,
            transports=list(passkey.transports),
        )


class PasskeyResponse(Schema):
    passkey: PasskeyOut


class PasskeysResponse(Schema):
    passkeys: list[PasskeyOut]


class FieldProblem(Schema):
    field: str
    message: str


class Problem(Schema, omit_defaults=True):
    """RFC 9457 problem details, with a stable machine-readable `code`."""

    type: str
    title: str
    status: int
    detail: str
    code: str
    errors: list[FieldProblem] | None = None
    # With `reauthentication_required`: the ways this user can re-authenticate (`password`, `totp`, `passkey`).
    methods: list[str] | None = None
