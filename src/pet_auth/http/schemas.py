"""Request and response bodies (camelCase on the wire)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

import msgspec

from pet_auth.domain.emails import MAX_EMAIL_LENGTH
from pet_auth.domain.models import SessionInfo, User
from pet_auth.domain.passwords import MAX_PASSWORD_LENGTH, MIN_PASSWORD_LENGTH

# Lengths are checked by the domain (with messages meant for people); here they are documented.
Email = Annotated[
    str, msgspec.Meta(description=f"At most {MAX_EMAIL_LENGTH} characters.", examples=["ada@example.com"])
]
NewPassword = Annotated[
    str,
    msgspec.Meta(
        description=f"{MIN_PASSWORD_LENGTH} to {MAX_PASSWORD_LENGTH} characters, not a commonly used password."
    ),
]
# A password to check may be anything the user typed; a too-long one simply does not match.
AnyPassword = Annotated[str, msgspec.Meta(max_length=1024)]
Token = Annotated[str, msgspec.Meta(max_length=256)]
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
    mfa_required: bool


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
    mfa_enabled: bool

    @classmethod
    def of(cls, user: User) -> UserOut:
        return cls(id=user.id, email=user.email, created_at=user.created_at, mfa_enabled=user.mfa_enabled)


class UserResponse(Schema):
    user: UserOut


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
