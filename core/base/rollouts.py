"""The rollout record shared by training (produces/consumes) and the swarm (ships them).

The wire format (compact, versioned, size-limited, never pickle) lives in core/swarm/.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class Rollout:
    """One question with its G completions and their verifier rewards, from one peer."""

    task: str                 # reasoning-gym dataset name, e.g. "basic_arithmetic"
    question: str             # the prompt text (user message)
    answer: str               # reference answer (for the verifier)
    completions: list[str]    # G completions
    rewards: list[float]      # one verifier reward per completion
    round: int = 0
    peer_id: str = ""         # producer
    metadata: dict = field(default_factory=dict)  # task metadata the verifier needs (JSON-able)
    # Per completion: True when generation stopped at max_new_tokens (no end-of-sequence). Empty
    # (records from before the field, wire v1) = every completion finished.
    truncated: list[bool] = field(default_factory=list)
    # Provenance (wire v3): what a receiver needs to regenerate the question itself, so it never has
    # to believe the sender's answer, metadata or rewards: {"config": fingerprint of the task's
    # generator settings (TaskPool.fingerprint), "seed": the reasoning-gym dataset seed}. Empty on
    # records from before wire v3: those cannot be verified.
    source: dict = field(default_factory=dict)

    def is_truncated(self, i: int) -> bool:
        return bool(self.truncated[i]) if 0 <= i < len(self.truncated) else False

    def has_signal(self) -> bool:
        """False when every completion got the same reward: zero advantage, nothing to learn."""
        return len(self.rewards) > 1 and max(self.rewards) != min(self.rewards)
