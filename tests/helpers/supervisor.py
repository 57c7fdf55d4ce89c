"""Supervised-node settings for tests: quick restarts, tiny training rounds, the node command."""

from __future__ import annotations

import json
import sys
from pathlib import Path

from core.identity import profiles

ROOT = Path(__file__).resolve().parents[2]
FAKE_NODE = ROOT / "tests" / "helpers" / "fake_node.py"

# Quick restarts and polls; no stall restarts (a test's node may sit idle on purpose).
FAST_SUPERVISOR = {"backoff_base": 0.1, "backoff_max": 1.0, "backoff_jitter": 0.2, "poll_interval": 0.1,
                   "stop_timeout": 3.0, "group_grace": 1.0, "healthy_after": 30.0, "stall_timeout": 0,
                   "round_stall_timeout": 0}
# A real node under kill tests: no give-up while we kill on purpose, time for a real node to stop.
FAST_DAEMON = {**FAST_SUPERVISOR, "backoff_base": 0.3, "backoff_jitter": 0.1, "poll_interval": 0.2,
               "stop_timeout": 30.0, "group_grace": 2.0, "healthy_after": 3.0, "max_quick_failures": 1000}
TRAINING = {"questions_local": 2, "questions_external": 2, "generations": 4, "max_new_tokens": 24,
            "learning_rate": 1e-3, "checkpoint_every": 1}


def supervise_fake_node(monkeypatch, **settings) -> None:
    """Make the supervisor run tests/helpers/fake_node.py with FAST_SUPERVISOR (+ `settings`)."""
    monkeypatch.setenv("SWARMDECK_NODE_CMD", f"{sys.executable} {FAKE_NODE} --profile {{profile}}")
    monkeypatch.setenv("SWARMDECK_DAEMON_SETTINGS", json.dumps({**FAST_SUPERVISOR, **settings}))


def node_cmd(share_wait: float = 1.0, *extra: str) -> str:
    return " ".join([sys.executable, "-m", "core.node", "--profile", "{profile}", "--share-wait", str(share_wait), *extra])


def create_node_profile(name: str, **over) -> None:
    profiles.create_profile(name, make_current=False, network="local", backend="web3", model="tiny",
                            training={**TRAINING, **over})


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
