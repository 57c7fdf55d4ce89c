"""User-facing errors: what happened, where, and the fix. Tracebacks are for bugs only.

what / where / fix are each a message key with parameters (core.base.i18n.Msg), or, in code not
moved to the catalog yet, a plain English string. The attributes `what`, `where` and `fix` are always
the English text (logs, tests, old callers); `localized()` and `render()` give the user's language.
"""

from __future__ import annotations

from typing import Any

from core.base.i18n import Msg, Translator


class SwarmdeckError(Exception):
    """An error a user can cause or fix. The CLI prints it without a traceback.

    what:  one sentence, what went wrong
    where: file / line / key / port / profile the problem is in (optional)
    fix:   the exact action or command that fixes it (optional)
    """

    exit_code = 1

    def __init__(self, what: str | Msg, where: str | Msg | None = None, fix: str | Msg | None = None):
        self.msgs: dict[str, Msg] = {k: v for k, v in (("what", what), ("where", where), ("fix", fix))
                                     if isinstance(v, Msg)}
        self.what = str(what)
        self.where = None if where is None else str(where)
        self.fix = None if fix is None else str(fix)
        super().__init__(self.what)

    def part(self, name: str) -> str | Msg | None:
        """what / where / fix as given: its Msg when it has a key, else the text (to pass into an event
        or into another message, so the key survives)."""
        return self.msgs.get(name) or getattr(self, name)

    def localized(self, tr: Translator | None = None) -> tuple[str, str | None, str | None]:
        """(what, where, fix) in the user's language (a part given as plain text stays as it is)."""
        def one(name: str) -> str | None:
            m = self.msgs.get(name)
            return m.render(tr) if m is not None else getattr(self, name)
        return one("what") or "", one("where"), one("fix")

    def render(self, tr: Translator | None = None) -> str:
        """One readable block in the user's language (the CLI prints it; str(e) is the English one)."""
        return self.as_msg().render(tr)

    def __str__(self) -> str:  # one readable block, English
        parts = [self.what]
        if self.where:
            parts.append(f"  where: {self.where}")
        if self.fix:
            parts.append(f"  fix:   {self.fix}")
        return "\n".join(parts)

    def as_msg(self) -> Msg:
        """The whole block as one message: its English text is str(e), rendered it is render() (for a
        field that holds an error's text, such as standing's `error`)."""
        parts = {"what": self.part("what")}
        key = "label.err"
        if self.where:
            parts["where"], key = self.part("where"), key + "_where"
        if self.fix:
            parts["fix"], key = self.part("fix"), key + "_fix"
        return Msg(key, **parts)

    def msgs_wire(self) -> dict[str, Any] | None:
        """The message keys of what/where/fix for an event's `msgs` (None when all are plain text)."""
        return {k: m.to_wire() for k, m in self.msgs.items()} or None

    def to_dict(self) -> dict:
        d = {"error": type(self).__name__, "what": self.what, "where": self.where, "fix": self.fix}
        if self.msgs:
            d["msgs"] = self.msgs_wire()
        return d


class ConfigError(SwarmdeckError):
    """Config file problems; `problems` holds every problem found, not only the first."""

    def __init__(self, what: str | Msg, where: str | Msg | None = None, fix: str | Msg | None = None,
                 problems: list | None = None):
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


def block_of(e: BaseException) -> str | Msg:
    """An exception as the user reads it: our errors as the what / where / fix block (a Msg), others as str(e)."""
    return e.as_msg() if isinstance(e, SwarmdeckError) else str(e)


def message_of(e: BaseException) -> str | Msg:
    """An exception's one-line message to put into another message: its keyed `what` for our errors
    (so it is shown in the user's language), str(e) for anything else."""
    return (e.part("what") or "") if isinstance(e, SwarmdeckError) else str(e)


def dict_part(d: dict | None, name: str) -> str | Msg | None:
    """what / where / fix of an error that went through `to_dict()` (a fleet host's status, for one): its
    Msg when the dict carries the key (so it renders in the reader's language), else the plain text."""
    if not d:
        return None
    m = Msg.from_wire((d.get("msgs") or {}).get(name)) if isinstance(d.get("msgs"), dict) else None
    return m if m is not None else d.get(name)
