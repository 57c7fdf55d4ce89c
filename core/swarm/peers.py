"""Peer bookkeeping: heartbeats (this peer's multiaddrs in its heartbeat bucket), the peers seen
(heartbeats and manifests), and forgetting the ones silent for long."""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from core.identity import files as identity
from core.swarm import records
from core.swarm.replies import dht_time, subkey_entries
from core.swarm.shards import shard_bucket
from core.base.errors import SwarmError

# Peers we have heard from are remembered for rejoining and the dashboard, but not forever: a
# node running for weeks in a churning public swarm would otherwise keep every peer it ever saw.
PEER_FORGET_S = 24 * 3600.0
MAX_KNOWN_PEERS = 2000


@dataclass
class PeerSeen:
    last_seen: float
    maddrs: list[str] = field(default_factory=list)



class PeerBook:
    """Mixin of SwarmDHT: heartbeat(), peers() and the _seen table they keep."""

    def heartbeat(self) -> None:
        """Announce this peer (with its multiaddrs) in its heartbeat bucket; cheap, call once per round."""
        self._guarded(self._heartbeat_unguarded)

    def _heartbeat_unguarded(self) -> None:
        exp = dht_time() + self.heartbeat_ttl
        body = {"peer": self.peer_id, "t": time.time(), "maddrs": self._maddrs[:8]}
        for level in self._shards.publish_levels():
            key = records.heartbeat_key(level, shard_bucket(self.peer_id, "h", level))
            value = self._signer.signed_value("h", key, exp, body)
            if len(value) > records.MAX_SIGNED_BYTES:
                value = self._signer.signed_value("h", key, exp, dict(body, maddrs=[]))
            self._wait(self._store(key, value, exp, subkey=records.peer_subkey(self.peer_id)))

    def peers(self, refresh: bool = True, timeout: float | None = None) -> list[dict]:
        """Other peers seen (heartbeats in our bucket, manifests fetched): [{peer_id, name, last_seen}], newest first."""
        if refresh:
            level = self._shards.read_level()
            key = records.heartbeat_key(level, shard_bucket(self.peer_id, "h", level))
            try:
                found = self._guarded(lambda: self._wait(self._get(key), timeout))
            except SwarmError:
                found = None
            kid = records.key_id(key)
            for subkey, raw, exp in subkey_entries(found):
                try:
                    if not records.is_ours(subkey):
                        raise records.RecordError("foreign", "not a swarmdeck record")
                    rec = records.open_signed(kid, subkey, raw, exp)
                    hb = rec.body
                    if rec.kind != "h" or hb.get("peer") != rec.peer_id:
                        raise records.RecordError("heartbeat", "not a heartbeat")
                    t = float(hb["t"])
                    maddrs = [str(m) for m in hb.get("maddrs", [])[:8] if isinstance(m, str) and len(m) < 256]
                except records.RecordError as e:
                    self._reject(e, subkey)
                    continue
                except (ValueError, TypeError, KeyError, AttributeError):
                    self.rejected.add("heartbeat")
                    continue
                if rec.peer_id == self.peer_id:
                    continue
                # Trust our own clock over theirs, but never report a peer as seen in the future.
                self._saw(rec.peer_id, min(t, time.time()), maddrs)
        self._forget_old_peers()
        return sorted(({"peer_id": p, "name": identity.display_name(p), "last_seen": s.last_seen}
                       for p, s in self._seen.items()), key=lambda d: -d["last_seen"])

    def _forget_old_peers(self, now: float | None = None) -> None:
        """Drop peers not heard from for PEER_FORGET_S, and beyond MAX_KNOWN_PEERS the longest silent."""
        cutoff = (time.time() if now is None else now) - PEER_FORGET_S
        stale = [p for p, s in self._seen.items() if s.last_seen < cutoff]
        if len(self._seen) - len(stale) > MAX_KNOWN_PEERS:
            by_age = sorted((p for p in self._seen if p not in set(stale)), key=lambda p: self._seen[p].last_seen)
            stale += by_age[:len(self._seen) - len(stale) - MAX_KNOWN_PEERS]
        for p in stale:
            del self._seen[p]

    def _saw(self, peer: str, t: float | None = None, maddrs: list[str] | None = None) -> None:
        s = self._seen.get(peer)
        t = time.time() if t is None else t
        if s is None:
            self._seen[peer] = PeerSeen(t, maddrs or [])
        else:
            s.last_seen = max(s.last_seen, t)
            if maddrs:
                s.maddrs = maddrs
