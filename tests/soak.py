"""Soak: 3 supervised local nodes (tiny model, real chain + DHT) for N minutes; RSS / open-file growth.

    python -m tests.soak --minutes 60            # `just soak 60`
    python -m tests.soak --minutes 8 --json out.json

Everything runs under a fresh temporary HOME (nothing of the user's is touched) and is stopped at
the end. Every --interval seconds it samples, per node, the whole process group the supervisor runs
(node child + its hivemind DHT process + p2pd): RSS (sum) and open files (sum of fds), plus rounds
finished and supervisor restarts. Growth is measured after a warm-up (a quarter of the run, at least
2 minutes): mean of the last fifth of the samples vs the mean of the first fifth after warm-up.
Goal: RSS growth <= 5 % per node.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _isolate() -> Path:
    home = Path(tempfile.mkdtemp(prefix="swarmdeck-soak-"))
    os.environ.update({"HOME": str(home), "SWARMDECK_HOME": str(home / "sd"), "XDG_CONFIG_HOME": str(home / ".config"),
                       "XDG_DATA_HOME": str(home / ".local/share"), "XDG_STATE_HOME": str(home / ".local/state"),
                       "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false",
                       "PYTHONPATH": str(ROOT)})
    os.environ.pop("XDG_RUNTIME_DIR", None)
    return home


def _group(pgid: int):
    import psutil

    out = []
    for p in psutil.process_iter(["pid"]):
        try:
            if os.getpgid(p.pid) == pgid:
                out.append(p)
        except (ProcessLookupError, psutil.Error, OSError):
            continue
    return out


def _sample(child_pid: int | None) -> tuple[float, int, int]:
    """(RSS MiB, open fds, processes) of the node's process group."""
    import psutil

    if not child_pid:
        return 0.0, 0, 0
    rss, fds, n = 0, 0, 0
    for p in _group(child_pid):
        try:
            rss += p.memory_info().rss
            fds += p.num_fds()
            n += 1
        except psutil.Error:
            continue
    return rss / 2**20, fds, n


def _growth(values: list[float], warm: int) -> tuple[float, float, float]:
    post = values[warm:]
    if len(post) < 4:
        return float("nan"), float("nan"), float("nan")
    k = max(1, len(post) // 5)
    a, b = statistics.mean(post[:k]), statistics.mean(post[-k:])
    return a, b, (b - a) / a * 100 if a else float("nan")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m tests.soak", description=__doc__.splitlines()[0])
    ap.add_argument("--minutes", type=float, default=60.0)
    ap.add_argument("--nodes", type=int, default=3)
    ap.add_argument("--interval", type=float, default=15.0, help="seconds between samples")
    ap.add_argument("--round-seconds", type=float, default=10.0)
    ap.add_argument("--json", help="also write the figures to this file")
    args = ap.parse_args(argv)

    home = _isolate()
    import core.supervisor as control
    import core.supervisor as daemon
    from core.localnet import network as localnet
    from core.chain.devnet import LocalChain
    from core.base.paths import ProfilePaths

    from tests.helpers.procs import kill_leftovers
    from tests.helpers.supervisor import create_node_profile, FAST_DAEMON, node_cmd, read_events

    names = [f"soak{i + 1}" for i in range(args.nodes)]
    os.environ["SWARMDECK_NODE_CMD"] = node_cmd(3.0)
    # real restart policy (a soak must see crashes for what they are), stall detection on
    os.environ["SWARMDECK_DAEMON_SETTINGS"] = json.dumps({**FAST_DAEMON, "max_quick_failures": 6,
                                                          "healthy_after": 120.0, "backoff_max": 30.0,
                                                          "round_stall_timeout": 600.0, "poll_interval": 1.0})
    chain = LocalChain("local").start()
    adv = chain.start_advancer(args.round_seconds)
    samples: dict[str, list[dict]] = {n: [] for n in names}
    t_start = time.monotonic()
    rc = 0
    try:
        for n in names:
            create_node_profile(n)
        localnet.bootnode_file().write_text(names[0] + "\n")
        daemon.spawn_detached(names[0])
        deadline = time.monotonic() + 240
        while not chain.contract.functions.getBootnodes().call():
            if time.monotonic() > deadline:
                raise SystemExit("the first node never published itself as bootnode")
            time.sleep(1)
        for n in names[1:]:
            daemon.spawn_detached(n)
        t_start = time.monotonic()
        end = t_start + args.minutes * 60
        print(f"soak: {len(names)} nodes, {args.minutes:g} min, sample every {args.interval:g} s, home {home}", flush=True)
        while time.monotonic() < end:
            t = time.monotonic() - t_start
            line = [f"{t / 60:6.1f} min"]
            for n in names:
                paths = ProfilePaths(n)
                st = control.query_status(paths, timeout=5.0) or {}
                rss, fds, nproc = _sample(st.get("child_pid"))
                rounds = len(read_events(paths.events_file, {"round.finished"}))
                samples[n].append({"t": round(t, 1), "rss_mb": round(rss, 1), "fds": fds, "procs": nproc,
                                   "rounds": rounds, "restarts": st.get("restarts", 0), "state": st.get("state")})
                line.append(f"{n}: {rss:7.1f} MiB {fds:4d} fds {rounds:4d} rounds r{st.get('restarts', 0)}")
            print(" | ".join(line), flush=True)
            time.sleep(max(0.0, min(args.interval, end - time.monotonic())))
    finally:
        for n in names:
            try:
                daemon.stop_profile(n, timeout=120)
            except Exception as e:  # report and go on stopping the rest
                print(f"stopping {n}: {e}", file=sys.stderr)
        adv.stop()
        chain.stop()
        left = kill_leftovers(str(home), grace=15)
        if left:
            print(f"LEFTOVER processes (killed): {left}", file=sys.stderr)
            rc = 1

    duration = (time.monotonic() - t_start) / 60
    warm_s = max(120.0, args.minutes * 60 / 4)
    report = {"minutes": round(duration, 1), "nodes": {}, "warmup_s": warm_s, "interval_s": args.interval}
    print(f"\nSOAK RESULT ({duration:.1f} min, {len(names)} nodes, warm-up {warm_s:.0f} s)")
    print(f"{'node':8} {'rss@warm':>9} {'rss@end':>8} {'growth':>7} {'fds@warm':>8} {'fds@end':>7} {'rounds':>6} {'restarts':>8}")
    worst = float("nan")
    for n in names:
        s = samples[n]
        warm = next((i for i, x in enumerate(s) if x["t"] >= warm_s), len(s))
        # a restart resets the process: growth is only meaningful within one child's life
        a, b, g = _growth([x["rss_mb"] for x in s], warm)
        fa, fb, _ = _growth([float(x["fds"]) for x in s], warm)
        rounds = s[-1]["rounds"] if s else 0
        restarts = s[-1]["restarts"] if s else 0
        report["nodes"][n] = {"rss_warm_mb": round(a, 1), "rss_end_mb": round(b, 1), "rss_growth_pct": round(g, 2),
                              "fds_warm": round(fa, 1), "fds_end": round(fb, 1), "rounds": rounds, "restarts": restarts,
                              "samples": s}
        if g == g:
            worst = g if worst != worst else max(worst, g)
        print(f"{n:8} {a:8.1f}M {b:7.1f}M {g:6.2f}% {fa:8.1f} {fb:7.1f} {rounds:6d} {restarts:8d}")
    report["worst_rss_growth_pct"] = round(worst, 2) if worst == worst else None
    if worst != worst:
        print("RSS growth: n/a (run longer than the warm-up to measure it)")
        worst = 0.0
    else:
        print(f"worst RSS growth after warm-up: {worst:.2f}% (goal <= 5%)")
    if args.json:
        Path(args.json).write_text(json.dumps(report, indent=2))
    shutil.rmtree(home, ignore_errors=True)
    return rc if worst <= 5.0 else (rc or 2)


if __name__ == "__main__":
    sys.exit(main())
