"""Shared helpers of the reliability suite: real-node profiles, event files, process audits."""

from __future__ import annotations

import json
import os
import signal
import sys
import time
from pathlib import Path

import psutil

ROOT = Path(__file__).resolve().parents[2]
TRAINING = {"questions_local": 2, "questions_external": 2, "generations": 4, "max_new_tokens": 24,
            "learning_rate": 1e-3, "checkpoint_every": 1}
# What a supervisor test wants: quick restarts, no give-up while we kill on purpose, no stall restarts.
FAST_DAEMON = {"backoff_base": 0.3, "backoff_max": 1.0, "backoff_jitter": 0.1, "poll_interval": 0.2,
               "stop_timeout": 30.0, "group_grace": 2.0, "healthy_after": 3.0, "max_quick_failures": 1000,
               "stall_timeout": 0, "round_stall_timeout": 0}
MARKERS = ("anvil", "p2pd", "core.node", "core.supervisor.supervisor", "core.login", "hivemind", "core.localnet")


def node_cmd(share_wait: float = 1.0, *extra: str) -> str:
    return " ".join([sys.executable, "-m", "core.node", "--profile", "{profile}", "--share-wait", str(share_wait), *extra])


def create_node_profile(name: str, **over) -> None:
    from core.identity import profiles

    profiles.create_profile(name, make_current=False, network="local", backend="web3", model="tiny",
                            training={**TRAINING, **over})


def wait_for(pred, timeout: float, what: str, interval: float = 0.2):
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        try:
            last = pred()
        except (OSError, ValueError):
            last = None
        if last:
            return last
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout:g} s waiting for {what} (last: {last!r})")


def read_events(path: Path, types: set[str] | None = None) -> list[dict]:
    out = []
    try:
        with open(path, encoding="utf-8") as f:
            for line in f:
                try:
                    d = json.loads(line)
                except ValueError:
                    continue  # a line torn by kill -9 of the writer is not an event
                if types is None or d.get("type") in types:
                    out.append(d)
    except FileNotFoundError:
        pass
    return out


def our_processes(home: str) -> list[psutil.Process]:
    """Live processes that belong to this test: SWARMDECK_HOME in their environment or HOME in argv."""
    out = []
    for p in psutil.process_iter(["pid", "cmdline"]):
        if p.pid == os.getpid():
            continue
        try:
            cmd = " ".join(p.info["cmdline"] or [])
            mine = home in cmd
            if not mine:
                env = p.environ()
                mine = env.get("SWARMDECK_HOME", "").startswith(home) or env.get("HOME") == home
            if mine and p.status() != psutil.STATUS_ZOMBIE:
                out.append(p)
        except (psutil.Error, OSError):
            continue
    return out


def kill_leftovers(home: str, grace: float = 8.0) -> list[str]:
    """Wait for our processes to end; SIGKILL and name whatever is still alive after `grace`."""
    deadline = time.monotonic() + grace
    while time.monotonic() < deadline and our_processes(home):
        time.sleep(0.2)
    left = []
    for p in our_processes(home):
        try:
            left.append(f"{p.pid}: {' '.join(p.cmdline())[:200]}")
            p.send_signal(signal.SIGKILL)
        except psutil.Error:
            pass
    return left


def chain_rewards(chain, peer_id: str) -> list[tuple[int, int]]:
    evs = chain.contract.events.RewardSubmitted().get_logs(from_block=0)
    return [(int(e.args.roundNumber), int(e.args.stageNumber)) for e in evs if e.args.peerId == peer_id]


def chain_votes(chain, peer_id: str) -> list[int]:
    evs = chain.contract.events.WinnerSubmitted().get_logs(from_block=0)
    return [int(e.args.roundNumber) for e in evs if e.args.peerId == peer_id]
