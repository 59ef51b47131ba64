"""Request and response bodies (camelCase on the wire)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

import msgspec

from pet_auth.domain.emails import MAX_EMAIL_LENGTH
from pet_auth.domain.models import CurrentUser, SessionInfo, User
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
    current_password: AnyPassword
    new_password: NewPassword


class TokenRequest(Schema):
    token: Token


class ChangeEmailRequest(Schema):
    current_password: AnyPassword
    new_email: Email


class DeleteAccountRequest(Schema):
    current_password: AnyPassword


class CurrentPasswordRequest(Schema):
    current_password: AnyPassword


class CodeRequest(Schema):
    code: Code


class PasswordAndCodeRequest(Schema):
    current_password: AnyPassword
    code: Code


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
    """The signed-in user, or null when signed out: a page's first question, answered without a 401."""

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
    # A few plain facts, by kind: `secondFactor` ("totp" or "recovery_code"), `codesLeft`, `sessionsEnded`,
    # `mfaRemoved`, `factor` ("password" or "code", of a lock).
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
