"""Fixtures shared by the integration tests."""

from __future__ import annotations

import pytest

from core.swarm.dht import SwarmDHT
from tests.helpers.procs import shutdown_and_wait


@pytest.fixture
def swarm(tmp_path):
    """Factory for SwarmDHT nodes (each with its own swarm.pem under tmp_path); all shut down at the end."""
    nodes: list[SwarmDHT] = []
    pids: set[int] = set()

    def make(name: str, **kw) -> SwarmDHT:
        kw.setdefault("op_timeout", 15.0)
        node = SwarmDHT(tmp_path / name / "swarm.pem", **kw)
        nodes.append(node)
        pids.update(node.child_pids())
        return node

    make.nodes = nodes  # type: ignore[attr-defined]
    make.pids = pids  # type: ignore[attr-defined]
    yield make
    left = shutdown_and_wait(nodes, tmp_path, pids)
    assert not left, f"test left processes running: {left}"
