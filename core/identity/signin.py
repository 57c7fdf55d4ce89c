"""A profile's "sign in again" state: its session key is stale or unknown to the login app.

Kept in the profile's state.json under "sign_in_required" ({reason, since, where}), so the node
(which notices it: a write answered 404 "user not found", 500 "api key not found", or an
account-abstraction signature error such as "AA24 signature error"), `swarmdeck status`, the TUI
and `swarmdeck login` all see the same thing, across restarts.

    required(name)                       -> {"reason", "since", "where", "key"} or None
    mark_required(name, reason, where=None)  (the node, when a write needs a new sign-in)
    clear(name)                          (a write landed again, or a browser sign-in finished)
    record(name, info)                   SubmissionQueue's on_signin hook: mark ({reason, where}) or clear (None)

The reason is text swarmdeck writes itself (never a reply body): no secrets.
"""

from __future__ import annotations

import time

KEY = "sign_in_required"
_MAX = 300


def command(name: str | None) -> str:
    """The command that fixes it."""
    return f"swarmdeck login -p {name}" if name else "swarmdeck login"


def required(name: str) -> dict | None:
    """{"reason", "since", "where"} when the profile must sign in again, else None."""
    from core.identity.profiles import read_state

    v = read_state(name).get(KEY)
    if not isinstance(v, dict):
        return None
    since = v.get("since")
    key = v.get("key")
    return {"reason": str(v.get("reason") or "the login app refused this profile's session key")[:_MAX],
            "since": float(since) if isinstance(since, (int, float)) and not isinstance(since, bool) else None,
            "where": str(v["where"])[:_MAX] if v.get("where") else None,
            "key": key if isinstance(key, str) and len(key) <= 200 else None}


def mark_required(name: str, reason: str, where: str | None = None) -> dict:
    """Record that `name` must sign in again. An episode already recorded keeps its `since`."""
    from core.identity.profiles import write_state

    old = required(name)
    entry = {"reason": str(reason or "")[:_MAX] or "the login app refused this profile's session key",
             "since": (old or {}).get("since") or time.time(), "where": str(where)[:_MAX] if where else None,
             # the refused key (its public half, not a secret): a new sign-in must bring another one
             "key": (old or {}).get("key") or _current_key(name)}
    write_state(name, {KEY: entry})
    return entry


def _current_key(name: str) -> str | None:
    from core.identity import files as identity
    from core.base.errors import SwarmdeckError
    from core.base.paths import ProfilePaths

    try:
        login = identity.read_login(ProfilePaths(name).identity_dir)
    except SwarmdeckError:
        return None
    return login.api_public_key if login is not None else None


def clear(name: str) -> None:
    """Forget the state (after a write landed again, or a new browser sign-in)."""
    from core.identity.profiles import read_state, write_state

    if KEY in read_state(name):
        write_state(name, {KEY: None})


def record(name: str, info: dict | None) -> None:
    """The SubmissionQueue's `on_signin` hook for profile `name`: {reason, where} marks, None clears."""
    if info is None:
        clear(name)
    else:
        mark_required(name, info.get("reason") or "", info.get("where"))


def refused_key(name: str, again: bool = False) -> str | None:
    """The session key a new sign-in must replace: the one recorded when the chain refused it, or
    (no record, or `swarmdeck login --again`) the current one; None when any activated key will do."""
    req = required(name)
    if req is not None and req.get("key"):
        return req["key"]  # recorded at refusal time: later merges of the app's files cannot shift it
    if not again and req is None:
        return None
    return _current_key(name)
