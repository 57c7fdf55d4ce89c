"""Security promises as tests: private identity files after every operation, a loopback-only login
service that refuses cross-origin / non-JSON / foreign-Host requests, no code loading or memory
exhaustion from DHT peers, and no secret in any output after a real run that used every secret."""

from __future__ import annotations

import io
import json
import os
import pickle
import shutil
import stat
import subprocess
import sys
import time
import tracemalloc
import zlib
from pathlib import Path

import psutil
import pytest

from core.identity import backup
from core.identity import files as identity
from core.identity import profiles
from core.chain.devnet import free_port
from core.login import service as login
from core.login.service import LoginService, ServiceThread
from core.base.paths import ProfilePaths
from core.swarm import wire

from tests.helpers.hostile import post, snapshot, wrap_payload
from tests.helpers.supervisor import create_node_profile, FAST_DAEMON, node_cmd, read_events, ROOT
from tests.helpers.wait import wait_until

ENV = {"PYTHONPATH": str(ROOT)}


def _assert_private(paths: ProfilePaths, what: str) -> None:
    for d in (paths.identity_dir, paths.secrets_dir):
        if not d.exists():
            continue
        assert stat.S_IMODE(d.stat().st_mode) == 0o700, f"{what}: {d} is {oct(d.stat().st_mode)}"
        for f in d.rglob("*"):
            m = stat.S_IMODE(f.stat().st_mode)
            assert m == (0o700 if f.is_dir() else 0o600), f"{what}: {f} is {oct(m)}"


def _sign_in(url: str, email: str) -> dict:
    st, user = post(f"{url}/api/login", json.dumps({"email": email}).encode())
    assert st == 200, user
    st, key = post(f"{url}/api/get-api-key", json.dumps({"whoamiStamp": {"orgId": user["orgId"]}}).encode())
    assert st == 200, key
    st, act = post(f"{url}/api/set-api-key-activated",
                   json.dumps({"orgId": user["orgId"], "apiKey": key["publicKey"]}).encode())
    assert st == 200, act
    return user


def test_identity_files_private_after_every_operation(tmp_path):
    profiles.create_profile("p1", make_current=False, network="local")
    p1 = ProfilePaths("p1")
    _assert_private(p1, "create")
    with ServiceThread(LoginService(p1.identity_dir, port=free_port())) as svc:
        _sign_in(svc.url, "perm@example.com")
    _assert_private(p1, "login")
    arch = tmp_path / "p1.sdbackup"
    backup.create_backup("p1", arch, "a long enough passphrase 1")
    assert stat.S_IMODE(arch.stat().st_mode) == 0o600
    _assert_private(p1, "backup")
    profiles.archive_profile("p1")  # the machine is "wiped": restore refuses a duplicate of a live profile
    backup.restore_backup(arch, "a long enough passphrase 1", "p2")
    _assert_private(ProfilePaths("p2"), "restore")
    # import from loose (0644) files of an existing rl-swarm node: the copies are private, originals untouched
    src = tmp_path / "rl-swarm"
    src.mkdir()
    (src / "swarm.pem").write_bytes(identity.new_swarm_pem_bytes())
    identity.write_user_data(src, "org-imported", "0x" + "2" * 40, "u2", "imp@example.com")
    identity.append_user_api_key(src, "org-imported", {"publicKey": "0xP", "privateKey": "0x" + "cd" * 32,
                                                       "activated": True})
    for f in src.iterdir():
        os.chmod(f, 0o644)
    before = snapshot(src)
    profiles.import_profile("p3", src)
    _assert_private(ProfilePaths("p3"), "import")
    assert snapshot(src) == before and all(stat.S_IMODE(f.stat().st_mode) == 0o644 for f in src.iterdir())
    # loose permissions are reported and fixed (like OpenSSH)
    p2 = ProfilePaths("p2")
    os.chmod(p2.swarm_pem, 0o644)
    assert identity.check_permissions(p2.identity_dir)
    identity.fix_permissions(p2.identity_dir)
    _assert_private(p2, "fix_permissions")


def test_login_service_loopback_only_and_refuses_cross_origin_and_non_json():
    profiles.create_profile("lsec", make_current=False, network="local", backend="modal-login")
    paths = ProfilePaths("lsec")
    svc = login.ensure_service(paths, port=free_port())
    try:
        conns = [c for c in psutil.Process(svc.pid).net_connections(kind="inet") if c.status == psutil.CONN_LISTEN]
        assert conns and all(c.laddr.ip in ("127.0.0.1", "::1") for c in conns), conns
        watched = [paths.identity_dir]
        before = snapshot(*watched)
        body = json.dumps({"email": "x@example.com"}).encode()
        st, r = post(f"{svc.url}/api/login", body, {"Origin": "http://evil.example"})
        assert st == 403 and "cross-origin" in r["error"]
        st, r = post(f"{svc.url}/api/login", body, {"Origin": "null"})
        assert st == 403
        st, r = post(f"{svc.url}/api/login", body, {"Sec-Fetch-Site": "cross-site"})
        assert st == 403
        st, r = post(f"{svc.url}/api/login", b"email=x@example.com", {"Content-Type": "application/x-www-form-urlencoded"})
        assert st == 415
        st, r = post(f"{svc.url}/api/login", body, {"Content-Type": "text/plain"})
        assert st == 415  # the "simple request" a foreign page can send without CORS preflight
        st, r = post(f"{svc.url}/api/login", body, {"Host": f"evil.example:{svc.port}"})
        assert st == 421  # DNS rebinding
        assert snapshot(*watched) == before
        st, r = post(f"{svc.url}/api/login", body, {"Origin": svc.url})
        assert st == 200  # the page itself (same origin) still works
    finally:
        login.stop_service(paths)


class _Boom:
    def __reduce__(self):
        return (os.system, (f"touch {os.environ['HOME']}/pwned",))


def test_dht_values_never_load_code_or_exhaust_memory():
    marker = Path(os.environ["HOME"]) / "pwned"
    evil = pickle.dumps(_Boom())
    for data in (evil, wire.MAGIC + bytes([wire.VERSION]) + evil, wrap_payload(evil),
                 wrap_payload(json.dumps({"rollouts": [{"metadata": {"py/reduce": evil.hex()}}]}).encode())):
        with pytest.raises(wire.WireError):
            wire.decode_rollouts(data)
    assert not marker.exists()
    # every module of the swarm package (the DHT client is split in several) reads network bytes
    for path in sorted(Path(wire.__file__).parent.glob("*.py")):
        src = path.read_text()
        assert "import pickle" not in src and "pickle.loads" not in src, path.name
    # size limits: an oversized value and a zip bomb are refused without inflating
    with pytest.raises(wire.WireError) as ei:
        wire.decode_rollouts(b"x" * (wire.DEFAULT_LIMITS.max_wire_bytes + 1))
    assert ei.value.reason == "oversized"
    bomb = wire.MAGIC + bytes([wire.VERSION]) + zlib.compress(b"[" + b" " * (1024 * 1024 * 1024) + b"]", 9)
    assert len(bomb) < 2 * 1024 * 1024
    tracemalloc.start()
    t0 = time.monotonic()
    with pytest.raises(wire.WireError) as ei:
        wire.decode_rollouts(bomb)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert ei.value.reason == "bomb" and peak < 64 * 2**20 and time.monotonic() - t0 < 10, (peak, ei.value.reason)


def _screen_text(app) -> str:
    from rich.console import Console

    w, h = app.size
    c = Console(width=w, height=h, record=True, file=io.StringIO(), force_terminal=True, color_system="truecolor")
    c.print(app.screen._compositor.render_update(full=True, screen_stack=app._background_screens))
    return c.export_text()


@pytest.mark.slow
@pytest.mark.timeout(900)
async def test_no_secret_in_logs_events_status_crash_output_or_tui(chain, monkeypatch, tmp_path):
    """A supervised real node runs with every secret in play (session key, HF token + a failing push,
    backup passphrase, the web3 EOA key); then every file it or the CLI wrote, the CLI's outputs, a crash
    report and the TUI's text are scanned for each secret."""
    import core.supervisor as control
    import core.supervisor as daemon
    from core.localnet import network as localnet

    name = "sec"
    create_node_profile(name, hf_push_every=1)
    profiles.load_profile(name)
    from core.config.settings import config_lock, load_config

    with config_lock():
        cfg = load_config()
        cfg.set_profile_value(name, "hf_repo", "someone/adapter")
        cfg.save()
    paths = ProfilePaths(name)
    hf_token = "hf_" + "Zq7" * 11
    paths.secrets_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    (paths.secrets_dir / "hf_token").write_text(hf_token + "\n")
    os.chmod(paths.secrets_dir / "hf_token", 0o600)
    with ServiceThread(LoginService(paths.identity_dir, port=free_port())) as svc:
        _sign_in(svc.url, "secret@example.com")
    session_key = identity.read_login(paths.identity_dir).api_private_key
    assert session_key
    passphrase = "pass phrase that must never leak 9"
    pw = tmp_path / "pw"
    pw.write_text(passphrase + "\n")
    outputs = []

    def cli(*args: str, ok=True) -> str:
        r = subprocess.run([sys.executable, "-m", "tui.cli", *args], cwd=ROOT, env={**os.environ, **ENV},
                           capture_output=True, text=True, timeout=120)
        outputs.append(r.stdout + r.stderr)
        assert (r.returncode == 0) == ok, r.stdout + r.stderr
        return r.stdout

    cli("identity", "backup", "-p", name, "--passphrase-file", str(pw), str(tmp_path / "b.sdbackup"))
    cli("identity", "verify", str(tmp_path / "b.sdbackup"), "--passphrase-file", str(tmp_path / "wrong"), ok=False)

    localnet.bootnode_file().write_text(name + "\n")
    monkeypatch.setenv("SWARMDECK_NODE_CMD", node_cmd(1.0))
    monkeypatch.setenv("SWARMDECK_DAEMON_SETTINGS", json.dumps(FAST_DAEMON))
    monkeypatch.setenv("HF_ENDPOINT", f"http://127.0.0.1:{free_port()}")  # nobody listens: the push fails
    daemon.spawn_detached(name)
    try:
        wait_until(lambda: len([e for e in read_events(paths.events_file, {"round.finished"})]) >= 2, 300, "two rounds")
        outputs.append(cli("status", "--json"))
        outputs.append(json.dumps(control.ControlClient(paths, timeout=10).status()))
        outputs.append(cli("logs", "-p", name))
    finally:
        daemon.stop_profile(name, timeout=120)
    eoa_key = (paths.secrets_dir / "eoa.key").read_text().strip()
    assert eoa_key
    # a crash report: the node on a damaged identity (no secret may appear in what it prints)
    crash = ProfilePaths("crashy")
    create_node_profile("crashy")
    crash.swarm_pem.write_bytes(b"\x08\x00\x12\x05" + session_key.encode()[:5])
    r = subprocess.run([sys.executable, "-m", "core.node", "--profile", "crashy"], cwd=ROOT,
                       env={**os.environ, **ENV}, capture_output=True, text=True, timeout=300)
    assert r.returncode != 0
    outputs.append(r.stdout + r.stderr)

    from tui.app import make_app

    app = make_app(name, refresh=0, startup_flows=False)
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause()
        outputs.append(_screen_text(app))

    secrets = {"session private key": session_key, "HF token": hf_token, "passphrase": passphrase,
               "EOA key": eoa_key}
    variants = {k: {v, v.removeprefix("0x"), v.removeprefix("0x").lower()} for k, v in secrets.items()}
    # where secrets legitimately live (private, 0600): never scanned as "leaks"
    allowed = {paths.identity_dir / "userApiKey.json", paths.secrets_dir / "hf_token", paths.secrets_dir / "eoa.key",
               pw}
    home = Path(os.environ["HOME"])

    def scan() -> tuple[int, list[str]]:
        found, n = [], 0
        for f in home.rglob("*"):
            if not f.is_file() or f in allowed or f.stat().st_size > 50 * 2**20 or f.suffix in (".safetensors", ".pt"):
                continue
            data = f.read_bytes()
            n += 1
            for what, vs in variants.items():
                if any(v.encode() in data for v in vs):
                    found.append(f"{what} in {f}")
        return n, found

    decoy = paths.log_dir / "decoy.log"  # positive control: the scanner does find a planted secret
    decoy.write_text(f"token={hf_token} key={eoa_key.removeprefix('0x')}")
    assert len(scan()[1]) == 2
    decoy.unlink()
    scanned, leaks = scan()
    hf_events = [e for e in read_events(paths.events_file, {"hf.push"})]
    print(f"\nsecret scan: {scanned} files + {len(outputs)} outputs; hf.push events: {[e.get('status') for e in hf_events]}")
    for i, text in enumerate(outputs):
        for what, vs in variants.items():
            if any(v in text for v in vs):
                leaks.append(f"{what} in output #{i}: {text[:200]!r}")
    assert scanned > 10 and not leaks, leaks
