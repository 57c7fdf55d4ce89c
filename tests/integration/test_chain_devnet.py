"""LocalChain: restart continues the same chain, round advancer, attach, clean stop."""

from __future__ import annotations

import json
import os
import time

import pytest

from core.chain.devnet import LocalChain
from core.chain.web3_backend import Web3Coordinator
from core.base.errors import ChainError
from core.base.paths import network_dir

from tests.helpers.chain import events, require_anvil
from tests.helpers.wait import wait_until


def _no_process(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    return False


def test_restart_continues_the_same_chain():
    require_anvil()
    chain = LocalChain().start()
    try:
        assert chain.deployed_now
        key = chain.new_funded_account().key.hex()
        n = Web3Coordinator(chain.rpc_url, chain.coordinator, key)
        assert n.register_peer("QmPersist").status == "landed"
        assert n.submit_reward(0, 0, 1234, "QmPersist").status == "landed"
        chain.advance()
        chain.advance()
        addr, pid, port1 = chain.coordinator, chain.proc.pid, chain.port
        dep = json.loads((network_dir("local") / "deployment.json").read_text())
        assert dep["coordinator"] == addr and "key" not in json.dumps(dep).lower()
        assert oct((network_dir("local") / "keys.json").stat().st_mode & 0o777) == "0o600"
    finally:
        chain.stop()
    assert _no_process(pid)
    assert not (network_dir("local") / "runtime.json").exists()
    assert (network_dir("local") / "anvil-state.json").stat().st_size > 0

    again = LocalChain().start()
    try:
        assert again.coordinator == addr and not again.deployed_now
        n = Web3Coordinator(again.rpc_url, again.coordinator, key)
        assert n.current_round() == 2
        assert n.get_eoa(["QmPersist"]) == [n.eoa]
        assert n.get_total_rewards(["QmPersist"]) == [1234]
        assert n.submit_reward(0, 0, 1, "QmPersist").status == "already"
        assert len(events(again, "RewardSubmitted", peerId="QmPersist")) == 1
        assert n.submit_reward(2, 0, 1, "QmPersist").status == "landed"
    finally:
        again.stop()


def test_lost_state_redeploys():
    require_anvil()
    with LocalChain() as chain:
        first = chain.coordinator
    (network_dir("local") / "anvil-state.json").unlink()
    with LocalChain() as chain:
        assert chain.deployed_now
        assert chain.current_round() == 0
        assert len(chain.w3.eth.get_code(chain.coordinator)) > 100
        assert first  # the old address may be reused by the same deployer nonce; the code is fresh either way


def test_a_coordinator_of_another_version_is_replaced():
    """A saved chain whose coordinator is not this version's contract (an older swarmdeck's spoke
    another ABI) gets a fresh deployment instead of a handle on code the node cannot talk to."""
    from core.chain.deploy import is_current_coordinator
    from core.chain.devnet import rpc_call

    require_anvil()
    with LocalChain() as chain:
        old = chain.coordinator
        assert is_current_coordinator(chain.w3, old)
        rpc_call(chain.rpc_url, "anvil_setCode", [old, "0x600160005260206000f3"])  # some other contract
        assert not is_current_coordinator(chain.w3, old)
    with LocalChain() as chain:
        assert chain.deployed_now and chain.coordinator != old
        assert is_current_coordinator(chain.w3, chain.coordinator)
        assert json.loads((network_dir("local") / "deployment.json").read_text())["coordinator"] == chain.coordinator
        assert chain.advance() == (1, 0)  # a whole round: three updateStageAndRound() calls
        assert chain.advance_stage() == (1, 1)


def test_round_advancer_and_attach():
    require_anvil()
    with LocalChain() as chain:
        other = LocalChain.attach("local")  # what another process (login service, node) does
        assert other.rpc_url == chain.rpc_url and other.coordinator == chain.coordinator
        with pytest.raises(ChainError):
            LocalChain().start()  # a second chain on the same network dir is refused
        adv = chain.start_advancer(0.3)
        wait_until(lambda: chain.current_round() >= 3, 20, "three advanced rounds", interval=0.1)
        adv.stop()
        r = chain.current_round()
        assert r >= 3 and adv.failures == 0 and adv.advances >= 3
        time.sleep(0.5)
        assert chain.current_round() == r  # stopped means stopped
    with pytest.raises(ChainError) as ei:
        LocalChain.attach("local")
    assert "not running" in ei.value.what and ei.value.fix


def test_round_length_must_be_positive():
    require_anvil()
    with LocalChain() as chain:
        with pytest.raises(ValueError):
            chain.start_advancer(0)


def test_devnet_cli_runs_until_sigterm_and_persists():
    import signal
    import subprocess
    import sys
    from pathlib import Path

    require_anvil()
    repo = Path(__file__).resolve().parents[2]
    proc = subprocess.Popen([sys.executable, "-m", "core.chain.devnet", "--round-seconds", "0.3"], cwd=repo,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        info = json.loads(proc.stdout.readline())
        assert info["rpc_url"].startswith("http://127.0.0.1:") and info["deployed_now"] is True
        runtime = json.loads((network_dir("local") / "runtime.json").read_text())
        chain = LocalChain.attach("local")
        wait_until(lambda: chain.current_round() >= 2, 20, "the devnet process's advancer to reach round 2",
                   interval=0.1)
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(30)
    assert proc.returncode == 0
    assert _no_process(runtime["pid"])
    state = network_dir("local") / "anvil-state.json"
    assert state.stat().st_size > 0 and oct(state.stat().st_mode & 0o777) == "0o600"
    with LocalChain() as again:
        assert not again.deployed_now and again.current_round() >= 2
