"""A hostile DHT peer built from raw hivemind (no swarmdeck validator) that signs whatever it likes.

Used by the signed-record tests: it can store records under any key and subkey, signed with keys of
its own (Forger), claiming someone else's public key, or of another record version.
"""

from __future__ import annotations

import math
from pathlib import Path

import msgpack
import psutil
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding

from core.base.rollouts import Rollout
from core.identity import files as identity
from core.swarm import records
from core.swarm.wire import encode_rollouts


class Forger:
    """An identity (swarm.pem) whose key signs records under any subkey."""

    def __init__(self, pem: Path):
        self.peer_id = identity.load_or_create_swarm_pem(pem).peer_id
        self.key = identity.swarm_private_key(pem)
        self.public_der = records.Signer(self.key, self.peer_id).public_der

    @property
    def subkey(self) -> str:
        return records.peer_subkey(self.peer_id)

    def sign(self, kind: str, key: str, subkey: str, exp: float, body: dict, public_der: bytes | None = None,
             version: int = records.VERSION) -> bytes:
        body_bytes = msgpack.packb(body, use_bin_type=True)
        msg = records.signed_message(version, kind, records.key_id(key), subkey, exp, body_bytes)
        sig = self.key.sign(msg, padding.PKCS1v15(), hashes.SHA256())
        return records.SIGNED_MAGIC + bytes([version]) + msgpack.packb(
            [kind, body_bytes, public_der or self.public_der, sig], use_bin_type=True)


class HostilePeer:
    def __init__(self, root: Path, initial_peers, pids: set[int]):
        from hivemind import DHT

        self.root = Path(root)
        self.me = Forger(self.root / "hostile" / "swarm.pem")
        self.dht = DHT(start=True, initial_peers=list(initial_peers), host_maddrs=["/ip4/127.0.0.1/tcp/0"],
                       identity_path=str(self.root / "hostile" / "swarm.pem"))
        pids.update([self.dht.pid] + [c.pid for c in psutil.Process(self.dht.pid).children(recursive=True)])

    def forger(self, name: str) -> Forger:
        return Forger(self.root / "hostile-ids" / name / "swarm.pem")

    def store(self, key, value, subkey, exp) -> bool:
        """Store; honest replicas refuse what fails validation (hivemind then says False: the point)."""
        return bool(self.dht.store(key, value, exp, subkey=subkey, return_future=True).result(30))

    def chunks(self, blob: bytes, exp: float, chunk: int = 12 * 1024) -> tuple[bytes, ...]:
        """Store a blob as content-addressed chunks (valid ones, whatever their content); their digests."""
        out = []
        for i in range(0, max(1, len(blob)), chunk):
            key, value, d = records.chunk_value(blob[i:i + chunk])
            self.store(key, value, records.CHUNK_SUBKEY, exp)
            out.append(d)
        return tuple(out)

    def group(self, blob: bytes, exp: float, like: Rollout | None = None, index: int = 0,
              **override) -> records.GroupInfo:
        """Store a group's chunks and describe it (summary from `like`, or overridden)."""
        digests = self.chunks(blob, exp)
        rw = like.rewards if like is not None else [0.0, 1.0]
        mean = sum(rw) / len(rw)
        std = math.sqrt(sum((x - mean) ** 2 for x in rw) / len(rw))
        fields = dict(index=index, size=len(blob), chunks=digests, completions=len(rw), mean=mean, std=std,
                      signal=len(set(rw)) > 1)
        fields.update(override)
        return records.GroupInfo(**fields)

    def rollout_group(self, rollout: Rollout, exp: float) -> records.GroupInfo:
        return self.group(encode_rollouts([rollout]), exp, like=rollout)

    def shutdown(self) -> None:
        self.dht.shutdown()
