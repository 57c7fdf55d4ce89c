"""The public-testnet sign-in path, end to end against real processes.

What cannot run here, and what plays it:
  * the Gensyn testnet     -> anvil started with --chain-id 685685, our coordinator deployed on it;
  * the official modal-login app (Next.js + Alchemy account kit) -> tests/fixtures/modal-login-standin,
    an app directory with the same yarn scripts, .env key and temp-data/ files whose `yarn start`
    runs swarmdeck's own login service in app mode (see its README). It is a stand-in: what is
    tested is swarmdeck's orchestration of such an app (.env writing, real yarn install/build/start,
    port read-back, file pick-up, activation polling, stale keys), not the official app itself;
  * the user's browser     -> the same HTTP calls the sign-in page makes.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import stat
import subprocess
import sys
import time
from pathlib import Path

import pytest
import tomlkit

from core.identity import files as identity
from core.identity import signin
from core.login.coordinator import make_coordinator
from core.chain.devnet import LocalChain
from core.config.settings import config_lock, load_config
from core.base.errors import IdentityError
from core.login import modal_app
from core.identity.profiles import create_profile, load_profile

from tests.helpers.chain import events, require_anvil
from tests.helpers.http import browser_sign_in
from tests.helpers.procs import live_group_members

REPO = Path(__file__).resolve().parents[2]
STANDIN = REPO / "tests" / "fixtures" / "modal-login-standin"

pytestmark = pytest.mark.timeout(240)


@pytest.fixture
def testnet(monkeypatch):
    """anvil as the testnet (chain id 685685) + config pointing gensyn-testnet at it."""
    require_anvil()
    chain = LocalChain(network="tnchain", chain_id=685685).start()
    try:
        with config_lock():
            cfg = load_config()
            if "networks" not in cfg.doc:
                cfg.doc["networks"] = tomlkit.table(is_super_table=True)
            t = tomlkit.table()
            t["rpc_url"] = chain.rpc_url
            t["coordinator"] = chain.coordinator
            cfg.doc["networks"]["gensyn-testnet"] = t
            cfg.save()
        # the stand-in's `yarn start` runs `python -m tests.helpers.modal_login_standin`: this interpreter, this chain
        monkeypatch.setenv("PATH", os.path.dirname(sys.executable) + os.pathsep + os.environ["PATH"])
        monkeypatch.setenv("LOGIN_RPC_URL", chain.rpc_url)
        yield chain
    finally:
        chain.stop()


@pytest.fixture
def stopper():
    """Stops every profile's app at the end and checks no app process is left behind."""
    names: list[str] = []
    yield names
    for n in names:
        modal_app.stop_app(load_profile(n).paths)
    left = subprocess.run(["pgrep", "-f", "modal_login_standin"], capture_output=True, text=True).stdout.split()
    mine = [p for p in left if _env_of(p).get("SWARMDECK_HOME") == os.environ.get("SWARMDECK_HOME")]
    assert not mine, f"app processes left behind: {mine}"


def _env_of(pid: str) -> dict:
    try:
        raw = Path(f"/proc/{pid}/environ").read_bytes()
    except OSError:
        return {}
    return dict(kv.split("=", 1) for kv in raw.decode(errors="replace").split("\0") if "=" in kv)


def _checkout(tmp_path: Path) -> Path:
    """An 'rl-swarm checkout' whose modal-login/ is the stand-in."""
    root = tmp_path / "rl-swarm"
    shutil.copytree(STANDIN, root / "modal-login")
    return root


def swarmdeck(*args: str, **kw) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "tui", *args], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            stdin=subprocess.DEVNULL, text=True, cwd=str(REPO), **kw)


def login_with_browser(args: list[str], email: str, timeout: float = 120) -> tuple[int, list[str], str, tuple]:
    """Run `swarmdeck login ARGS`, sign in 'in the browser' once it shows the URL. -> (rc, lines, url, (org, key))."""
    p = swarmdeck("login", *args)
    lines, url, who = [], "", ()
    deadline = time.monotonic() + timeout
    try:
        for line in p.stdout:
            lines.append(line.rstrip())
            if line.startswith("Sign-in app running at "):
                url = line.split()[-1]
            if line.startswith("Waiting for sign-in") and url:
                user = browser_sign_in(url, email)
                who = (user["orgId"], user["publicKey"])
            assert time.monotonic() < deadline, "\n".join(lines)
        return p.wait(30), lines, url, who
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()


def test_cli_sign_in_through_the_official_app(testnet, tmp_path, stopper):
    chain = testnet
    create_profile("tn", network="gensyn-testnet")
    stopper.append("tn")
    root = _checkout(tmp_path)
    env_before = (root / "modal-login" / ".env").read_text().splitlines()
    # The profile's login port is taken by another program: the app must go elsewhere and we must find it.
    busy = socket.socket()
    busy.bind(("127.0.0.1", 0))
    busy.listen()
    taken = busy.getsockname()[1]
    with config_lock():
        cfg = load_config()
        cfg.set_profile_value("tn", "login_port", taken)
        cfg.save()
    try:
        rc, out, url, (org, pub) = login_with_browser(["-p", "tn", "--app", str(root), "--no-qr", "--timeout", "90"],
                                                      "ana@example.org")
    finally:
        busy.close()
    text = "\n".join(out)
    assert rc == 0, text
    for step in ("Set SWARM_CONTRACT_ADDRESS=", "Installing the app's packages", "Building the app",
                 "Starting the app", "Signed in as ana@example.org", "Session key activated"):
        assert step in text, f"{step!r} missing from:\n{text}"
    port = int(url.rsplit(":", 1)[1])
    assert port != taken and f"port {taken} is in use" in text

    # .env: the contract set by key; comments, order and the other keys untouched
    app_dir = root / "modal-login"
    env_after = (app_dir / ".env").read_text().splitlines()
    assert len(env_after) == len(env_before)
    changed = [(a, b) for a, b in zip(env_before, env_after) if a != b]
    assert changed == [(env_before[-1], f"SWARM_CONTRACT_ADDRESS={chain.coordinator}")]

    # the credential files are in the profile (0600) and stay in the app's temp-data/
    prof = load_profile("tn")
    assert prof.settings.login_app == str(app_dir)
    for f in modal_app.FILES:
        assert stat.S_IMODE((prof.paths.identity_dir / f).stat().st_mode) == 0o600
        assert (app_dir / "temp-data" / f).exists()
    login = identity.read_login(prof.paths.identity_dir)
    assert (login.org_id, login.api_public_key, login.activated, login.email) == (org, pub, True, "ana@example.org")

    # The node's coordinator writes through the running app, to the chain (id 685685) at the .env contract.
    assert chain.w3.eth.chain_id == 685685
    peer = identity.load_or_create_swarm_pem(prof.paths.swarm_pem).peer_id
    coord = make_coordinator(prof)
    assert coord.login_url == url
    assert coord.register_peer(peer).status == "landed"
    assert coord.get_eoa([peer]) == [login.address]
    assert len(events(chain, "PeerRegistered", peerId=peer)) == 1
    chain.add_bootnodes([f"/ip4/127.0.0.1/tcp/38331/p2p/{peer}"])
    assert coord.get_bootnodes() == [f"/ip4/127.0.0.1/tcp/38331/p2p/{peer}"]

    # Signed in already: a second `login` says so at once.
    p = swarmdeck("login", "-p", "tn", "--no-qr")
    assert p.wait(60) == 0 and "already signed in as ana@example.org" in p.stdout.read()

    # Restart: stop the app and do what the public script does on exit (delete temp-data/*.json).
    # Starting again needs no yarn install/build and no browser: the profile's files go back in.
    assert modal_app.stop_app(prof.paths)
    for f in modal_app.FILES:
        (app_dir / "temp-data" / f).unlink()
    steps: list[str] = []
    app = modal_app.ensure_running(prof, progress=lambda s, **kw: "line" in kw or steps.append(s))
    assert app.started and steps == ["start"], steps
    assert make_coordinator(prof).submit_reward(coord.current_round(), 0, 750, peer).status == "landed"
    assert coord.get_total_rewards([peer]) == [750]


def test_stale_key_sign_in_again_then_the_pending_write_lands(testnet, tmp_path, stopper):
    chain = testnet
    create_profile("tn", network="gensyn-testnet")
    stopper.append("tn")
    root = _checkout(tmp_path)
    rc, out, url, (org, old_key) = login_with_browser(["-p", "tn", "--app", str(root), "--no-qr", "--timeout", "90"],
                                                      "bo@example.org")
    assert rc == 0, "\n".join(out)
    prof = load_profile("tn")
    peer = identity.load_or_create_swarm_pem(prof.paths.swarm_pem).peer_id
    from core.chain.queue import SubmissionQueue
    from core.events.log import EventBus

    # The session key goes stale in the app (a half-finished sign-in elsewhere left a new,
    # unactivated key as the latest): the app answers 500 "api key not found".
    tmp_keys = root / "modal-login" / "temp-data" / "userApiKey.json"
    data = json.loads(tmp_keys.read_text())
    data[org].append({"publicKey": "0x" + "22" * 20, "privateKey": "0x" + "33" * 32,
                      "createdAt": "2026-11-27T00:00:00Z", "activated": False})
    tmp_keys.write_text(json.dumps(data))
    bus = EventBus("tn", persist_to=prof.paths.events_file)
    q = SubmissionQueue(make_coordinator(prof), prof.paths.queue_dir, bus=bus, identity_dir=prof.paths.identity_dir,
                        on_signin=lambda info: signin.record("tn", info), profile="tn").start()
    try:
        q.register(peer)
        deadline = time.monotonic() + 30
        while signin.required("tn") is None:
            assert time.monotonic() < deadline, "the stale key never showed as 'sign in again'"
            time.sleep(0.2)
        assert q.counts().get("pending") == 1  # nothing lost
        st = subprocess.run([sys.executable, "-m", "tui", "status", "--json"], capture_output=True,
                            text=True, cwd=str(REPO), timeout=60)
        assert "sign_in_required" in st.stdout and "swarmdeck login -p tn" in st.stdout
        assert "33" * 32 not in st.stdout  # never the private key

        # `swarmdeck login` knows the key is refused: it waits for a NEW activated key, not the old one.
        p = swarmdeck("login", "-p", "tn", "--no-qr", "--timeout", "60")
        lines = []
        for line in p.stdout:
            lines.append(line.rstrip())
            if line.startswith("Waiting for sign-in"):
                time.sleep(2)  # still waiting: the old activated key in the profile does not count
                assert p.poll() is None, "\n".join(lines)
                new_key = browser_sign_in(url, "bo@example.org")["publicKey"]
        assert p.wait(30) == 0, "\n".join(lines)
        assert any("refused this profile's session key" in x for x in lines), lines
        login = identity.read_login(prof.paths.identity_dir)
        assert login.api_public_key == new_key != old_key and login.activated
        assert signin.required("tn") is None
        # the queue notices the new sign-in (identity files changed) and sends the pending write
        deadline = time.monotonic() + 30
        while not events(chain, "PeerRegistered", peerId=peer):
            assert time.monotonic() < deadline, q.counts()
            time.sleep(0.3)
    finally:
        q.stop()


def test_another_accounts_files_are_never_copied_over_or_deleted(tmp_path):
    create_profile("tn", network="gensyn-testnet")
    prof = load_profile("tn")
    identity.write_user_data(prof.paths.identity_dir, "org-A", "0x" + "aa" * 20, "user-A", "a@example.org")
    identity.append_user_api_key(prof.paths.identity_dir, "org-A", {"publicKey": "0x" + "01" * 20,
                                                                     "privateKey": "0x" + "02" * 32,
                                                                     "createdAt": "x", "activated": True})
    before = {f: (prof.paths.identity_dir / f).read_bytes() for f in modal_app.FILES}
    app_dir = tmp_path / "modal-login"
    shutil.copytree(STANDIN, app_dir)
    identity.write_user_data(app_dir / "temp-data", "org-B", "0x" + "bb" * 20, "user-B", "b@example.org")
    theirs = (app_dir / "temp-data" / "userData.json").read_bytes()
    with pytest.raises(IdentityError) as ei:
        modal_app.pick_up(prof.paths, app_dir)
    assert "org-B" in ei.value.what and "org-A" in ei.value.what and "profile new" in ei.value.fix
    assert {f: (prof.paths.identity_dir / f).read_bytes() for f in modal_app.FILES} == before
    # Starting the app for this profile puts B's files aside (kept), and A's in place.
    assert modal_app.seed_temp_data(prof.paths, app_dir)
    aside = list((app_dir / "temp-data").glob("replaced-*/userData.json"))
    assert len(aside) == 1 and aside[0].read_bytes() == theirs
    assert (app_dir / "temp-data" / "userData.json").read_bytes() == before["userData.json"]


def _git(*args: str, cwd: Path) -> str:
    return subprocess.run(["git", "-c", "user.email=t@example.org", "-c", "user.name=t", *args], cwd=str(cwd),
                          check=True, capture_output=True, text=True).stdout.strip()


def test_clone_asks_first_and_takes_the_pinned_commit(testnet, tmp_path, stopper, monkeypatch):
    # A local repository plays github.com/gensyn-ai/rl-swarm (no GitHub from here).
    src = _checkout(tmp_path)
    _git("init", "-q", cwd=src)
    _git("add", "-A", cwd=src)
    _git("commit", "-qm", "pinned", cwd=src)
    pinned = _git("rev-parse", "HEAD", cwd=src)
    (src / "modal-login" / "package.json").write_text("{}")  # a later upstream commit that would break us
    _git("commit", "-qam", "later", cwd=src)
    monkeypatch.setenv("SWARMDECK_RLSWARM_REPO", str(src))
    monkeypatch.setenv("SWARMDECK_RLSWARM_COMMIT", pinned)
    create_profile("tn", network="gensyn-testnet")
    stopper.append("tn")
    dest = modal_app.default_clone_dir("tn")

    p = swarmdeck("login", "-p", "tn", "--clone", "--no-wait", "--no-qr")
    out = p.stdout.read()
    assert p.wait(60) != 0 and "consent" in out and "--clone --yes" in out
    assert not dest.exists()  # nothing cloned without a yes

    p = swarmdeck("login", "-p", "tn", "--clone", "--yes", "--no-wait", "--no-qr")
    out = p.stdout.read()
    assert p.wait(120) == 0, out
    assert f"Cloning {src} at {pinned[:8]}" in out and "Sign-in app running at" in out
    assert _git("rev-parse", "HEAD", cwd=dest) == pinned
    assert load_profile("tn").settings.login_app == str(dest / "modal-login")
    assert modal_app.running_app(load_profile("tn").paths) is not None


def test_a_failing_build_says_what_and_where(tmp_path):
    app_dir = tmp_path / "modal-login"
    shutil.copytree(STANDIN, app_dir)
    pkg = json.loads((app_dir / "package.json").read_text())
    pkg["scripts"]["build"] = "echo 'Type error: boom in app/page.tsx' && exit 3"
    (app_dir / "package.json").write_text(json.dumps(pkg))
    log = tmp_path / "login-app.log"
    lines: list[str] = []
    with pytest.raises(modal_app.AppError) as ei:
        modal_app.prepare(app_dir, log, progress=lambda s, **kw: lines.append(kw.get("line", s)))
    assert "yarn build" in ei.value.what and "boom in app/page.tsx" in ei.value.what
    assert ei.value.where == str(log) and "boom" in log.read_text()
    assert "install" in lines and any("boom" in x for x in lines)  # progress showed it as it ran
    # installed once; a retry after the fix builds without installing again
    pkg["scripts"]["build"] = "mkdir -p .next && echo ok"
    (app_dir / "package.json").write_text(json.dumps(pkg))
    # package.json changed, so install runs again (its inputs changed); then nothing is left to do
    assert modal_app.prepare(app_dir, log) == {"installed": True, "built": True}
    assert modal_app.prepare(app_dir, log) == {"installed": False, "built": False}


@pytest.mark.parametrize("start, said", [
    ("echo 'Error: listen EADDRINUSE: address already in use :::3000' && exit 1", "another program took the port"),
    ("sh -c 'echo starting; sleep 60' --", "never printed the port"),  # yarn appends -p PORT -H HOST
])
def test_an_app_that_does_not_come_up_is_reported_and_not_left_running(tmp_path, start, said):
    create_profile("tn", network="gensyn-testnet")
    prof = load_profile("tn")
    app_dir = tmp_path / "modal-login"
    shutil.copytree(STANDIN, app_dir)
    pkg = json.loads((app_dir / "package.json").read_text())
    pkg["scripts"]["start"] = start
    (app_dir / "package.json").write_text(json.dumps(pkg))
    t0 = time.monotonic()
    with pytest.raises(modal_app.AppError) as ei:
        modal_app.start_app(prof.paths, app_dir, port=3000, timeout=4)
    assert said in (ei.value.what + ei.value.fix) and ei.value.where == str(modal_app.log_file(prof.paths))
    assert "yarnpkg.com" not in ei.value.what  # the app's own words, not yarn's footer
    assert time.monotonic() - t0 < 20
    assert modal_app.running_app(prof.paths) is None
    left = subprocess.run(["pgrep", "-f", "sleep 60"], capture_output=True, text=True).stdout.split()
    assert not [p for p in left if str(app_dir) in os.readlink(f"/proc/{p}/cwd")], "the app was left running"


def test_an_app_that_stopped_answering_is_replaced_not_left_beside_the_new_one(tmp_path, monkeypatch):
    from core.chain.devnet import free_port

    monkeypatch.setenv("PATH", os.path.dirname(sys.executable) + os.pathsep + os.environ["PATH"])
    monkeypatch.setenv("LOGIN_RPC_URL", "http://127.0.0.1:9")  # never called: no writes here
    create_profile("tn", network="gensyn-testnet")
    prof = load_profile("tn")
    app_dir = tmp_path / "modal-login"
    shutil.copytree(STANDIN, app_dir)
    first = modal_app.start_app(prof.paths, app_dir, port=free_port())
    try:
        os.killpg(first.pid, signal.SIGSTOP)  # alive but silent (swapped out, stuck, Ctrl-Z'd)
        assert modal_app.running_app(prof.paths, timeout=1.0) is None
        second = modal_app.start_app(prof.paths, app_dir, port=free_port())
        assert second.started and second.pid != first.pid
        # the silent one is gone, not left beside the new one (its exited members may linger as
        # zombies where the container's init does not reap orphans: they hold nothing)
        assert not live_group_members(first.pid)
        assert modal_app.running_app(prof.paths).pid == second.pid
    finally:
        try:
            os.killpg(first.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        modal_app.stop_app(prof.paths)
