"""The TypeScript client (clients/typescript) runs its own tests (node's test runner) against a live server.

Needs the client's packages (`npm ci`, done by `make test` and `make client-check`)."""

from __future__ import annotations

import os
import shutil
import subprocess

import pytest

from pet_auth.config import Settings
from tests.support import ROOT
from tests.support.live_server import live_server

CLIENT_DIR = ROOT / "clients" / "typescript"


def test_the_typescript_client_passes_its_tests_against_a_live_server(settings: Settings) -> None:
    npm = shutil.which("npm")
    if npm is None or not (CLIENT_DIR / "node_modules").is_dir():
        pytest.fail("the TypeScript client's packages are missing: install Node 20 + npm, then run `make client-deps`")
    with live_server(settings) as server:
        run = subprocess.run(
            [npm, "test"],
            cwd=CLIENT_DIR,
            env={**os.environ, "PET_AUTH_URL": server.url},
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )
    output = run.stdout + run.stderr
    assert run.returncode == 0, output[-8000:]
    assert "# fail 0" in output, output[-4000:]
    assert "# pass 0" not in output, output[-4000:]
