"""Forgot password (emails a link) and reset password."""

from __future__ import annotations

from typing import Any

from litestar import Controller, Request, post
from litestar.di import NamedDependency
from litestar.params import JSONBody

from pet_auth.domain.errors import InvalidToken, PasswordCheckUnavailable, RateLimited
from pet_auth.domain.password_reset import PasswordResetService
from pet_auth.http.guards import client_ip, client_of
from pet_auth.http.openapi import problems
from pet_auth.http.schemas import ForgotPasswordRequest, MessageResponse, ResetPasswordRequest

RESET_REQUESTED_REPLY = "If an account exists for that email, a link to reset its password is on its way."


class PasswordResetController(Controller):
    path = "/api/auth"
    tags = ["recovery"]

    @post("/forgot-password", status_code=202, operation_class=problems(RateLimited))
    async def forgot_password(
        self,
        data: JSONBody[ForgotPasswordRequest],
        request: Request[Any, Any, Any],
        password_reset: NamedDependency[PasswordResetService],
    ) -> MessageResponse:
        """Email a reset link; the answer is the same whether or not the account exists."""
        await password_reset.request_reset(data.email, client_ip(request))
        return MessageResponse(message=RESET_REQUESTED_REPLY)

    @post("/reset-password", status_code=204, operation_class=problems(InvalidToken, PasswordCheckUnavailable))
    async def reset_password(
        self,
        data: JSONBody[ResetPasswordRequest],
        request: Request[Any, Any, Any],
        password_reset: NamedDependency[PasswordResetService],
    ) -> None:
        """Set a new password with an emailed token; every session of the user ends."""
        await password_reset.reset(data.token, data.password, client_of(request))
