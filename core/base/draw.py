"""The J draw over peers first, then groups: how a node takes its share of the swarm's question groups.

Drawing J uniformly over groups lets whoever lists the most groups take most of the draw (one
identity with a 64-group manifest of tiny groups took 81-86 % of an observer's draws). So a draw
picks a peer uniformly among those with the fewest groups taken so far, then one of that peer's
groups uniformly, and no peer gives more than its share: ceil(n / peers) groups a round. A node
may then take fewer than n groups (when the other peers offer less than their share); that is
the price of one peer not steering the draw.

This does not stop sybils (twenty fresh keys are twenty peers): the registered-only gate and
peer trust do. Used by the DHT fetch (which groups to download) and by the training engine's
select_external (which downloaded groups to train on), so both draw the same way.
"""

from __future__ import annotations

import math
import random
from typing import Callable, Hashable, Sequence, TypeVar

T = TypeVar("T")


def peer_share(n: int, peers: int) -> int:
    """The most groups one peer may give to a draw of n among `peers` peers."""
    return max(1, math.ceil(n / max(1, peers)))


def draw_per_peer(rng: random.Random, items: Sequence[T], n: int, peer_of: Callable[[T], Hashable],
                  taken: dict | None = None, cap: int | None = None) -> list[T]:
    """Up to n of `items`, peers first then groups (see the module docstring).

    items:  candidates in a deterministic order (the result depends only on it and rng);
    taken:  groups already taken per peer this round (earlier polls), counted against the cap;
    cap:    the most one peer gives in all, taken included; default peer_share(n + taken, peers).
    """
    by_peer: dict[Hashable, list[T]] = {}
    for it in items:
        by_peer.setdefault(peer_of(it), []).append(it)
    had = dict(taken or {})
    if cap is None:
        peers = set(by_peer) | {p for p, k in had.items() if k}
        cap = peer_share(n + sum(had.values()), len(peers))
    count = {p: had.get(p, 0) for p in by_peer}
    out: list[T] = []
    while len(out) < n:
        open_ = [p for p in by_peer if by_peer[p] and count[p] < cap]
        if not open_:
            break
        least = min(count[p] for p in open_)
        p = rng.choice([q for q in open_ if count[q] == least])
        out.append(by_peer[p].pop(rng.randrange(len(by_peer[p]))))
        count[p] += 1
    return out
