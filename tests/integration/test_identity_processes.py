"""Identity with real processes: the node lock held by a live process, the real DHT's identity
(moved from tests/unit: they start processes)."""

from __future__ import annotations

import os
import subprocess
import sys
import time

import pytest

from core.identity import files as identity
from core.base.errors import IdentityError
from core.base.paths import ProfilePaths


def test_real_dht_uses_our_identity(tmp_path):
    from hivemind import DHT

    pi = identity.load_or_create_swarm_pem(tmp_path / "swarm.pem")
    dht = DHT(start=True, identity_path=str(tmp_path / "swarm.pem"), host_maddrs=["/ip4/127.0.0.1/tcp/0"])
    try:
        assert dht.peer_id.to_base58() == pi.peer_id
    finally:
        dht.shutdown()


def test_node_lock_dies_with_its_process(tmp_path):
    pp = ProfilePaths("a")
    code = ("import sys,time; from core.identity.files import NodeLock; from core.base.paths import ProfilePaths; "
            "NodeLock(ProfilePaths('a')).acquire(); print('locked', flush=True); time.sleep(60)")
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True,
                            cwd=os.path.dirname(os.path.dirname(os.path.dirname(__file__))))
    try:
        assert proc.stdout.readline().strip() == "locked"
        with pytest.raises(IdentityError, match=f"pid {proc.pid}"):
            identity.NodeLock(pp).acquire()
        proc.kill()  # kill -9: no cleanup code runs, the kernel drops the lock
        proc.wait(10)
        deadline = time.time() + 5
        while identity.is_locked(pp) and time.time() < deadline:
            time.sleep(0.05)
        identity.NodeLock(pp).acquire().release()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
