"""The TypeScript client as a frontend app gets it: `npm pack` of clients/typescript, installed from the tarball into a
scratch app outside this repository (its one dependency, openapi-fetch, from the npm registry or npm's cache)."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.support import ROOT

CLIENT_DIR = ROOT / "clients" / "typescript"
PACKAGE = "@pet-manager/auth-client"


def _npm() -> str:
    npm = shutil.which("npm")
    if npm is None or not (CLIENT_DIR / "node_modules").is_dir():
        pytest.fail("the TypeScript client's packages are missing: install Node 20 + npm, then run `make client-deps`")
    return npm


def pack(destination: Path) -> Path:
    """`npm pack` (its prepack builds dist/): the tarball, in `destination`."""
    run = subprocess.run(
        [_npm(), "pack", "--json", "--pack-destination", str(destination)],
        cwd=CLIENT_DIR,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert run.returncode == 0, run.stdout[-4000:] + run.stderr[-4000:]
    [packed] = json.loads(run.stdout[run.stdout.index("[") :])
    return destination / str(packed["filename"])


def scratch_app(directory: Path, tarball: Path) -> Path:
    """A new app in `directory` (an ES module package) with the tarball installed: `directory`."""
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "package.json").write_text(json.dumps({"name": "scratch-app", "private": True, "type": "module"}))
    run = subprocess.run(
        [_npm(), "install", "--no-audit", "--no-fund", "--prefer-offline", str(tarball)],
        cwd=directory,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert run.returncode == 0, run.stdout[-4000:] + run.stderr[-4000:]
    return directory


def packed_app(directory: Path) -> Path:
    """The client packed and installed into a scratch app under `directory`: the app's directory."""
    return scratch_app(directory / "app", pack(directory))
