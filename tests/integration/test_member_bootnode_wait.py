"""A member of a hosted swarm whose bootnode is down does not crash-loop: its node keeps trying, says for
how long the bootnodes have been unreachable and where to look on the host, and gets in once the chain's
list names a live one. Real parts: anvil + coordinator (a custom network, not `local`, so no node may
stand in as bootnode), the node process (`python -m core.node`), hivemind DHTs."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time

import pytest

from core.base import paths as _paths
from core.chain.devnet import free_port
from core.config import settings as _config
from core.identity import profiles as _profiles
from tests.helpers.chain import local_chain

pytestmark = [pytest.mark.slow, pytest.mark.timeout(420)]


def test_member_waits_for_the_bootnode_saying_how_long_then_gets_in(tmp_path):
    from eth_account import Account

    from core.swarm.dht import SwarmDHT

    with local_chain("wsw") as chain:
        dead_port = free_port()
        dead = f"/ip4/127.0.0.1/tcp/{dead_port}/p2p/QmYyQSo1c1Ym7orWxLYvCrM2EmxFTANf8wXmmE7DWjhx5N"
        chain.add_bootnodes([dead])
        with _config.config_lock():
            cfg = _config.load_config()
            cfg.add_network("wsw", {"rpc_url": chain.rpc_url, "chain_id": chain.chain_id,
                                    "coordinator": chain.coordinator, "bootnodes": [], "backend": "web3",
                                    "round_seconds": 30.0})
            cfg.save()
        prof = _profiles.create_profile("wm", make_current=None, network="wsw", backend="web3", model="tiny",
                                        dht_port=free_port())
        key = _paths.ProfilePaths("wm").secrets_dir / "eoa.key"
        _paths.ensure_private_dir(key.parent)
        key.write_text(Account.create().key.hex() + "\n")
        os.chmod(key, 0o600)
        assert prof is not None
        events: list[dict] = []
        proc = subprocess.Popen([sys.executable, "-m", "core.node", "--profile", "wm"], stdout=subprocess.PIPE,
                                stderr=subprocess.DEVNULL, stdin=subprocess.DEVNULL, text=True,
                                start_new_session=True)

        def read():
            for line in proc.stdout:
                try:
                    events.append(json.loads(line))
                except ValueError:
                    pass

        threading.Thread(target=read, daemon=True).start()
        boot = None
        try:
            def waiting(n):
                errs = [e for e in events if e.get("type") == "error" and "unreachable for" in str(e.get("what"))]
                return errs if len(errs) >= n else None

            deadline = time.monotonic() + 240
            while not waiting(2):
                assert proc.poll() is None, f"the node exited ({proc.returncode}) instead of waiting: {events[-3:]}"
                assert time.monotonic() < deadline, f"no 'unreachable for' events: {events[-5:]}"
                time.sleep(0.5)
            errs = waiting(2)
            assert dead in errs[0]["where"] and "swarm status" in errs[0]["fix"]
            assert errs[0]["what"] != errs[1]["what"]  # the time grows
            # the host's bootnode comes back (here: a DHT peer), and the chain's list names it
            boot = SwarmDHT(tmp_path / "boot.pem", host="127.0.0.1", port=free_port())
            live = [m for m in boot.multiaddrs if "/ip4/127.0.0.1/" in m]
            chain.clear_bootnodes()
            chain.add_bootnodes(live)
            deadline = time.monotonic() + 240
            while not any(e.get("type") == "node.state" and e.get("state") == "preparing" for e in events):
                assert proc.poll() is None, f"the node exited ({proc.returncode}): {events[-3:]}"
                assert time.monotonic() < deadline, f"the node did not get past its DHT start: {events[-5:]}"
                time.sleep(0.5)
        finally:
            proc.terminate()
            try:
                proc.wait(60)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, 9)
                proc.wait(10)
            if boot is not None:
                boot.shutdown()
