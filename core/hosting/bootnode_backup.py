"""Backups of a hosted swarm's bootnode identity (networks/NAME/bootnode/swarm.pem).

The bootnode's key decides its peer id, and with it the address published on chain and printed in
every invite: losing it means every member needs a new invite. So it is kept like a profile's
identity, with the same archive (core.identity.backup: scrypt + AES-256-GCM, manifest with
checksums, 0600, never overwrites a file). The manifest says whose key it is
({"kind": "swarm-bootnode", "swarm": NAME}), so a profile restore refuses it and a swarm restore
refuses a profile's archive.

Restore rules (the profile's "never overwrite an identity", with one explicit way out):
  * no key here            -> written (0600 in a 0700 dir), then verified (its peer id);
  * the same key here      -> nothing written, the backup recorded as verified;
  * a different key here   -> refused, naming both peer ids; with replace=True (the user confirmed)
                              and the host stopped, the current key is first kept beside it as
                              swarm.pem.replaced-STAMP (0600) and then replaced.

The last verified backup is recorded in networks/NAME/bootnode-backup.json (no secrets: archive
path, time, peer id, the key's sha256), which `swarm status` reads for its "NO BACKUP" warning.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

from core.base import fsutil
from core.base import paths as _paths
from core.base.errors import IdentityError
from core.base.i18n import M
from core.hosting import bootnode as _boot
from core.identity import backup as _backup
from core.identity import files as _identity


@dataclass(frozen=True)
class BootnodeBackup:
    archive: Path
    swarm: str
    peer_id: str
    display_name: str
    created_at: str
    action: str = "verified"  # restore: "written" | "same" | "replaced"; backup/verify: "verified"
    replaced_kept: Path | None = None  # where the replaced key was kept


class KeyDiffers(IdentityError):
    """The swarm already has a different bootnode key: restoring needs the user's explicit yes."""

    def __init__(self, *a, current_peer_id: str, backup_peer_id: str, **kw):
        super().__init__(*a, **kw)
        self.current_peer_id = current_peer_id
        self.backup_peer_id = backup_peer_id


def state_file(name: str) -> Path:
    return _paths.network_dir(name) / "bootnode-backup.json"


def default_archive_name(name: str, now: datetime | None = None) -> str:
    stamp = (now or datetime.now(timezone.utc)).strftime("%Y%m%dT%H%M%SZ")
    return f"swarmdeck-swarm-{name}-bootnode-{stamp}.sdbackup"


def _sha(b: bytes) -> str:
    return hashlib.sha256(b).hexdigest()


def _record(name: str, archive: Path, manifest: dict, key_bytes: bytes) -> None:
    _paths.ensure_private_dir(_paths.network_dir(name))
    fsutil.atomic_write_json(state_file(name), {
        "verified_at": datetime.now(timezone.utc).isoformat(timespec="seconds"), "archive": str(archive),
        "created_at": manifest.get("created_at"), "peer_id": manifest.get("peer_id"),
        "sha256": _sha(key_bytes)})


def backup_state(name: str) -> dict:
    """{"state": "verified"|"outdated"|"none", "verified_at", "archive"} like a profile's:
    "outdated" when the key on disk is not the one backed up (or is gone)."""
    try:
        b = json.loads(state_file(name).read_text())
    except (OSError, ValueError):
        b = None
    if not isinstance(b, dict) or not b.get("verified_at"):
        return {"state": "none", "verified_at": None, "archive": None}
    try:
        live = _sha(_boot.identity_file(name).read_bytes())
    except OSError:
        live = None
    return {"state": "verified" if live == b.get("sha256") else "outdated",
            "verified_at": b.get("verified_at"), "archive": b.get("archive")}


def _read(archive: Path, passphrase: str) -> tuple[Path, dict, bytes, str]:
    archive = Path(archive).expanduser().resolve()
    manifest, members = _backup.read_archive(archive, passphrase)
    if manifest.get("kind") != _backup.KIND_BOOTNODE:
        raise IdentityError(M("err.backup.not_bootnode"), where=str(archive),
                            fix=M("err.backup.not_bootnode_fix", archive=str(archive)))
    peer_id, _hashes = _backup.check_members(archive, manifest, members)
    return archive, manifest, members["swarm.pem"], peer_id


def create(name: str, dest: Path, passphrase: str, *, progress=None,
           scrypt_n: int = _backup.DEFAULT_SCRYPT_N) -> BootnodeBackup:
    """Encrypt swarm `name`'s bootnode key into `dest` (a file, or a folder for the default name),
    then decrypt it again and compare it with the key on disk, and record the verified backup."""
    say = progress or (lambda msg: None)
    _backup.check_passphrase(passphrase)
    pem = _boot.identity_file(name)
    dest = _backup.resolve_dest(dest, default_archive_name(name))
    try:
        raw = pem.read_bytes()
    except FileNotFoundError:
        raise IdentityError(M("err.backup.no_bootnode_pem", swarm=name), where=str(pem),
                            fix=M("err.backup.no_bootnode_pem_fix", swarm=name)) from None
    say(M("backup.progress.checking"))
    peer_id = _identity.peer_id_from_bytes(raw, str(pem))
    files = {"swarm.pem": raw}
    manifest = _backup.make_manifest(files, peer_id, kind=_backup.KIND_BOOTNODE, swarm=name)
    _backup.write_archive(dest, passphrase, manifest, files, progress=say, scrypt_n=scrypt_n)
    say(M("backup.progress.verifying"))
    return verify(dest, passphrase, name)


def verify(archive: Path, passphrase: str, name: str | None = None) -> BootnodeBackup:
    """Decrypt, check every checksum and load the key. With `name`: it must be that swarm's key on
    disk (then the backup is recorded as verified)."""
    archive, manifest, raw, peer_id = _read(archive, passphrase)
    if name is not None:
        try:
            live = _boot.identity_file(name).read_bytes()
        except FileNotFoundError:
            live = None
        if live != raw:
            raise IdentityError(M("err.backup.bootnode_differs", swarm=name), where=str(archive),
                                fix=M("err.backup.bootnode_differs_fix", swarm=name))
        _record(name, archive, manifest, raw)
    return BootnodeBackup(archive, str(manifest.get("swarm")), peer_id, _identity.display_name(peer_id),
                          manifest.get("created_at", ""))


def _check_name(name: str) -> None:
    from core.config.settings import BUILTIN_NETWORKS
    from core.hosting.invite import NAME_RE

    if not NAME_RE.fullmatch(name or "") or name in BUILTIN_NETWORKS:
        raise IdentityError(M("err.backup.bad_swarm_name", swarm=repr(name)), fix=M("err.backup.bad_swarm_name_fix"))


def restore(archive: Path, passphrase: str, name: str | None = None, *, replace: bool = False,
            host_running=None, progress=None) -> BootnodeBackup:
    """Put the archive's bootnode key back as swarm `name`'s (default: the swarm it was made for).
    See the module's rules; `host_running(name)` (the caller's check of the host process) blocks a
    replace while the bootnode may hold the current key."""
    say = progress or (lambda msg: None)
    say(M("backup.progress.decrypting"))
    archive, manifest, raw, peer_id = _read(archive, passphrase)
    name = name or str(manifest.get("swarm") or "")
    _check_name(name)
    pem = _boot.identity_file(name)
    _paths.ensure_private_dir(pem.parent)
    action, kept = "written", None
    try:
        current = pem.read_bytes()
    except FileNotFoundError:
        current = None
    if current is not None and current != raw:
        try:
            cur_peer = _identity.peer_id_from_bytes(current, str(pem))
        except IdentityError:
            cur_peer = "unreadable key"
        if cur_peer == peer_id:  # same key, other encoding: nothing to replace
            current = raw
        elif not replace:
            raise KeyDiffers(M("err.backup.bootnode_has_key", swarm=name, current=cur_peer, backup=peer_id),
                             where=str(pem), fix=M("err.backup.bootnode_has_key_fix", swarm=name),
                             current_peer_id=cur_peer, backup_peer_id=peer_id)
        elif host_running is not None and host_running(name):
            raise IdentityError(M("err.backup.bootnode_host_runs", swarm=name), where=str(pem),
                                fix=M("err.backup.bootnode_host_runs_fix", swarm=name))
        else:
            stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%SZ")
            kept = pem.with_name(f"swarm.pem.replaced-{stamp}")
            say(M("backup.progress.keeping", path=str(kept)))
            fsutil.create_exclusive(kept, current, mode=0o600)  # the old key stays, never deleted
            say(M("backup.progress.writing", path=str(pem)))
            fsutil.atomic_write_bytes(pem, raw, mode=0o600)
            action = "replaced"
    if current is None:
        say(M("backup.progress.writing", path=str(pem)))
        try:
            fsutil.create_exclusive(pem, raw, mode=0o600)
        except FileExistsError:
            raise IdentityError(M("err.backup.bootnode_appeared", swarm=name), where=str(pem),
                                fix=M("err.backup.bootnode_has_key_fix", swarm=name)) from None
    elif action != "replaced":
        action = "same"
    say(M("backup.progress.verifying_restore"))
    if _identity.peer_id_from_pem(pem) != peer_id or pem.read_bytes() != raw:
        raise IdentityError(M("err.backup.peer_mismatch"), where=str(pem), fix=M("err.backup.other_copy"))
    if os.stat(pem).st_mode & 0o077:
        os.chmod(pem, 0o600)
    _record(name, archive, manifest, raw)
    return BootnodeBackup(archive, name, peer_id, _identity.display_name(peer_id), manifest.get("created_at", ""),
                          action=action, replaced_kept=kept)
