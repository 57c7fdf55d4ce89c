"""Supervisor lifecycle with real processes: detached start, status, crash restart, SIGHUP, double start, stop."""

from __future__ import annotations

import os
import signal
import stat
import subprocess
import sys
import time

import psutil
import pytest

from core import supervisor
from core.events.types import Event, NodeState, RoundFinished
from daemon_support import REAL_NODE_CMD, ROOT, node_procs, rig, ours, wait_for  # noqa: F401  (rig is a fixture)

pytestmark = pytest.mark.timeout(120)


def _make_profile(name: str) -> None:
    try:
        from core.identity.profiles import create_profile
    except ImportError:
        return
    create_profile(name, identity=False)


def _cli(*args: str, **kw) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "tui.cli", *args], cwd=ROOT, capture_output=True, text=True,
                          timeout=60, **kw)


def test_start_detached_status_socket_and_stop(rig):
    st = rig.start()
    assert st["supervisor_pid"] != os.getpid()
    sup = psutil.Process(st["supervisor_pid"])
    # detached: its own session, not our child, not in our session
    assert os.getsid(sup.pid) != os.getsid(0)
    # not our child: handed to init (or a subreaper) once its launcher exited; where this test
    # itself is init (pid 1 of a container or namespace), orphans come back to it
    assert sup.ppid() != os.getpid() or os.getpid() == 1
    st = rig.wait_state("running")
    assert st["child_pid"] and psutil.pid_exists(st["child_pid"])
    assert os.getpgid(st["child_pid"]) == st["child_pid"]  # own process group
    sock = rig.paths.control_socket
    assert stat.S_IMODE(os.stat(sock).st_mode) == 0o600
    assert stat.S_IMODE(os.stat(rig.paths.run_dir).st_mode) == 0o700
    # live status for `swarmdeck status`
    q = supervisor.query_status(rig.paths)
    assert q["profile"] == "alpha" and q["state"] == "running"
    wait_for(lambda: (rig.status()["round"] or 0) >= 2, what="rounds progressing")
    assert rig.events(["round.finished"]), "events persisted to events.jsonl"
    assert (rig.paths.log_dir / "node.log").exists() and (rig.paths.log_dir / "supervisor.log").exists()
    res = supervisor.stop_profile("alpha")
    assert res["state"] == "stopped" and res["exit"]["exit_code"] == 0  # graceful: SIGTERM → exit 0
    assert rig.events(["checkpoint.saved"]), "the node checkpointed on SIGTERM"
    wait_for(lambda: not psutil.pid_exists(sup.pid) or sup.status() == psutil.STATUS_ZOMBIE, what="supervisor exit")
    assert not sock.exists()
    assert supervisor.query_status(rig.paths) is None


def test_kill9_child_restarts_with_backoff_and_history_continues(rig):
    # with the real node: same peer id after the restart (node.identity events agree)
    rig.start()
    st = rig.wait_state("running")
    wait_for(lambda: (rig.status()["round"] or 0) >= 2, what="rounds")
    first = st["child_pid"]
    round_before = rig.status()["round"]
    os.kill(first, signal.SIGKILL)
    st = wait_for(lambda: (s := rig.status())["state"] == "running" and s["child_pid"] not in (None, first) and s,
                  what="restarted child")
    assert st["restarts"] == 1
    assert st["last_exit"]["signal"] == "SIGKILL" and st["last_exit"]["oom"] is None
    assert "not sent by swarmdeck" in st["last_exit"]["reason"]
    states = [e for e in rig.events(["node.state"]) if e.get("source") == "supervisor"]
    crashed = [e for e in states if e["state"] == "crashed"]
    assert crashed and 0.05 <= crashed[-1]["next_restart_in"] <= 0.2  # backoff base 0.1 ± jitter
    wait_for(lambda: (rig.status()["round"] or 0) > round_before + 1, what="rounds after restart")
    # the history is one stream (events.jsonl, what the TUI follows): seqs strictly increase,
    # rounds resume from the checkpoint
    wait_for(lambda: any(e["round"] > round_before + 1 for e in rig.events(["round.finished"])),
             what="a round finished after the restart")
    got = [Event.from_wire(d) for d in rig.events()]
    seqs = [e.seq for e in got]
    assert seqs == sorted(seqs) and len(set(seqs)) == len(seqs)
    rounds = [e.round for e in got if isinstance(e, RoundFinished)]
    assert rounds == sorted(rounds) and len(set(rounds)) == len(rounds), "no round repeated or lost"
    assert any(isinstance(e, NodeState) and e.state == "crashed" for e in got)
    assert len({e["peer_id"] for e in rig.events(["node.identity"])}) == 1, "same identity after the restart"


def test_sighup_to_starting_terminal_keeps_node_running(rig):
    _make_profile("alpha")
    # a "terminal": a shell in its own session that starts the node and follows its logs
    sh = subprocess.Popen(
        ["bash", "-c", f"{sys.executable} -m tui.cli start -p alpha && echo STARTED && "
                       f"exec {sys.executable} -m tui.cli logs -f -p alpha"],
        cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, start_new_session=True,
        # a terminal's shell takes SIGHUP's default action; a suite run under nohup would hand it an ignored one
        preexec_fn=lambda: signal.signal(signal.SIGHUP, signal.SIG_DFL))
    try:
        line = ""
        deadline = time.monotonic() + 60
        while "STARTED" not in line and time.monotonic() < deadline:
            line = sh.stdout.readline()
            assert line or sh.poll() is None, "start command failed"
        st = rig.wait_state("running")
        os.killpg(sh.pid, signal.SIGHUP)  # what an SSH hang-up does to the session's processes
        sh.wait(timeout=10)
    finally:
        if sh.poll() is None:
            os.killpg(sh.pid, signal.SIGKILL)
            sh.wait()
    r0 = rig.status()["round"] or 0
    time.sleep(1.0)
    after = rig.status()
    assert after["state"] == "running" and after["child_pid"] == st["child_pid"] and after["restarts"] == 0
    assert (after["round"] or 0) > r0, "still training after the hang-up"


def test_two_starts_one_supervisor(rig):
    _make_profile("alpha")
    procs = [subprocess.Popen([sys.executable, "-m", "tui.cli", "start", "-p", "alpha"], cwd=ROOT,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for _ in range(2)]
    outs = [p.communicate(timeout=60) for p in procs]
    assert [p.returncode for p in procs] == [0, 0], outs
    rig.wait_state("running")
    third = _cli("start", "-p", "alpha")
    assert third.returncode == 0 and "already running" in third.stdout
    time.sleep(0.5)
    procs = ours(rig.home)
    sups = [p for p in procs if "core.supervisor" in p.cmdline()]  # python -m core.supervisor
    nodes = node_procs(rig.home)
    assert len(sups) == 1 and len(nodes) == 1, [p.cmdline() for p in procs]
    fg = _cli("start", "--foreground", "-p", "alpha")
    assert fg.returncode != 0 and "already has a running supervisor" in fg.stderr
    out = _cli("stop", "-p", "alpha")
    assert out.returncode == 0 and "stopped" in out.stdout
    assert _cli("stop", "-p", "alpha").stdout.strip().endswith("not running.")


def test_stop_reaps_whole_group_on_stop_and_crash(rig):
    rig.configure("--grandchild")
    rig.start()
    rig.wait_state("running")

    def grandchildren():
        return [e["grandchild_pid"] for e in rig.events(["log"]) if "grandchild_pid" in e]

    g1 = wait_for(lambda: grandchildren(), what="grandchild pid")[0]
    assert psutil.pid_exists(g1)
    first = rig.status()["child_pid"]
    os.kill(first, signal.SIGKILL)  # crash: the grandchild is orphaned, the supervisor must reap it
    wait_for(lambda: (s := rig.status())["child_pid"] not in (None, first) and s["state"] == "running",
             what="restart")
    assert not _alive(g1), "crash left the grandchild running"
    g2 = wait_for(lambda: [g for g in grandchildren() if g != g1], what="second grandchild")[0]
    assert _alive(g2)
    st = rig.status()
    assert st["last_exit"]["reaped"] >= 1
    supervisor.stop_profile("alpha", now=True)
    assert not _alive(g2), "stop left the grandchild running"
    assert not _alive(st["child_pid"])


def test_stop_now_kills_a_node_that_ignores_sigterm(rig):
    rig.configure("--ignore-term", stop_timeout=30.0)
    rig.start()
    st = rig.wait_state("running")
    t0 = time.monotonic()
    res = supervisor.stop_profile("alpha", now=True)
    assert time.monotonic() - t0 < 10
    assert res["exit"]["signal"] == "SIGKILL"
    assert not _alive(st["child_pid"])


def _alive(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.Error:
        return False


def test_foreground_supervisor_stops_node_gracefully_on_sigterm(rig):
    _make_profile("alpha")
    fg = subprocess.Popen([sys.executable, "-m", "tui.cli", "start", "--foreground", "-p", "alpha"], cwd=ROOT,
                          stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        st = rig.wait_state("running", timeout=30)
        assert st["supervisor_pid"] == fg.pid  # in this process, not detached
        fg.send_signal(signal.SIGTERM)  # what systemd sends on `systemctl --user stop`
        _, err = fg.communicate(timeout=30)
        assert fg.returncode == 0, err
    finally:
        if fg.poll() is None:
            fg.kill()
            fg.wait()
    assert not _alive(st["child_pid"])
    assert rig.events(["checkpoint.saved"]), "node checkpointed before exiting"
    states = [e["state"] for e in rig.events(["node.state"]) if e.get("source") == "supervisor"]
    assert states[-2:] == ["stopping", "stopped"]


def test_cli_bare_ssh_hint_and_service_install(rig, monkeypatch, tmp_path):
    _make_profile("alpha")
    env = dict(os.environ, SSH_CONNECTION="10.0.0.1 5555 10.0.0.2 22")
    out = _cli("start", "-p", "alpha", env=env)
    assert out.returncode == 0, out.stderr
    assert "keeps running after you log out" in out.stdout and "tmux" in out.stdout
    inside_tmux = _cli("start", "-p", "alpha", env=dict(env, TMUX="/tmp/tmux-0/default,1,0"))
    assert "already running" in inside_tmux.stdout and "log out" not in inside_tmux.stdout
    logs = _cli("logs", "-n", "5", "-p", "alpha")
    assert logs.returncode == 0 and 1 <= len(logs.stdout.splitlines()) <= 5
    if not REAL_NODE_CMD:
        assert "starting profile=alpha" in logs.stdout
    sup_logs = _cli("logs", "--supervisor", "-n", "3", "-p", "alpha")
    assert len(sup_logs.stdout.splitlines()) == 3
    svc = _cli("service", "install", "-p", "alpha")
    assert svc.returncode == 0, svc.stderr
    unit = (os.environ["XDG_CONFIG_HOME"] + "/systemd/user/swarmdeck-alpha.service")
    text = open(unit).read()
    assert "start --foreground -p alpha" in text and "KillMode=mixed" in text
    assert "systemctl --user enable --now swarmdeck-alpha.service" in svc.stdout
    assert "enable-linger" in svc.stdout or "linger" not in svc.stdout


def test_new_supervisor_ends_the_node_group_a_killed_one_left(rig):
    rig.configure("--grandchild")
    st = rig.start()
    st = rig.wait_state("running")
    gc = wait_for(lambda: [e["grandchild_pid"] for e in rig.events(["log"]) if "grandchild_pid" in e], what="grandchild")[0]
    os.kill(st["supervisor_pid"], signal.SIGKILL)
    wait_for(lambda: not _alive(st["supervisor_pid"]), what="supervisor gone")
    st2 = rig.start()  # stale socket + lock free: a new supervisor takes over
    assert st2["supervisor_pid"] != st["supervisor_pid"]
    wait_for(lambda: not _alive(st["child_pid"]) and not _alive(gc), what="old node group ended")
    st2 = rig.wait_state("running")
    nodes = node_procs(rig.home)
    assert [p.pid for p in nodes] == [st2["child_pid"]]
