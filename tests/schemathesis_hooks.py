"""Schemathesis hooks for the CLI runs of tests/test_schemathesis.py (loaded through SCHEMATHESIS_HOOKS).

`positive_data_acceptance` fails any schema-valid request that is answered 400. Four such refusals depend on what
no schema states, so this check replaces it and excuses exactly those, by their problem body:
- a well-formed token that was never issued (`invalid_token`): only an emailed link holds a live one;
- a passkey's answer without a live challenge (`passkey_challenge_invalid`), or one no authenticator made
  (`passkey_invalid`): only the options of the same session or flow hold a challenge, and only an authenticator's
  key signs it;
- a password on the bundled list of ~20,000 leaked passwords (`validation_error`, "is too common"): the list is no
  pattern, and listing it in the document would make it ~200 KB; likewise one found in the corpus of breached
  passwords, when BREACHED_PASSWORD_CHECK is on;
- an address at a domain reserved for special use (RFC 6761: `.test`, `.local`, `localhost`, `.invalid`, ...),
  which no mail reaches: `format: email` admits it, and email-validator refuses it.
Every other 400 answer to schema-valid data still fails the run.
"""

from __future__ import annotations

import json
from typing import Any

import schemathesis
from schemathesis.specs.openapi.checks import positive_data_acceptance

from pet_auth.domain.passwords import BREACHED, TOO_COMMON

# email-validator's words for a domain reserved for special use.
_SPECIAL_USE = "special-use or reserved name"


def _beyond_the_schema(response: Any) -> bool:
    if response.status_code != 400:
        return False
    try:
        problem = json.loads(response.content)
    except ValueError:
        return False
    if problem.get("code") in ("invalid_token", "passkey_challenge_invalid", "passkey_invalid"):
        return True
    errors = problem.get("errors") or []
    return (
        problem.get("code") == "validation_error"
        and bool(errors)
        and all(
            error.get("message") in (TOO_COMMON, BREACHED) or _SPECIAL_USE in error.get("message", "")
            for error in errors
        )
    )


@schemathesis.check
def positive_data_acceptance_but_live_tokens_and_leaked_passwords(ctx: Any, response: Any, case: Any) -> bool | None:
    if _beyond_the_schema(response):
        return None
    return positive_data_acceptance(ctx, response, case)
