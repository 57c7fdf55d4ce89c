"""Reliability suite fixtures: every test ends with no process of its own left alive."""

from __future__ import annotations

import os

import pytest

from tests.helpers.chain import local_chain
from tests.helpers.procs import kill_leftovers


@pytest.fixture(autouse=True)
def no_leftover_processes(isolated_home):
    yield
    left = kill_leftovers(str(isolated_home))
    assert not left, f"processes survived the test (killed now): {left}"


@pytest.fixture
def chain():
    """The local network's chain (anvil + coordinator) with a 4 s round advancer (chain.advancer)."""
    with local_chain(round_s=float(os.environ.get("SWARMDECK_TEST_ROUND_S", "4"))) as c:
        yield c
