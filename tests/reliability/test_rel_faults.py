"""Fault injection with real processes: login service killed during sign-in, disk full while
checkpointing (a real 1 MiB tmpfs when we may mount one, else an injected ENOSPC), SIGTERM during
`swarmdeck identity backup`, and the local bootnode killed while a peer leaves."""

from __future__ import annotations

import errno
import json
import os
import random
import signal
import stat
import subprocess
import sys
import time
from pathlib import Path

import pytest

from core.identity import files as identity
from core.identity import profiles
from core.chain.devnet import free_port
from core.login import service as login
from core.base.paths import ProfilePaths

from tests.helpers.hostile import post
from tests.helpers.chain import chain_rewards
from tests.helpers.supervisor import create_node_profile, ROOT, TRAINING
from tests.helpers.wait import wait_until

ENV = dict(PYTHONPATH=str(ROOT))


def _id_files_ok(paths: ProfilePaths) -> None:
    d = paths.identity_dir
    assert stat.S_IMODE(d.stat().st_mode) == 0o700
    for f in d.iterdir():
        assert not f.name.startswith(".") and not f.name.endswith((".tmp", ".partial")), f"temp file left: {f}"
        if f.is_file():
            assert stat.S_IMODE(f.stat().st_mode) == 0o600, f
            if f.suffix == ".json":
                json.loads(f.read_text())  # never a torn file


# ------------------------------------------------------------------------------- login killed mid sign-in

def test_login_service_killed_during_sign_in_then_retry_works():
    profiles.create_profile("lg", make_current=False, network="local", backend="modal-login")
    paths = ProfilePaths("lg")
    port = free_port()
    svc = login.ensure_service(paths, port=port)
    try:
        st, user = post(f"{svc.url}/api/login", json.dumps({"email": "kill@example.com"}).encode())
        assert st == 200, user
        os.kill(svc.pid, signal.SIGKILL)  # the browser is between "email sent" and "session key"
        wait_until(lambda: login.running_service(paths) is None, 10, "the service to be gone")
        # Clear state: signed in, no session key, not activated; files whole and private.
        info = identity.read_login(paths.identity_dir)
        assert info is not None and info.org_id == user["orgId"] and not info.activated and info.api_public_key is None
        _id_files_ok(paths)

        # Retry: the service comes back (same profile, any free port) and the sign-in completes.
        svc = login.ensure_service(paths, port=port)
        st, again = post(f"{svc.url}/api/login", json.dumps({"email": "kill@example.com"}).encode())
        assert st == 200 and again["orgId"] == user["orgId"]
        st, key = post(f"{svc.url}/api/get-api-key", json.dumps({"whoamiStamp": {"orgId": user["orgId"]}}).encode())
        assert st == 200, key
        # killed again after the key was issued but before activation: still a clear, pending state
        os.kill(svc.pid, signal.SIGKILL)
        wait_until(lambda: login.running_service(paths) is None, 10, "the service to be gone")
        info = identity.read_login(paths.identity_dir)
        assert info.api_public_key == key["publicKey"] and not info.activated
        _id_files_ok(paths)
        svc = login.ensure_service(paths, port=port)
        st, act = post(f"{svc.url}/api/set-api-key-activated",
                       json.dumps({"orgId": user["orgId"], "apiKey": key["publicKey"]}).encode())
        assert st == 200 and act == {"activated": True}
        import urllib.request

        with urllib.request.urlopen(f"{svc.url}/api/get-api-key-status?orgId={user['orgId']}", timeout=10) as r:
            assert r.read() == b"activated"
        assert identity.read_login(paths.identity_dir).activated
        _id_files_ok(paths)
    finally:
        login.stop_service(paths)


# ------------------------------------------------------------------------------- disk full while checkpointing

@pytest.fixture
def small_disk(tmp_path):
    """A 1 MiB tmpfs (root in a container usually may mount one); None when mounting is not allowed."""
    mnt = tmp_path / "small"
    mnt.mkdir()
    r = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m,mode=0700", "tmpfs", str(mnt)], capture_output=True)
    if r.returncode != 0:
        yield None
        return
    try:
        yield mnt
    finally:
        subprocess.run(["umount", "-l", str(mnt)], capture_output=True)


def test_disk_full_while_checkpointing_keeps_previous_checkpoint(small_disk, tmp_path, monkeypatch):
    import torch

    from core.base.errors import TrainingError
    from core.training.checkpoint import CheckpointManager
    from core.training.model import LoraSettings, load_model
    from core.training.tiny import ensure_tiny_model

    loaded = load_model(str(ensure_tiny_model()), "fp32", lora=LoraSettings(r=4, alpha=8))
    model = loaded.model
    params = [p for p in model.parameters() if p.requires_grad]
    opt = torch.optim.AdamW(params, lr=1e-3)
    sum(p.sum() for p in params).backward()
    opt.step()
    where = small_disk if small_disk is not None else tmp_path / "ckpt"
    cm = CheckpointManager(where / "checkpoints")
    first = cm.save(model, opt, 1)
    snap = {p.name: p.read_bytes() for p in first.iterdir()}
    sd_orig = {k: v.detach().clone() for k, v in model.state_dict().items() if "lora_" in k}

    with torch.no_grad():  # make round 2's weights differ, so loading the wrong one would show
        for p in params:
            p.add_(1.0)
    if small_disk is not None:
        mode = "tmpfs"
        filler = small_disk / "filler"
        fd = os.open(filler, os.O_WRONLY | os.O_CREAT, 0o600)  # eat every free byte
        try:
            while True:
                os.write(fd, b"\0" * 512)
        except OSError as e:
            assert e.errno == errno.ENOSPC
        finally:
            os.close(fd)
    else:
        mode = "injected"
        real_write = Path.write_text

        def full(self, *a, **k):
            if self.name == "meta.json":
                raise OSError(errno.ENOSPC, "No space left on device")
            return real_write(self, *a, **k)
        monkeypatch.setattr(Path, "write_text", full)
    with pytest.raises(TrainingError) as ei:
        cm.save(model, opt, 2)
    assert "space" in ei.value.what.lower() or "No space" in ei.value.what, ei.value.what
    print(f"\ndisk-full simulated with: {mode}")

    # The previous checkpoint is whole and is what a restart loads; no half-written round-2 dir.
    assert [c.round for c in cm.list()] == [1]
    assert {p.name: p.read_bytes() for p in first.iterdir()} == snap
    assert not list((where / "checkpoints").glob(".tmp-*"))
    fresh = load_model(str(ensure_tiny_model()), "fp32", lora=LoraSettings(r=4, alpha=8)).model
    info = cm.load_latest(fresh)
    assert info.round == 1
    sd_saved = {k: v for k, v in fresh.state_dict().items() if "lora_" in k}
    assert sd_saved.keys() == sd_orig.keys() and all(torch.allclose(sd_saved[k], sd_orig[k]) for k in sd_saved)


# ------------------------------------------------------------------------------- SIGTERM during a backup

def test_sigterm_during_identity_backup_leaves_original_and_no_partial(tmp_path):
    profiles.create_profile("bk", make_current=False, network="local")
    paths = ProfilePaths("bk")
    identity.load_or_create_swarm_pem(paths.swarm_pem)
    identity.write_user_data(paths.identity_dir, "org1", "0x" + "1" * 40, "u1", "a@b.io")
    identity.append_user_api_key(paths.identity_dir, "org1", {"publicKey": "0xPUB", "privateKey": "0x" + "ab" * 32,
                                                               "activated": True})
    orig = {f.name: (f.read_bytes(), stat.S_IMODE(f.stat().st_mode)) for f in paths.identity_dir.iterdir()}
    pw = tmp_path / "pw"
    pw.write_text("correct horse battery staple 42\n")
    dest = tmp_path / "out"
    dest.mkdir()
    rng = random.Random(3)
    outcomes = []
    for i in range(int(os.environ.get("SWARMDECK_RELIABILITY_BACKUP_KILLS", "6"))):
        d = dest / f"b{i}.sdbackup"
        p = subprocess.Popen([sys.executable, "-m", "tui.cli", "identity", "backup", "-p", "bk", "--passphrase-file",
                              str(pw), str(d)], cwd=ROOT, env={**os.environ, **ENV},
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        time.sleep(rng.uniform(0.3, 2.5))  # python start-up is ~1 s here: some land in scrypt / writing
        p.send_signal(signal.SIGTERM)
        out, err = p.communicate(timeout=60)
        outcomes.append(p.returncode)
        assert b"Traceback" not in err, err.decode()[-2000:]
        now = {f.name: (f.read_bytes(), stat.S_IMODE(f.stat().st_mode)) for f in paths.identity_dir.iterdir()
               if f.name != "node.lock"}
        assert {k: v for k, v in orig.items() if k != "node.lock"} == now, "the identity changed during a backup"
        assert not [f for f in dest.iterdir() if f.name.startswith(".") or f.suffix == ".partial"], list(dest.iterdir())
        if d.exists():  # it finished before the signal: then it must be a whole, verifiable archive
            from core.identity.backup import verify_backup

            verify_backup(d, pw.read_text().strip(), profile="bk")
    print(f"\nbackup SIGTERM exit codes: {outcomes}")
    assert any(rc != 0 for rc in outcomes), "no SIGTERM landed during a backup; timing needs a look"


# ------------------------------------------------------------------------------- bootnode killed, a peer leaves

class _Node:
    def __init__(self, name: str, *args: str):
        self.name = name
        self.log = open(Path(os.environ["HOME"]) / f"{name}.log", "ab")
        self.proc = subprocess.Popen([sys.executable, "-m", "core.node", "--profile", name, "--share-wait", "3", *args],
                                     stdout=subprocess.PIPE, stderr=self.log, env={**os.environ, **ENV}, cwd=ROOT,
                                     start_new_session=True, text=True)
        self.events: list[dict] = []
        import threading

        threading.Thread(target=self._read, daemon=True).start()

    def _read(self):
        for line in self.proc.stdout:
            try:
                self.events.append(json.loads(line))
            except ValueError:
                pass

    def of(self, t):
        return [e for e in list(self.events) if e["type"] == t]

    def kill(self, sig=signal.SIGKILL):
        try:
            os.killpg(self.proc.pid, sig)
        except ProcessLookupError:
            pass


@pytest.mark.slow
@pytest.mark.timeout(900)
def test_bootnode_killed_and_peer_leaving_rounds_go_on(chain):
    """Smaller than the issue's 6 peers (budget): 3 nodes; the bootnode is kill -9'd (its whole group:
    DHT and p2pd too) and a second peer leaves; the survivor keeps finishing rounds; the bootnode comes
    back and the survivor sees it again as a peer."""
    from core.localnet import network as localnet

    for n in ("b1", "b2", "b3"):
        create_node_profile(n)
    localnet.bootnode_file().write_text("b1\n")
    nodes = [_Node("b1")]
    try:
        wait_until(lambda: chain.contract.functions.getBootnodes().call(), 180, "b1 on chain as bootnode")
        nodes += [_Node("b2"), _Node("b3")]
        wait_until(lambda: all(n.of("round.finished") for n in nodes), 300, "a round on every node")
        # A peer's rollouts on offer (its manifest read); which ones are downloaded depends on their signal.
        wait_until(lambda: any((e.get("choosable") or 0) > 0 for e in nodes[2].of("rollouts.fetched")), 120,
                   "b3 to see a peer")
        nodes[0].kill()  # bootnode gone, with its DHT and p2pd
        nodes[1].kill(signal.SIGTERM)  # a peer leaves cleanly
        assert nodes[1].proc.wait(120) == 0
        nodes[0].proc.wait(30)
        done = len(nodes[2].of("round.finished"))
        wait_until(lambda: len(nodes[2].of("round.finished")) >= done + 2, 180, "rounds on the survivor")
        assert nodes[2].proc.poll() is None, nodes[2].of("error")[-3:]
        if True:
            # The bootnode comes back on a new port and republishes itself on chain; the survivor
            # notices the changed bootnode list and rejoins through it (core.node.runner._maybe_rejoin).
            t_back = time.time()
            back = _Node("b1")
            nodes.append(back)
            wait_until(lambda: back.of("round.finished"), 240, "the bootnode back in rounds")
            b1 = back.of("node.identity")[0]["peer_id"]
            wait_until(lambda: any(p["peer_id"] == b1 and p["last_seen"] > t_back
                                 for e in nodes[2].of("peers.update") for p in e["peers"]),
                     180, "the survivor to see the bootnode again")
    finally:
        for n in nodes:
            n.kill(signal.SIGTERM)
        for n in nodes:
            try:
                n.proc.wait(60)
            except subprocess.TimeoutExpired:
                n.kill()
    survivor = nodes[2].of("node.identity")[0]["peer_id"]
    mine = chain_rewards(chain, survivor)
    assert len(mine) == len(set(mine))
