"""The OOM downshift ladder: after an out-of-memory exit, the next start uses a smaller setting.

Recorded in the profile's state file under "downshift" ({"level", "overrides", "history"}) and
passed to the next node child in SWARMDECK_DOWNSHIFT.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import time
from pathlib import Path
from typing import Any, Callable

from core.base.constants import QUANT_ORDER
from core.base.fsutil import atomic_write_json
from core.base.paths import ProfilePaths, ensure_private_dir

MIN_GENERATIONS = 2
MIN_NEW_TOKENS = 128
HISTORY_KEEP = 50


def empty() -> dict:
    return {"level": 0, "overrides": {}, "history": []}


def state_update(paths: ProfilePaths, key: str, fn: Callable[[Any], Any]) -> Any:
    """Read-modify-write one key of the profile's state file, leaving every other key alone."""
    path = Path(paths.state_file)
    ensure_private_dir(path.parent)
    with open(path.with_name(".state.lock"), "a") as lk:
        fcntl.flock(lk, fcntl.LOCK_EX)
        try:
            data = json.loads(path.read_text()) if path.exists() else {}
            if not isinstance(data, dict):
                data = {}
        except ValueError:
            data = {}
        new = fn(data.get(key))
        data[key] = new
        atomic_write_json(path, data)
        return new


def read_downshift(paths: ProfilePaths) -> dict:
    with contextlib.suppress(OSError, ValueError, AttributeError):
        d = json.loads(Path(paths.state_file).read_text()).get("downshift")
        if isinstance(d, dict):
            return d
    return empty()


def reset_downshift(paths: ProfilePaths) -> dict:
    """Back to the profile's own settings; the history of past steps is kept."""
    return state_update(paths, "downshift", lambda cur: {
        **empty(), "history": (cur or {}).get("history", []) if isinstance(cur, dict) else []})


def next_downshift(overrides: dict, observed_mode: str | None, profile_quant: str | None,
                   generations: int | None, max_new_tokens: int | None) -> tuple[dict, str] | None:
    """One step down the ladder: quant 8bit → 4bit, then fewer generations, then shorter completions."""
    ov = dict(overrides)
    mode = ov.get("quant") or observed_mode or (profile_quant if profile_quant in QUANT_ORDER else None)
    if mode in ("fp32", "bf16"):
        ov["quant"] = "8bit"
        return ov, f"quant {mode} -> 8bit"
    if mode != "4bit":  # 8bit, or unknown (auto and the node never said): 4-bit saves the most
        ov["quant"] = "4bit"
        return ov, f"quant {mode or 'auto'} -> 4bit"
    g = int(ov.get("generations") or generations or 8)
    if g > MIN_GENERATIONS:
        ov["generations"] = max(MIN_GENERATIONS, g // 2)
        return ov, f"generations {g} -> {ov['generations']}"
    t = int(ov.get("max_new_tokens") or max_new_tokens or 512)
    if t > MIN_NEW_TOKENS:
        ov["max_new_tokens"] = max(MIN_NEW_TOKENS, t // 2)
        return ov, f"max_new_tokens {t} -> {ov['max_new_tokens']}"
    return None


def record_step(paths: ProfilePaths, mode: str | None, kind: str, exit_info: dict,
                training: tuple[str | None, int | None, int | None]) -> tuple[dict | None, str | None]:
    """Step the profile one rung down; returns (new record, step description) or (record, None)
    when nothing smaller is left. Raises OSError when the state file cannot be written."""
    quant, gens, toks = training
    step: dict[str, Any] = {}

    def apply(cur: dict | None) -> dict:
        cur = cur if isinstance(cur, dict) else empty()
        nxt = next_downshift(cur.get("overrides") or {}, mode, quant, gens, toks)
        if nxt is None:
            step["desc"] = None
            return cur
        ov, desc = nxt
        step["desc"] = desc
        hist = list(cur.get("history") or [])[-(HISTORY_KEEP - 1):]
        hist.append({"at": time.time(), "kind": kind, "step": desc, "from": cur.get("overrides") or {},
                     "to": ov, "exit_code": exit_info.get("exit_code"), "signal": exit_info.get("signal")})
        return {"level": int(cur.get("level", 0)) + 1, "overrides": ov, "history": hist}

    new = state_update(paths, "downshift", apply)
    return new, step.get("desc")
