"""SwarmDHT: rollout sharing over a hivemind 1.1.12 DHT that never hangs and survives its own crash.

Record version 2 (core/swarm/records.py: formats, signatures; core/swarm/validator.py: the check
every DHT process runs on what it stores and receives). Every value is a dictionary entry whose
subkey starts with "sd2:"; never pickle from the network.

  "swarmdeck/v2/m/<round>/<level>/<bucket>"  subkey "sd2:<peer id>" -> signed manifest: per question
        group its size, chunk addresses, G, reward mean/std and whether it has any nonzero advantage
  "swarmdeck/v2/c/<sha256 of the chunk, 160 bits>"  subkey "sd2:c" -> one chunk of one group's wire
        message (core.swarm.wire), content-addressed: any node checks that the value is the one its key
        names, so chunks are read with latest=False (the first replica's answer will do)
  "swarmdeck/v2/h/<level>/<bucket>"          subkey "sd2:<peer id>" -> signed heartbeat {t, maddrs}

A signed record verifies only under the key, subkey and expiration it was signed for, and only with
the RSA key whose libp2p id is the subkey's peer id (swarm.pem): forged, replayed and swapped records
are refused by every honest replica and by the reader, and counted in `rejected`.

Per-node cost independent of the swarm size: a fetch reads one bucket of a round's manifests (see
core.swarm.shards) and downloads only the J groups it draws (core.swarm.fetch). No key holds every
peer's manifest, and each bucket is read by about SHARD_PEERS nodes. Every value stored stays small
and every request has a timeout (core.swarm.process says why).
`last_fetch` (FetchStats) holds what a fetch cost: requests, bytes, seconds, peers it could choose from.

SwarmDHT is assembled from one module per concern (each a mixin over the same state, set up here):
  core.swarm.process  the DHT process's lifecycle (start, restart, shutdown, p2pd) and request pipe
  core.swarm.publish  publish_rollouts: chunks + signed manifests
  core.swarm.fetch    fetch_rollouts: bucket reads, verification, the J draw, chunk downloads, FetchStats
  core.swarm.shards   shard levels and the swarm-size estimate
  core.swarm.peers    heartbeats and the peers seen
  core.swarm.replies  reading hivemind's answers defensively
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any, Iterable, Sequence

from core.base.rollouts import Rollout
from core.identity import files as identity
from core.swarm import records
from core.swarm.fetch import CACHE_ENTRIES, FetchSession, FetchStats, Fetcher, validator_counts
from core.swarm.peers import MAX_KNOWN_PEERS, PEER_FORGET_S, PeerBook, PeerSeen
from core.swarm.process import RESTART_SETTLE_S, STUCK_AFTER_TIMEOUTS, DHTProcess
from core.swarm.publish import CHUNK_BYTES, STORE_WINDOW, PublishResult, Publisher
from core.swarm.shards import MAX_LEVEL, SHARD_PEERS, Shards, shard_bucket
from core.swarm.wire import DEFAULT_LIMITS, Limits, RejectCounter

__all__ = ["SwarmDHT", "FetchStats", "PublishResult", "CHUNK_BYTES", "CACHE_ENTRIES", "MAX_KNOWN_PEERS",
           "PEER_FORGET_S", "RESTART_SETTLE_S", "STUCK_AFTER_TIMEOUTS", "STORE_WINDOW", "MAX_LEVEL", "SHARD_PEERS",
           "shard_bucket", "validator_counts"]

_PeerSeen = PeerSeen  # the name tests and older callers used


class SwarmDHT(PeerBook, Publisher, Fetcher, DHTProcess):
    """One node's view of the swarm DHT. Thread-safe; every call is bounded by a timeout.

    identity_path: the profile's swarm.pem (created in hivemind's format if missing).
    host/port:     where p2pd listens (port 0 = random; the chosen port is kept across restarts).
    announce_host/announce_port: what other peers should dial (e.g. a public IP behind NAT).
    initial_peers: bootnode multiaddrs; empty = this node starts a new swarm (it is the bootnode).
    """

    def __init__(
        self,
        identity_path: str | Path,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        announce_host: str | None = None,
        announce_port: int | None = None,
        initial_peers: Sequence[str] = (),
        expiration: float = 600.0,
        op_timeout: float = 10.0,
        startup_timeout: float = 30.0,
        start_retries: int = 3,
        backoff: float = 1.0,
        limits: Limits = DEFAULT_LIMITS,
        chunk_bytes: int = CHUNK_BYTES,
        heartbeat_ttl: float = 120.0,
        start: bool = True,
    ):
        if not 0 < chunk_bytes <= CHUNK_BYTES:
            raise ValueError(f"chunk_bytes must be in 1..{CHUNK_BYTES}")
        self.identity_path = Path(identity_path)
        self.host, self.port = host, int(port)
        self.announce_host, self.announce_port = announce_host, announce_port
        self.initial_peers = [str(p) for p in initial_peers]
        self.expiration, self.op_timeout = float(expiration), float(op_timeout)
        self.startup_timeout, self.start_retries, self.backoff = float(startup_timeout), int(start_retries), backoff
        self.limits, self.chunk_bytes, self.heartbeat_ttl = limits, int(chunk_bytes), float(heartbeat_ttl)
        self.rejected = RejectCounter()
        self.restarts = 0
        self.last_fetch: FetchStats | None = None
        self.last_manifests: dict[str, records.Manifest] = {}
        # peer id -> False: do not download this peer's groups, nor count its manifest's claims (set by the
        # node from peer trust and the registered-peers-only gate). None = every peer.
        self.peer_filter = None
        self._shards = Shards()
        self._sessions: dict[int, FetchSession] = {}
        self._verified: dict[tuple, records.Manifest] = {}
        self._groups: dict[tuple, Rollout] = {}
        self._refusals_seen: dict[str, int] = {}
        self._logged_versions: set[str] = set()
        self._dht = None
        self._p2pd_pids: list[int] = []
        self._maddrs: list[str] = []
        self._seen: dict[str, PeerSeen] = {}
        self._send_lock = threading.Lock()    # one writer on hivemind's request pipe
        self._life_lock = threading.RLock()   # start / restart / shutdown
        self._closed = False
        self._timeouts = 0                    # consecutive timed-out requests: many = stuck process
        ident = identity.load_or_create_swarm_pem(self.identity_path)
        self.peer_id: str = ident.peer_id
        self._signer = records.Signer.from_pem(self.identity_path)
        self.display_name: str = ident.display_name
        if start:
            self.start()

    @classmethod
    def from_profile(cls, profile: Any, bootnodes: Iterable[str] | None = None, **kw) -> "SwarmDHT":
        """Build from a core.identity.profiles.Profile: swarm.pem, dht_port, and bootnodes (given ones win over config)."""
        from core.swarm import addrs

        peers = list(bootnodes) if bootnodes is not None else list(getattr(profile.network, "bootnodes", []) or [])
        kw.setdefault("port", int(getattr(profile.settings, "dht_port", 0) or 0))
        # Listen where the profile says (127.0.0.1 on the local network, every interface elsewhere) and
        # announce what other machines can dial: announce_maddrs, else the address facing the swarm.
        kw.setdefault("host", addrs.listen_host(profile))
        announce = addrs.announce_maddrs(profile, kw["port"], peers)
        if announce and "announce_host" not in kw:
            kw["announce_host"], kw["announce_port"] = addrs.host_port(announce[0])
        return cls(profile.paths.swarm_pem, initial_peers=peers, **kw)
