"""A node whose peer id is registered on chain by another account stops loudly, without retries."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from core.identity import profiles
from core.chain.devnet import LocalChain
from core.chain.web3_backend import Web3Coordinator

pytestmark = [pytest.mark.slow, pytest.mark.timeout(300)]
ROOT = Path(__file__).resolve().parents[2]


def test_peer_id_owned_by_another_eoa_stops_the_node_with_exit_78():
    chain = LocalChain("local").start()
    try:
        prof = profiles.create_profile("clash", make_current=False, network="local", backend="web3", model="tiny",
                                       training={"questions_local": 1, "generations": 2, "max_new_tokens": 8})
        from core.identity import files as identity

        peer = identity.peer_id_from_pem(prof.paths.swarm_pem)
        other = chain.new_funded_account()
        assert Web3Coordinator(chain.rpc_url, chain.coordinator, other.key.hex()).register_peer(peer).ok

        env = dict(os.environ, PYTHONPATH=str(ROOT))
        out = subprocess.run([sys.executable, "-m", "core.node", "--profile", "clash", "--max-rounds", "1"],
                             capture_output=True, text=True, env=env, cwd=ROOT, timeout=240)
        events = [json.loads(ln) for ln in out.stdout.splitlines() if ln.startswith("{")]
        assert out.returncode == 78, out.stderr[-2000:]
        errors = [e for e in events if e["type"] == "error"]
        assert errors and "another" in (errors[-1]["what"] + errors[-1].get("fix", "")).lower(), errors
        assert not [e for e in events if e["type"] == "round.finished"]
    finally:
        chain.stop()
