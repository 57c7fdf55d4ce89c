"""Fleet benchmark (needs root: network namespaces, sshd): `python -m tests.bench.fleet_bench [--hosts 8]`.

Real sshd per machine (tests/helpers/sshd.py), two profiles per machine with slow fake nodes (a round every
5 s), the watcher in its own namespace. Measures, in one run:
  * `fleet status` wall time (core.usecases.fleet.status, in-process) for 2 and for N hosts, first call
    (SSH connections opened) and warm (over the ControlMasters), and the ratio N/2
  * idle bytes per minute per host of the live stream: a host whose nodes are stopped, its
    `events --follow --json --all` stream open for 60 s: bytes the stream delivered, and bytes on the
    host's link (ip -s link: ssh keepalives included)
  * CPU of the TUI's fleet view over 60 s with N hosts x 2 profiles (Pilot, headless; the process's own CPU:
    UI thread + FleetLive threads; the ssh clients are separate processes, counted apart)
Prints one JSON object.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from tests.helpers.netns import Machines, home_env
from tests.helpers.sshd import SshHost, keygen, ns_tool


def _link_bytes(m: Machines, i: int) -> int:
    out = subprocess.run(["ip", "-n", m.names[i - 1], "-s", "-j", "link", "show", "eth0"], capture_output=True,
                         text=True, check=True).stdout
    st = json.loads(out)[0]["stats64"]
    return int(st["rx"]["bytes"]) + int(st["tx"]["bytes"])


def _use_home(home: Path) -> None:
    for k, v in home_env(home).items():
        if k.startswith(("HOME", "SWARMDECK_HOME", "XDG_")):
            os.environ[k] = v
    os.environ.pop("XDG_RUNTIME_DIR", None)


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--hosts", type=int, default=8)
    ap.add_argument("--seconds", type=float, default=60.0)
    args = ap.parse_args()
    n = args.hosts
    tag = f"{os.getpid() % 10000}"
    base = Path(tempfile.mkdtemp(prefix="flbench"))
    out: dict = {"hosts": n}
    with Machines(f"fb{tag}", n=n + 1) as m:
        key = keygen(base / "client_key")
        hosts = [SshHost(m, i, base, f"b{tag}", Path(str(key) + ".pub"), node_args="--rate 0.5 --round-every 5")
                 for i in range(1, n + 1)]
        home = base / "w"
        (home / "sd" / "config").mkdir(parents=True)
        ssh = ns_tool(base / "ssh-w", m.names[n], "ssh")
        scan = ns_tool(base / "keyscan-w", m.names[n], "ssh-keyscan")
        (home / "sd" / "config" / "config.toml").write_text(
            f'[fleet]\nssh = "{ssh}"\nssh_keyscan = "{scan}"\ntimeout_seconds = 30.0\n')
        try:
            mk = ("from core.config.settings import load_config\n"
                  "from tests.helpers.supervisor import create_node_profile as c\n"
                  "cfg = load_config(); cfg.remove_profile('default'); cfg.set_current_profile(''); cfg.save()\n"
                  "c('p1'); c('p2')\n")
            for h in hosts:
                h.start()
                assert h.python(mk).returncode == 0
            for h in hosts[1:]:  # host 1 stays idle (its nodes stopped) for the stream measurement
                for p in ("p1", "p2"):
                    r = h.sd("start", "-p", p)
                    assert r.returncode == 0, r.stderr
            _use_home(home)
            from core.fleet import registry
            from core.usecases import fleet

            for i, h in enumerate(hosts, 1):
                fleet.add(f"m{i}", f"{h.user}@{h.addr}", identity=str(key), swarmdeck=str(h.swarmdeck), accept_new=True)
            allh = [f"m{i}" for i in range(1, n + 1)]
            for label, names in (("2", allh[:2]), (str(n), allh)):
                for h in names:
                    from core.fleet.ssh import Ssh
                    Ssh(registry.get_host(h), fleet.fleet_settings()).close_master()
                st = fleet.status(names)
                assert all(x["reachable"] and not x["error"] for x in st["hosts"]), st
                cold = st["seconds"]
                warm = [fleet.status(names)["seconds"] for _ in range(3)]
                out[f"status_{label}_hosts_cold_s"] = cold
                out[f"status_{label}_hosts_warm_s"] = round(sorted(warm)[1], 2)
            out["status_ratio_warm"] = round(out[f"status_{n}_hosts_warm_s"] / out["status_2_hosts_warm_s"], 2)

            # idle stream of host 1 (nodes stopped): bytes delivered and bytes on its link, per minute
            from core.fleet import remote
            from core.fleet.ssh import Ssh

            s = Ssh(registry.get_host("m1"), fleet.fleet_settings())
            s.open_master()
            time.sleep(2)
            b0 = _link_bytes(m, 1)
            t0 = time.monotonic()
            link_idle_base = None
            proc = s.popen(remote.args_for_all_events())
            time.sleep(3)  # the remote python has started
            b1, t1 = _link_bytes(m, 1), time.monotonic()
            time.sleep(args.seconds)
            b2, t2 = _link_bytes(m, 1), time.monotonic()
            proc.terminate()
            got = proc.stdout.read() if proc.stdout else ""
            proc.wait(10)
            # the same minute with no stream open (the ControlMaster's keepalives alone)
            time.sleep(2)
            b3, t3 = _link_bytes(m, 1), time.monotonic()
            time.sleep(args.seconds)
            b4, t4 = _link_bytes(m, 1), time.monotonic()
            link_idle_base = (b4 - b3) / ((t4 - t3) / 60)
            out["idle_stream_bytes_delivered_per_min"] = round(len(got.encode()) / ((t2 - t1) / 60), 1)
            out["idle_stream_link_bytes_per_min"] = round((b2 - b1) / ((t2 - t1) / 60), 1)
            out["idle_master_only_link_bytes_per_min"] = round(link_idle_base, 1)
            out["stream_open_bytes"] = b1 - b0

            # the TUI's fleet view with every host, N x 2 profiles, for `seconds`
            from tests.helpers.tui import FrozenTelemetry
            from tui.app import make_app
            from tui.screens.fleet import FleetScreen
            from core.identity import profiles as prof

            prof.create_profile("here", make_current=True)

            async def run_tui() -> dict:
                app = make_app(refresh=0, telemetry=FrozenTelemetry(), startup_flows=False)
                async with app.run_test(size=(140, 50)) as pilot:
                    await pilot.pause()
                    await pilot.press("f")
                    deadline = time.monotonic() + 120
                    while time.monotonic() < deadline:
                        scr = app.screen
                        if isinstance(scr, FleetScreen) and len(scr.rows) == 2 * n:
                            break
                        await pilot.pause(0.5)
                    c0, w0 = time.process_time(), time.monotonic()
                    ch0 = resource.getrusage(resource.RUSAGE_CHILDREN)
                    await asyncio.sleep(args.seconds)
                    c1, w1 = time.process_time(), time.monotonic()
                    ch1 = resource.getrusage(resource.RUSAGE_CHILDREN)
                    rows = len(app.screen.rows) if isinstance(app.screen, FleetScreen) else None
                return {"tui_rows": rows, "tui_cpu_percent": round(100 * (c1 - c0) / (w1 - w0), 2),
                        "tui_children_cpu_percent_reaped": round(
                            100 * ((ch1.ru_utime + ch1.ru_stime) - (ch0.ru_utime + ch0.ru_stime)) / (w1 - w0), 2)}

            out.update(asyncio.run(run_tui()))
        finally:
            for h in hosts:
                for p in ("p1", "p2"):
                    try:
                        h.sd("stop", "--now", "-p", p, timeout=60)
                    except Exception:
                        pass
                h.stop()
    import shutil

    shutil.rmtree(base, ignore_errors=True)
    print(json.dumps(out, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
