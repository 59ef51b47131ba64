"""Fixtures of the unit tier: the domain's services on in-memory fakes of its ports (tests/unit/fakes.py)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.unit.fakes import Fakes, HookedHasher, fast_hasher


@pytest.fixture
def hasher() -> HookedHasher:
    return fast_hasher()


@pytest.fixture
def fakes(hasher: HookedHasher) -> Iterator[Fakes]:
    """Every port faked, and the services on them; no account yet (`await fakes.add_account()`)."""
    made = Fakes(hasher)
    yield made
    made.spawned.close()
