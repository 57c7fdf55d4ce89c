"""Shared by the journey tests (TUI Pilot, tmux e2e): a small real local network, and a check
that every process a test started (under its SWARMDECK_HOME) is gone afterwards."""

from __future__ import annotations

import os
import time

import psutil

import core.supervisor as daemon
from core.localnet import network as localnet
from core.identity import profiles
from core.config.settings import load_config

TRAINING = {"questions_local": 2, "questions_external": 2, "generations": 4, "max_new_tokens": 24,
            "checkpoint_every": 1}
ROUND_SECONDS = 8.0


def small_local_network(profile: str | None = "default") -> None:
    """Short rounds, one demo peer, small training for `profile` and the peer (speed on 2 cores)."""
    cfg = load_config()
    cfg.doc["networks"] = {"local": {"round_seconds": ROUND_SECONDS}}
    if profile:
        for k, v in TRAINING.items():
            cfg.set_profile_value(profile, f"training.{k}", v)
    cfg.save()
    profiles.create_profile("local-peer-1", make_current=False, network="local", backend="web3", model="tiny",
                            training=TRAINING)


def our_processes() -> list[psutil.Process]:
    """Processes started under this test's SWARMDECK_HOME (anvil, supervisors, nodes, p2pd, login)."""
    home = os.environ["SWARMDECK_HOME"]
    out = []
    for p in psutil.process_iter():
        if p.pid == os.getpid():
            continue
        try:
            if p.environ().get("SWARMDECK_HOME") == home:
                out.append(p)
        except (psutil.Error, OSError):
            continue
    return out


def stop_everything(profile_names: list[str]) -> list[str]:
    """Stop our nodes and the local network; return what still runs after a grace period."""
    for n in profile_names:
        try:
            daemon.stop_profile(n, timeout=30)
        except Exception:
            pass
    try:
        localnet.down(timeout=30)
    except Exception:
        pass
    deadline = time.monotonic() + 30
    left = our_processes()
    while left and time.monotonic() < deadline:
        time.sleep(0.5)
        left = our_processes()
    names = []
    for p in left:
        try:
            names.append(f"{p.pid} {' '.join(p.cmdline())[:120]}")
            p.kill()
        except psutil.Error:
            pass
    return names
