"""A real node (`python -m core.node`) on the gensyn-testnet preset, after a reboot-like restart.

Stand-ins (the public testnet and the official app cannot run here, see test_testnet_signin.py):
anvil with --chain-id 685685 and a round advancer plays the testnet; tests/fixtures/modal-login-standin
plays the official modal-login app. The bootnode is a real hivemind DHT node, published with
addBootnodes on the contract: the node has no bootnodes configured and must find it via getBootnodes().

The profile signs in once; then the app is stopped and its temp-data/ emptied, as the public run
script leaves it on exit. The node must start the app itself with the profile's credentials put
back (no new browser sign-in), register its peer id and submit its rewards through it, and start
the app again when it is killed mid-run.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from core.identity import files as identity
from core.chain.devnet import free_port
from core.login import modal_app
from core.identity.profiles import create_profile, load_profile
from core.swarm.dht import SwarmDHT
from tests.helpers.procs import shutdown_and_wait

from tests.helpers.chain import events
from tests.helpers.http import browser_sign_in
from test_testnet_signin import _checkout, stopper, testnet  # noqa: F401 (fixtures)

pytestmark = [pytest.mark.slow, pytest.mark.timeout(600)]

ROOT = Path(__file__).resolve().parents[2]
TRAINING = {"questions_local": 1, "questions_external": 1, "generations": 2, "max_new_tokens": 8}


def test_testnet_node_finds_bootnodes_on_chain_and_writes_through_the_app_it_starts(testnet, tmp_path, stopper):
    chain = testnet
    adv = chain.start_advancer(4.0)
    boot = SwarmDHT(tmp_path / "boot" / "swarm.pem", op_timeout=15.0)
    pids = set(boot.child_pids())
    try:
        chain.add_bootnodes(boot.multiaddrs)
        app_dir = _checkout(tmp_path) / "modal-login"
        create_profile("tn", make_current=False, network="gensyn-testnet", model="tiny", login_port=free_port(),
                       login_app=str(app_dir), training=TRAINING)
        stopper.append("tn")
        prof = load_profile("tn")

        app = modal_app.ensure_running(prof)
        browser_sign_in(app.url, "ivy@example.org")
        assert modal_app.wait_for_sign_in(prof, app, timeout=30) is not None
        modal_app.stop_app(prof.paths)
        for f in modal_app.FILES:  # what the public script does on every exit
            (app_dir / "temp-data" / f).unlink()

        peer = identity.peer_id_from_pem(prof.paths.swarm_pem)
        first_app: list[int] = []

        def kill_app_after_the_first_reward():
            # The app dies mid-run (OOM killer, a stray Ctrl-C in its tmux pane): the node must start it again.
            deadline = time.monotonic() + 300
            while not events(chain, "RewardSubmitted", peerId=peer) and time.monotonic() < deadline:
                time.sleep(0.3)
            app = modal_app.running_app(prof.paths)
            if app is not None:
                first_app.append(app.pid)
                modal_app.stop_app(prof.paths)

        killer = threading.Thread(target=kill_app_after_the_first_reward, daemon=True)
        killer.start()
        env = dict(os.environ, PYTHONPATH=str(ROOT))
        out = subprocess.run([sys.executable, "-m", "core.node", "--profile", "tn", "--max-rounds", "3",
                              "--share-wait", "1"], capture_output=True, text=True, env=env, cwd=ROOT, timeout=400)
        killer.join(10)
        assert out.returncode == 0, out.stderr[-3000:]
        evs = [json.loads(ln) for ln in out.stdout.splitlines() if ln.startswith("{")]
        assert [e["type"] for e in evs].count("round.finished") == 3
        assert "DHT up, 1 bootnode(s)" in out.stderr  # read from getBootnodes() on the 685685 chain
        assert any(p.get("peer_id") == peer for p in boot.peers()), boot.peers()

        # the node started the app (with the profile's files back in temp-data/), wrote through it,
        # and started it again after it was killed
        assert first_app, "the first reward never landed"
        assert any("starting it again" in e.get("message", "") for e in evs if e["type"] == "log"), out.stderr[-2000:]
        running = modal_app.running_app(prof.paths)
        assert running is not None and running.app_dir == str(app_dir) and running.pid != first_app[0]
        assert (app_dir / "temp-data" / "userData.json").exists()
        login = identity.read_login(prof.paths.identity_dir)
        deadline = time.monotonic() + 30
        while len(events(chain, "RewardSubmitted", peerId=peer)) < 3:
            assert time.monotonic() < deadline, [p.read_text() for p in prof.paths.queue_dir.glob("*.json")]
            time.sleep(0.5)
        assert [e["args"]["eoa"] for e in events(chain, "PeerRegistered", peerId=peer)] == [login.address]
    finally:
        adv.stop()
        left = shutdown_and_wait([boot], tmp_path, pids)
        assert not left, left
