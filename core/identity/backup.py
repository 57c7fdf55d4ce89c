"""Encrypted identity backups: one archive, a manifest with sha256 checksums, scrypt + AES-256-GCM.

Archive layout (one file, `*.sdbackup`):
    MAGIC (8 bytes) | header length (4 bytes, big endian) | header JSON | ciphertext
The header is not secret (format, KDF parameters, salt, nonce, a passphrase check value)
and is bound to the ciphertext as AES-GCM associated data, so changing any byte of the
file is detected. The plaintext is an uncompressed tar holding manifest.json, the identity
files and (when known) the profile's config table (profile.toml).

The passphrase check value (sha256 of a second KDF output half) lets us tell "wrong
passphrase" from "archive modified" - it allows nothing the GCM tag doesn't already
(an offline guess costs one scrypt either way).

Rules: backups never overwrite a file; a partial archive is removed on any failure and on
SIGTERM; restore only goes into a new or empty profile; verify decrypts into a private temp
dir and compares checksums (with the profile's live files when given). The profile's
state.json records the last verified backup and when.
"""

from __future__ import annotations

import base64
import hashlib
import io
import json
import os
import signal
import tarfile
import tempfile
import threading
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.scrypt import Scrypt

from core.base import safejson
from core.identity import files as _identity
from core.base import paths as _paths
from core.base.i18n import M
from core.base.errors import IdentityError

MAGIC = b"SDBKUP\x00\x01"
FORMAT = "swarmdeck-identity-backup"
VERSION = 1
DEFAULT_SCRYPT_N = 2**17  # ~128 MiB, ~0.5 s on a laptop core
MIN_PASSPHRASE = 8
_MAX_HEADER = 16 * 1024
_MAX_ARCHIVE = 16 * 1024 * 1024  # identity files are KBs; refuse to decrypt anything absurd
_MAX_FILE = 1024 * 1024
ALLOWED_FILES = set(_identity.IDENTITY_FILES) | {"profile.toml"}


@dataclass(frozen=True)
class BackupInfo:
    archive: Path
    peer_id: str | None
    display_name: str | None
    created_at: str
    files: dict[str, str]  # name -> sha256
    profile: str | None
    verified: bool = False

    def public_dict(self) -> dict:
        return {"archive": str(self.archive), "peer_id": self.peer_id, "display_name": self.display_name,
                "created_at": self.created_at, "files": sorted(self.files), "profile": self.profile,
                "verified": self.verified}


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def _sha256(b: bytes) -> str:
    return hashlib.sha256(b).hexdigest()


def _derive(passphrase: str, salt: bytes, n: int, r: int, p: int) -> tuple[bytes, bytes]:
    out = Scrypt(salt=salt, length=64, n=n, r=r, p=p).derive(passphrase.encode("utf-8"))
    return out[:32], hashlib.sha256(b"swarmdeck-passphrase-check" + out[32:]).digest()[:16]


def check_passphrase(passphrase: str) -> None:
    if not isinstance(passphrase, str) or len(passphrase) < MIN_PASSPHRASE:
        raise IdentityError(M("err.backup.short_passphrase", n=MIN_PASSPHRASE),
                            fix=M("err.backup.short_passphrase_fix"))


@contextmanager
def _sigterm_raises():
    """Turn SIGTERM into SystemExit while a backup is written, so `finally` cleanup runs."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def handler(signum, frame):
        raise SystemExit(128 + signum)

    old = signal.signal(signal.SIGTERM, handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, old)


def _tar_bytes(files: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for name, data in files.items():
            ti = tarfile.TarInfo(name)
            ti.size = len(data)
            ti.mode = 0o600
            ti.mtime = 0
            tar.addfile(ti, io.BytesIO(data))
    return buf.getvalue()


def _untar(blob: bytes) -> dict[str, bytes]:
    out: dict[str, bytes] = {}
    with tarfile.open(fileobj=io.BytesIO(blob), mode="r:") as tar:
        for m in tar.getmembers():
            # only plain files with known flat names: no paths, links or devices from an archive
            if not m.isfile() or m.name not in ALLOWED_FILES | {"manifest.json"} or m.size > _MAX_FILE:
                raise ValueError(f"unexpected member {m.name!r}")
            f = tar.extractfile(m)
            out[m.name] = f.read() if f else b""
    return out


def _identity_files(identity_dir: Path) -> dict[str, bytes]:
    return {f: (identity_dir / f).read_bytes() for f in _identity.IDENTITY_FILES if (identity_dir / f).is_file()}


def default_archive_name(profile: str, now: datetime | None = None, home_relative: bool = False) -> str:
    """`swarmdeck-NAME-20261207T013000Z.sdbackup`: each backup its own file (a fixed name made the
    second backup fail, since a backup never overwrites). home_relative: under `~/` (for a form field)."""
    stamp = (now or datetime.now(timezone.utc)).strftime("%Y%m%dT%H%M%SZ")
    name = f"swarmdeck-{profile}-{stamp}.sdbackup"
    return f"~/{name}" if home_relative else name


def resolve_dest(dest: Path, default_name: str) -> Path:
    """The archive's file: `dest` itself, or `default_name` inside it when it is a folder. Refuses an
    existing file (a backup never overwrites) and a missing folder."""
    dest = Path(dest).expanduser()
    if dest.is_dir():
        dest = dest / default_name
    if dest.exists():
        raise IdentityError(M("err.backup.exists"), where=str(dest), fix=M("err.backup.exists_fix"))
    if not dest.parent.is_dir():
        raise IdentityError(M("err.backup.no_folder"), where=str(dest.parent),
                            fix=M("err.backup.no_folder_fix", path=str(dest.parent)))
    return dest


def make_manifest(files: dict[str, bytes], peer_id: str, **extra) -> dict:
    """The archive's manifest: what it holds (sha256 + size of each file) and whose identity it is.
    `extra` names the owner: {"profile": NAME} for a profile, {"kind": KIND_BOOTNODE, "swarm": NAME}
    for a hosted swarm's bootnode (an archive without "kind" is a profile's)."""
    return {"format": FORMAT, "version": VERSION, "created_at": _now(), "profile": None, **extra,
            "peer_id": peer_id, "display_name": _identity.display_name(peer_id),
            "files": {n: {"sha256": _sha256(b), "size": len(b)} for n, b in files.items()}}


def write_archive(dest: Path, passphrase: str, manifest: dict, files: dict[str, bytes], *,
                  progress=None, scrypt_n: int = DEFAULT_SCRYPT_N) -> None:
    """Encrypt manifest + files into `dest` (0600): a private temp file, fsync, then a hard link,
    which fails if `dest` appeared meanwhile (never overwrites). The partial file is removed on any
    failure and on SIGTERM. The one place that writes archives (profiles and bootnodes alike)."""
    say = progress or (lambda msg: None)
    check_passphrase(passphrase)
    plaintext = _tar_bytes({"manifest.json": json.dumps(manifest, indent=2).encode(), **files})
    partial = None
    fd = None
    with _sigterm_raises():
        try:
            fd, partial = tempfile.mkstemp(prefix=f".{dest.name}.", suffix=".partial", dir=dest.parent)
            os.fchmod(fd, 0o600)
            say(M("backup.progress.deriving"))
            salt, nonce = os.urandom(16), os.urandom(12)
            key, check = _derive(passphrase, salt, scrypt_n, 8, 1)
            header = json.dumps({
                "format": FORMAT, "version": VERSION, "cipher": "AES-256-GCM",
                "kdf": {"name": "scrypt", "n": scrypt_n, "r": 8, "p": 1, "salt": base64.b64encode(salt).decode()},
                "nonce": base64.b64encode(nonce).decode(), "check": base64.b64encode(check).decode(),
            }, sort_keys=True).encode()
            prefix = MAGIC + len(header).to_bytes(4, "big") + header
            say(M("backup.progress.encrypting"))
            ct = AESGCM(key).encrypt(nonce, plaintext, prefix)
            with os.fdopen(fd, "wb") as f:
                fd = None
                f.write(prefix + ct)
                f.flush()
                os.fsync(f.fileno())
            say(M("backup.progress.writing", path=str(dest)))
            os.link(partial, dest)  # fails if dest appeared meanwhile: never overwrite
            os.unlink(partial)
            partial = None
        except FileExistsError:
            raise IdentityError(M("err.backup.exists"), where=str(dest), fix=M("err.backup.exists_fix")) from None
        finally:
            if partial is not None:
                if fd is not None:
                    try:
                        os.close(fd)
                    except OSError:
                        pass
                try:
                    os.unlink(partial)
                except FileNotFoundError:
                    pass


def create_backup(profile: str, dest: Path, passphrase: str, *, verify: bool = True,
                  progress=None, scrypt_n: int = DEFAULT_SCRYPT_N) -> BackupInfo:
    """Write an encrypted backup of `profile`'s identity to `dest` (never overwrites).

    With verify=True (default) the archive is then decrypted into a temp dir and compared
    with the live files, and the profile's state records the verified backup.
    """
    say = progress or (lambda msg: None)
    check_passphrase(passphrase)
    pp = _paths.ProfilePaths(profile)
    dest = resolve_dest(dest, default_archive_name(profile))
    files = _identity_files(pp.identity_dir)
    if "swarm.pem" not in files:
        raise IdentityError(M("err.backup.no_pem", profile=repr(profile)), where=str(pp.swarm_pem),
                            fix=M("err.backup.no_pem_fix"))
    say(M("backup.progress.checking"))
    peer_id = _identity.peer_id_from_bytes(files["swarm.pem"], str(pp.swarm_pem))
    _identity.read_login(pp.identity_dir)  # refuse to back up unreadable login files silently
    try:
        from core.config.settings import load_config
        import tomlkit

        cfg = load_config(strict=False)
        if cfg.has_profile(profile):
            doc = tomlkit.document()
            doc.add("profile", cfg.doc["profiles"][profile])
            files["profile.toml"] = tomlkit.dumps(doc).encode()
    except Exception:  # the settings are a convenience; the identity is what matters
        pass
    manifest = make_manifest(files, peer_id, profile=profile)
    write_archive(dest, passphrase, manifest, files, progress=say, scrypt_n=scrypt_n)
    info = BackupInfo(dest, peer_id, _identity.display_name(peer_id), manifest["created_at"],
                      {n: v["sha256"] for n, v in manifest["files"].items()}, profile)
    if verify:
        say(M("backup.progress.verifying"))
        info = verify_backup(dest, passphrase, profile=profile)
    return info


def _read_archive(archive: Path, passphrase: str) -> tuple[dict, dict[str, bytes]]:
    archive = Path(archive).expanduser()
    damaged = IdentityError(M("err.backup.damaged"), where=str(archive), fix=M("err.backup.other_copy"))
    try:
        size = archive.stat().st_size
    except FileNotFoundError:
        raise IdentityError(M("err.backup.missing"), where=str(archive), fix=M("err.backup.check_path")) from None
    if size > _MAX_ARCHIVE:
        raise damaged
    blob = archive.read_bytes()
    if not blob.startswith(MAGIC):
        raise IdentityError(M("err.backup.not_backup"), where=str(archive), fix=M("err.backup.not_backup_fix"))
    try:
        hlen = int.from_bytes(blob[8:12], "big")
        if hlen > _MAX_HEADER or 12 + hlen > len(blob):
            raise ValueError
        header_bytes = blob[12 : 12 + hlen]
        header = safejson.loads(header_bytes)
        kdf = header["kdf"]
        n, r, p = int(kdf["n"]), int(kdf["r"]), int(kdf["p"])
        # bound the KDF cost an archive can ask for (a hostile file must not eat all RAM)
        if header.get("format") != FORMAT or kdf.get("name") != "scrypt" or not (
            2 <= n <= 2**20 and n & (n - 1) == 0 and 1 <= r <= 16 and 1 <= p <= 4
        ):
            raise ValueError
        salt = base64.b64decode(kdf["salt"])
        nonce = base64.b64decode(header["nonce"])
        check = base64.b64decode(header["check"])
    except (ValueError, KeyError, TypeError):
        raise damaged from None
    if header.get("version") != VERSION:
        raise IdentityError(M("err.backup.version", version=str(header.get("version"))),
                            where=str(archive), fix=M("err.backup.upgrade"))
    key, want_check = _derive(passphrase, salt, n, r, p)
    if want_check != check:
        raise IdentityError(M("err.backup.wrong_passphrase"), where=str(archive),
                            fix=M("err.backup.wrong_passphrase_fix"))
    try:
        plaintext = AESGCM(key).decrypt(nonce, blob[12 + hlen :], blob[: 12 + hlen])
        members = _untar(plaintext)
        manifest = json.loads(members.pop("manifest.json"))
        if manifest.get("format") != FORMAT or not isinstance(manifest.get("files"), dict):
            raise ValueError
    except (InvalidTag, ValueError, KeyError, tarfile.TarError, json.JSONDecodeError):
        raise damaged from None
    # checksums of every file against the manifest, and no file missing or extra
    if set(manifest["files"]) != set(members):
        raise damaged
    for name, meta in manifest["files"].items():
        if _sha256(members[name]) != meta.get("sha256"):
            raise damaged
    return manifest, members


def read_archive(archive: Path, passphrase: str) -> tuple[dict, dict[str, bytes]]:
    """(manifest, {name: bytes}) of an archive, every checksum checked; errors name the cause."""
    return _read_archive(archive, passphrase)


def check_members(archive: Path, manifest: dict, members: dict[str, bytes]) -> tuple[str, dict[str, str]]:
    """Write the members into a private temp dir and load them as an identity: the restored copy must
    be a working key giving the manifest's peer id, not only bytes with the right hash.
    Returns (peer id, {name: sha256})."""
    if "swarm.pem" not in members:
        raise IdentityError(M("err.backup.damaged"), where=str(archive), fix=M("err.backup.other_copy"))
    with tempfile.TemporaryDirectory(prefix="swarmdeck-verify-") as td:
        tdp = Path(td)
        os.chmod(tdp, 0o700)
        for name, data in members.items():
            (tdp / name).write_bytes(data)
            os.chmod(tdp / name, 0o600)
        peer_id = _identity.peer_id_from_pem(tdp / "swarm.pem")
        if peer_id != manifest.get("peer_id"):
            raise IdentityError(M("err.backup.peer_mismatch"), where=str(archive), fix=M("err.backup.other_copy"))
        _identity.read_login(tdp)
        return peer_id, {n: _sha256((tdp / n).read_bytes()) for n in members}


KIND_BOOTNODE = "swarm-bootnode"


def _not_a_bootnode(manifest: dict, archive: Path) -> None:
    """A hosted swarm's bootnode identity is not a profile's: it goes back with `swarm restore`."""
    if manifest.get("kind") == KIND_BOOTNODE:
        raise IdentityError(M("err.backup.is_bootnode", swarm=str(manifest.get("swarm"))), where=str(archive),
                            fix=M("err.backup.is_bootnode_fix", archive=str(archive), swarm=str(manifest.get("swarm"))))


def verify_backup(archive: Path, passphrase: str, profile: str | None = None) -> BackupInfo:
    """Decrypt into a private temp dir, check every checksum, and (with `profile`) compare the
    files with the profile's live identity. Records the verified backup in the profile's state."""
    archive = Path(archive).expanduser().resolve()
    manifest, members = _read_archive(archive, passphrase)
    if profile is not None:
        _not_a_bootnode(manifest, archive)
    peer_id, restored = check_members(archive, manifest, members)
    if profile is not None:
        live = {n: _sha256(b) for n, b in _identity_files(_paths.ProfilePaths(profile).identity_dir).items()}
        backed = {n: h for n, h in restored.items() if n in _identity.IDENTITY_FILES}
        if live != backed:
            changed = sorted(n for n in set(live) | set(backed) if live.get(n) != backed.get(n))
            raise IdentityError(
                M("err.backup.differs", profile=repr(profile), files=", ".join(changed)),
                where=str(archive),
                fix=M("err.backup.differs_fix", profile=profile),
            )
        _record_verified(profile, archive, manifest, live)
    return BackupInfo(archive, peer_id, _identity.display_name(peer_id), manifest.get("created_at", ""),
                      restored, manifest.get("profile"), verified=True)


def _record_verified(profile: str, archive: Path, manifest: dict, live: dict[str, str]) -> None:
    from core.identity.profiles import write_state

    write_state(profile, {"backup": {
        "verified_at": _now(), "archive": str(archive), "created_at": manifest.get("created_at"),
        "peer_id": manifest.get("peer_id"), "files_sha256": live,
    }})


def backup_state(profile: str) -> dict:
    """{"state": "verified"|"outdated"|"none", "verified_at", "archive"}.

    "outdated": the identity files changed since the verified backup (e.g. a new sign-in).
    """
    from core.identity.profiles import read_state

    b = read_state(profile).get("backup")
    if not isinstance(b, dict) or not b.get("verified_at"):
        return {"state": "none", "verified_at": None, "archive": None}
    try:
        live = {n: _sha256(d) for n, d in _identity_files(_paths.ProfilePaths(profile).identity_dir).items()}
    except OSError:
        live = {}
    state = "verified" if live == b.get("files_sha256") else "outdated"
    return {"state": state, "verified_at": b.get("verified_at"), "archive": b.get("archive")}


def restore_backup(archive: Path, passphrase: str, profile: str, *, progress=None) -> BackupInfo:
    """Restore into a NEW profile, or an existing one without identity files. Never overwrites."""
    from core.config.settings import config_lock

    with config_lock():
        return _restore(archive, passphrase, profile, progress)


def _restore(archive: Path, passphrase: str, profile: str, progress) -> BackupInfo:
    import tomlkit

    from core.config import settings as _config
    from core.identity import profiles as _profiles

    say = progress or (lambda msg: None)
    _profiles.validate_name(profile)
    cfg = _config.load_config()
    pp = _paths.ProfilePaths(profile)
    existing = [f for f in _identity.IDENTITY_FILES if (pp.identity_dir / f).exists()]
    if existing:
        raise IdentityError(
            M("err.backup.has_identity", profile=repr(profile), files=", ".join(existing)),
            where=str(pp.identity_dir),
            fix=M("err.backup.has_identity_fix"),
        )
    say(M("backup.progress.decrypting"))
    archive = Path(archive).expanduser().resolve()
    manifest, members = _read_archive(archive, passphrase)
    _not_a_bootnode(manifest, archive)
    peer_id = _identity.peer_id_from_bytes(members["swarm.pem"], f"{archive}:swarm.pem")
    for other in cfg.profile_names():
        if other != profile and _identity.identity_facts(_paths.ProfilePaths(other).identity_dir)["peer_id"] == peer_id:
            raise IdentityError(M("err.backup.held_by", profile=repr(other), peer_id=peer_id),
                                fix=M("err.backup.held_by_fix", profile=repr(other)))
    created = False
    if not cfg.has_profile(profile):
        settings = {}
        if "profile.toml" in members:
            try:
                settings = tomlkit.parse(members["profile.toml"].decode()).unwrap().get("profile", {})
            except Exception:
                settings = {}
        try:
            _profiles.create_profile(profile, identity=False, cfg=cfg, **settings)
        except Exception:
            # settings from another machine may not fit this one (e.g. a custom network): use defaults
            cfg = _config.load_config()
            _profiles.create_profile(profile, identity=False, cfg=cfg)
        created = True
    _paths.ensure_private_dir(pp.identity_dir)
    written = []
    try:
        for name in _identity.IDENTITY_FILES:
            if name in members:
                say(M("backup.progress.writing", path=str(pp.identity_dir / name)))
                try:
                    from core.base.fsutil import create_exclusive

                    create_exclusive(pp.identity_dir / name, members[name], mode=0o600)
                except FileExistsError:
                    raise IdentityError(M("err.backup.appeared", name=name, profile=repr(profile)),
                                        where=str(pp.identity_dir / name), fix=M("err.backup.new_profile")) from None
                written.append(pp.identity_dir / name)
        say(M("backup.progress.verifying_restore"))
        info = verify_backup(archive, passphrase, profile=profile)
    except BaseException:
        for p in written:  # only files this call created
            try:
                p.unlink()
            except FileNotFoundError:
                pass
        raise
    from core.identity.profiles import write_state

    write_state(profile, {"restored_from": str(archive), "restored_at": _now(), "created_by_restore": created})
    return info
