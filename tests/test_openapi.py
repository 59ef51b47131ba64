"""The OpenAPI document: the one `python -m pet_auth openapi` prints is the one served, and it states each operation's
own problem codes, the Retry-After header and the session cookie. (tests/test_schemathesis.py checks it against the
live server's answers.)"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from typing import Any

import pytest

from pet_auth.app import create_app
from pet_auth.config import Settings
from pet_auth.domain.errors import EmailTaken
from pet_auth.http import metrics
from pet_auth.http.guards import requires_login
from pet_auth.http.openapi import problems
from tests.support import ROOT
from tests.support.clients import Client


def problem_codes(operation: dict[str, Any]) -> dict[str, list[str]]:
    return {
        status: answer["content"]["application/problem+json"]["schema"]["properties"]["code"]["enum"]
        for status, answer in operation["responses"].items()
        if int(status) >= 400
    }


@pytest.fixture(scope="module")
def printed_document() -> dict[str, Any]:
    run = subprocess.run(
        [sys.executable, "-m", "pet_auth", "openapi"], cwd=ROOT, capture_output=True, check=True, timeout=60
    )
    document: dict[str, Any] = json.loads(run.stdout)
    return document


# Nothing listens on port 1: a connection attempt is refused at once, a retry loop would show in the time taken.
UNREACHABLE = {"DATABASE_URL": "postgresql://postgres@127.0.0.1:1/x", "REDIS_URL": "redis://127.0.0.1:1/0"}


def test_the_document_is_printed_with_postgresql_and_redis_unreachable(printed_document: dict[str, Any]) -> None:
    """Building the app connects nothing (the engine and the Redis client connect on first use): `make client`
    needs no server, and neither does this."""
    started = time.monotonic()
    run = subprocess.run(
        [sys.executable, "-m", "pet_auth", "openapi"],
        cwd=ROOT,
        env={**os.environ, **UNREACHABLE},
        capture_output=True,
        timeout=60,
    )
    assert (run.returncode, run.stderr) == (0, b"")
    assert json.loads(run.stdout) == printed_document
    assert time.monotonic() - started < 20


async def test_the_printed_document_is_the_served_one(client: Client, printed_document: dict[str, Any]) -> None:
    response = await client.get("/schema/openapi.json")
    assert response.status_code == 200
    assert response.json() == printed_document


def test_each_operation_states_its_own_problem_codes(printed_document: dict[str, Any]) -> None:
    paths = printed_document["paths"]
    assert problem_codes(paths["/api/auth/register"]["post"]) == {
        "400": ["malformed_json", "validation_error"],
        "403": ["forbidden_origin"],
        "409": ["email_taken"],
        "413": ["request_too_large"],
        "415": ["unsupported_media_type"],
        "429": ["rate_limited"],
        "503": ["password_check_unavailable", "service_unavailable"],  # BREACHED_PASSWORD_CHECK=fail-closed
    }
    # A guarded read: no body, no origin check, but the login guard.
    assert problem_codes(paths["/api/auth/me"]["get"]) == {"401": ["not_authenticated"], "503": ["service_unavailable"]}
    assert problem_codes(paths["/api/auth/change-password"]["post"])["401"] == [
        "invalid_credentials",
        "not_authenticated",
        "reauthentication_required",
    ]
    assert problem_codes(paths["/api/auth/reset-password"]["post"])["400"] == [
        "invalid_token",
        "malformed_json",
        "validation_error",
    ]
    assert problem_codes(paths["/health"]["get"]) == {}
    # The session's state: public, never a 401.
    session = paths["/api/auth/session"]["get"]
    assert session["operationId"] == "session"
    assert "security" not in session
    assert problem_codes(session) == {"503": ["service_unavailable"]}
    assert session["responses"]["200"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/SessionStateResponse"
    }
    state = printed_document["components"]["schemas"]["SessionStateResponse"]
    assert state["required"] == ["user"]
    assert {"$ref": "#/components/schemas/UserOut"} in state["properties"]["user"]["oneOf"]
    assert {"type": "null"} in state["properties"]["user"]["oneOf"]
    # A right code used already has its own code, beside invalid_code, where codes are checked.
    assert problem_codes(paths["/api/auth/login/mfa"]["post"])["401"] == [
        "code_already_used",
        "invalid_code",
        "mfa_expired",
    ]
    for path in ("/api/auth/mfa/totp/confirm", "/api/auth/mfa/disable", "/api/auth/mfa/recovery-codes"):
        assert {"code_already_used", "invalid_code"} <= set(problem_codes(paths[path]["post"])["400"]), path
    # A guarded read with a query: its bad values are field errors.
    assert problem_codes(paths["/api/auth/security-events"]["get"]) == {
        "400": ["validation_error"],
        "401": ["not_authenticated"],
        "503": ["service_unavailable"],
    }


def test_the_activity_log_states_its_query_and_its_kinds(printed_document: dict[str, Any]) -> None:
    operation = printed_document["paths"]["/api/auth/security-events"]["get"]
    parameters = {parameter["name"]: parameter for parameter in operation["parameters"]}
    assert set(parameters) == {"before", "limit"}
    assert not any(parameter["required"] for parameter in parameters.values())
    limit = parameters["limit"]["schema"]
    assert (limit["type"], limit["minimum"], limit["maximum"], limit["default"]) == ("integer", 1, 100, 20)
    assert (parameters["before"]["schema"]["minimum"], parameters["before"]["schema"]["maximum"]) == (1, 2**63 - 1)
    schemas = printed_document["components"]["schemas"]
    assert schemas["SecurityEventsResponse"]["required"] == ["events", "nextBefore"]
    event = schemas["SecurityEventOut"]
    assert set(event["required"]) == {"id", "kind", "occurredAt", "network", "device", "detail"}
    assert schemas["EventKind"]["enum"] == [
        "sign_in",
        "sign_in_failed",
        "new_device",
        "password_changed",
        "password_reset",
        "password_removed",
        "email_change_requested",
        "email_changed",
        "email_verified",
        "mfa_enabled",
        "mfa_disabled",
        "recovery_code_used",
        "recovery_codes_regenerated",
        "session_ended",
        "other_sessions_revoked",
        "account_locked",
        "passkey_added",
        "passkey_removed",
    ]


def test_rate_limited_answers_state_retry_after(printed_document: dict[str, Any]) -> None:
    limited = [
        operation["responses"]["429"]
        for item in printed_document["paths"].values()
        for operation in item.values()
        if "429" in operation["responses"]
    ]
    # register, login, forgot-password, change-password, resend verification, change-email, delete-account, and
    # MFA setup and confirmation, new recovery codes, disable and the sign-in's second step, the passkey sign-in's
    # options and answer, and re-authentication (with a password or code, and with a passkey)
    assert len(limited) == 16
    for answer in limited:
        assert answer["headers"]["Retry-After"]["required"] is True


def test_guarded_operations_require_the_session_cookie(printed_document: dict[str, Any]) -> None:
    scheme = printed_document["components"]["securitySchemes"]["sessionCookie"]
    assert scheme == {**scheme, "type": "apiKey", "in": "cookie", "name": "pet_auth_session"}
    guarded = {
        operation["operationId"]
        for item in printed_document["paths"].values()
        for operation in item.values()
        if operation.get("security") == [{"sessionCookie": []}]
    }
    assert guarded == {
        "me",
        "reauthenticate",
        "changePassword",
        "listSessions",
        "endSession",
        "revokeOtherSessions",
        "resendVerification",
        "changeEmail",
        "deleteAccount",
        "mfaStatus",
        "setupTotp",
        "confirmTotp",
        "replaceRecoveryCodes",
        "disableMfa",
        "securityEvents",
        "passkeyRegistrationOptions",
        "registerPasskey",
        "listPasskeys",
        "renamePasskey",
        "deletePasskey",
        "removePassword",
        "passkeyReauthenticationOptions",
        "reauthenticateWithPasskey",
    }


def test_the_signed_in_router_alone_guards_routes() -> None:
    """A route has the security requirement exactly when it has the login guard (first) and the current user: all
    three are the signed-in router's (http/routes.py), so the document cannot say one thing and the route do another."""
    app = create_app(Settings(app_env="production", session_secret="s" * 48, openapi_enabled=True))
    handlers = [handler for route in app.routes for handler in getattr(route, "route_handlers", ())]
    assert len(handlers) > 20
    for handler in handlers:
        secured = bool(handler.resolve_security())
        assert (handler.resolve_guards()[:1] == [requires_login]) is secured, handler.handler_name
        assert ("user" in handler.resolve_dependencies()) is secured, handler.handler_name


def test_the_cookie_scheme_names_the_cookie_the_settings_use() -> None:
    production = Settings(app_env="production", session_secret="s" * 48, openapi_enabled=True)
    document = create_app(production).openapi_schema.to_schema()
    assert document["components"]["securitySchemes"]["sessionCookie"]["name"] == "__Host-pet_auth_session"


def test_request_rules_are_stated(printed_document: dict[str, Any]) -> None:
    schemas = printed_document["components"]["schemas"]
    email = schemas["RegisterRequest"]["properties"]["email"]
    assert (email["format"], email["maxLength"]) == ("email", 254)
    password = schemas["RegisterRequest"]["properties"]["password"]
    assert (password["minLength"], password["maxLength"]) == (8, 128)
    assert schemas["ResetPasswordRequest"]["properties"]["token"]["pattern"] == "^[A-Za-z0-9_-]{43}$"


def test_a_problem_code_without_a_status_is_refused_at_definition() -> None:
    assert problems(EmailTaken)  # a domain error's code has its status
    with pytest.raises(ValueError, match="no_such_code"):
        problems("no_such_code")


def test_the_metrics_name_operations_of_the_document(printed_document: dict[str, Any]) -> None:
    """The metrics key routes on their declared names (operation ids): each one they count is in the document."""
    operations = {
        operation["operationId"] for item in printed_document["paths"].values() for operation in item.values()
    }
    assert {*metrics._REVOCATIONS, *metrics._SIGN_INS, metrics._REGISTRATION} <= operations


def test_the_passkey_routes_state_their_problems(printed_document: dict[str, Any]) -> None:
    paths = printed_document["paths"]
    assert problem_codes(paths["/api/auth/login/passkey/options"]["post"]) == {
        "403": ["forbidden_origin"],
        "415": ["unsupported_media_type"],
        "429": ["rate_limited"],
        "503": ["service_unavailable"],
    }
    assert problem_codes(paths["/api/auth/login/passkey"]["post"]) == {
        "400": ["malformed_json", "passkey_challenge_invalid", "validation_error"],
        "401": ["invalid_credentials", "passkey_invalid", "passkey_not_recognized"],
        "403": ["forbidden_origin"],
        "413": ["request_too_large"],
        "415": ["unsupported_media_type"],
        "429": ["rate_limited"],
        "503": ["service_unavailable"],
    }
    register = problem_codes(paths["/api/auth/passkeys/register"]["post"])
    assert register["400"] == ["malformed_json", "passkey_challenge_invalid", "passkey_invalid", "validation_error"]
    assert register["409"] == ["passkey_already_registered", "passkey_limit_reached"]
    assert register["403"] == ["email_not_verified", "forbidden_origin"]
    options = problem_codes(paths["/api/auth/passkeys/register/options"]["post"])
    assert options["409"] == ["passkey_limit_reached"]
    item = paths["/api/auth/passkeys/{passkey_id}"]
    assert problem_codes(item["delete"])["409"] == ["last_sign_in_method"]
    assert problem_codes(item["delete"])["404"] == ["not_found"]
    assert problem_codes(item["patch"])["404"] == ["not_found"]
    assert problem_codes(item["patch"])["400"] == ["malformed_json", "validation_error"]
    reauthenticate = problem_codes(paths["/api/auth/reauthenticate/passkey"]["post"])
    assert reauthenticate["401"] == ["not_authenticated", "passkey_invalid", "passkey_not_recognized"]


def test_the_passkey_options_are_webauthns_json(printed_document: dict[str, Any]) -> None:
    """The options answered are WebAuthn's JSON objects, camelCase, so that a browser hands them to
    `navigator.credentials` as they are; the answers taken are RegistrationResponseJSON and
    AuthenticationResponseJSON."""
    schemas = printed_document["components"]["schemas"]
    creation = schemas["PublicKeyCredentialCreationOptionsJSON"]
    assert set(creation["required"]) == {
        "rp",
        "user",
        "challenge",
        "pubKeyCredParams",
        "timeout",
        "excludeCredentials",
        "authenticatorSelection",
        "attestation",
    }
    request = schemas["PublicKeyCredentialRequestOptionsJSON"]
    assert set(request["required"]) == {"challenge", "timeout", "rpId", "allowCredentials", "userVerification"}
    assert set(schemas["AuthenticatorAttestationResponseJSON"]["required"]) == {"clientDataJSON", "attestationObject"}
    assertion = schemas["AuthenticatorAssertionResponseJSON"]
    assert set(assertion["required"]) == {"clientDataJSON", "authenticatorData", "signature"}
    assert set(schemas["AuthenticationResponseJSON"]["required"]) == {"id", "rawId", "type", "response"}
    assert set(schemas["PasskeyOut"]["required"]) == {"id", "name", "createdAt", "lastUsedAt", "backedUp", "transports"}
    assert schemas["RenamePasskeyRequest"]["properties"]["name"]["maxLength"] == 120
