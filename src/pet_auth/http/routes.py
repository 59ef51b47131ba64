"""The routes the app serves: the public ones, and the signed-in router holding every route that needs a session.

The router owns what makes a route signed-in: the login guard (`requires_login`, 401 `not_authenticated` without a
session), the current user by dependency injection (`user`) and the OpenAPI security requirement (`sessionCookie`,
which also documents the 401). A route is signed-in by being registered in it, so a new one cannot forget any of the
three, and a public route cannot have them by mistake. A route that needs more adds its own guards, which run after
the router's (`guards=[requires_verified_email]`, controllers/account.py).

Where a controller had both kinds of routes it is split in two, the signed-in half without the `/api/auth` prefix
the router adds. The OpenAPI document lists paths in the order they are registered: the public routes, then the
signed-in ones, then health.
"""

from __future__ import annotations

from litestar import Router
from litestar.types import ControllerRouterHandler

from pet_auth.http.controllers.account import AccountController, EmailLinkController
from pet_auth.http.controllers.auth import AuthController, SignedInAuthController
from pet_auth.http.controllers.health import HealthController
from pet_auth.http.controllers.mfa import MfaController, MfaSignInController
from pet_auth.http.controllers.passkeys import PasskeysController, PasskeySignInController
from pet_auth.http.controllers.password_reset import PasswordResetController
from pet_auth.http.controllers.reauthenticate import ReauthenticateController
from pet_auth.http.controllers.security_events import SecurityEventsController
from pet_auth.http.controllers.sessions import SessionsController
from pet_auth.http.guards import CURRENT_USER, requires_login
from pet_auth.http.openapi import SIGNED_IN

API_PREFIX = "/api/auth"


def signed_in_router() -> Router:
    """Every route for a signed-in user, under `/api/auth`."""
    return Router(
        path=API_PREFIX,
        guards=[requires_login],
        dependencies=CURRENT_USER,
        security=SIGNED_IN,
        route_handlers=[
            SignedInAuthController,
            ReauthenticateController,
            MfaController,
            AccountController,
            SessionsController,
            SecurityEventsController,
            PasskeysController,
        ],
    )


def route_handlers() -> list[ControllerRouterHandler]:
    """The app's routes: the public controllers (their paths spelled out), the signed-in router, health."""
    return [
        AuthController,
        MfaSignInController,
        PasskeySignInController,
        PasswordResetController,
        EmailLinkController,
        signed_in_router(),
        HealthController,
    ]
