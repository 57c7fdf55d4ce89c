"""The supervisor's settings: the user's [profiles.NAME.daemon] table plus internal tuning knobs.

Every key a user can set is declared once, in core.config.settings.SupervisorConfig (type,
range, default); the fields below that mirror one take their default from there (in the
supervisor's units: bytes, not MiB). Only the internal knobs are declared here.
"""

from __future__ import annotations

import contextlib
import json
import os
import shlex
import sys
from dataclasses import dataclass, fields
from pathlib import Path

from core.base.errors import SupervisorError
from core.config.settings import SupervisorConfig
from core.identity.profiles import load_profile

PROJECT_ROOT = Path(__file__).resolve().parents[2]
MiB = 2**20

_USER = SupervisorConfig()  # the declared defaults of the user's keys

# config.toml's [profiles.NAME.daemon] keys -> (our field, scale). Keys not listed keep their name.
CONFIG_KEYS = {"restart_backoff_initial": ("backoff_base", 1), "restart_backoff_max": ("backoff_max", 1),
               "log_max_mb": ("log_max_bytes", MiB), "event_replay": ("replay", 1),
               "events_max_mb": ("events_max_bytes", MiB)}


@dataclass
class SupervisorSettings:
    """Seconds unless noted. Fields marked (config) come from [profiles.NAME.daemon]."""

    stop_timeout: float = float(_USER.stop_timeout)        # (config) SIGTERM → wait → SIGKILL the group
    backoff_base: float = float(_USER.restart_backoff_initial)  # (config) first restart delay; doubles per failure
    backoff_max: float = float(_USER.restart_backoff_max)  # (config)
    healthy_after: float = float(_USER.healthy_after)      # (config) a child up this long resets the failure count
    max_quick_failures: int = _USER.max_quick_failures     # (config) consecutive failures before gave_up
    stall_timeout: float = float(_USER.stall_timeout)      # (config) no event at all for this long → restart (0 = off)
    rss_limit_mb: float = float(_USER.rss_limit_mb)        # (config) whole process group; 0 = off
    vram_limit_mb: float = float(_USER.vram_limit_mb)      # (config) whole process group, via NVML; 0 = off
    log_max_bytes: int = _USER.log_max_mb * MiB            # (config)
    log_backups: int = _USER.log_backups                   # (config)
    events_max_bytes: int = _USER.events_max_mb * MiB     # (config) events.jsonl compacted past this; 0 = never
    replay: int = _USER.event_replay                       # (config) unused since the event stream left the socket
    group_grace: float = 3.0            # after the node exits, leftovers get SIGTERM then this long
    backoff_jitter: float = 0.25        # ± fraction of the delay, so a fleet does not restart in lockstep
    round_stall_timeout: float = 3600.0  # no round.started/finished for this long → restart (0 = off)
    poll_interval: float = 1.0          # health + RSS sampling period
    kernel_oom_fraction: float = 0.8    # SIGKILL we did not send + RSS ≥ this × limit → "kernel" OOM
    subscriber_queue: int = 10000       # per `logs --follow` client backlog before a slow one is dropped
    max_connections: int = 64

    @classmethod
    def from_mapping(cls, data: dict | None) -> "SupervisorSettings":
        s = cls()
        if not data:
            return s
        known = {f.name: f for f in fields(cls)}
        for k, v in dict(data).items():
            if k not in known:
                raise SupervisorError(f"unknown supervisor setting {k!r}", where="[profiles.<name>.daemon]",
                                      fix=f"use one of: {', '.join(known)}")
            typ = int if known[k].type in ("int", int) else float
            try:
                setattr(s, k, typ(v))
            except (TypeError, ValueError):
                raise SupervisorError(f"supervisor setting {k!r} must be a number, got {v!r}",
                                      where="[profiles.<name>.daemon]") from None
        return s


def from_config(cfg: SupervisorConfig, overrides: dict | None = None) -> SupervisorSettings:
    """The user's table in our units, then `overrides` (our field names; tests pass fast timings)."""
    merged: dict = {}
    for f in fields(cfg):
        name, scale = CONFIG_KEYS.get(f.name, (f.name, 1))
        v = getattr(cfg, f.name)
        merged[name] = v * scale if scale != 1 else v
    merged.update(overrides or {})
    return SupervisorSettings.from_mapping(merged)


def load_settings(profile: str) -> SupervisorSettings:
    """Profile's [daemon] table, then SWARMDECK_DAEMON_SETTINGS (JSON, our field names) as overrides."""
    cfg = SupervisorConfig()
    with contextlib.suppress(Exception):  # a profile that cannot load still gets a supervisor (it reports why)
        cfg = load_profile(profile).settings.daemon
    overrides: dict = {}
    env = os.environ.get("SWARMDECK_DAEMON_SETTINGS")
    if env:
        try:
            overrides = json.loads(env)
        except ValueError:
            raise SupervisorError("SWARMDECK_DAEMON_SETTINGS is not JSON", where="environment") from None
    known = {f.name for f in fields(SupervisorSettings)}
    return from_config(cfg, {k: v for k, v in overrides.items() if k in known})


def node_command(profile: str) -> list[str]:
    """argv of the node child; SWARMDECK_NODE_CMD (shell words, {profile} substituted) overrides it."""
    env = os.environ.get("SWARMDECK_NODE_CMD")
    if env:
        return [w.replace("{profile}", profile) for w in shlex.split(env)]
    return [sys.executable, "-m", "core.node", "--profile", profile]


def profile_training(profile: str) -> tuple[str | None, int | None, int | None]:
    """(quant, generations, max_new_tokens) from the profile, when it loads."""
    with contextlib.suppress(Exception):
        st = load_profile(profile).settings
        return st.quant, st.training.generations, st.training.max_new_tokens
    return None, None, None
