"""Receiver-side verification of peers' rollouts: trust nothing a peer says about correctness.

A peer's question group (core.base.rollouts.Rollout, wire v3) carries its provenance: the task, the
fingerprint of the task's generator config and the reasoning-gym dataset seed. The receiver
regenerates the entry (question, answer, metadata) with its OWN TaskPool, checks that the question
text is the one sent, and scores every completion with its OWN verifier. The sender's `answer`,
`metadata` and `rewards` are never used for training: a group that passes is handed on as a copy
carrying the regenerated answer/metadata and the receiver's rewards. The claimed rewards serve one
purpose only: a claimed reward that differs from the local score (verifiers are deterministic)
means a lying or broken peer, so the group is refused as `disagree` and counts against the peer
(core.swarm.trust).

Refusal reasons (counted, per peer too):
  unverifiable     no provenance (a wire v1/v2 group from an older node)
  unknown_task     a task this node's mix does not have
  foreign_config   the task's generator config differs from ours (another mix or difficulty)
  question_mismatch  the regenerated question is not the text sent
  nonfinite        a NaN/inf claimed reward (the wire refuses these too; here for direct callers)
  group_size       not G completions (G = this node's num_generations)
  over_budget      a completion far over this node's token budget: more than 4 x max_new_tokens + 16
                   tokens once re-tokenised (decoded text re-tokenises into more tokens than were
                   sampled: up to 2.7 x for the random tiny model's byte soup; ~1 x for real text).
                   Training cuts an accepted completion to max_new_tokens anyway; this bounds what
                   a peer can make us tokenise and score.
  flood            more groups from one peer in one round than this node would ever draw (J)
  disagree         claimed rewards differ from the local scores
The ones that say something about the peer's honesty (TRUST_REASONS) feed the peer-trust
ledger; the others can come from an honest peer with other settings.
"""

from __future__ import annotations

import dataclasses
import hashlib
import math
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Callable, Iterable

from core.base.rollouts import Rollout
from core.training.tasks import TaskPool

REASONS = ("unverifiable", "unknown_task", "foreign_config", "question_mismatch", "nonfinite", "group_size",
           "over_budget", "flood", "disagree")
# What a peer with other (honest) settings could not cause: these count against the peer.
TRUST_REASONS = frozenset({"unverifiable", "unknown_task", "foreign_config", "question_mismatch", "nonfinite",
                           "disagree"})
REWARD_TOLERANCE = 1e-6  # float noise between two runs of the same deterministic verifier


@dataclass
class VerifyReport:
    """What one pass over a round's candidate groups found."""

    accepted: list[Rollout] = field(default_factory=list)   # copies with the receiver's rewards
    refused: Counter = field(default_factory=Counter)       # reason -> groups
    by_peer: dict[str, Counter] = field(default_factory=dict)  # peer -> reason -> groups (refusals only)
    checked: int = 0
    seconds: float = 0.0                                    # regeneration + re-scoring time

    def refuse(self, peer: str, reason: str) -> None:
        self.refused[reason] += 1
        self.by_peer.setdefault(peer, Counter())[reason] += 1


class RolloutVerifier:
    """Re-derives and re-scores peers' groups with this node's own TaskPool and verifiers.

    count_tokens: completion text -> token count (the engine's tokenizer); None skips the budget check.
    Results are cached per group content, so polling the DHT several times a round costs one check.
    """

    def __init__(self, tasks: TaskPool, num_generations: int, max_new_tokens: int,
                 count_tokens: Callable[[str], int] | None = None, max_per_peer: int = 4):
        self.tasks = tasks
        self.num_generations = int(num_generations)
        self.max_new_tokens = int(max_new_tokens)
        self.count_tokens = count_tokens
        self.max_per_peer = max(1, int(max_per_peer))
        self._cache: dict[str, tuple[str | None, list[float] | None, str, dict]] = {}

    def check_all(self, candidates: Iterable[Rollout], exclude_peer: str | None = None) -> VerifyReport:
        t0 = time.perf_counter()
        rep = VerifyReport()
        per_peer: Counter = Counter()
        # A stable order, so which groups a flooding peer loses does not depend on arrival order.
        for r in sorted(candidates, key=lambda r: (r.peer_id, r.round, r.task, r.question, _digest(r))):
            if exclude_peer is not None and r.peer_id == exclude_peer:
                continue
            rep.checked += 1
            per_peer[(r.peer_id, r.round)] += 1
            if per_peer[(r.peer_id, r.round)] > self.max_per_peer:
                rep.refuse(r.peer_id, "flood")
                continue
            reason, rewards, answer, metadata = self._check(r)
            if reason is not None:
                rep.refuse(r.peer_id, reason)
                continue
            ok = dataclasses.replace(r, answer=answer, metadata=metadata, rewards=list(rewards),
                                     completions=list(r.completions), truncated=list(r.truncated),
                                     source=dict(r.source))
            ok._verified = True  # type: ignore[attr-defined]  # local only: GRPOEngine.train trusts these
            rep.accepted.append(ok)
        rep.seconds = time.perf_counter() - t0
        return rep

    def _check(self, r: Rollout) -> tuple[str | None, list[float] | None, str, dict]:
        key = _digest(r)
        hit = self._cache.get(key)
        if hit is None:
            hit = self._cache[key] = self._check_uncached(r)
            if len(self._cache) > 1024:
                self._cache.pop(next(iter(self._cache)))
        return hit

    def _check_uncached(self, r: Rollout) -> tuple[str | None, list[float] | None, str, dict]:
        src = r.source or {}
        if not src or "seed" not in src or "config" not in src:
            return "unverifiable", None, "", {}
        if not self.tasks.can_verify(r.task):
            return "unknown_task", None, "", {}
        if src["config"] != self.tasks.fingerprint(r.task):
            return "foreign_config", None, "", {}
        if not _finite(r.rewards) or len(r.rewards) != len(r.completions):
            return "nonfinite", None, "", {}
        if len(r.completions) != self.num_generations:
            return "group_size", None, "", {}
        if self.count_tokens is not None:
            cap = 4 * self.max_new_tokens + 16
            if any(len(c) > cap * 32 or self.count_tokens(c) > cap for c in r.completions):
                return "over_budget", None, "", {}
        try:
            q = self.tasks.regenerate(r.task, int(src["seed"]))
        except Exception:  # a seed the generator cannot use: not a question we could have drawn
            return "question_mismatch", None, "", {}
        if q.question != r.question:
            return "question_mismatch", None, "", {}
        local = self.tasks.score_question(q, list(r.completions))
        if any(abs(float(c) - l) > REWARD_TOLERANCE for c, l in zip(r.rewards, local)):
            return "disagree", None, "", {}
        return None, local, q.answer, q.metadata


def _finite(xs) -> bool:
    try:
        return all(math.isfinite(float(x)) for x in xs)
    except (TypeError, ValueError):
        return False


def _digest(r: Rollout) -> str:
    h = hashlib.sha256()
    for part in (r.peer_id, str(r.round), r.task, r.question, repr(sorted((r.source or {}).items())),
                 repr([float(x) if _finite([x]) else str(x) for x in r.rewards]), str(len(r.completions))):
        h.update(part.encode("utf-8", "replace") + b"\0")
    for c in r.completions:
        h.update(c.encode("utf-8", "replace") + b"\0")
    return h.hexdigest()
