"""Schemathesis, as a frontend developer would run it, against a live server: every check (`--checks all`) over the
examples, coverage and fuzzing phases, once without a session and once with one, finds nothing.

The CLI runs in a child process (schemathesis' pytest integration does not run under pytest 9). Its runs are bounded
(`--max-examples`) and seeded, so that `make test` stays quick and a failure can be replayed. Two refusals of
schema-valid data that no schema can state are excused by tests/schemathesis_hooks.py; see its docstring.
"""

from __future__ import annotations

import os
import re
import secrets
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest

from pet_auth.config import Settings
from tests.support import ROOT
from tests.support.clients import unique_email
from tests.support.live_server import live_server

SCHEMATHESIS = str(Path(sys.executable).with_name("st"))
MAX_EXAMPLES = 40
SEED = 20261130
# High limits, so that the fuzzer reaches the logic behind them (the limits have their own tests).
UNLIMITED = {
    f"rate_limit_{name}": 1_000_000
    for name in ("login_per_account", "login_per_ip", "register_per_ip", "forgot_per_ip", "forgot_per_email")
}


SESSION_ENDING = ("changePassword", "deleteAccount")


def session_config(path: Path, settings: Settings, email: str, password: str) -> Path:
    """A schemathesis.toml that signs in as this user for the cookie scheme, and again whenever a call is a 401
    (a fuzzed logout, or an ended session, signs the run out)."""
    path.write_text(
        "[auth.dynamic.openapi.sessionCookie]\n"
        'path = "/api/auth/login"\n'
        f'payload = {{ email = "{email}", password = "{password}" }}\n'
        'extract_from = "cookie"\n'
        f'extract_selector = "{settings.session_cookie_name}"\n'
    )
    return path


@pytest.mark.parametrize("signed_in", [False, True], ids=["without-a-session", "with-a-session"])
def test_schemathesis_with_every_check_finds_nothing(
    make_settings: Callable[..., Settings], tmp_path: Path, signed_in: bool
) -> None:
    settings = make_settings(**UNLIMITED)
    with live_server(settings) as server:
        config: list[str] = []
        if signed_in:
            email, password = unique_email("fuzz"), secrets.token_urlsafe(16)
            response = httpx.post(f"{server.url}/api/auth/register", json={"email": email, "password": password})
            assert response.status_code == 201, response.text
            config = ["--config-file", str(session_config(tmp_path / "schemathesis.toml", settings, email, password))]
        # A fresh session is in sudo mode: schema-valid bodies would change the password or delete the account, and
        # end the run's sign-ins. The run without a session fuzzes them.
        excluded = [f"--exclude-operation-id={op}" for op in SESSION_ENDING if signed_in]
        python_path = os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))
        run = subprocess.run(
            [
                SCHEMATHESIS,
                *config,
                "run",
                f"{server.url}/schema/openapi.json",
                "--checks=all",
                # Replaced by the hooks' variant, which excuses only what no schema can state.
                "--exclude-checks=positive_data_acceptance",
                "--phases=examples,coverage,fuzzing",
                f"--max-examples={MAX_EXAMPLES}",
                f"--seed={SEED}",
                "--workers=2",
                "--no-color",
                *excluded,
            ],
            # The hooks import `tests` (ROOT) and the code under test (a PYTHONPATH given names a checkout's src).
            env={**os.environ, "SCHEMATHESIS_HOOKS": "tests.schemathesis_hooks", "PYTHONPATH": python_path},
            cwd=tmp_path,  # its cache and reports stay out of the repository
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )
    output = run.stdout + run.stderr
    assert run.returncode == 0, output[-12_000:]
    for phase in ("Examples", "Coverage", "Fuzzing"):
        assert re.search(rf"✅\s+{phase} \(in ", output), f"the {phase} phase did not pass:\n{output[-6000:]}"
    if signed_in:
        # The session works: the guarded reads answered more than 401s (schemathesis lists those that did not).
        unauthenticated = re.search(r"Authentication failed:.*?💡", output, re.DOTALL)
        assert unauthenticated is None or "/api/auth/me" not in unauthenticated.group(0), output[-6000:]
    tested = re.search(r"(\d+) generated, (\d+) passed", output)
    assert tested, output[-3000:]
    assert int(tested.group(2)) > 100, output[-3000:]
