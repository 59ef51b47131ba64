"""The TypeScript client (clients/typescript) runs its own tests (node's test runner) against a live server; and its
`npm pack` tarball installs into a new app and works there without this repository.

Needs the client's packages (`npm ci`, done by `make test` and `make client-check`)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from pet_auth.config import Settings
from tests.support import ROOT
from tests.support.client_package import packed_app
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


def test_the_packed_client_installs_and_imports_without_this_repository(tmp_path: Path) -> None:
    """`npm pack` gives a tarball that a new app installs (openapi-fetch from the registry, nothing from here) and
    imports from Node, with its types: a TypeScript file using it type-checks against the installed package alone."""
    app = packed_app(tmp_path)
    installed = app / "node_modules" / "@pet-manager" / "auth-client"
    assert installed.is_dir()
    assert not installed.is_symlink()
    files = {path.relative_to(installed).as_posix() for path in installed.rglob("*") if path.is_file()}
    assert {"package.json", "dist/index.js", "dist/index.d.ts", "dist/schema.d.ts"} <= files
    assert not any(name.startswith(("test/", "node_modules/")) for name in files)
    assert (app / "node_modules" / "openapi-fetch" / "package.json").is_file()

    script = (
        "import { createAuthClient, AuthError, isAuthError } from '@pet-manager/auth-client';"
        "const auth = createAuthClient({ baseUrl: 'http://127.0.0.1:1' });"
        "const methods = Object.keys(auth).sort().join(',');"
        "try { await auth.session(); } catch (error) {"
        "  console.log(JSON.stringify({ methods, authError: error instanceof AuthError && isAuthError(error),"
        "    code: error.code }));"
        "}"
    )
    node = shutil.which("node")
    assert node is not None
    run = subprocess.run(
        [node, "--input-type=module", "-e", script], cwd=app, capture_output=True, text=True, timeout=60, check=False
    )
    assert run.returncode == 0, run.stderr
    result = json.loads(run.stdout)
    assert result["authError"] is True
    assert result["code"] == "network_error"
    assert {"session", "onChange", "login", "loginMfa", "logout"} <= set(result["methods"].split(","))

    (app / "use.ts").write_text(CONSUMER)
    (app / "tsconfig.json").write_text(
        json.dumps(
            {
                "compilerOptions": {
                    "target": "ES2022",
                    "module": "NodeNext",
                    "moduleResolution": "NodeNext",
                    "lib": ["ES2022", "DOM"],
                    "types": [],
                    "strict": True,
                    "noEmit": True,
                },
                "files": ["use.ts"],
            }
        )
    )
    tsc = CLIENT_DIR / "node_modules" / ".bin" / "tsc"
    checked = subprocess.run([str(tsc), "-p", "."], cwd=app, capture_output=True, text=True, timeout=120, check=False)
    assert checked.returncode == 0, checked.stdout + checked.stderr


# A frontend's use of the installed package, type-checked against it (login narrows; session and onChange).
CONSUMER = """
import { createAuthClient, isAuthError, type User } from "@pet-manager/auth-client";

const auth = createAuthClient({ baseUrl: "http://localhost:3000" });
const stop: () => void = auth.onChange((user: User | null) => console.log(user?.email ?? "signed out"));
export async function signIn(email: string, password: string): Promise<string> {
  try {
    const result = await auth.login({ email, password });
    if (result.mfaRequired) {
      return (await auth.loginMfa({ code: "123456" })).user.email;
    }
    return result.user.email;
  } catch (error) {
    if (isAuthError(error, "login") && error.code === "network_error") {
      return "offline";
    }
    throw error;
  } finally {
    stop();
  }
}
export const current: Promise<User | null> = auth.session();
"""
