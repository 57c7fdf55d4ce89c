"""Publishing: this node's question groups as content-addressed chunks, then one signed manifest in
its round's buckets (at the shard levels beside its own)."""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from typing import Any

from core.base.rollouts import Rollout
from core.swarm import records
from core.swarm.process import swarm_error
from core.swarm.replies import dht_time, subkey_items
from core.swarm.shards import shard_bucket
from core.swarm.wire import encode_rollouts

CHUNK_BYTES = 12 * 1024            # stored value size; pickled request stays < 16 KiB
STORE_WINDOW = 4                   # stores in flight: 4 x ~12.5 KiB < 64 KiB pipe buffer


@dataclass
class PublishResult:
    round: int
    bytes: int
    chunks: int
    seconds: float
    levels: list[int] = field(default_factory=list)



class Publisher:
    """Mixin of SwarmDHT: publish_rollouts and the retrying, signed stores it is made of."""

    def publish_rollouts(self, round: int, rollouts: list[Rollout]) -> PublishResult:
        """Store this node's rollouts for `round`: each question group as content-addressed chunks, then one
        signed manifest (a summary per group) in this round's buckets. Raises SwarmError on failure."""
        blobs = [encode_rollouts([r], self.limits) for r in rollouts]
        return self._guarded(self._publish, int(round), list(rollouts), blobs)

    def _publish(self, round: int, rollouts: list[Rollout], blobs: list[bytes]) -> PublishResult:
        t0 = time.monotonic()
        exp = dht_time() + self.expiration
        groups: list[records.GroupInfo] = []
        stores: list[tuple[str, bytes]] = []
        for i, (r, blob) in enumerate(zip(rollouts, blobs)):
            digests = []
            for c in [blob[k:k + self.chunk_bytes] for k in range(0, len(blob), self.chunk_bytes)] or [b""]:
                key, value, digest = records.chunk_value(c)
                stores.append((key, value))
                digests.append(digest)
            rw = [float(x) for x in r.rewards]
            mean = sum(rw) / len(rw) if rw else 0.0
            std = math.sqrt(sum((x - mean) ** 2 for x in rw) / len(rw)) if rw else 0.0
            groups.append(records.GroupInfo(i, len(blob), tuple(digests), len(r.completions), mean, std,
                                             r.has_signal()))
        pending: list[tuple[int, Any]] = []
        failed: list[int] = []

        def drain(keep: int) -> None:
            while len(pending) > keep:
                i, fut = pending.pop(0)
                if not self._wait(fut):
                    failed.append(i)

        for i, (key, value) in enumerate(stores):
            drain(STORE_WINDOW - 1)
            pending.append((i, self._store(key, value, exp, subkey=records.CHUNK_SUBKEY)))
        drain(0)
        for i in failed:
            self._store_retrying(stores[i][0], stores[i][1], exp, records.CHUNK_SUBKEY,
                                 f"rollout chunk {i} of round {round}")
        body = records.manifest_body(self.peer_id, round, groups)
        if len(groups) > records.MAX_GROUPS:
            raise swarm_error("encode", f"{len(groups)} question groups in one round; at most {records.MAX_GROUPS} "
                               "can be shared", "DHT", "lower questions_local", retriable=False)
        self._find_level(round)  # a node's first round: publish where the swarm reads (core.swarm.fetch)
        levels = self._shards.publish_levels()
        for level in levels:
            key = records.manifest_key(round, level, shard_bucket(self.peer_id, round, level))
            self._store_signed(key, "m", body, exp, f"rollout manifest of round {round}")
        self._heartbeat_unguarded()
        size = sum(map(len, blobs))
        return PublishResult(round=round, bytes=size, chunks=len(stores), seconds=time.monotonic() - t0,
                             levels=levels)

    def _store_signed(self, key: str, kind: str, body: dict, exp: float, what: str) -> None:
        value = self._signer.signed_value(kind, key, exp, body)
        if len(value) > records.MAX_SIGNED_BYTES:
            raise swarm_error("encode", f"the {what} is {len(value)} bytes, over the {records.MAX_SIGNED_BYTES} "
                               "a peer accepts", "DHT", "report this as a bug", retriable=False)
        self._store_retrying(key, value, exp, records.peer_subkey(self.peer_id), what,
                             resign=lambda e: self._signer.signed_value(kind, key, e, body))

    def _store_retrying(self, key: str, value: bytes, exp: float, subkey: str | None, what: str,
                        resign=None) -> None:
        # A store can be refused for a moment (e.g. peers still blacklist our previous process after a
        # restart, for hivemind's 5 s blacklist time): back off briefly rather than lose the round.
        for delay in (0.0, 0.25, 0.5, 1.0, 2.0):
            time.sleep(delay)
            if self._wait(self._store(key, value, exp, subkey=subkey)) or self._stored(key, value, subkey):
                return
            new_exp = max(exp, dht_time() + self.expiration)  # equal expiration is refused as "not newer"
            if new_exp != exp and resign is not None:
                value = resign(new_exp)  # the signature covers the expiration time
            exp = new_exp
        raise swarm_error("store", f"could not store the {what} in the DHT", "DHT",
                           "transient: check that peers are reachable; the next round retries")

    def _stored(self, key: str, value: bytes, subkey: str | None) -> bool:
        """hivemind's store() says False when one replica already had the record (e.g. reached twice
        through two routing entries) even though it is stored; ask the DHT what it holds instead."""
        found = self._wait(self._get(key))
        if subkey is None:
            return getattr(found, "value", None) == value
        return dict(subkey_items(found)).get(subkey) == value
