"""Shard levels: how many buckets a round's manifests are split into, from the swarm size a node observes.

A round's manifests are split into 2**level buckets (a peer's bucket = low bits of
sha256(round/peer id)); each node estimates the swarm from the buckets it reads and picks the level
that puts about SHARD_PEERS manifests in one (stored at that level and the two beside it, so
estimates one step apart still meet).
"""

from __future__ import annotations

import hashlib
import math
from typing import Any

SHARD_PEERS = 16                   # target manifests per bucket (what one read returns)
MAX_LEVEL = 12                     # up to 4096 buckets a round: ~65k peers at SHARD_PEERS
MAX_STEP = 2.0                     # one bucket read moves the swarm-size estimate by at most this factor


def shard_bucket(peer_id: str, salt: Any, level: int) -> int:
    """The bucket of `peer_id` among the 2**level buckets of a round (salt = round): low bits of a hash,
    so the bucket at level l+1 splits the one at level l in two."""
    if level <= 0:
        return 0
    h = hashlib.sha256(f"{salt}/{peer_id}".encode()).digest()
    return int.from_bytes(h[:8], "big") & ((1 << level) - 1)



class Shards:
    """How many buckets a round is split into (2**level), from the swarm size this node observes.

    A reader that finds m manifests in one bucket at level l estimates n = m * 2**l peers (a
    running mean of log2 n). The level is the one that puts about SHARD_PEERS in a bucket, with
    hysteresis. A publisher stores at its level and the two beside it, so readers whose
    estimate differs by one step still see it.
    """

    def __init__(self) -> None:
        self.level: int | None = None
        self._log_n: float | None = None

    def read_level(self) -> int:
        return self.level or 0

    def publish_levels(self) -> list[int]:
        lv = self.level or 0
        return [x for x in (lv - 1, lv, lv + 1) if 0 <= x <= MAX_LEVEL]

    def observe(self, count: int, level: int) -> None:
        x = math.log2(max(1, count) * 2 ** level)
        if self._log_n is not None:
            # One read moves the estimate by at most a factor of MAX_STEP: a burst of fresh keys (each
            # a valid signer, none of them verified) or one thin bucket cannot throw it far in a round.
            # The first read is taken as it is: a newcomer must find a big swarm at once.
            x = max(self._log_n - math.log2(MAX_STEP), min(self._log_n + math.log2(MAX_STEP), x))
        self._log_n = x if self._log_n is None else 0.5 * self._log_n + 0.5 * x
        want = self._log_n - math.log2(SHARD_PEERS)  # fractional level
        cur = self.level
        if cur is None:
            self.level = max(0, min(MAX_LEVEL, math.ceil(want)))
        elif want > cur + 0.25 or want < cur - 1.25:
            # One step a round at most: the swarm's size changes slowly, and a burst of made-up
            # peers (each a fresh key) cannot throw every reader to an empty level at once.
            self.level = max(0, min(MAX_LEVEL, cur + (1 if want > cur else -1)))

    @property
    def estimate(self) -> int:
        return int(round(2 ** self._log_n)) if self._log_n is not None else 0

