"""User-facing errors: what happened, where, and the fix. Tracebacks are for bugs only."""

from __future__ import annotations


class SwarmdeckError(Exception):
    """An error a user can cause or fix. The CLI prints it without a traceback.

    what:  one sentence, what went wrong
    where: file / line / key / port / profile the problem is in (optional)
    fix:   the exact action or command that fixes it (optional)
    """

    exit_code = 1

    def __init__(self, what: str, where: str | None = None, fix: str | None = None):
        super().__init__(what)
        self.what = what
        self.where = where
        self.fix = fix

    def __str__(self) -> str:  # one readable block
        parts = [self.what]
        if self.where:
            parts.append(f"  where: {self.where}")
        if self.fix:
            parts.append(f"  fix:   {self.fix}")
        return "\n".join(parts)

    def to_dict(self) -> dict:
        return {"error": type(self).__name__, "what": self.what, "where": self.where, "fix": self.fix}


class ConfigError(SwarmdeckError):
    """Config file problems; `problems` holds every problem found, not only the first."""

    def __init__(self, what: str, where: str | None = None, fix: str | None = None, problems: list | None = None):
        super().__init__(what, where, fix)
        self.problems = list(problems or [])


class ProfileError(SwarmdeckError):
    pass


class IdentityError(SwarmdeckError):
    pass


class ChainError(SwarmdeckError):
    pass


class SwarmError(SwarmdeckError):
    pass


class TrainingError(SwarmdeckError):
    pass


class SupervisorError(SwarmdeckError):
    pass
