"""The bootnode really comes back as itself after its key was lost and restored from a backup: the
real bootnode process (`python -m core.hosting bootnode NAME`, a hivemind DHT peer on 127.0.0.1)
announces the peer id it had before the loss; and a bootnode whose key is gone refuses to start
instead of making a new identity."""

from __future__ import annotations

import json
import os
import signal
import stat
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

from core.chain.devnet import free_port
from core.hosting import bootnode as boot
from core.hosting import bootnode_backup as bb
from core.hosting.host import HostSettings, save_settings
from core.usecases import swarm_hosting as sh

pytestmark = [pytest.mark.slow, pytest.mark.timeout(400)]
ROOT = Path(__file__).resolve().parents[2]
NAME = "h2restore"
PW = "correct horse battery"


def _run_bootnode_once(timeout: float = 240.0, while_up=None, output: list | None = None) -> dict:
    """Start the bootnode, wait for its status (written once its DHT is up), call while_up(), stop it.
    Its status."""
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(p for p in (str(ROOT), os.environ.get("PYTHONPATH", "")) if p))
    logf = tempfile.TemporaryFile()  # a file, not a pipe: a chatty DHT cannot block on a full pipe
    proc = subprocess.Popen([sys.executable, "-m", "core.hosting", "bootnode", NAME], cwd=ROOT, env=env,
                            stdin=subprocess.DEVNULL, stdout=logf, stderr=subprocess.STDOUT,
                            start_new_session=True)

    def text() -> str:
        logf.seek(0)
        return logf.read().decode(errors="replace")

    try:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                st = json.loads(boot.status_file(NAME).read_text())
                if st.get("pid") == proc.pid:
                    if while_up is not None:
                        while_up()
                    return st
            except (OSError, ValueError):
                pass
            if proc.poll() is not None:
                pytest.fail(f"the bootnode exited with {proc.returncode}: {text()[-2000:]}")
            time.sleep(0.5)
        pytest.fail(f"no bootnode status within {timeout:.0f} s")
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(60)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(10)
        if output is not None:
            output.append(text())
        logf.close()


def test_restored_bootnode_announces_its_old_peer_id(tmp_path):
    peer = boot.migrate_identity(NAME, None)
    save_settings(HostSettings(name=NAME, public_addr="127.0.0.1", dht_port=free_port(), bootnode_peer_id=peer))
    arch = bb.create(NAME, tmp_path, PW, scrypt_n=2**14).archive
    boot.identity_file(NAME).unlink()  # lost
    res = sh.restore_bootnode(arch, PW, NAME)
    assert res["backup"].action == "written" and not res["published_differs"]
    st = _run_bootnode_once()
    assert st["peer_id"] == peer
    assert any(m.endswith(f"/p2p/{peer}") for m in st["maddrs"]), st["maddrs"]


def test_the_bootnode_process_refuses_to_start_without_its_key(tmp_path):
    """A bootnode part restarted after its key was deleted exits 78 (the host gives up at once and alerts)
    instead of making a new identity."""
    peer = boot.migrate_identity(NAME, None)
    save_settings(HostSettings(name=NAME, public_addr="127.0.0.1", bootnode_peer_id=peer))
    boot.identity_file(NAME).unlink()
    r = subprocess.run([sys.executable, "-m", "core.hosting", "bootnode", NAME], cwd=ROOT, capture_output=True,
                       text=True, timeout=120, env=dict(os.environ, PYTHONPATH=str(ROOT)))
    assert r.returncode == 78, r.stderr
    assert peer in r.stderr and "swarm restore" in r.stderr and not boot.identity_file(NAME).exists()


def test_a_key_deleted_while_the_bootnode_runs_is_written_back():
    peer = boot.migrate_identity(NAME, None)
    save_settings(HostSettings(name=NAME, public_addr="127.0.0.1", dht_port=free_port(), bootnode_peer_id=peer))
    pem = boot.identity_file(NAME)
    key = pem.read_bytes()

    def delete_and_wait():
        pem.unlink()
        deadline = time.monotonic() + 60  # the bootnode looks every 5 s
        while not pem.exists() and time.monotonic() < deadline:
            time.sleep(0.5)
        assert pem.exists(), "the deleted key was not written back within 60 s"

    out: list[str] = []
    st = _run_bootnode_once(while_up=delete_and_wait, output=out)
    assert st["peer_id"] == peer and pem.read_bytes() == key
    assert stat.S_IMODE(pem.stat().st_mode) == 0o600
    assert "was deleted while it ran; written back" in out[0]
