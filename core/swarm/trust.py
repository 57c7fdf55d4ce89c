"""Peer trust: a peer whose groups fail verification is ignored for a while, and its groups not downloaded.

The receiver re-derives and re-scores every peer group (core.training.verify). Verifiers are
deterministic, so a claimed reward that differs from the local score, a question that is not the one
its provenance regenerates, or a group without provenance, says the peer is lying, broken or too old
to check. Each such group is a strike; `strikes` of them within `window` rounds put the peer on the
ignore list for `cool_off` rounds: the DHT fetch skips its manifests (SwarmDHT.peer_filter), so its
later groups are not downloaded at all. The reason is reported once, when the peer is ignored (the
caller logs the returned line), not every round.

Counts are cumulative for the node's life: refused groups by reason, and per peer, for the
dashboard, `status --json` and the Prometheus counters.
"""

from __future__ import annotations

import threading
from collections import Counter
from dataclasses import dataclass


@dataclass(frozen=True)
class Ignored:
    peer_id: str
    reason: str           # the most frequent strike reason
    since_round: int
    until_round: int      # ignored while round < until_round


class PeerTrust:
    def __init__(self, strikes: int = 2, cool_off: int = 20, window: int = 10,
                 strike_reasons: frozenset[str] | set[str] | None = None):
        self.strikes = max(1, int(strikes))
        self.cool_off = max(1, int(cool_off))
        self.window = max(1, int(window))
        self.strike_reasons = frozenset(strike_reasons) if strike_reasons is not None else None
        self._lock = threading.Lock()
        self._recent: dict[str, list[tuple[int, str]]] = {}   # peer -> (round, reason) strikes in window
        self._ignored: dict[str, Ignored] = {}
        self.refused: Counter[str] = Counter()                  # reason -> groups, every peer
        self.refused_by_peer: dict[str, Counter[str]] = {}
        self.ignored_total = 0                                  # times a peer was put on the list

    def record(self, peer: str, reason: str, round_: int, n: int = 1) -> Ignored | None:
        """Count `n` refused groups of `peer`; returns the Ignored entry when this puts the peer on the list."""
        with self._lock:
            self.refused[reason] += n
            self.refused_by_peer.setdefault(peer, Counter())[reason] += n
            if self.strike_reasons is not None and reason not in self.strike_reasons:
                return None
            if peer in self._ignored and self._ignored[peer].until_round > round_:
                return None  # already ignored (a late download of this round): reported once
            recent = [(r, why) for r, why in self._recent.get(peer, []) if r > round_ - self.window]
            recent.extend([(round_, reason)] * n)
            self._recent[peer] = recent
            if len(recent) < self.strikes:
                return None
            why = Counter(w for _, w in recent).most_common(1)[0][0]
            entry = Ignored(peer, why, round_, round_ + self.cool_off)
            self._ignored[peer] = entry
            self._recent.pop(peer, None)
            self.ignored_total += 1
            return entry

    def is_ignored(self, peer: str, round_: int) -> bool:
        with self._lock:
            e = self._ignored.get(peer)
            return e is not None and e.until_round > round_

    def ignored(self, round_: int) -> list[Ignored]:
        """The peers ignored at `round_` (expired entries are dropped: the peer gets a fresh start)."""
        with self._lock:
            for p in [p for p, e in self._ignored.items() if e.until_round <= round_]:
                del self._ignored[p]
            return sorted(self._ignored.values(), key=lambda e: (e.since_round, e.peer_id))

    def refused_peers(self, limit: int = 50) -> dict[str, dict[str, int]]:
        """Per peer refused groups by reason, the peers with the most first (bounded for events)."""
        with self._lock:
            top = sorted(self.refused_by_peer.items(), key=lambda kv: (-sum(kv[1].values()), kv[0]))[:limit]
            return {p: dict(c) for p, c in top}
