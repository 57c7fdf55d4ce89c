"""Signed DHT records (record version 2): every value says who stored it, under which key, until when.

Every record swarmdeck stores from version 2 on is a dictionary entry whose subkey starts with
"sd2:"; hivemind hands validators the key only as its 20-byte id (sha1 of the key), but the
subkey and the value in clear, so the "sd2:" prefix is how a storing node knows a record is
ours and must be checked (core/swarm/validator.py). Two kinds:

  signed  (manifest "m", heartbeat "h"), subkey "sd2:<peer id>":
      value = b"SDR" | version (1 byte) | msgpack([kind, body, public_key, signature])
      public_key: the peer's RSA key (DER SubjectPublicKeyInfo), the public half of its swarm.pem.
      The subkey's peer id must be the libp2p id of that key (base58 multihash sha2-256 of the
      protobuf PublicKey), so a signature by any other key under a victim's id is refused.
      signature: RSA PKCS#1 v1.5 / SHA-256 over
          msgpack([b"swarmdeck-record", version, kind, key_id, subkey, expiration_time, body])
      so a record replayed under another key (another round, another bucket), another subkey, or
      with another expiration does not verify.
  chunk   (content-addressed), subkey "sd2:c":
      value = b"SDC" | version | payload;  key = "swarmdeck/v2/c/<hex sha256(value)[:20 bytes]>"
      Any node can check that the value is the one its key names, so chunks need no signature;
      the (signed) manifest lists the chunk hashes, so swapped or replaced chunks are refused.

Nothing here imports hivemind (the validator module does). Untrusted bytes are parsed with
msgpack's size limits; every failure raises RecordError with a short `reason` for the
rejected-records counter.
"""

from __future__ import annotations

import hashlib
import math
import threading
from dataclasses import dataclass
from typing import Any

import msgpack
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from core.identity import files as identity

VERSION = 2
SIGNED_MAGIC = b"SDR"
CHUNK_MAGIC = b"SDC"
SUBKEY_PREFIX = "sd2:"
CHUNK_SUBKEY = SUBKEY_PREFIX + "c"
NAMESPACE = "swarmdeck/v2"
HASH_BYTES = 20                     # chunk address: sha256 truncated to 160 bits
MAX_SIGNED_BYTES = 4096             # one manifest or heartbeat, signature and key included
MAX_CHUNK_VALUE = 60 * 1024         # accepted from peers (they may chunk differently)
MIN_RSA_BITS, MAX_RSA_BITS = 1024, 4096  # bounds the work a hostile key can cause
_SIG_DOMAIN = b"swarmdeck-record"
KINDS = ("m", "h")


class RecordError(ValueError):
    """A DHT value that is not a valid version-2 record; `reason` is a short tag for the counter."""

    def __init__(self, reason: str, what: str):
        super().__init__(what)
        self.reason = reason


# ---------------------------------------------------------------------- keys

def key_id(key: str) -> bytes:
    """hivemind's DHTID of a string key as bytes (sha1 of its msgpack form): what validators see."""
    return hashlib.sha1(msgpack.packb(key, use_bin_type=True)).digest()


def manifest_key(round: int, level: int, bucket: int) -> str:
    return f"{NAMESPACE}/m/{int(round)}/{int(level)}/{int(bucket)}"


def heartbeat_key(level: int, bucket: int) -> str:
    return f"{NAMESPACE}/h/{int(level)}/{int(bucket)}"


def chunk_key(digest: bytes) -> str:
    return f"{NAMESPACE}/c/{digest.hex()}"


def peer_subkey(peer_id: str) -> str:
    return SUBKEY_PREFIX + peer_id


def is_ours(subkey: Any) -> bool:
    return isinstance(subkey, str) and subkey.startswith(SUBKEY_PREFIX)


# ---------------------------------------------------------------------- signing

class Signer:
    """This node's signing key (the swarm.pem RSA key) and its public half, ready to sign records."""

    def __init__(self, private_key: rsa.RSAPrivateKey, peer_id: str):
        self._key = private_key
        self.peer_id = peer_id
        self.public_der = private_key.public_key().public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
        if identity.peer_id_from_public_der(self.public_der) != peer_id:
            raise ValueError("the signing key is not the key of this peer id")

    @classmethod
    def from_pem(cls, path) -> "Signer":
        key = identity.swarm_private_key(path)
        return cls(key, identity.peer_id_from_public_der(key.public_key().public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)))

    def signed_value(self, kind: str, key: str, expiration: float, body: dict, version: int = VERSION) -> bytes:
        """The value to store under `key`, subkey "sd2:<our peer id>", expiring at `expiration`."""
        body_bytes = msgpack.packb(body, use_bin_type=True)
        msg = signed_message(version, kind, key_id(key), peer_subkey(self.peer_id), expiration, body_bytes)
        sig = self._key.sign(msg, padding.PKCS1v15(), hashes.SHA256())
        return SIGNED_MAGIC + bytes([version]) + msgpack.packb([kind, body_bytes, self.public_der, sig],
                                                               use_bin_type=True)


def signed_message(version: int, kind: str, kid: bytes, subkey: str, expiration: float, body: bytes) -> bytes:
    return msgpack.packb([_SIG_DOMAIN, version, kind, kid, subkey, float(expiration), body], use_bin_type=True)


def chunk_value(payload: bytes) -> tuple[str, bytes, bytes]:
    """(key, value, digest) of one content-addressed chunk."""
    value = CHUNK_MAGIC + bytes([VERSION]) + payload
    digest = hashlib.sha256(value).digest()[:HASH_BYTES]
    return chunk_key(digest), value, digest


# ---------------------------------------------------------------------- verifying

@dataclass(frozen=True)
class SignedRecord:
    kind: str
    peer_id: str
    body: dict
    expiration: float


_KEY_CACHE: dict[bytes, tuple[Any, str]] = {}   # public key DER -> (key object, peer id)
_KEY_CACHE_LOCK = threading.Lock()


def _public_key(der: bytes) -> tuple[Any, str]:
    with _KEY_CACHE_LOCK:
        hit = _KEY_CACHE.get(der)
    if hit is not None:
        return hit
    try:
        key = serialization.load_der_public_key(der)
    except (ValueError, TypeError):
        raise RecordError("signature", "the public key is not a valid DER key") from None
    if not isinstance(key, rsa.RSAPublicKey) or not MIN_RSA_BITS <= key.key_size <= MAX_RSA_BITS:
        raise RecordError("signature", "the public key is not an RSA key of 1024..4096 bits")
    out = (key, identity.peer_id_from_public_der(der))
    with _KEY_CACHE_LOCK:
        if len(_KEY_CACHE) >= 4096:
            _KEY_CACHE.clear()
        _KEY_CACHE[der] = out
    return out


def _unpack(data: bytes, max_len: int) -> Any:
    if len(data) > max_len:
        raise RecordError("format", f"{len(data)} bytes, over {max_len}")
    try:
        return msgpack.unpackb(data, raw=False, strict_map_key=True, use_list=True,
                               max_str_len=max_len, max_bin_len=max_len,
                               max_array_len=4096, max_map_len=64, max_ext_len=0)
    except Exception as e:  # msgpack raises several types (ExtraData, FormatError, ValueError, ...)
        raise RecordError("format", f"not msgpack ({type(e).__name__})") from None


def unpack_value(data: bytes) -> Any:
    """A hivemind-serialised value (msgpack) from the network, with size limits."""
    return _unpack(data, MAX_CHUNK_VALUE + 64)


def record_version(value: Any) -> int | None:
    """The record version of a value that looks like ours, else None."""
    if isinstance(value, (bytes, bytearray)) and len(value) > 3 and bytes(value[:3]) in (SIGNED_MAGIC, CHUNK_MAGIC):
        return value[3]
    return None


def _check_signature(public: Any, signature: bytes, message: bytes) -> None:
    try:
        public.verify(signature, message, padding.PKCS1v15(), hashes.SHA256())
    except InvalidSignature:
        raise RecordError("signature", "the signature does not verify") from None


def open_signed(kid: bytes, subkey: Any, value: Any, expiration: float) -> SignedRecord:
    """Check one signed record as stored under key id `kid`; its body if valid, else RecordError."""
    if not is_ours(subkey) or subkey == CHUNK_SUBKEY:
        raise RecordError("subkey", f"subkey {str(subkey)[:60]!r} is not a peer's record")
    if not isinstance(value, (bytes, bytearray)) or len(value) > MAX_SIGNED_BYTES:
        raise RecordError("format", "not bytes, or larger than a record may be")
    value = bytes(value)
    if value[:3] != SIGNED_MAGIC or len(value) < 5:
        raise RecordError("format", "not a signed swarmdeck record")
    if value[3] != VERSION:
        raise RecordError("version", f"record version {value[3]}, this node speaks {VERSION}")
    parts = _unpack(value[4:], MAX_SIGNED_BYTES)
    if not (isinstance(parts, list) and len(parts) == 4 and parts[0] in KINDS
            and all(isinstance(p, bytes) for p in parts[1:])):
        raise RecordError("format", "expected [kind, body, public key, signature]")
    kind, body_bytes, der, sig = parts
    public, owner = _public_key(der)
    claimed = subkey[len(SUBKEY_PREFIX):]
    if owner != claimed:
        raise RecordError("impostor", f"signed by {owner[:16]}… but stored as {claimed[:16]}…")
    _check_signature(public, sig, signed_message(VERSION, kind, bytes(kid), subkey, expiration, body_bytes))
    body = _unpack(body_bytes, MAX_SIGNED_BYTES)
    if not isinstance(body, dict):
        raise RecordError("format", "the record body is not a map")
    return SignedRecord(kind=kind, peer_id=claimed, body=body, expiration=float(expiration))


def check_chunk(kid: bytes, subkey: Any, value: Any) -> bytes:
    """The payload of a chunk record if its key names its content, else RecordError."""
    if subkey != CHUNK_SUBKEY:
        raise RecordError("subkey", "a chunk must be stored under the chunk subkey")
    if not isinstance(value, (bytes, bytearray)) or len(value) > MAX_CHUNK_VALUE or len(value) < 4:
        raise RecordError("chunk", "chunk is not bytes of an accepted size")
    value = bytes(value)
    if value[:3] != CHUNK_MAGIC:
        raise RecordError("chunk", "not a swarmdeck chunk")
    if value[3] != VERSION:
        raise RecordError("version", f"chunk version {value[3]}, this node speaks {VERSION}")
    if key_id(chunk_key(hashlib.sha256(value).digest()[:HASH_BYTES])) != bytes(kid):
        raise RecordError("checksum", "the chunk's content is not the one its key names")
    return value[4:]


def check_record(kid: bytes, subkey: Any, value: Any, expiration: float) -> None:
    """What a storing or answering node checks (validator): any "sd2:" record must be valid."""
    if subkey == CHUNK_SUBKEY:
        check_chunk(kid, subkey, value)
    else:
        open_signed(kid, subkey, value, expiration)


# ---------------------------------------------------------------------- manifest body

@dataclass(frozen=True)
class GroupInfo:
    """One question group of a peer's round, as its manifest describes it (before download)."""

    index: int
    size: int                 # encoded bytes of the group
    chunks: tuple[bytes, ...]  # chunk digests, in order
    completions: int
    mean: float
    std: float
    signal: bool              # any nonzero advantage (not all rewards equal)


@dataclass(frozen=True)
class Manifest:
    peer_id: str
    round: int
    groups: tuple[GroupInfo, ...]


MAX_GROUPS = 64


def manifest_body(peer_id: str, round: int, groups: list[GroupInfo]) -> dict:
    return {"peer": peer_id, "round": int(round),
            "groups": [[g.size, list(g.chunks), g.completions, round_f(g.mean), round_f(g.std), bool(g.signal)]
                       for g in groups]}


def round_f(x: float) -> float:
    return float(f"{float(x):.6g}")


def parse_manifest(rec: SignedRecord, round: int, max_group_bytes: int, max_completions: int) -> Manifest:
    """Schema of a verified manifest's body; the round must be the one its key is for."""
    b = rec.body
    if rec.kind != "m" or set(b) != {"peer", "round", "groups"}:
        raise RecordError("manifest", "not a manifest body")
    if b["peer"] != rec.peer_id:
        raise RecordError("impostor", "the manifest names another peer")
    if not _int(b["round"]):
        raise RecordError("manifest", "round is not an integer")
    # The round a manifest counts for is the one in its key: the signature covers the key id, so an
    # old round's manifest stored under a new round's key (a replay) fails in open_signed.
    gs = b["groups"]
    if not isinstance(gs, list) or not 0 < len(gs) <= MAX_GROUPS:
        raise RecordError("manifest", "groups must be a list of 1..64")
    out = []
    for i, g in enumerate(gs):
        if not (isinstance(g, list) and len(g) == 6):
            raise RecordError("manifest", f"group {i} is not [size, chunks, g, mean, std, signal]")
        size, chunks, n, mean, std, signal = g
        if not (_int(size) and 0 < size <= max_group_bytes and isinstance(chunks, list)
                and all(isinstance(c, bytes) and len(c) == HASH_BYTES for c in chunks)
                and math.ceil(size / MAX_CHUNK_VALUE) <= len(chunks) <= max(1, math.ceil(size / 1024))
                and _int(n) and 1 <= n <= max_completions and isinstance(signal, bool)
                and all(isinstance(x, float) and math.isfinite(x) for x in (mean, std))):
            raise RecordError("manifest", f"group {i} has invalid fields")
        out.append(GroupInfo(i, size, tuple(chunks), n, mean, std, signal))
    return Manifest(rec.peer_id, round, tuple(out))


def _int(x: Any) -> bool:
    return isinstance(x, int) and not isinstance(x, bool)
