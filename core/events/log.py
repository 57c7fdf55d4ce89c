"""The event bus (fan-out + persistence to events.jsonl) and the compaction that keeps that file bounded.

The events themselves, one frozen dataclass per type with the wire format, are in core.events.types; the one
reader of events.jsonl (read_events, tail_events, EventSource) is core.events.reader.

events.jsonl is bounded: EventBus(persist_to=..., max_bytes=N) compacts it (compact_events) when it grows past
N bytes: the newest part is kept as it is, the older part keeps what the dashboard and status read back
(every round.finished, the latest event of each submission, the latest events of every type); the full old
file becomes events.jsonl.1. Order and seq numbers are those of the original lines.
"""

from __future__ import annotations

import itertools
import json
import os
import re
import shutil
import tempfile
import threading
import time
from array import array
from pathlib import Path
from typing import Callable

from core.events.reader import BACKUP_SUFFIX
from core.events.types import Event as TypedEvent

_seq = itertools.count(1)


Listener = Callable[[TypedEvent], None]


class EventBus:
    """Fan-out of events to listeners, plus optional persistence to a JSON-lines file.

    Listeners must be quick (they run on the emitting thread); a listener that raises
    is dropped from nothing and logged nowhere: it must not break the engine.

    With max_bytes > 0 the persisted file is compacted (compact_events) once it grows past max_bytes.
    The size is counted from the bytes this bus appends (no stat per event); on_compact(info) is called
    after each compaction, outside the bus lock.
    """

    def __init__(self, profile: str = "", persist_to: Path | None = None, max_bytes: int = 0,
                 on_compact: Callable[[dict], None] | None = None):
        self.profile = profile
        self._listeners: list[Listener] = []
        self._lock = threading.Lock()
        self._file = None
        self._path = Path(persist_to) if persist_to is not None else None
        self._max_bytes = max(0, int(max_bytes or 0))
        self._on_compact = on_compact
        self._size = 0
        self._next_compact = self._max_bytes
        if self._path is not None:
            self._path.parent.mkdir(parents=True, exist_ok=True)
            _remove_stale_temps(self._path)
            self._open()

    def _open(self) -> None:
        f = open(self._path, "a+b")
        try:
            size = f.seek(0, os.SEEK_END)
            if size and os.pread(f.fileno(), 1, size - 1) != b"\n":
                f.write(b"\n")  # a crash cut the last line: never glue the next event onto it
                f.flush()
                size += 1
        except BaseException:
            f.close()
            raise
        self._file, self._size = f, size

    def subscribe(self, fn: Listener) -> Callable[[], None]:
        with self._lock:
            self._listeners.append(fn)

        def unsubscribe() -> None:
            with self._lock:
                if fn in self._listeners:
                    self._listeners.remove(fn)

        return unsubscribe

    def emit(self, ev: TypedEvent) -> TypedEvent:
        """Stamp a typed event (seq, time, this bus's profile) and publish it."""
        ev = ev.stamped(seq=ev.seq or next(_seq), ts=ev.ts or time.time(), profile=self.profile)
        self.publish(ev)
        return ev

    def publish(self, ev: TypedEvent) -> None:
        """Persist and fan out an event already stamped by its caller (the supervisor numbers its own)."""
        compacted = None
        with self._lock:
            listeners = list(self._listeners)
            if self._file is not None:
                line = (ev.to_json() + "\n").encode("utf-8")
                self._file.write(line)
                self._file.flush()
                self._size += len(line)
                if self._max_bytes and self._size > self._next_compact:
                    compacted = self._compact_locked()
        if compacted is not None and self._on_compact is not None:
            try:
                self._on_compact(compacted)
            except Exception:
                pass
        for fn in listeners:
            try:
                fn(ev)
            except Exception:  # a broken listener must never stop training
                pass

    def _compact_locked(self) -> dict | None:
        try:
            info = compact_events(self._path, self._max_bytes)
        except Exception as e:  # disk full, read-only...: keep appending, try again after another quarter
            self._next_compact = self._size + max(1, self._max_bytes // 4)
            return {"error": str(e), "before": self._size}
        self._file.close()
        self._file = None
        try:
            self._open()  # the compacted file (a new inode) from here on
        except OSError as e:
            return {"error": f"could not reopen {self._path}: {e}", "before": self._size}
        # never compact again right away when what must be kept is already near the limit
        self._next_compact = max(self._max_bytes, self._size + self._max_bytes // 4)
        return info  # None: the file was not past the limit after all (cut by hand)

    def close(self) -> None:
        with self._lock:
            if self._file is not None:
                self._file.close()
                self._file = None


# --------------------------------------------------------------------------- compaction of events.jsonl

# What a compaction keeps of the part older than the verbatim tail (what tui.model.dashboard and status read back):
KEEP_ALL = ("round.finished",)                 # the reward history (oldest dropped only past the budget)
KEEP_RECENT_DEFAULT = 100                      # the newest events of every type
KEEP_RECENT = {"log": 300, "error": 300, "hf.push": 300,   # the dashboard's log panel (MAX_LOG lines)
               "peers.update": 10, "train.step": 20,       # big or frequent, only the latest one is read
               "chain.totals": 2000}                       # standing's hour/day/week deltas (core.usecases.standing)
SUBMISSION_KEYS = 2000                         # latest event of the newest (kind, round, stage) submissions
SUBMISSION_FAILED = 20                         # the newest failed submissions (dashboard failures)
TAIL_FRACTION = 5                              # the newest max_bytes/5 are kept as they are
HISTORY_FRACTION = 2                           # the older part keeps at most max_bytes/2
_TEMP_SUFFIX = ".compact"
_TYPE_RE = re.compile(rb'"type":\s*"([^"\\]{1,64})"')


def _remove_stale_temps(path: Path) -> None:
    """Temp files a killed compaction left beside path (the real file is never one of them)."""
    try:
        for p in path.parent.glob(f".{path.name}.*{_TEMP_SUFFIX}"):
            p.unlink(missing_ok=True)
    except OSError:
        pass


def _fsync_dir(d: Path) -> None:
    try:
        fd = os.open(d, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
    except OSError:
        pass


def compact_events(path: Path, max_bytes: int) -> dict | None:
    """Shrink an events.jsonl that grew past max_bytes, keeping what users look at.

    Kept, in the original order with the original seq numbers:
      - the newest max_bytes/TAIL_FRACTION bytes, byte for byte (replay, restart seq, the TUI's first read);
      - from the older part: every round.finished (the reward chart), the latest event of every type and of
        the register submission, and as extras the latest event of each of the newest SUBMISSION_KEYS
        submissions, the newest SUBMISSION_FAILED failed ones and the newest KEEP_RECENT[type] (else
        KEEP_RECENT_DEFAULT) events of every type. When that is over max_bytes/HISTORY_FRACTION, the oldest
        extras go first, then the oldest rounds. Torn lines are dropped.
    Crash-safe: the result is written to a temp file and fsynced, the full file is hard-linked to
    path + ".1" (replacing the previous backup), then the temp file is renamed over path; a kill at any
    point leaves path a complete file (old or new). The caller must be the only writer (EventBus holds
    its lock). Returns {before, after, kept, dropped} or None when the file is under max_bytes.
    """
    path = Path(path)
    with open(path, "rb") as src:
        st = os.fstat(src.fileno())
        size = st.st_size
        if size <= max_bytes:
            return None
        tail_start = max(0, size - max(1, max_bytes // TAIL_FRACTION))
        if tail_start:
            src.seek(tail_start - 1)
            if src.read(1) != b"\n":
                src.readline()  # the tail starts at a line start
            tail_start = src.tell()
        keep = _choose(src, tail_start, max(1, max_bytes // HISTORY_FRACTION))
        _remove_stale_temps(path)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=_TEMP_SUFFIX, dir=path.parent)
        kept = dropped = 0
        try:
            os.fchmod(fd, st.st_mode & 0o777)
            with os.fdopen(fd, "wb") as out:
                src.seek(0)
                i = 0
                pos = 0
                while pos < tail_start:
                    line = src.readline()
                    if not line:
                        break
                    pos += len(line)
                    if i in keep and line.endswith(b"\n") and _valid(line):
                        out.write(line)
                        kept += 1
                    else:
                        dropped += 1
                    i += 1
                src.seek(tail_start)
                shutil.copyfileobj(src, out, 1 << 20)
                out.flush()
                os.fsync(out.fileno())
                after = out.tell()
            backup = path.with_name(path.name + BACKUP_SUFFIX)
            _backup(path, backup)
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
    _fsync_dir(path.parent)
    return {"before": size, "after": after, "kept": kept, "dropped": dropped, "path": str(path)}


def _backup(path: Path, backup: Path) -> None:
    """path's current content becomes backup (one generation), without path ever missing."""
    fd, tmp = tempfile.mkstemp(prefix=f".{backup.name}.", suffix=_TEMP_SUFFIX, dir=path.parent)
    os.close(fd)
    os.unlink(tmp)
    try:
        try:
            os.link(path, tmp)
        except OSError:  # a filesystem without hard links: copy
            shutil.copy2(path, tmp)
        os.replace(tmp, backup)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _valid(line: bytes) -> bool:
    try:
        d = json.loads(line)
    except ValueError:
        return False
    return isinstance(d, dict) and isinstance(d.get("type"), str)


def _choose(src, end: int, budget: int) -> set[int]:
    """Indexes of the lines before byte `end` that a compaction keeps (see compact_events)."""
    src.seek(0)
    types: list[str | None] = []
    sizes = array("L")                     # line lengths (a big legacy file: 4-8 bytes a line)
    sub_last: dict[tuple, int] = {}        # submission key -> index of its latest line
    failed: list[int] = []
    names: dict[bytes, str] = {}
    pos = 0
    while pos < end:
        line = src.readline()
        if not line:
            break
        pos += len(line)
        m = _TYPE_RE.search(line)
        t = None if m is None else names.setdefault(m.group(1), m.group(1).decode("ascii", "replace"))
        if t == "submission":
            try:
                d = json.loads(line)
                key = (str(d.get("kind")), d.get("round"), d.get("stage"))
                sub_last.pop(key, None)    # re-insert: dict order = order of latest lines
                sub_last[key] = len(types)
                if d.get("status") == "failed":
                    failed.append(len(types))
            except (ValueError, TypeError, AttributeError):
                t = None
        types.append(t)
        sizes.append(len(line))
    counts: dict[str, int] = {}
    last: dict[str, int] = {}
    for i, t in enumerate(types):
        if t is not None:
            counts[t] = counts.get(t, 0) + 1
            last[t] = i
    latest = list(sub_last.items())
    # never dropped: the latest event of every type (state, identity, mode, totals...) and of the register
    essential = set(last.values()) | {i for k, i in latest if k[0] == "register"}
    rounds: list[int] = []                 # KEEP_ALL lines, oldest first
    extra: set[int] = set()                # the newest of every type, submissions, failures
    seen: dict[str, int] = {}
    for i, t in enumerate(types):
        if t is None:
            continue
        n = seen[t] = seen.get(t, 0) + 1
        if t in KEEP_ALL:
            rounds.append(i)
        elif counts[t] - n < KEEP_RECENT.get(t, KEEP_RECENT_DEFAULT):
            extra.add(i)
    extra.update(i for _, i in latest[-SUBMISSION_KEYS:])
    extra.update(failed[-SUBMISSION_FAILED:])
    extra -= essential
    rounds = [i for i in rounds if i not in essential]
    total = sum(sizes[i] for i in essential) + sum(sizes[i] for i in extra) + sum(sizes[i] for i in rounds)
    # past the budget the older extras go first, then the oldest rounds: the reward history is the last to go
    drop_extra = sorted(extra)
    k = 0
    while total > budget and k < len(drop_extra):
        total -= sizes[drop_extra[k]]
        k += 1
    j = 0
    while total > budget and j < len(rounds):
        total -= sizes[rounds[j]]
        j += 1
    keep = essential | set(drop_extra[k:]) | set(rounds[j:])
    return keep
