"""When to restart a child that exited, and when to give up: one policy for nodes and host parts.

The node supervisor (core.supervisor.supervisor) and the swarm host's part watcher
(core.hosting.parts, core.hosting.keeper) both use it, so a bootnode or a chain that crash-loops
is treated exactly like a node that does:

  * an exit after less than `healthy_after` seconds of life is a quick failure; a longer life
    counts as the first failure of a new series (the count restarts at 1);
  * `max_quick_failures` quick failures in a row: give up (nothing restarts it until asked);
  * otherwise wait backoff_base * 2^(failures-1), at most backoff_max, ± backoff_jitter;
  * a child that stays up `healthy_after` seconds resets the count (healthy()).

Pure: no clock or process of its own (the caller passes uptimes), so it is unit-tested directly.
"""

from __future__ import annotations

import random
from dataclasses import dataclass


@dataclass
class RestartPolicy:
    backoff_base: float = 2.0
    backoff_max: float = 300.0
    backoff_jitter: float = 0.25
    healthy_after: float = 60.0
    max_quick_failures: int = 5
    quick_failures: int = 0

    @classmethod
    def from_settings(cls, s) -> "RestartPolicy":
        """From a core.supervisor.settings.SupervisorSettings (or anything with the same fields)."""
        return cls(backoff_base=float(s.backoff_base), backoff_max=float(s.backoff_max),
                   backoff_jitter=float(s.backoff_jitter), healthy_after=float(s.healthy_after),
                   max_quick_failures=int(s.max_quick_failures))

    def exited(self, uptime: float, rng: random.Random | None = None) -> float | None:
        """A child exited after `uptime` seconds: the delay before its restart, or None = give up."""
        if uptime < self.healthy_after:
            self.quick_failures += 1
        else:
            self.quick_failures = 1
        if self.quick_failures >= self.max_quick_failures:
            return None
        delay = min(self.backoff_max, self.backoff_base * 2 ** (self.quick_failures - 1))
        return delay * (1 + (rng or random).uniform(-self.backoff_jitter, self.backoff_jitter))

    def healthy(self, uptime: float) -> bool:
        """The running child has been up `uptime` s: reset the count once it counts as healthy.
        True when this call reset a non-zero count (the caller may note it)."""
        if uptime >= self.healthy_after and self.quick_failures:
            self.quick_failures = 0
            return True
        return False

    def reset(self) -> None:
        self.quick_failures = 0
