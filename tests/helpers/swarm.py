"""Sample rollouts for DHT tests and benchmarks."""

from __future__ import annotations

import random
import string

from core.base.rollouts import Rollout


def make_round(peer_id: str, round: int, questions: int = 4, generations: int = 8, tokens: int = 512,
               seed: int = 0) -> list[Rollout]:
    """A realistic round: I questions x G completions of `tokens` word-pieces of barely compressible text."""
    rng = random.Random(f"{seed}/{peer_id}/{round}")
    alphabet = string.ascii_letters + string.digits

    def text(n: int) -> str:
        return " ".join("".join(rng.choice(alphabet) for _ in range(rng.randint(3, 9))) for _ in range(n))

    return [Rollout(task="basic_arithmetic", question=text(60), answer=str(rng.randint(0, 999)),
                    completions=[text(tokens) for _ in range(generations)],
                    rewards=[rng.choice([0.0, 0.5, 1.0]) for _ in range(generations)],
                    round=round, peer_id=peer_id, metadata={"source_idx": i, "seed": seed})
            for i in range(questions)]
