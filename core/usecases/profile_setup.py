"""Profile setup: what the wizard (TUI) and `swarmdeck profile new` apply, and what model will run.

All config edits go through core.config (Config.add_network / set_profile_value / save), never raw
tomlkit here, so the validation and the comments-keeping writer are the same for every caller.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from core.base import paths as _paths
from core.base.constants import local_cpu_model
from core.base.errors import SwarmdeckError
from core.base.fsutil import atomic_write_text
from core.config import settings as _config
from core.base.i18n import M
from core.hardware import probe
from core.identity import files as _identity
from core.identity import profiles as _profiles


@dataclass(frozen=True)
class PlannedModel:
    """What a profile's node will load, as opposed to what the user picked."""

    stored: str          # what config.toml gets: "auto" for a kept recommendation on the local network
    runs: str            # the model the node loads ("tiny" = the local tiny model)
    why: str | None      # None when `runs` is the pick; "cpu_local" when the local tiny model replaces it


def planned_model(chosen: str, network: str, recommended: str, cpu_mode: bool) -> PlannedModel:
    """The node's rule (core.node.runner: model = "auto" on the local network in CPU mode runs the
    tiny model, rounds in seconds with no download), applied before the profile exists."""
    local = network == "local"
    if local and cpu_mode and chosen in ("auto", recommended, local_cpu_model()):
        return PlannedModel("auto", local_cpu_model(), "cpu_local")  # the same rule as core.node.runner._model_name
    if local and chosen in ("auto", recommended):
        return PlannedModel("auto", recommended, None)
    return PlannedModel(chosen, recommended if chosen == "auto" else chosen, None)


def recommended_model(network: str, recommended: str, cpu_mode: bool) -> str:
    """The one model recommendation for a profile on `network`: what its `auto` runs (the hardware
    step, its summary and the node agree; issue 20: the wizard recommended Qwen on one step and the
    summary said the demo model)."""
    return planned_model("auto", network, recommended, cpu_mode).runs


@dataclass(frozen=True)
class SetupRequest:
    """A finished wizard (or CLI) answer. hf_token is a secret: stored 0600, never shown."""

    name: str
    settings: dict[str, Any]
    custom_network: dict[str, Any] | None = None
    participate: bool = True
    hf_token: str | None = None
    # the wizard's new profile becomes the current one; `profile new` without --use passes None: only
    # when there is no usable current profile
    make_current: bool | None = True


def _add_custom_network(cfg: _config.Config, name: str, net: dict) -> None:
    cfg.add_network(name, {**{k: net[k] for k in ("rpc_url", "chain_id", "coordinator", "bootnodes")},
                           "backend": "web3"})


def _local_auto_model(settings: dict) -> dict:
    """A kept recommendation on the local network is stored as "auto" (see planned_model)."""
    st = dict(settings)
    if st.get("network") != "local" or st.get("model") in (None, "auto"):
        return st
    rec = probe.recommend_for(tuple(st.get("gpus") or ()))
    st["model"] = planned_model(st["model"], "local", rec.model, rec.cpu_mode).stored
    return st


HF_TOKEN_FILE = "hf_token"


def store_hf_token(name: str, token: str) -> Path:
    """The Hugging Face token in the profile's secrets dir (0700) as a 0600 file. Returns the path."""
    pp = _paths.ProfilePaths(name)
    _paths.ensure_private_dir(pp.root)
    _paths.ensure_private_dir(pp.secrets_dir)
    target = pp.secrets_dir / HF_TOKEN_FILE
    atomic_write_text(target, token + "\n", mode=0o600)
    return target


def create_profile(req: SetupRequest, configure_existing: bool = False) -> _profiles.Profile:
    """Apply a finished setup: a new profile, or (first run) the example's profile set up in place."""
    cfg = _config.load_config()
    settings = _local_auto_model(req.settings)
    if req.custom_network is not None:
        _add_custom_network(cfg, settings["network"], req.custom_network)
        cfg.save()
    now = datetime.now(timezone.utc).isoformat(timespec="seconds")
    if configure_existing:
        for k, v in settings.items():
            cfg.set_profile_value(req.name, k, v)
        problems = [p for p in cfg.validate() if p.key.startswith(f"profiles.{req.name}")]
        if problems:
            raise SwarmdeckError(M("err.profile.invalid_settings",
                                   lines=_config._joined([p.as_msg() for p in problems], "config.join_lines")))
        cfg.save()
        pp = _paths.ProfilePaths(req.name)
        _paths.ensure_private_dir(pp.identity_dir)
        _identity.load_or_create_swarm_pem(pp.swarm_pem)
        out = _profiles.load_profile(req.name)
    else:
        out = _profiles.create_profile(req.name, cfg=cfg, make_current=req.make_current, **settings)
    if req.hf_token:
        store_hf_token(req.name, req.hf_token)  # 0600 in the profile's 0700 secrets dir
    # participation N (the seed's alternative flow) has no config key yet: recorded for the engine
    _profiles.write_state(req.name, {"setup_at": now, "testnet_participation": req.participate})
    return out
