"""Which local profile is the local swarm's bootnode: written by core.localnet, read by the node."""

from __future__ import annotations

from pathlib import Path

from core.base import paths as _paths

LOCAL_NETWORK = "local"


def bootnode_file() -> Path:
    """Names the profile that acts as the local swarm's bootnode."""
    return _paths.network_dir(LOCAL_NETWORK) / "bootnode-profile"


def is_designated_bootnode(profile: str) -> bool:
    try:
        return bootnode_file().read_text().strip() == profile
    except FileNotFoundError:
        return False
