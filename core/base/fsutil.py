"""Small file helpers: atomic writes (write-then-rename) and secret files (0600)."""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path


def _write_temp(path: Path, data: bytes, mode: int) -> str:
    """Write `data` to a fresh temp file beside `path` (same filesystem), fsynced; return its name."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        os.fchmod(fd, mode)
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
    except BaseException:
        _unlink_quietly(tmp)
        raise
    return tmp


def _unlink_quietly(p: str) -> None:
    try:
        os.unlink(p)
    except FileNotFoundError:
        pass


def atomic_write_bytes(path: Path, data: bytes, mode: int = 0o600) -> None:
    """Write to a temp file in the same dir, fsync, then rename over `path`.

    A crash or a full disk leaves either the old file or the new one, never half of one.
    """
    path = Path(path)
    tmp = _write_temp(path, data, mode)
    try:
        os.replace(tmp, path)
    except BaseException:
        _unlink_quietly(tmp)
        raise
    try:
        dfd = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(dfd)
        finally:
            os.close(dfd)
    except OSError:
        pass


def atomic_write_text(path: Path, text: str, mode: int = 0o600) -> None:
    atomic_write_bytes(path, text.encode("utf-8"), mode)


def atomic_write_json(path: Path, obj, mode: int = 0o600) -> None:
    atomic_write_text(path, json.dumps(obj, indent=2, sort_keys=True) + "\n", mode)


def create_exclusive(path: Path, data: bytes, mode: int = 0o600) -> None:
    """Create `path` with `data`; raise FileExistsError if it exists (never overwrite)."""
    path = Path(path)
    tmp = _write_temp(path, data, mode)
    try:
        os.link(tmp, path)  # atomic, fails with FileExistsError if path exists
    finally:
        _unlink_quietly(tmp)
