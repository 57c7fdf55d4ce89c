"""Log tails (across one rotation) for `swarmdeck logs` and the control socket's logs request.

events.jsonl has its one reader in core.events.reader."""

from __future__ import annotations

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
