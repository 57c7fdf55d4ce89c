"""The one reader of events.jsonl: whole file, newest lines, or followed as it grows (EventSource).

Torn lines (a crash cut the last one), foreign lines and known types missing a field they need are
skipped; a type this version does not know reads as a GenericEvent.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Iterable, Iterator

from core.base import safejson
from core.events.types import Event, NodeRegistered, SubmissionEvent

BACKUP_SUFFIX = ".1"  # the full file before the last compaction (core.events.log.compact_events)


def parse_line(line: bytes | str) -> Event | None:
    """The event of one JSON line, or None for a torn or foreign line."""
    try:
        d = safejson.loads(line)
        if not isinstance(d, dict):
            return None
        return Event.from_wire(d)
    except (ValueError, KeyError, TypeError, ArithmeticError):  # ArithmeticError: "seq": 1e999
        return None


def read_events(path: Path, types: Iterable[str] | None = None) -> Iterator[Event]:
    """Every event in the file, oldest first (only `types` when given)."""
    wanted = set(types) if types else None
    try:
        f = open(path, "rb")
    except FileNotFoundError:
        return
    with f:
        for line in f:
            ev = parse_line(line)
            if ev is not None and (wanted is None or ev.type in wanted):
                yield ev


def tail_events(path: Path, n: int, types: Iterable[str] = (), window: int = 64 * 1024) -> list[Event]:
    """Events among the file's last n lines (within its last `window` bytes), oldest first."""
    try:
        with open(path, "rb") as f:
            size = f.seek(0, os.SEEK_END)
            start = max(0, size - window)
            cut = start > 0 and os.pread(f.fileno(), 1, start - 1) != b"\n"
            f.seek(start)
            lines = f.read().splitlines()
    except FileNotFoundError:
        return []
    lines = lines[1:] if cut else lines  # the window began mid-line
    lines = lines[-n:]
    types = tuple(types)
    wanted = [f'"type":{sp}"{x}"'.encode() for x in types for sp in ("", " ")]
    out = []
    for line in lines:
        if wanted and not any(w in line for w in wanted):  # skip parsing lines we would drop
            continue
        ev = parse_line(line)
        if ev is not None and (not types or ev.type in types):
            out.append(ev)
    return out


def last_seq(path: Path) -> int:
    """The highest seq among the file's newest events; from the compaction backup when the file is gone or
    holds none (deleted or emptied by hand), so numbering never starts over at 1."""
    path = Path(path)
    seq = max((ev.seq for ev in tail_events(path, 16, window=16 * 4096)), default=0)
    backup = path.with_name(path.name + BACKUP_SUFFIX)
    if not seq and backup.exists():
        seq = max((ev.seq for ev in tail_events(backup, 16, window=16 * 4096)), default=0)
    return seq


def registered_in(events: Iterable[Event]) -> bool:
    """Whether these events show the peer registered on chain (a registration event, or the register
    submission landed / skipped as already done)."""
    for ev in events:
        if isinstance(ev, NodeRegistered):
            return True
        if isinstance(ev, SubmissionEvent) and ev.kind == "register" and ev.status in ("landed", "skipped"):
            return True
    return False


def registered(path: Path) -> bool:
    return registered_in(tail_events(path, 500, ("node.registered", "submission")))


class EventSource:
    """New events of one events.jsonl, polled (never blocks): the TUI's one transport.

    Follows the file by byte offset and replays its newest `history_bytes` on the first poll. The
    supervisor persists every event there, so this works with or without a running supervisor.
    A compaction (core.events.log.compact_events writes a new file), rotation or truncation is noticed
    by inode or size: the new file's newest part is read again as on the first poll, and an event
    already handed out is never handed out twice.
    """

    def __init__(self, path: Path, history_bytes: int = 4 * 1024 * 1024):
        self.path = Path(path)
        self._pos = 0
        self._partial = b""
        self._history_bytes = history_bytes
        self._first = True
        self._ino: int | None = None
        self._last_seq = 0       # newest seq handed out
        self._resume_after = 0   # after a compaction: skip what was handed out already

    def poll(self) -> list[Event]:
        try:
            f = open(self.path, "rb")
        except FileNotFoundError:
            return []
        with f:
            st = os.fstat(f.fileno())
            size = st.st_size
            if not self._first and (st.st_ino != self._ino or size < self._pos):
                self._first, self._partial, self._resume_after = True, b"", self._last_seq
            self._ino = st.st_ino
            if self._first:
                self._first = False
                self._pos = max(0, size - self._history_bytes)
                if self._pos:
                    f.seek(self._pos)
                    f.readline()  # skip the cut line
                    self._pos = f.tell()
            if size == self._pos:
                return []
            f.seek(self._pos)
            data = f.read(size - self._pos)
            self._pos = size
        lines = (self._partial + data).split(b"\n")
        self._partial = lines.pop()  # a line still being written
        out = [ev for ev in map(parse_line, lines) if ev is not None]
        if self._resume_after:
            # the same stream compacted (it still holds the last event we handed out): only newer ones
            if any(ev.seq == self._resume_after for ev in out):
                out = [ev for ev in out if ev.seq > self._resume_after]
            self._resume_after = 0
        if out:
            self._last_seq = max(self._last_seq, max(ev.seq for ev in out))
        return out
