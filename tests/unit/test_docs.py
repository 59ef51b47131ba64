"""The docs against the code they describe: every setting is documented in docs/operations.md, every client method in
docs/frontend.md, and the README stays short and keeps the two commands CI and newcomers rely on."""

from __future__ import annotations

import re

import msgspec
import pytest

from pet_auth.config import Settings
from tests.support import ROOT

DOCS = ROOT / "docs"
README_MAX_LINES = 200


@pytest.mark.parametrize("name", [field.encode_name for field in msgspec.structs.fields(Settings)])
def test_every_setting_is_documented_in_operations(name: str) -> None:
    assert f"`{name}`" in (DOCS / "operations.md").read_text(), f"{name} is not in docs/operations.md's settings"


def client_methods() -> list[str]:
    source = (ROOT / "clients" / "typescript" / "src" / "index.ts").read_text()
    body = source[source.index("const methods = {") : source.index("} satisfies")]
    return re.findall(r"^ {4}(\w+): ", body, flags=re.MULTILINE)


def test_the_client_has_methods_to_document() -> None:
    assert len(client_methods()) >= 20


@pytest.mark.parametrize("method", client_methods())
def test_every_client_method_is_in_the_frontend_docs_table(method: str) -> None:
    assert f"| `{method}`" in (DOCS / "frontend.md").read_text(), f"{method} is not in docs/frontend.md's table"


def test_the_readme_is_short_and_names_make_dev_and_make_test() -> None:
    readme = (ROOT / "README.md").read_text()
    assert len(readme.splitlines()) <= README_MAX_LINES
    assert "make dev" in readme
    assert "make test" in readme
