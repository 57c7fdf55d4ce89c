"""A stand-in for `python -m core.node` that speaks the child contract, for supervisor tests.

Events (JSON lines) on stdout, logs on stderr, SIGTERM = graceful exit 0, exit 42 after an `oom`
event. Behaviour is chosen by flags so each test can script a failure. It resumes its round
from <profile>/checkpoints/fake_round, like the real node resumes from its checkpoint.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import time

from core.base.paths import ProfilePaths

seq = 0


def emit(type_: str, **data) -> None:
    global seq
    seq += 1
    sys.stdout.write(json.dumps({"v": 1, "type": type_, "ts": time.time(), "seq": seq, "profile": "", **data}) + "\n")
    sys.stdout.flush()


def log(msg: str) -> None:
    print(f"fake_node[{os.getpid()}]: {msg}", file=sys.stderr, flush=True)


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--profile", required=True)
    ap.add_argument("--rate", type=float, default=20.0, help="train.step events per second")
    ap.add_argument("--round-every", type=float, default=0.2)
    ap.add_argument("--crash-after", type=float, default=0.0)
    ap.add_argument("--crash-code", type=int, default=1)
    ap.add_argument("--fail-start", type=float, default=0.0,
                    help="fail while starting after S seconds, as a node whose bootnodes never answer does")
    ap.add_argument("--oom-after", type=float, default=0.0, help="emit oom + exit 42 after S seconds")
    ap.add_argument("--oom-until", default="", help="no OOM once SWARMDECK_DOWNSHIFT has this quant")
    ap.add_argument("--hang-after", type=float, default=0.0, help="go silent (no events) after S seconds")
    ap.add_argument("--ignore-term", action="store_true")
    ap.add_argument("--alloc-mb", type=int, default=0)
    ap.add_argument("--grandchild", action="store_true", help="spawn a long-lived grandchild in our group")
    ap.add_argument("--mode", default="8bit")
    ap.add_argument("--prepare", type=float, default=0.0,
                    help="say `preparing` and build a model for S seconds (model.build events, a chain write "
                         "queued meanwhile) before running, as a first demo-model build does")
    ap.add_argument("--garbage", action="store_true", help="also print non-event and oversized stdout lines")
    args = ap.parse_args()

    paths = ProfilePaths(args.profile)
    ckpt = paths.checkpoints_dir / "fake_round"
    rnd = int(ckpt.read_text()) if ckpt.exists() else 0
    downshift = json.loads(os.environ.get("SWARMDECK_DOWNSHIFT") or "{}")
    mode = downshift.get("quant", args.mode)

    stopping = {"flag": False}

    def on_term(signum, frame):
        if args.ignore_term:
            log("SIGTERM ignored")
            return
        stopping["flag"] = True

    signal.signal(signal.SIGTERM, on_term)
    log(f"starting profile={args.profile} round={rnd} mode={mode} downshift={downshift}")
    if args.fail_start:
        emit("node.state", state="starting")
        emit("node.identity", peer_id="QmFake" + args.profile, display_name="fake animal")
        emit("log", level="warning", message="DHT start attempt 1/3 failed: could not reach any DHT bootnode")
        time.sleep(args.fail_start)
        emit("error", where="/ip4/192.0.2.1/tcp/38331", what="could not reach any DHT bootnode")
        return 1
    if args.prepare:
        emit("node.state", state="starting")
        emit("node.identity", peer_id="QmFake" + args.profile, display_name="fake animal")
        emit("node.state", state="preparing", reason="loading the model")
        emit("submission", kind="register", status="pending")  # the chain queue works meanwhile
        t_build, steps = time.monotonic(), 10
        for step in range(1, steps + 1):
            if stopping["flag"]:
                return 0
            time.sleep(args.prepare / steps)
            el = time.monotonic() - t_build
            emit("model.build", model="demo", step=step, steps=steps, elapsed_s=el, eta_s=el / step * (steps - step))
    emit("node.mode", mode=mode, device="cpu", reason="fake", generations=downshift.get("generations", 8))
    emit("node.identity", peer_id="QmFake" + args.profile, display_name="fake animal")
    if args.grandchild:
        gc = subprocess.Popen([sys.executable, "-c", "import time\nwhile True: time.sleep(1)"])
        emit("log", level="info", message=f"grandchild {gc.pid}", grandchild_pid=gc.pid)
        log(f"grandchild pid {gc.pid}")
    hog = None
    if args.alloc_mb:
        hog = bytearray(args.alloc_mb * 2**20)
        for i in range(0, len(hog), 4096):
            hog[i] = 1  # touch every page so it counts in RSS
        emit("log", level="info", message=f"allocated {args.alloc_mb} MiB")
    if args.garbage:
        sys.stdout.write("this is not json\n")
        sys.stdout.write("{\"type\": \"no.such.type\"}\n")
        sys.stdout.write("x" * (3 * 2**20) + "\n")
        sys.stdout.flush()

    if args.prepare:
        emit("node.state", state="running")
    t0 = time.monotonic()
    next_round = t0
    period = 1.0 / args.rate if args.rate > 0 else 1.0
    while True:
        now = time.monotonic() - t0
        if stopping["flag"]:
            emit("checkpoint.saved", round=rnd, path=str(ckpt))
            log("graceful stop")
            return 0
        if args.crash_after and now >= args.crash_after:
            emit("error", where="fake", what="scripted crash")
            log("crashing")
            return args.crash_code
        if args.oom_after and now >= args.oom_after and downshift.get("quant") != args.oom_until:
            emit("oom", kind="cuda")
            log("torch.OutOfMemoryError: CUDA out of memory (fake)")
            return 42
        if args.hang_after and now >= args.hang_after:
            time.sleep(0.05)
            continue
        if time.monotonic() >= next_round:
            rnd += 1
            emit("round.started", round=rnd, stage=0)
            emit("round.finished", round=rnd, stage=0, reward=0.5, n_local=4, n_external=4, seconds=args.round_every)
            paths.checkpoints_dir.mkdir(parents=True, exist_ok=True)
            ckpt.write_text(str(rnd))
            next_round = time.monotonic() + args.round_every
        emit("train.step", round=rnd, loss=0.1, step_seconds=period)
        time.sleep(period)


if __name__ == "__main__":
    sys.exit(main())
