"""Which of the peers' useful groups a node trains on (SAPO's J external groups per round).

Every policy first drops what cannot teach: groups whose rewards are not finite or all equal
(zero advantage, no gradient), and the node's own groups. The rewards it looks at are the ones
the caller hands it - the receiver's own verifier scores once the engine re-scores peers'
rollouts (verified sharing), never a number the sender claims on its own authority.

Policies (each peer gives at most its share, ceil(J / peers offering), so one peer listing many
groups cannot take most of the J: core.base.draw):
  uniform       SAPO's rule: J drawn uniformly among the useful groups (peers first, then groups).
  least_solved  groups of the task this node currently solves least (its own groups' exact-
                answer rate, TaskStats) first; a task it has never generated counts as unsolved.
                Uniform within a task.
  rare          groups with the fewest full successes first ("rare successes": one right answer
                in eight teaches the most about what is right); groups with partial credit only
                come after every group with a success. Uniform among equals.

Deterministic for a given seed and candidate set (candidates are sorted by producer and
question first, so the order peers' values arrived in does not matter).
"""

from __future__ import annotations

import hashlib
import math
import random
from dataclasses import dataclass, field
from typing import Iterable, Sequence

from core.base.draw import draw_per_peer, peer_share
from core.base.rollouts import Rollout

POLICIES = ("uniform", "least_solved", "rare")
SUCCESS = 0.999  # a completion at reward 1 (the verifier's exact answer)


def _finite(xs) -> bool:
    try:
        return all(math.isfinite(float(x)) for x in xs)
    except (TypeError, ValueError):
        return False


def successes(rewards: Sequence[float]) -> int:
    return sum(1 for x in rewards if x >= SUCCESS)


@dataclass
class TaskStats:
    """Per task, a moving estimate of how often this node's own completions are exactly right."""

    decay: float = 0.8                 # weight of the past per update (about the last 5 rounds)
    rate: dict[str, float] = field(default_factory=dict)

    def update(self, rollouts: Iterable[Rollout]) -> None:
        per: dict[str, list[float]] = {}
        for r in rollouts:
            if r.rewards and _finite(r.rewards):
                per.setdefault(r.task, []).append(successes(r.rewards) / len(r.rewards))
        for task, xs in per.items():
            now = sum(xs) / len(xs)
            old = self.rate.get(task)
            self.rate[task] = now if old is None else self.decay * old + (1 - self.decay) * now

    def solved(self, task: str) -> float:
        return self.rate.get(task, 0.0)


def useful(candidates: Iterable[Rollout], exclude_peer: str | None = None) -> list[Rollout]:
    """The groups that can teach (finite rewards, not all equal), not the node's own, in a fixed order."""
    pool = [r for r in candidates if _finite(r.rewards) and r.has_signal()
            and (exclude_peer is None or r.peer_id != exclude_peer)]
    pool.sort(key=lambda r: (r.peer_id, r.round, r.task, r.question))
    return pool


def select(candidates: Iterable[Rollout], j: int, seed: int | str = 0, exclude_peer: str | None = None,
           policy: str = "uniform", stats: TaskStats | None = None) -> list[Rollout]:
    if policy not in POLICIES:
        raise ValueError(f"unknown selection policy {policy!r}; use one of {', '.join(POLICIES)}")
    pool = useful(candidates, exclude_peer)
    if j <= 0 or not pool:
        return []
    if isinstance(seed, str):
        seed = int.from_bytes(hashlib.sha256(seed.encode()).digest()[:8], "big")
    rng = random.Random(seed)
    if policy == "uniform":
        return draw_per_peer(rng, pool, j, lambda r: r.peer_id)
    rng.shuffle(pool)  # the tie-break among equals; the sort below is stable
    if policy == "least_solved":
        st = stats or TaskStats()
        pool.sort(key=lambda r: st.solved(r.task))
    else:  # rare
        pool.sort(key=lambda r: (successes(r.rewards) == 0, successes(r.rewards)))
    cap = peer_share(j, len({r.peer_id for r in pool}))
    out: list[Rollout] = []
    count: dict[str, int] = {}
    for r in pool:  # best first, no peer over its share
        if len(out) == j:
            break
        if count.get(r.peer_id, 0) < cap:
            out.append(r)
            count[r.peer_id] = count.get(r.peer_id, 0) + 1
    return out
