"""Helpers for DHT tests and benchmarks (real hivemind nodes on 127.0.0.1): leftover-process check, sample rounds."""

from __future__ import annotations

import os
import random
import string
from pathlib import Path

import psutil

from core.base.rollouts import Rollout


def leftover_processes(root: Path, pids: set[int]) -> list[str]:
    """p2pd daemons whose identity lives under `root`, or any tracked pid still running."""
    out = []
    for p in psutil.process_iter(["pid", "name", "cmdline", "status"]):
        try:
            if p.info["status"] == psutil.STATUS_ZOMBIE:
                continue
            cmd = " ".join(p.info["cmdline"] or [])
            if (p.info["name"] or "").startswith("p2pd") and str(root) in cmd:
                out.append(f"p2pd pid {p.pid}: {cmd[:120]}")
            elif p.pid in pids and p.pid != os.getpid():
                out.append(f"pid {p.pid} ({p.info['name']})")
        except psutil.Error:
            continue
    return out


def make_round(peer_id: str, round: int, questions: int = 4, generations: int = 8, tokens: int = 512,
               seed: int = 0) -> list[Rollout]:
    """A realistic round: I questions x G completions of `tokens` word-pieces of barely compressible text."""
    rng = random.Random(f"{seed}/{peer_id}/{round}")
    alphabet = string.ascii_letters + string.digits

    def text(n: int) -> str:
        return " ".join("".join(rng.choice(alphabet) for _ in range(rng.randint(3, 9))) for _ in range(n))

    return [Rollout(task="basic_arithmetic", question=text(60), answer=str(rng.randint(0, 999)),
                    completions=[text(tokens) for _ in range(generations)],
                    rewards=[rng.choice([0.0, 0.5, 1.0]) for _ in range(generations)],
                    round=round, peer_id=peer_id, metadata={"source_idx": i, "seed": seed})
            for i in range(questions)]


def shutdown_and_wait(nodes, root: Path, pids: set[int], timeout: float = 10.0) -> list[str]:
    """Shut every SwarmDHT down and wait for its processes to go; return what is still running."""
    import time

    for n in nodes:
        pids.update(n.child_pids())
        n.shutdown()
    deadline = time.time() + timeout
    while (left := leftover_processes(root, pids)) and time.time() < deadline:
        time.sleep(0.2)
    return left
