"""TUI test helpers: frozen telemetry and clock, screen text and snapshots, event files, waiting on the app."""

from __future__ import annotations

import io
import os
import re
import time
from pathlib import Path

import pytest
from rich.console import Console
from textual.css.query import NoMatches

from core.base.paths import ProfilePaths
from core.events.types import event_from_fields
from core.hardware.telemetry import GpuSample, ProcSample, Snapshot

SNAP_DIR = Path(__file__).resolve().parents[1] / "tui" / "snapshots"
FROZEN_NOW = 1_790_000_000.0  # a fixed "now" for every relative time on screen


class FrozenTelemetry:
    """A fixed sample (one GPU with some unsupported fields, a node process): screens are stable."""

    def __init__(self, cpu_mode: bool = False):
        self.cpu_mode = cpu_mode
        self.pid = None

    def set_node_pid(self, pid):
        self.pid = pid

    def close(self):
        pass

    def sample(self) -> Snapshot:
        gpus = [] if self.cpu_mode else [GpuSample(index=0, name="NVIDIA RTX 4090", util_pct=87.0,
                                                   mem_used=18 * 1024**3, mem_total=24 * 1024**3,
                                                   temp_c=71.0, power_w=None, power_limit_w=None)]
        return Snapshot(ts=FROZEN_NOW, gpus=gpus,
                        cpu_mode_reason="no NVIDIA driver found (NVML: NVML Shared Library Not Found)"
                        if self.cpu_mode else None,
                        host_cpu_pct=42.0, host_cpu_count=16, host_ram_used=12 * 1024**3,
                        host_ram_total=64 * 1024**3, node=ProcSample(pid=4242, cpu_pct=95.0, rss=3 * 1024**3))


def screen_text(app) -> str:
    """The current screen as plain text, as a terminal of the app's size would show it."""
    w, h = app.size
    c = Console(width=w, height=h, record=True, file=io.StringIO(), force_terminal=True,
                color_system="truecolor", legacy_windows=False)
    c.print(app.screen._compositor.render_update(full=True, screen_stack=app._background_screens))
    return "\n".join(line.rstrip() for line in c.export_text().splitlines())


def rounds_charted(text: str) -> int:
    """How many finished rounds the training chart's round axis spans (└r12────r15 → 4; no chart → 0)."""
    m = re.search(r"└r(\d+)─+r(\d+)", text)
    return int(m.group(2)) - int(m.group(1)) + 1 if m else 0


def flat_text(app) -> str:
    """Screen text with wrapping undone (words joined by single spaces), for phrase checks."""
    return " ".join(screen_text(app).split())


def assert_snapshot(app, name: str) -> str:
    """Compare the screen with tests/tui/snapshots/NAME.txt (SWARMDECK_UPDATE_SNAPSHOTS=1 rewrites)."""
    text = screen_text(app)
    path = SNAP_DIR / f"{name}.txt"
    if os.environ.get("SWARMDECK_UPDATE_SNAPSHOTS") == "1" or not path.exists():
        if os.environ.get("SWARMDECK_UPDATE_SNAPSHOTS") != "1":
            pytest.fail(f"no snapshot {path}; run with SWARMDECK_UPDATE_SNAPSHOTS=1 and review it")
        path.write_text(text + "\n", encoding="utf-8")
    expected = path.read_text(encoding="utf-8").rstrip("\n")
    assert text == expected, f"screen differs from {path}:\n{text}"
    return text


def write_events(name: str, events: list[tuple[str, dict]], t0: float = FROZEN_NOW - 600) -> Path:
    path = ProfilePaths(name).events_file
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a", encoding="utf-8") as f:
        for i, (typ, data) in enumerate(events):
            f.write(event_from_fields(typ, **data).stamped(seq=i + 1, ts=t0 + i, profile=name).to_json() + "\n")
    return path


def node_history(rounds: int = 6) -> list[tuple[str, dict]]:
    """A plausible node history: identity, mode, registration, rounds with rewards, peers, a failure."""
    ev = [("node.state", {"state": "running"}),
          ("node.identity", {"peer_id": "QmYyQSo1c1Ym7orWxLYvCrM2EmxFTANf8wXmmE7DWjhx5N",
                             "display_name": "sly shaggy toucan"}),
          ("node.mode", {"mode": "4bit", "device": "cuda", "reason": "24 GiB: 4-bit nf4 + LoRA"}),
          ("submission", {"kind": "register", "status": "landed", "tx": "0xab"}),
          ("node.registered", {"peer_id": "QmYyQSo1c1Ym7orWxLYvCrM2EmxFTANf8wXmmE7DWjhx5N"})]
    for r in range(1, rounds + 1):
        ev += [("round.started", {"round": r, "stage": 0}),
               ("train.step", {"round": r, "loss": 0.5 / r, "step_seconds": 1.25, "tokens_per_s": 812.5}),
               ("round.finished", {"round": r, "stage": 0, "reward": 0.1 * r, "n_local": 4, "n_external": 4,
                                   # what the swarm gave: own useful groups, peers' ones, refused, by peer
                                   "useful_own": 2 + r % 2, "useful_peers": 4, "refused": 1 if r == 3 else 0,
                                   "taken_from": {"QmPeerA1111111111111111111111111111111111111": 3,
                                                  "QmPeerB2222222222222222222222222222222222222": 1},
                                   "refused_from": ({"QmPeerB2222222222222222222222222222222222222": 1}
                                                    if r == 3 else {})}),
               ("submission", {"kind": "reward", "round": r, "stage": 0, "status": "landed", "tx": f"0x{r}"})]
    ev += [("submission", {"kind": "winners", "round": rounds, "stage": 0, "status": "failed",
                           "reason": "InvalidRoundNumber"}),
           ("submission", {"kind": "reward", "round": rounds + 1, "stage": 0, "status": "pending"}),
           ("peers.update", {"peers": [
               {"peer_id": "QmPeerA1111111111111111111111111111111111111", "name": "agile tawny owl",
                "last_seen": FROZEN_NOW - 5},
               {"peer_id": "QmPeerB2222222222222222222222222222222222222", "name": "quick grey wolf",
                "last_seen": FROZEN_NOW - 125}]}),
           ("chain.totals", {"total_reward": 2.1, "total_wins": 3}),
           ("round.started", {"round": rounds + 1, "stage": 0}),
           ("log", {"level": "info", "message": f"round {rounds} done: reward {0.1 * rounds:.2f}"})]
    return ev


async def until(pilot, pred, timeout: float = 30.0, what: str = "condition", app=None) -> None:
    """Let the app run until pred() holds; fail naming what was awaited (and the screen, given app)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            held = pred()
        except NoMatches:  # a screen just pushed is not composed yet: its widgets come next
            held = False
        # given app: also wait for the current screen's compose and on_mount (it becomes app.screen
        # when pushed, before they run; on a slow machine the caller's next query would miss)
        if held and (app is None or app.screen.is_mounted):
            return
        await pilot.pause(0.1)
    raise AssertionError(f"timed out waiting for {what}" + (f"; screen:\n{flat_text(app)}" if app else ""))
