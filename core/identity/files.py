"""Node identity: swarm.pem (libp2p key + peer id), login files, locks, duplicates, permissions.

swarm.pem is written in exactly the format hivemind 1.1.12 writes and reads for
`DHT(identity_path=...)`: a protobuf `crypto.pb.PrivateKey{key_type=RSA, data=<DER PKCS#1>}`.
The peer id is the libp2p one: base58(multihash sha2-256(protobuf PublicKey{RSA, DER SPKI})).
We encode/decode those two tiny protobuf messages by hand so that loading an identity never
has to import hivemind (slow, and the TUI/CLI needs only the peer id).

The login files mirror the modal-login service's shapes (RLSWARM_FACTS.md):
  userData.json   = {"<orgId>": {orgId, address, userId, email?}}
  userApiKey.json = {"<orgId>": [{publicKey, privateKey, createdAt, activated, ...}, ...]}
The last api-key entry is the live one; `privateKey` is a secret and never leaves this module
in any dict meant for display (LoginInfo.public_dict()).
"""

from __future__ import annotations

import errno
import fcntl
import hashlib
import json
import os
import stat
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from core.base import safejson
from core.base import paths as _paths
from core.identity.names import ADJECTIVES, ANIMALS
from core.base.i18n import M
from core.base.errors import IdentityError
from core.base.fsutil import atomic_write_json, create_exclusive

IDENTITY_FILES = ("swarm.pem", "userData.json", "userApiKey.json")
_KEY_TYPE_RSA = 0
_MAX_PEM_BYTES = 64 * 1024  # an RSA-4096 key is ~2.4 KB; anything huge is not a key


# --- tiny protobuf (two fields: varint key_type = 1, bytes data = 2) -----------------------

def _varint(n: int) -> bytes:
    out = bytearray()
    while True:
        b = n & 0x7F
        n >>= 7
        if n:
            out.append(b | 0x80)
        else:
            out.append(b)
            return bytes(out)


def _read_varint(buf: bytes, i: int) -> tuple[int, int]:
    shift = 0
    result = 0
    while True:
        if i >= len(buf):
            raise ValueError("truncated varint")
        b = buf[i]
        i += 1
        result |= (b & 0x7F) << shift
        if not b & 0x80:
            return result, i
        shift += 7
        if shift > 63:
            raise ValueError("varint too long")


def _encode_key_msg(key_type: int, data: bytes) -> bytes:
    return b"\x08" + _varint(key_type) + b"\x12" + _varint(len(data)) + data


def _decode_key_msg(buf: bytes) -> tuple[int, bytes]:
    key_type = None
    data = None
    i = 0
    while i < len(buf):
        tag, i = _read_varint(buf, i)
        field_no, wire = tag >> 3, tag & 7
        if field_no == 1 and wire == 0:
            key_type, i = _read_varint(buf, i)
        elif field_no == 2 and wire == 2:
            n, i = _read_varint(buf, i)
            if i + n > len(buf):
                raise ValueError("truncated key data")
            data = buf[i : i + n]
            i += n
        else:
            raise ValueError(f"unexpected protobuf field {field_no} (wire type {wire})")
    if key_type is None or data is None:
        raise ValueError("missing key_type or data")
    return key_type, data


_B58 = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz"


def _b58encode(b: bytes) -> str:
    n = int.from_bytes(b, "big")
    out = ""
    while n:
        n, r = divmod(n, 58)
        out = _B58[r] + out
    pad = len(b) - len(b.lstrip(b"\0"))
    return "1" * pad + out


# --- swarm.pem ------------------------------------------------------------------------------

@dataclass(frozen=True)
class PeerIdentity:
    peer_id: str
    display_name: str
    path: Path | None = None


def display_name(peer_id: str) -> str:
    """The animal name operators know their node by: md5(peer id) bytes 2,1 → adjectives, 0 → animal."""
    d = hashlib.md5(peer_id.encode()).digest()
    return f"{ADJECTIVES[d[2] % len(ADJECTIVES)]} {ADJECTIVES[d[1] % len(ADJECTIVES)]} {ANIMALS[d[0] % len(ANIMALS)]}"


def _private_key_from_pem_bytes(raw: bytes, where: str) -> rsa.RSAPrivateKey:
    bad = IdentityError(
        "swarm.pem is not a valid libp2p identity (truncated, corrupted, or not a key file).",
        where=where,
        fix="restore it from your backup: 'swarmdeck identity restore ARCHIVE -p NEW_PROFILE'; "
        "the peer id cannot be recovered from a damaged file",
    )
    if not raw or len(raw) > _MAX_PEM_BYTES:
        raise bad
    try:
        key_type, data = _decode_key_msg(raw)
    except ValueError:
        raise bad from None
    if key_type != _KEY_TYPE_RSA:
        raise IdentityError(
            f"swarm.pem holds a key of type {key_type}; hivemind identities are RSA (type 0).",
            where=where,
            fix="use a swarm.pem created by rl-swarm/hivemind or by swarmdeck",
        )
    try:
        key = serialization.load_der_private_key(data, password=None)
    except (ValueError, TypeError):
        raise bad from None
    if not isinstance(key, rsa.RSAPrivateKey):
        raise bad
    return key


def _peer_id_from_key(key: rsa.RSAPrivateKey) -> str:
    spki = key.public_key().public_bytes(
        encoding=serialization.Encoding.DER, format=serialization.PublicFormat.SubjectPublicKeyInfo
    )
    pub_msg = _encode_key_msg(_KEY_TYPE_RSA, spki)
    # multihash: code 0x12 (sha2-256), length 32, digest
    return _b58encode(b"\x12\x20" + hashlib.sha256(pub_msg).digest())


def peer_id_from_public_der(spki: bytes) -> str:
    """The libp2p peer id of an RSA public key given as DER SubjectPublicKeyInfo (signed DHT records)."""
    return _b58encode(b"\x12\x20" + hashlib.sha256(_encode_key_msg(_KEY_TYPE_RSA, spki)).digest())


def swarm_private_key(path: Path) -> rsa.RSAPrivateKey:
    """The RSA private key in swarm.pem (to sign this peer's DHT records); IdentityError if damaged."""
    path = Path(path)
    return _private_key_from_pem_bytes(path.read_bytes(), str(path))


_PEER_ID_CACHE: dict[bytes, str] = {}  # sha256(file) -> peer id; full RSA key validation costs ~0.1 s


def peer_id_from_bytes(raw: bytes, where: str = "swarm.pem") -> str:
    digest = hashlib.sha256(raw).digest()
    pid = _PEER_ID_CACHE.get(digest)
    if pid is None:
        pid = _peer_id_from_key(_private_key_from_pem_bytes(raw, where))
        if len(_PEER_ID_CACHE) < 1024:
            _PEER_ID_CACHE[digest] = pid
    return pid


def peer_id_from_pem(path: Path) -> str:
    """Peer id (`Qm…`) of an existing swarm.pem; IdentityError if missing or damaged."""
    path = Path(path)
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise IdentityError(
            "swarm.pem does not exist.", where=str(path),
            fix="create an identity with 'swarmdeck profile new NAME' or import one with 'swarmdeck profile import PATH'",
        ) from None
    except OSError as e:
        raise IdentityError(f"cannot read swarm.pem: {e.strerror}.", where=str(path),
                            fix="check the file's owner and permissions (it must be readable by you)") from None
    return peer_id_from_bytes(raw, str(path))


def new_swarm_pem_bytes() -> bytes:
    """A fresh RSA-2048 libp2p private key, protobuf-serialized like hivemind's generate_identity."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    der = key.private_bytes(
        encoding=serialization.Encoding.DER,
        format=serialization.PrivateFormat.TraditionalOpenSSL,
        encryption_algorithm=serialization.NoEncryption(),
    )
    return _encode_key_msg(_KEY_TYPE_RSA, der)


def create_swarm_pem(path: Path) -> PeerIdentity:
    """Create a new swarm.pem (0600). Never overwrites: IdentityError if the file exists."""
    path = Path(path)
    _paths.ensure_private_dir(path.parent)
    raw = new_swarm_pem_bytes()
    try:
        create_exclusive(path, raw, mode=0o600)
    except FileExistsError:
        raise IdentityError("swarm.pem already exists; swarmdeck never overwrites an identity.",
                            where=str(path), fix="use the existing identity, or create a new profile") from None
    pid = peer_id_from_bytes(raw, str(path))
    return PeerIdentity(pid, display_name(pid), path)


def load_or_create_swarm_pem(path: Path) -> PeerIdentity:
    """Load swarm.pem, creating it only when absent. A damaged file is an error, never replaced."""
    path = Path(path)
    if not path.exists():
        try:
            return create_swarm_pem(path)
        except IdentityError:
            if not path.exists():
                raise
            # lost a creation race with another process: load what it wrote
    pid = peer_id_from_pem(path)
    return PeerIdentity(pid, display_name(pid), path)


# --- login files ----------------------------------------------------------------------------

@dataclass(frozen=True)
class LoginInfo:
    org_id: str
    address: str | None
    user_id: str | None
    email: str | None
    api_public_key: str | None
    api_private_key: str | None = field(default=None, repr=False)  # secret
    activated: bool = False
    created_at: str | None = None

    def public_dict(self) -> dict:
        """Everything but the session private key (safe for status --json, events, logs)."""
        return {
            "org_id": self.org_id,
            "address": self.address,
            "user_id": self.user_id,
            "email": self.email,
            "api_public_key": self.api_public_key,
            "activated": self.activated,
            "created_at": self.created_at,
        }


def _read_json_file(path: Path):
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return None
    except (OSError, UnicodeDecodeError) as e:
        raise IdentityError(f"cannot read {path.name}: {e}.", where=str(path),
                            fix="check the file's permissions, or restore it from your backup") from None
    try:
        return safejson.loads(text)
    except (RecursionError, safejson.TooDeep):  # nested past the interpreter's limit: damaged or hostile, never ours
        raise IdentityError(f"{path.name} is not valid JSON (nested too deeply).", where=str(path),
                            fix=f"restore {path.name} from your backup ('swarmdeck identity restore'), or move it away "
                            "and sign in again with 'swarmdeck login'") from None
    except json.JSONDecodeError as e:
        raise IdentityError(
            f"{path.name} is not valid JSON ({e.msg}).",
            where=f"{path}:{e.lineno}:{e.colno}",
            fix=f"restore {path.name} from your backup ('swarmdeck identity restore'), or move it away and sign in again "
            "with 'swarmdeck login' (a new session key is issued; your swarm.pem is not affected)",
        ) from None


def read_user_data(identity_dir: Path) -> dict | None:
    path = Path(identity_dir) / "userData.json"
    data = _read_json_file(path)
    if data is None:
        return None
    if not isinstance(data, dict) or not all(isinstance(v, dict) for v in data.values()):
        raise IdentityError("userData.json does not have the login service's shape {orgId: {orgId, address, ...}}.",
                            where=str(path), fix="restore it from your backup or sign in again with 'swarmdeck login'")
    return data


def read_user_api_keys(identity_dir: Path) -> dict | None:
    path = Path(identity_dir) / "userApiKey.json"
    data = _read_json_file(path)
    if data is None:
        return None
    if not isinstance(data, dict) or not all(
        isinstance(v, list) and all(isinstance(e, dict) for e in v) for v in data.values()
    ):
        raise IdentityError("userApiKey.json does not have the login service's shape {orgId: [{publicKey, ...}]}.",
                            where=str(path), fix="restore it from your backup or sign in again with 'swarmdeck login'")
    return data


def write_user_data(identity_dir: Path, org_id: str, address: str, user_id: str, email: str | None = None) -> Path:
    """Write userData.json for one account. Updating the same orgId is fine; a different orgId
    would silently relink this identity to another account, so it is refused."""
    identity_dir = Path(identity_dir)
    _paths.ensure_private_dir(identity_dir)
    path = identity_dir / "userData.json"
    existing = read_user_data(identity_dir) or {}
    others = [k for k in existing if k != org_id]
    if others:
        raise IdentityError(
            f"this profile is already signed in as another account (orgId {others[0]}); refusing to replace it.",
            where=str(path),
            fix="create a new profile for the other account ('swarmdeck profile new NAME'), "
            "or archive this one first ('swarmdeck profile archive NAME')",
        )
    entry = {"orgId": org_id, "address": address, "userId": user_id}
    if email is not None:
        entry["email"] = email
    atomic_write_json(path, {org_id: entry}, mode=0o600)
    return path


def append_user_api_key(identity_dir: Path, org_id: str, entry: dict) -> Path:
    """Append a session key entry under orgId (the newest entry is the live one)."""
    identity_dir = Path(identity_dir)
    _paths.ensure_private_dir(identity_dir)
    path = identity_dir / "userApiKey.json"
    data = read_user_api_keys(identity_dir) or {}
    data.setdefault(org_id, []).append(dict(entry))
    atomic_write_json(path, data, mode=0o600)
    return path


def set_api_key_activated(identity_dir: Path, org_id: str, public_key: str, **extra) -> bool:
    """Mark the entry with `public_key` activated (and store extra fields). Returns False if not found."""
    identity_dir = Path(identity_dir)
    data = read_user_api_keys(identity_dir) or {}
    for e in reversed(data.get(org_id, [])):
        if str(e.get("publicKey", "")).lower() == str(public_key).lower():
            e["activated"] = True
            e.update(extra)
            atomic_write_json(identity_dir / "userApiKey.json", data, mode=0o600)
            return True
    return False


def read_login(identity_dir: Path) -> LoginInfo | None:
    """The account this identity is signed in as, or None when not signed in yet."""
    ud = read_user_data(identity_dir)
    if not ud:
        return None
    org_id, info = next(iter(ud.items()))
    keys = read_user_api_keys(identity_dir) or {}
    entries = keys.get(org_id) or []
    last = entries[-1] if entries else {}
    return LoginInfo(
        org_id=str(info.get("orgId", org_id)),
        address=info.get("address"),
        user_id=info.get("userId"),
        email=info.get("email"),
        api_public_key=last.get("publicKey"),
        api_private_key=last.get("privateKey"),
        activated=bool(last.get("activated", False)),
        created_at=last.get("createdAt"),
    )


# --- permissions (like OpenSSH: refuse to trust world/group readable keys, offer the fix) --

@dataclass(frozen=True)
class PermissionProblem:
    path: Path
    mode: int
    wanted: int

    def as_msg(self):
        return M("identity.perm_problem", path=str(self.path), mode=oct(self.mode), wanted=oct(self.wanted))

    def __str__(self) -> str:
        return self.as_msg().english()


def check_permissions(identity_dir: Path) -> list[PermissionProblem]:
    """Identity dir must be 0700 and its files 0600 (no group/other bits)."""
    identity_dir = Path(identity_dir)
    problems: list[PermissionProblem] = []
    if not identity_dir.is_dir():
        return problems
    m = stat.S_IMODE(identity_dir.stat().st_mode)
    if m & 0o077:
        problems.append(PermissionProblem(identity_dir, m, 0o700))
    for p in sorted(identity_dir.iterdir()):
        if p.is_file() and not p.is_symlink():
            m = stat.S_IMODE(p.stat().st_mode)
            if m & 0o077:
                problems.append(PermissionProblem(p, m, 0o600))
    return problems


def fix_permissions(identity_dir: Path) -> list[PermissionProblem]:
    """chmod the problems check_permissions finds; returns what was fixed."""
    fixed = check_permissions(identity_dir)
    for pr in fixed:
        os.chmod(pr.path, pr.wanted)
    return fixed


def permission_warning(identity_dir: Path, profile: str | None = None) -> str | None:
    problems = check_permissions(identity_dir)
    if not problems:
        return None
    lines = ["WARNING: UNPROTECTED IDENTITY FILES: other users on this machine can read them:"]
    lines += [f"  {p}" for p in problems]
    cmd = "swarmdeck identity fix-perms" + (f" -p {profile}" if profile else "")
    lines.append(f"fix: run '{cmd}' (or chmod 700 the directory and 600 the files)")
    return "\n".join(lines)


# --- one running node per identity -------------------------------------------------------

class NodeLock:
    """An exclusive, process-lifetime lock on a profile's identity (flock on node.lock).

    The kernel drops it when the process dies (even kill -9), so a crash never leaves a
    stale lock. `with NodeLock(paths):` or acquire()/release().
    """

    def __init__(self, paths_or_file):
        self.path = Path(getattr(paths_or_file, "node_lock", paths_or_file))
        self._fd: int | None = None

    def acquire(self) -> "NodeLock":
        _paths.ensure_private_dir(self.path.parent)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as e:
            holder = ""
            try:
                holder = os.pread(fd, 64, 0).decode(errors="replace").strip()
            except OSError:
                pass
            os.close(fd)
            if e.errno in (errno.EAGAIN, errno.EACCES, errno.EWOULDBLOCK):
                raise IdentityError(
                    "this identity is already in use by another running node"
                    + (f" (pid {holder})" if holder else "") + "; one identity must never run twice.",
                    where=str(self.path),
                    fix="stop the other node first ('swarmdeck stop'), or use another profile",
                ) from None
            raise
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        self._fd = fd
        return self

    def release(self) -> None:
        if self._fd is not None:
            try:
                os.ftruncate(self._fd, 0)
                fcntl.flock(self._fd, fcntl.LOCK_UN)
            finally:
                os.close(self._fd)
                self._fd = None

    @property
    def held(self) -> bool:
        return self._fd is not None

    def __enter__(self) -> "NodeLock":
        return self.acquire()

    def __exit__(self, *exc) -> None:
        self.release()


def is_locked(paths_or_file) -> bool:
    """True when some process holds the profile's NodeLock (i.e. its node is running)."""
    p = Path(getattr(paths_or_file, "node_lock", paths_or_file))
    if not p.exists():
        return False
    fd = os.open(p, os.O_RDONLY)
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except OSError:
        return True
    finally:
        os.close(fd)
    return False


# --- duplicates across profiles ---------------------------------------------------------

@dataclass(frozen=True)
class Duplicate:
    kind: str  # "peer_id" | "org_id" | "session_key"
    value: str  # the shared value (never a secret: peer id, orgId, session key's public address)
    profiles: tuple[str, ...]

    def message(self) -> M:
        return M("identity.duplicate", what=M("identity.kind." + self.kind), value=self.value,
                 profiles=", ".join(self.profiles))

    def __str__(self) -> str:
        return str.__str__(self.message())

    def to_dict(self) -> dict:
        return {"kind": self.kind, "value": self.value, "profiles": list(self.profiles)}


def identity_facts(identity_dir: Path) -> dict:
    """Non-secret identifying values of one identity dir; damaged files yield an 'errors' list."""
    identity_dir = Path(identity_dir)
    out: dict = {"peer_id": None, "org_id": None, "session_key": None, "errors": []}
    pem = identity_dir / "swarm.pem"
    if pem.exists():
        try:
            out["peer_id"] = peer_id_from_pem(pem)
        except IdentityError as e:
            out["errors"].append(e)
    try:
        login = read_login(identity_dir)
        if login:
            out["org_id"] = login.org_id
            out["session_key"] = login.api_public_key
    except IdentityError as e:
        out["errors"].append(e)
    return out


def _known_profiles() -> list[str]:
    """Profiles in the config (those a user can start or archive); profile dirs if it is unreadable."""
    try:
        from core.config.settings import load_config

        return [n for n in load_config(strict=False).profile_names() if _paths.PROFILE_NAME_RE.match(n)]
    except Exception:
        d = _paths.profiles_dir()
        return sorted(p.name for p in d.iterdir() if p.is_dir()) if d.is_dir() else []


def find_duplicates(profile_names: list[str] | None = None) -> list[Duplicate]:
    """Peer ids / orgIds / session keys shared by two or more profiles (archived ones excluded)."""
    if profile_names is None:
        profile_names = _known_profiles()
    seen: dict[tuple[str, str], list[str]] = {}
    for name in profile_names:
        facts = identity_facts(_paths.ProfilePaths(name).identity_dir)
        for kind in ("peer_id", "org_id", "session_key"):
            v = facts[kind]
            if v:
                key = (kind, v.lower() if kind == "session_key" else v)
                seen.setdefault(key, []).append(name)
    return [Duplicate(k, v, tuple(ps)) for (k, v), ps in sorted(seen.items()) if len(ps) > 1]


ONE_EMAIL_PER_NODE = ("one email per node: the chain tracks each node's progress by the account it signs in "
                      "with, so a second node on the same email trains fine but is not tracked on-chain")


def profiles_signed_in_with(email: str, exclude: Path | None = None) -> list[str]:
    """Profiles (directories on disk, archived ones excluded) whose userData.json holds `email`.

    `exclude` is the identity dir of the profile being signed in. Damaged files count as no match:
    they are reported elsewhere, and must not block another profile's sign-in."""
    want = email.strip().lower()
    root = _paths.profiles_dir()
    if not want or not root.is_dir():
        return []
    skip = Path(exclude).resolve() if exclude else None
    out = []
    for d in sorted(p for p in root.iterdir() if p.is_dir() and _paths.PROFILE_NAME_RE.match(p.name)):
        ident = _paths.ProfilePaths(d.name).identity_dir
        if skip is not None and ident.resolve() == skip:
            continue
        try:
            data = read_user_data(ident) or {}
        except IdentityError:
            continue
        if any(str(v.get("email") or "").strip().lower() == want for v in data.values()):
            out.append(d.name)
    return out


def email_taken_error(email: str, owners: list[str]) -> IdentityError:
    """The refusal for signing a profile in with an email that already signs `owners` in."""
    first = owners[0]
    return IdentityError(
        f"{email.strip()} already signs in profile {', '.join(repr(o) for o in owners)}; {ONE_EMAIL_PER_NODE}.",
        where=f"profile {first}",
        fix=f"sign this profile in with another email; or, to move the account here, archive '{first}' first "
            f"('swarmdeck profile archive {first}')")


def signed_in_since(identity_dir: Path, org_id: str) -> float:
    """When this identity first signed in with `org_id`: its oldest session key's createdAt, else
    userData.json's mtime (inf when unknown)."""
    identity_dir = Path(identity_dir)
    times = []
    try:
        for e in (read_user_api_keys(identity_dir) or {}).get(org_id, []):
            try:
                times.append(datetime.fromisoformat(str(e.get("createdAt")).replace("Z", "+00:00")).timestamp())
            except (TypeError, ValueError):
                continue
    except IdentityError:
        pass
    if times:
        return min(times)
    try:
        return (identity_dir / "userData.json").stat().st_mtime
    except OSError:
        return float("inf")


def first_holder(dup: Duplicate) -> str | None:
    """For a shared account (orgId): the profile that signed in with it first; it keeps running
    (only the later ones are refused). None for the other kinds: a copied swarm.pem or session
    key cannot say which copy is the original."""
    if dup.kind != "org_id":
        return None
    return min(dup.profiles, key=lambda n: signed_in_since(_paths.ProfilePaths(n).identity_dir, dup.value))


def assert_no_duplicates(profile: str) -> None:
    """Refuse to start `profile` while its identity is shared with another profile; an account shared
    with a later profile does not block the profile that had it first."""
    dups = [d for d in find_duplicates() if profile in d.profiles and first_holder(d) != profile]
    if dups:
        others = sorted({p for d in dups for p in d.profiles if p != profile})
        raise IdentityError(
            "refusing to start: " + "; ".join(str(d) for d in dups)
            + ". Two nodes on one identity fight over the peer id and on-chain submissions.",
            where=f"profiles {', '.join([profile] + others)}",
            fix=(f"this profile signed in later: archive it ('swarmdeck profile archive {profile}') and sign a "
                 f"new profile in with another email ({ONE_EMAIL_PER_NODE})"
                 if all(d.kind == "org_id" for d in dups) else
                 f"keep one of them: archive the copy with 'swarmdeck profile archive {others[0]}' "
                 "(or create a fresh identity in a new profile)"),
        )
