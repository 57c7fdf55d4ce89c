"""What the swarm gave a node: its round.finished events folded into useful groups by origin.

One fold for every reader (the dashboard, `status --json`, the metrics), so they agree.

Per round: the useful groups (nonzero advantage: the only ones that move the weights) the step
trained on - the node's own and the peers' - and the peers' groups refused before training.

The 20-round view asks whether the node's reward rose faster than its own groups alone would
predict. A node has no solo twin to compare with, so the prediction rests on one stated
assumption: every useful group teaches about as much as any other (the bench measures the real
counterfactual, swarm vs solo, in `just bench-sapo`). Over the window the reward's rise is the mean of
its newer half minus the mean of its older half; own groups alone would predict the rise times
their share of the useful groups; the rest is the peers' part. The verdict says "faster" only when
the peers' part is larger than twice the rise's standard error (the rounds' noise), "falling" when
the reward fell by more than that, and "within_noise" otherwise - most windows on a noisy node.
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass, field

from core.events.types import Event, RoundFinished

WINDOW = 20
MIN_ROUNDS = 6          # fewer rounds than this in the window: "too_early"
MAX_KEPT = 200


@dataclass(frozen=True)
class RoundGain:
    round: int
    reward: float
    own: int            # own useful groups trained on
    peers: int          # peers' useful groups trained on
    refused: int        # peers' groups refused


def _mean(xs: list[float]) -> float:
    return sum(xs) / len(xs)


def _var(xs: list[float]) -> float:
    if len(xs) < 2:
        return 0.0
    m = _mean(xs)
    return sum((x - m) ** 2 for x in xs) / (len(xs) - 1)


@dataclass
class SwarmGain:
    rounds: deque = field(default_factory=lambda: deque(maxlen=MAX_KEPT))
    taken_from: dict[str, int] = field(default_factory=dict)     # peer id -> groups trained on, all rounds
    refused_from: dict[str, int] = field(default_factory=dict)   # peer id -> groups refused, all rounds

    def add(self, ev: Event) -> None:
        """Fold one event (anything but a round.finished that says what it trained on is ignored)."""
        if not isinstance(ev, RoundFinished) or ev.useful_own is None:
            return  # a node older than this field: nothing to say about origins
        self.rounds.append(RoundGain(round=int(ev.round), reward=float(ev.reward), own=int(ev.useful_own),
                                     peers=int(ev.useful_peers or 0), refused=int(ev.refused or 0)))
        for src, dst in ((ev.taken_from, self.taken_from), (ev.refused_from, self.refused_from)):
            for peer, n in (src or {}).items():
                if isinstance(n, int) and n > 0:
                    dst[str(peer)] = dst.get(str(peer), 0) + n

    def last(self) -> RoundGain | None:
        return self.rounds[-1] if self.rounds else None

    def view(self, window: int = WINDOW) -> dict:
        """The window's verdict and the figures behind it (JSON-able)."""
        rs = list(self.rounds)[-window:]
        out: dict = {"rounds": len(rs), "window": window,
                     "own": sum(r.own for r in rs), "from_peers": sum(r.peers for r in rs),
                     "refused": sum(r.refused for r in rs)}
        useful = out["own"] + out["from_peers"]
        out["peer_share"] = round(out["from_peers"] / useful, 4) if useful else None
        if len(rs) < MIN_ROUNDS:
            out["verdict"] = "too_early"
            return out
        half = len(rs) // 2
        old, new = [r.reward for r in rs[:half]], [r.reward for r in rs[-half:]]
        rise = _mean(new) - _mean(old)
        se = math.sqrt(_var(old) / len(old) + _var(new) / len(new))
        share = out["peer_share"] or 0.0
        own_pred = rise * (1.0 - share)
        out.update(rise=round(rise, 5), rise_se=round(se, 5), own_alone=round(own_pred, 5),
                   peers_part=round(rise - own_pred, 5))
        if not out["from_peers"]:
            out["verdict"] = "no_peer_groups"
        elif rise - own_pred > 2 * se:
            out["verdict"] = "faster"
        elif rise < -2 * se:
            out["verdict"] = "falling"
        else:
            out["verdict"] = "within_noise"
        return out

    def summary(self) -> dict | None:
        """The last round and the 20-round view, for `status --json` and the metrics; None before any."""
        last = self.last()
        if last is None:
            return None
        return {"last_round": {"round": last.round, "own": last.own, "from_peers": last.peers,
                               "refused": last.refused},
                "window": self.view(),
                "taken_from": dict(self.taken_from), "refused_from": dict(self.refused_from)}
