"""A signed-in profile and a snapshot of its identity files, for the backup tests (unit and integration)."""

from __future__ import annotations

from pathlib import Path

from core.identity import files as identity
from core.identity import profiles


def signed_in(name: str):
    """A new profile with userData.json and an activated session key (a made-up secret to look for)."""
    prof = profiles.create_profile(name)
    identity.write_user_data(prof.paths.identity_dir, "org-1", "0xA", "u-1", "me@example.org")
    identity.append_user_api_key(prof.paths.identity_dir, "org-1",
                                 {"publicKey": "0xP", "privateKey": "0xSECRETKEY", "createdAt": "t", "activated": True})
    return prof


def files(d: Path) -> dict:
    """Every file in d by name, with its bytes."""
    return {p.name: p.read_bytes() for p in d.iterdir() if p.is_file()}
