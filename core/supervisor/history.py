"""Readers of what a profile wrote: log tails (across one rotation) and events.jsonl's last seq."""

from __future__ import annotations

import contextlib
import json
import os
from pathlib import Path


def tail_file(path: Path, n: int) -> list[str]:
    """Last n lines of a log file, reaching into the previous rotation when needed."""
    lines: list[str] = []
    for p in (Path(path), Path(f"{path}.1")):
        if len(lines) >= n or not p.exists():
            break
        need = n - len(lines)
        with open(p, "rb") as f:
            f.seek(0, os.SEEK_END)
            end = f.tell()
            block, data = 65536, b""
            while end > 0 and data.count(b"\n") <= need:
                step = min(block, end)
                end -= step
                f.seek(end)
                data = f.read(step) + data
        got = data.decode("utf-8", "replace").splitlines()[-need:] if need else []
        lines = got + lines
    return lines[-n:] if n else []


def recent_events(path: Path, keep: int) -> tuple[list[dict], int]:
    """(up to `keep` newest events, highest seq) of events.jsonl, read from the end so a year of
    history stays cheap. The seq comes from the compaction backup when the file is gone or empty."""
    try:
        with open(path, "rb") as f:
            f.seek(0, os.SEEK_END)
            size = f.tell()
            f.seek(max(0, size - max(1, keep) * 4096))
            data = f.read()
    except OSError:
        size, data = 0, b""
    lines = data.splitlines()
    if size > len(data) and lines:
        lines = lines[1:]  # first line may be cut
    events: list[dict] = []
    last_seq = 0
    for ln in lines:
        with contextlib.suppress(ValueError, TypeError, AttributeError):
            d = json.loads(ln)
            if isinstance(d, dict) and "type" in d:
                events.append(d)
                last_seq = max(last_seq, int(d.get("seq", 0)))
    if not last_seq and path.with_name(path.name + ".1").exists():
        # events.jsonl lost or emptied by hand: seq goes on from the compaction backup, never back to 1
        last_seq = recent_events(path.with_name(path.name + ".1"), min(keep, 16))[1]
    return events[-keep:] if keep else [], last_seq


def last_seq(path: Path) -> int:
    return recent_events(path, 16)[1]
