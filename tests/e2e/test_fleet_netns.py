"""The fleet over real SSH: two machines with sshd and swarmdeck supervisors, a third that watches them.

Real parts: Debian's OpenSSH (sshd -D in network namespaces on TEST-NET-1 addresses, generated host and
user keys, the `ssh` client with a ControlMaster per host), real supervisors running fake nodes
(tests/helpers/fake_node.py) under each host's own uid-0 alias user and HOME, the `swarmdeck` CLI as a
user types it, apprise's json:// delivery to a receiver process in the watcher's namespace, and the
Textual app under Pilot. Needs root (namespaces, useradd); skipped with the reason otherwise.

Layout: namespace 1 = host h1 (profiles a1 running, a2 stopped), 2 = host h2 (b1 running, bad2 gave up),
3 = the watcher (its own HOME; every ssh it runs goes through a wrapper that logs the call).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from functools import partial
from pathlib import Path

import pytest

from tests.helpers.netns import ROOT, Machines, cannot_make_namespaces, home_env
from tests.helpers.sshd import SshHost, cannot_run_sshd, fingerprint, keygen, ns_tool
from tests.helpers.procs import ok
from tests.helpers.wait import wait_until

pytestmark = [pytest.mark.slow, pytest.mark.timeout(600)]

RECEIVER_PORT = 18923  # inside the watcher's own namespace: nothing else listens there


# each poll runs a command (often over SSH or in a namespace): poll every 1.0 s, not every 50 ms
_wait = partial(wait_until, interval=1.0, ignore=())


class Fleet:
    def __init__(self, m: Machines, base: Path, tag: str):
        self.m, self.base = m, base
        self.key = keygen(base / "client_key", "fleet-test")
        self.other_key = keygen(base / "other_key", "not-authorized")
        self.hosts = {n: SshHost(m, i, base, tag, Path(str(self.key) + ".pub")) for i, n in ((1, "h1"), (2, "h2"))}
        self.home = base / "w"                      # the watcher's machine (namespace 3)
        (self.home / "sd" / "config").mkdir(parents=True)
        self.ssh_log = base / "ssh-calls.log"
        self.ssh_log.write_text("")
        ssh = ns_tool(base / "ssh-w", m.names[2], "ssh", self.ssh_log)
        scan = ns_tool(base / "keyscan-w", m.names[2], "ssh-keyscan", self.ssh_log)
        (self.home / "sd" / "config" / "config.toml").write_text(
            f'[fleet]\nssh = "{ssh}"\nssh_keyscan = "{scan}"\ntimeout_seconds = 6.0\n'
            f'control_persist_seconds = 120\n\n[alerts]\ncooldown_minutes = 0.0\n')

    def cli(self, *args: str, input: str | None = None, timeout: float = 120) -> subprocess.CompletedProcess:
        """`swarmdeck ARGS` on the watcher's machine (namespace 3)."""
        env = {**home_env(self.home), "LANG": "C.UTF-8"}  # the English texts are checked
        env.pop("LC_ALL", None)
        env.pop("LC_MESSAGES", None)
        return subprocess.run(["ip", "netns", "exec", self.m.names[2], sys.executable, "-m", "tui.cli", *args],
                              env=env, cwd=ROOT, capture_output=True, text=True, timeout=timeout,
                              input=input if input is not None else "", )

    def ctl_dir(self) -> Path:
        """The watcher's ControlMaster sockets (core.base.paths.runtime_dir under its SWARMDECK_HOME)."""
        import hashlib
        import tempfile

        h = hashlib.sha1(str((self.home / "sd").resolve()).encode()).hexdigest()[:10]
        return Path(tempfile.gettempdir()) / f"swarmdeck-{os.getuid()}" / h / "fl"

    def fleet_dir(self) -> Path:
        return self.home / "sd" / "config" / "fleet"


@pytest.fixture(scope="module")
def fleet(tmp_path_factory):
    why = cannot_make_namespaces() or cannot_run_sshd()
    if why:
        pytest.skip(why)
    tag = f"{os.getpid() % 10000}"
    base = tmp_path_factory.mktemp("fleet")
    with Machines(f"fl{tag}") as m:
        f = Fleet(m, base, tag)
        try:
            for h in f.hosts.values():
                h.start()
            mk = ("from core.config.settings import load_config\n"
                  "from tests.helpers.supervisor import create_node_profile as c\n"
                  "cfg = load_config(); cfg.remove_profile('default'); cfg.set_current_profile(''); cfg.save()\n"
                  "for n in {names!r}: c(n)\n")
            ok(f.hosts["h1"].python(mk.format(names=["a1", "a2"])), "profiles on h1")
            ok(f.hosts["h2"].python(mk.format(names=["b1", "bad2"])), "profiles on h2")
            for h, p in (("h1", "a1"), ("h2", "b1"), ("h2", "bad2")):
                ok(f.hosts[h].sd("start", "-p", p), f"start {p} on {h}")
            yield f
        finally:
            for h, names in (("h1", ["a1", "a2"]), ("h2", ["b1", "bad2"])):
                for p in names:
                    try:
                        f.hosts[h].sd("stop", "--now", "-p", p, timeout=60)
                    except Exception:
                        pass
            for h in f.hosts.values():
                h.stop()


def _state(f: Fleet, host: str, profile: str) -> str | None:
    r = f.hosts[host].sd("status", "--json", "-p", profile)
    if r.returncode != 0:
        return None
    return json.loads(r.stdout)["profiles"][0]["node_state"]


def test_add_asks_for_the_fingerprint_then_status_lists_both_hosts(fleet):
    f = fleet
    h1, h2 = f.hosts["h1"], f.hosts["h2"]
    # no answer / "n": the fingerprint is shown and nothing is written
    r = f.cli("fleet", "add", "h1", f"{h1.user}@{h1.addr}", "--identity", str(f.key), "--swarmdeck", str(h1.swarmdeck),
              input="n\n")
    assert r.returncode != 0
    assert fingerprint(Path(str(h1.hostkey) + ".pub")) in r.stdout, r.stdout + r.stderr
    assert "not confirmed" in r.stderr and "nothing was added" in r.stderr
    assert not (f.fleet_dir() / "hosts.json").exists()
    assert h1.addr not in (f.fleet_dir() / "known_hosts").read_text()
    # "y": added, with the key in our own known_hosts (0600, in a 0700 directory of ours)
    out = ok(f.cli("fleet", "add", "h1", f"{h1.user}@{h1.addr}", "--identity", str(f.key), "--swarmdeck",
                    str(h1.swarmdeck), input="y\n"), "fleet add h1")
    assert "added h1" in out and "a1" in out
    assert h1.addr in (f.fleet_dir() / "known_hosts").read_text()
    assert (f.fleet_dir().stat().st_mode & 0o777) == 0o700
    assert ((f.fleet_dir() / "known_hosts").stat().st_mode & 0o777) == 0o600
    ok(f.cli("fleet", "add", "h2", f"{h2.user}@{h2.addr}", "--identity", str(f.key), "--swarmdeck",
              str(h2.swarmdeck), "--accept-new"), "fleet add h2")
    assert "h1" in ok(f.cli("fleet", "list"), "fleet list")

    _wait(lambda: _state(f, "h2", "bad2") == "gave_up", 60, "bad2 on h2 to give up")
    t0 = time.monotonic()
    st = json.loads(ok(f.cli("fleet", "status", "--json"), "fleet status --json"))
    wall = time.monotonic() - t0
    got = {h["name"]: (h["reachable"], {p["name"]: p["state"] for p in h["profiles"]}) for h in st["hosts"]}
    assert got == {"h1": (True, {"a1": "running", "a2": "stopped"}),
                   "h2": (True, {"b1": "running", "bad2": "gave_up"})}, st
    a1 = next(p for p in st["hosts"][0]["profiles"] if p["name"] == "a1")
    assert a1["round"] and a1["round"] > 0 and a1["last_reward"] == 0.5  # the fake node's rounds, over SSH
    assert all(h["version"] and h["rtt_ms"] is not None for h in st["hosts"])
    print(f"\nfleet status, 2 hosts: {wall:.2f} s wall (CLI start included)")
    # the text form says the same in words
    text = ok(f.cli("fleet", "status"), "fleet status")
    assert "gave up" in text and "running" in text and "stopped" in text


def test_bad_input_is_refused_with_a_clear_error(fleet):
    f = fleet
    h1 = f.hosts["h1"]
    hosts_before = (f.fleet_dir() / "hosts.json").read_text()
    known_before = (f.fleet_dir() / "known_hosts").read_text()
    # a wrong user, a wrong key: the login refusal, named, with the fix; nothing written
    for target, key in ((f"nosuchuser@{h1.addr}", f.key), (f"{h1.user}@{h1.addr}", f.other_key)):
        r = f.cli("fleet", "add", "x1", target, "--identity", str(key), "--swarmdeck", str(h1.swarmdeck),
                  "--accept-new")
        assert r.returncode != 0 and "login" in r.stderr and "refused" in r.stderr, r.stderr
        assert "authorized_keys" in r.stderr and "where:" in r.stderr and "Traceback" not in r.stderr
    # a machine without swarmdeck there
    r = f.cli("fleet", "add", "x2", f"{h1.user}@{h1.addr}", "--identity", str(f.key), "--swarmdeck",
              "/nonexistent/swarmdeck", "--accept-new")
    assert r.returncode != 0 and "swarmdeck is not installed" in r.stderr and "--swarmdeck" in r.stderr, r.stderr
    assert (f.fleet_dir() / "hosts.json").read_text() == hosts_before
    assert (f.fleet_dir() / "known_hosts").read_text() == known_before
    # a profile name with shell metacharacters: refused before any ssh call
    calls = f.ssh_log.read_text()
    for bad in ("a1;touch /tmp/fl-pwned", "$(id)", "a1 b", "../a1", "a1\nid"):
        r = f.cli("fleet", "stop", "h1", bad)
        assert r.returncode != 0 and "not a valid profile name" in r.stderr and "nothing was sent" in r.stderr
    assert f.ssh_log.read_text() == calls
    assert not Path("/tmp/fl-pwned").exists()
    # a changed host key: the host's key in our known_hosts replaced by another one (as if the machine were
    # someone else now); the shared connection closed first (an open one was verified when it opened)
    other = keygen(f.base / "fake_hostkey", "impostor")
    kh = f.fleet_dir() / "known_hosts"
    blob = Path(str(other) + ".pub").read_text().split()
    kh.write_text("".join(ln if not ln.startswith(h1.addr + " ") else f"{h1.addr} {blob[0]} {blob[1]}\n"
                          for ln in known_before.splitlines(keepends=True)))
    try:
        subprocess.run([str(f.base / "ssh-w"), "-o", f"ControlPath={f.ctl_dir()}/%C", "-O", "exit",
                        f"{h1.user}@{h1.addr}"], capture_output=True, timeout=20)
        st = json.loads(f.cli("fleet", "status", "--json").stdout)  # exit 3: a host is in error
        h = {x["name"]: x for x in st["hosts"]}
        assert "HAS CHANGED" in h["h1"]["error"]["what"] and not h["h1"]["profiles"]
        assert h["h2"]["reachable"] and h["h2"]["profiles"]  # the other host is not affected
        r = f.cli("fleet", "add", "x3", f"{h1.user}@{h1.addr}", "--identity", str(f.key), "--swarmdeck",
                  str(h1.swarmdeck), "--accept-new")
        assert r.returncode != 0 and "HAS CHANGED" in r.stderr and "fingerprint" in r.stderr, r.stderr
        assert kh.read_text() != known_before  # refused: not replaced by the new key either
    finally:
        kh.write_text(known_before)


def _messages(path: Path) -> list[dict]:
    if not path.exists():
        return []
    return [json.loads(ln)["body"] for ln in path.read_text().splitlines() if ln.strip()]


def test_watchtower_alerts_once_when_a_host_goes_dark_and_once_when_it_returns(fleet):
    f = fleet
    m = f.m
    got = f.base / "received.jsonl"
    recv = subprocess.Popen(["ip", "netns", "exec", m.names[2], sys.executable, "-m", "tests.helpers.receiver",
                             str(RECEIVER_PORT), str(got)], env=home_env(f.home), cwd=ROOT, stdout=subprocess.PIPE,
                            stderr=subprocess.DEVNULL, text=True)
    log = open(f.base / "watch.log", "w")
    watch = None
    try:
        assert recv.stdout.readline().strip() == "ready"
        ok(f.cli("alerts", "add", f"json://127.0.0.1:{RECEIVER_PORT}/fleet"), "alerts add")
        watch = subprocess.Popen(["ip", "netns", "exec", m.names[2], sys.executable, "-m", "tui.commands.fleet_cmd",
                                  "watch", "--interval", "3"], env=home_env(f.home), cwd=ROOT, stdout=log,
                                 stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        state = f.home / "sd" / "data" / "fleet-state.json"

        def both_up():
            try:
                d = json.loads(state.read_text())
            except (OSError, ValueError):
                return False
            return {h["name"]: h["up"] for h in d["hosts"]} == {"h1": True, "h2": True}
        _wait(both_up, 60, "the watcher's first good poll of both hosts")
        # the metrics server exports the fleet while the watch runs
        metrics = ok(f.cli("metrics", "show"), "metrics show")
        assert 'swarmdeck_fleet_host_up{host="h1"} 1.0' in metrics
        assert 'swarmdeck_fleet_node_state{host="h2",profile="bad2",state="gave_up"} 1.0' in metrics
        # bad2 gave up on h2 before the watch began: the watchtower says so (from outside the host)
        _wait(lambda: any("bad2 on h2" in x["title"] and "gave up" in x["title"] for x in _messages(got)), 60,
              "the 'node gave up' alert for bad2 on h2")
        before = len(_messages(got))

        t_cut = time.monotonic()
        subprocess.run(["ip", "-n", m.switch, "link", "set", "p1", "down"], check=True)
        try:
            _wait(lambda: any("unreachable" in x["title"] for x in _messages(got)), 90, "the 'unreachable' alert")
            print(f"\nunreachable alert {time.monotonic() - t_cut:.0f} s after the link was cut")
            time.sleep(8)  # more failed polls: still one message
            assert _state(f, "h2", "b1") == "running"  # the other host's node is untouched
        finally:
            subprocess.run(["ip", "-n", m.switch, "link", "set", "p1", "up"], check=True)
        _wait(lambda: any("recovered" in x["title"] and "h1" in x["title"] for x in _messages(got)), 90,
              "the 'recovered' alert")
        time.sleep(8)
        new = _messages(got)[before:]
        titles = [x["title"] for x in new]
        assert sum("unreachable" in t for t in titles) == 1, titles
        assert sum("recovered" in t for t in titles) == 1, titles
        assert len(titles) == 2, titles  # nothing about h2, nor about h1's nodes (they ran on)
        assert "h1" in titles[0] and "unreachable" in titles[0] and "recovered" in titles[1]
        assert _state(f, "h1", "a1") == "running"
    finally:
        if watch is not None:
            watch.terminate()
            try:
                watch.wait(30)
            except subprocess.TimeoutExpired:
                watch.kill()
        recv.kill()
        recv.wait(10)
        log.close()
    assert "Traceback" not in (f.base / "watch.log").read_text()


def _use_watcher_home(monkeypatch, home: Path) -> None:
    """This process (the Pilot app) as the watcher's machine: its HOME and swarmdeck paths; its ssh runs
    inside namespace 3 through the [fleet] ssh wrapper of the watcher's config."""
    for k, v in home_env(home).items():
        if k.startswith(("HOME", "SWARMDECK_HOME", "XDG_")):
            monkeypatch.setenv(k, v)


def _rows(app) -> dict[tuple[str, str | None], str]:
    from textual.widgets import DataTable

    scr = app.screen
    table = scr.query_one(DataTable)
    return {scr.rows[i]: str(table.get_row_at(i)[2]) for i in range(min(len(scr.rows), table.row_count))}


async def test_fleet_view_shows_both_hosts_and_stops_a_remote_node(fleet, monkeypatch):
    from core.identity import profiles as prof
    from tests.helpers.tui import FrozenTelemetry, until
    from tui.app import make_app
    from tui.screens.dialogs import ConfirmScreen
    from tui.screens.fleet import FleetScreen, RemoteDashboardScreen
    from textual.widgets import DataTable

    f = fleet
    _use_watcher_home(monkeypatch, f.home)
    monkeypatch.setenv("LANG", "C.UTF-8")
    prof.create_profile("here", make_current=True)
    ok(f.hosts["h1"].sd("start", "-p", "a1"), "a1 running before the test")  # whatever an earlier test did
    _wait(lambda: _state(f, "h1", "a1") == "running", 60, "a1 running")
    app = make_app(refresh=0, telemetry=FrozenTelemetry(), startup_flows=False)
    async with app.run_test(size=(140, 40)) as pilot:
        await pilot.pause()
        await pilot.press("f")
        await until(pilot, lambda: isinstance(app.screen, FleetScreen), 20, "the fleet view", app)
        want = {("h1", "a1"): "running", ("h1", "a2"): "stopped", ("h2", "b1"): "running", ("h2", "bad2"): "gave up"}
        await until(pilot, lambda: all(_rows(app).get(k) == v for k, v in want.items()), 90,
                    f"both machines' profiles in the fleet view (want {want})", app)
        # a remote profile's dashboard, fed by its event stream over SSH
        table = app.screen.query_one(DataTable)
        table.move_cursor(row=app.screen.rows.index(("h2", "b1")))
        await pilot.press("enter")
        await until(pilot, lambda: isinstance(app.screen, RemoteDashboardScreen), 20, "b1's dashboard", app)
        await until(pilot, lambda: (app.screen.query_one("#remote-dash").model.round or 0) > 0, 60,
                    "rounds of b1 streamed from h2", app)
        await pilot.press("escape")
        await until(pilot, lambda: isinstance(app.screen, FleetScreen), 20, "back to the fleet view", app)
        # x on a1 asks first (as locally), then stops it over SSH
        table = app.screen.query_one(DataTable)
        table.move_cursor(row=app.screen.rows.index(("h1", "a1")))
        await pilot.press("x")
        await until(pilot, lambda: isinstance(app.screen, ConfirmScreen), 20, "the stop confirmation", app)
        assert "a1" in app.screen.question and "h1" in app.screen.question
        await pilot.press("y")
        await until(pilot, lambda: _state(f, "h1", "a1") == "stopped", 120, "a1 stopped on h1")
        await until(pilot, lambda: _rows(app).get(("h1", "a1")) == "stopped", 60, "the view saying a1 stopped", app)
        assert _state(f, "h2", "b1") == "running"
    assert _state(f, "h1", "a2") == "stopped"
