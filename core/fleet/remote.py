"""The fixed set of commands the fleet runs on a remote swarmdeck. Nothing else is ever sent: no shell from
the UI, and every profile name is checked here before it can reach a command line."""

from __future__ import annotations

from core.base.paths import PROFILE_NAME_RE
from core.base.i18n import M
from core.fleet.registry import FleetError

VERBS = ("status", "events", "start", "stop", "restart", "logs")
STATUS_FORMAT_KEYS = ("version", "profiles")


def check_profile(name: str) -> str:
    if not isinstance(name, str) or not PROFILE_NAME_RE.match(name):
        raise FleetError(M("fleet.bad_profile", name=name), where=M("fleet.where_profile_name"), fix=M("fleet.bad_profile_fix"))
    return name


def args_for(verb: str, profile: str | None = None, *, lines: int = 100, now: bool = False,
             history: int = 0) -> list[str]:
    """The argument list for the remote `swarmdeck` (the transport quotes each word)."""
    if verb not in VERBS:
        raise FleetError(M("fleet.bad_verb", verb=repr(verb)), where="fleet", fix=M("fleet.bad_verb_fix", verbs=", ".join(VERBS)))
    if verb == "status":
        args = ["status", "--json"]
        if profile is not None:
            args += ["-p", check_profile(profile)]
        return args
    if profile is None:
        raise FleetError(M("fleet.needs_profile", verb=verb), where="fleet", fix=M("fleet.needs_profile_fix"))
    p = check_profile(profile)
    if verb == "events":
        return ["events", "--follow", "--json", "-n", str(max(0, min(int(history), 10000))), "-p", p]
    if verb == "logs":
        return ["logs", "-n", str(max(1, min(int(lines), 5000))), "-p", p]
    return [verb, *(["--now"] if now and verb in ("stop", "restart") else []), "-p", p]


def args_for_all_events() -> list[str]:
    """Every profile's new events in one stream (the fleet view's live rows)."""
    return ["events", "--follow", "--json", "--all", "-n", "0"]
