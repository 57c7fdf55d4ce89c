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

Per-node cost independent of the swarm size. A round's manifests are split into 2**level buckets
(a peer's bucket = low bits of sha256(round/peer id)); each node estimates the swarm from the buckets
it reads and picks the level that puts about SHARD_PEERS manifests in one (stored at that level and
the two beside it, so estimates one step apart still meet). A fetch reads ONE random bucket of round
r and of r-1 (a peer one round behind still contributes its newest round), draws J groups uniformly
among the useful ones described there (SAPO: groups with a nonzero advantage, sampled uniformly;
every peer of the round is equally likely to be in the bucket drawn, and the draw changes each
round), and downloads only those groups' chunks: about 2 bucket reads + J x chunks-per-group gets,
whatever N is. No key holds every peer's manifest, and each bucket is read by about SHARD_PEERS nodes.
`last_fetch` (FetchStats) holds what a fetch cost: requests, bytes, seconds, peers it could choose from.

Why chunks: hivemind's DHT front-end sends each request to its DHT process through a
multiprocessing pipe whose read end is non-blocking. Python writes a message over 16 KiB as
two writes (header, body); when the reader wakes between them it gets EAGAIN, logs
"[Errno 11] Resource temporarily unavailable", drops the request, and the caller's future
never resolves. So every value we store is <= CHUNK_BYTES (well under 16 KiB once pickled),
at most STORE_WINDOW stores are in flight (so queued requests never fill the 64 KiB pipe),
every future has a timeout, and all pipe writes go through one lock (Connection.send is not
thread-safe). Replies travel through a separate blocking pipe and may be large.

Each process should own one SwarmDHT (the node does): before each DHT process is forked we reset
hivemind's result-pipe backend (see _start_once), so several SwarmDHTs in one process (tests) must
not be started while another one has requests in flight from a different thread.

Each chunk lives under its own key so every DHT reply (and every libp2p message) stays one
chunk long; a bucket reply stays about SHARD_PEERS manifests (~1 KB each) long.
"""

from __future__ import annotations

import copy
import dataclasses
import hashlib
import logging
import math
import random
import secrets
import threading
import time
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Sequence

import psutil

from core.identity import files as identity
from core.base.errors import SwarmError
from core.base.rollouts import Rollout
from core.swarm import records
from core.swarm.wire import DEFAULT_LIMITS, Limits, RejectCounter, WireError, decode_rollouts, encode_rollouts

log = logging.getLogger(__name__)

CHUNK_BYTES = 12 * 1024            # stored value size; pickled request stays < 16 KiB
RESTART_SETTLE_S = 1.0            # measured: restarting at once after killing a stuck process can hang bootstrap
STUCK_AFTER_TIMEOUTS = 3          # consecutive unanswered requests before the process is replaced
STORE_WINDOW = 4                   # stores in flight: 4 x ~12.5 KiB < 64 KiB pipe buffer
CACHE_ENTRIES = 512                # verified manifests / groups kept; a few rounds of what a node reads
SHARD_PEERS = 16                   # target manifests per bucket (what one read returns)
MAX_LEVEL = 12                     # up to 4096 buckets a round: ~65k peers at SHARD_PEERS
# Peers we have heard from are remembered for rejoining and the dashboard, but not forever: a
# node running for weeks in a churning public swarm would otherwise keep every peer it ever saw.
PEER_FORGET_S = 24 * 3600.0
MAX_KNOWN_PEERS = 2000
_FORK_LOCK = threading.Lock()


def shard_bucket(peer_id: str, salt: Any, level: int) -> int:
    """The bucket of `peer_id` among the 2**level buckets of a round (salt = round): low bits of a hash,
    so the bucket at level l+1 splits the one at level l in two."""
    if level <= 0:
        return 0
    h = hashlib.sha256(f"{salt}/{peer_id}".encode()).digest()
    return int.from_bytes(h[:8], "big") & ((1 << level) - 1)


class _Shards:
    """How many buckets a round is split into (2**level), from the swarm size this node observes.

    A reader that finds m manifests in one bucket at level l estimates n = m * 2**l peers (a
    running mean of log2 n). The level is the one that puts about SHARD_PEERS in a bucket, with
    hysteresis. A publisher stores at its level and the two beside it, so readers whose
    estimate differs by one step still see it.
    """

    def __init__(self) -> None:
        self.level: int | None = None
        self._log_n: float | None = None

    def read_level(self) -> int:
        return self.level or 0

    def publish_levels(self) -> list[int]:
        lv = self.level or 0
        return [x for x in (lv - 1, lv, lv + 1) if 0 <= x <= MAX_LEVEL]

    def observe(self, count: int, level: int) -> None:
        x = math.log2(max(1, count) * 2 ** level)
        self._log_n = x if self._log_n is None else 0.5 * self._log_n + 0.5 * x
        want = self._log_n - math.log2(SHARD_PEERS)  # fractional level
        cur = self.level
        if cur is None:
            self.level = max(0, min(MAX_LEVEL, math.ceil(want)))
        elif want > cur + 0.25 or want < cur - 1.25:
            # One step a round at most: the swarm's size changes slowly, and a burst of made-up
            # peers (each a fresh key) cannot throw every reader to an empty level at once.
            self.level = max(0, min(MAX_LEVEL, cur + (1 if want > cur else -1)))

    @property
    def estimate(self) -> int:
        return int(round(2 ** self._log_n)) if self._log_n is not None else 0


@dataclass
class _Session:
    """What one node has read and chosen for one round (polls of the same round add to it)."""

    round: int
    rng: random.Random
    tried: set = field(default_factory=set)      # (peer, round, chunk digests) chosen once
    got: dict = field(default_factory=dict)      # (peer, round, chunk digests) -> Rollout | None (failed)
    manifests: dict = field(default_factory=dict)  # (peer, round) -> the manifest read last
    estimated: bool = False
    searched: bool = False
    base: int = 0

    def __post_init__(self) -> None:
        self.base = self.rng.getrandbits(MAX_LEVEL)

    def bucket(self, level: int) -> int:
        return self.base & ((1 << level) - 1)

    def current(self) -> list[tuple[tuple, Rollout]]:
        """Verified groups still listed by their peer's manifest (a republish drops the older ones), in order."""
        out = []
        for k, r in self.got.items():
            m = self.manifests.get((k[0], k[1]))
            idx = next((g.index for g in m.groups if g.chunks == k[2]), None) if m is not None else None
            if r is not None and idx is not None:
                out.append(((k[0], k[1], idx), k, r))
        return [(k, r) for _, k, r in sorted(out, key=lambda x: x[0])]


@dataclass
class PublishResult:
    round: int
    bytes: int
    chunks: int
    seconds: float
    levels: list[int] = field(default_factory=list)


@dataclass
class FetchStats:
    """One fetch_rollouts call, as the benchmark and the dashboard read it."""

    round: int
    requests: int = 0              # DHT gets issued (bucket reads + chunk reads)
    bytes: int = 0                 # value bytes received
    seconds: float = 0.0
    peers: int = 0                 # peers it could choose from (valid manifests in the buckets read)
    offered: int = 0               # question groups those manifests describe (useful or not)
    useful: int = 0                # of which have a nonzero advantage (what a J draw chooses among)
    sources: int = 0               # peers the returned rollouts came from
    rollouts: int = 0              # rollouts returned (this round's session so far)
    rejected: int = 0              # records rejected as forged/malformed/tampered this call
    missing: int = 0               # chosen groups whose chunks did not arrive in time
    cached: int = 0                # chosen groups served from the verified cache
    complete: bool = False         # enough rollouts, or nothing left to choose: stop polling


@dataclass
class _PeerSeen:
    last_seen: float
    maddrs: list[str] = field(default_factory=list)


def _dht_time() -> float:
    from hivemind.utils import get_dht_time

    return get_dht_time()


class SwarmDHT:
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
        self._shards = _Shards()
        self._sessions: dict[int, _Session] = {}
        self._verified: dict[tuple, records.Manifest] = {}
        self._groups: dict[tuple, Rollout] = {}
        self._refusals_seen: dict[str, int] = {}
        self._logged_versions: set[str] = set()
        self._dht = None
        self._p2pd_pids: list[int] = []
        self._maddrs: list[str] = []
        self._seen: dict[str, _PeerSeen] = {}
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

    # ------------------------------------------------------------------ lifecycle

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

    def start(self) -> None:
        """Start the DHT process, retrying with backoff. Raises SwarmError naming the cause and the fix."""
        with self._life_lock:
            if self._closed:
                raise SwarmError("this DHT handle was shut down", fix="create a new SwarmDHT")
            if self._dht is not None and self._dht.is_alive():
                return
            last: SwarmError | None = None
            for attempt in range(max(1, self.start_retries)):
                if attempt:
                    time.sleep(self.backoff * 2 ** (attempt - 1))
                try:
                    self._start_once()
                    return
                except SwarmError as e:
                    last = e
                    log.warning("DHT start attempt %d/%d failed: %s", attempt + 1, self.start_retries, e.what)
                    if not getattr(e, "retriable", True):
                        break
            assert last is not None
            raise last

    def _start_once(self) -> None:
        from hivemind import DHT

        from core.swarm.validator import SwarmRecordValidator

        host_maddrs = [f"/ip4/{self.host}/tcp/{self.port}"]
        announce = None
        if self.announce_host or self.announce_port:
            a_port = self.announce_port or self.port
            if not a_port:
                raise _swarm_error("announce_port", "announce multiaddr needs an explicit port",
                                   f"dht_port={self.port}", "set dht_port (or announce_port) to a fixed port",
                                   retriable=False)
            announce = [f"/ip4/{self.announce_host or self.host}/tcp/{a_port}"]
        self._reap_p2pd()
        try:
            from hivemind.dht.routing import DHTID

            # A fixed node id per peer id: after a restart peers' routing tables still point at us, instead of
            # holding a stale id for the same peer (hivemind then stores twice and reports False).
            from hivemind.utils.mpfuture import MPFuture

            with _FORK_LOCK:
                # hivemind's DHT processes send every result under one multiprocessing lock inherited at
                # fork. A DHT process killed while holding it (measured: ~1 in 4 SIGKILLs here) blocks
                # every later result forever, the restarted DHT's "ready" included. Fresh locks and
                # result pipe before each fork keep a dead process from poisoning its successor.
                MPFuture.reset_backend()
                dht = DHT(start=True, initial_peers=self.initial_peers or None, host_maddrs=host_maddrs,
                          node_id=DHTID.generate(source=f"swarmdeck/{self.peer_id}".encode()),
                          announce_maddrs=announce, identity_path=str(self.identity_path),
                          record_validators=[SwarmRecordValidator()],
                          startup_timeout=self.startup_timeout, await_ready=False, daemon=True)
            dht.wait_until_ready(timeout=self.startup_timeout + 5)
        except BaseException as e:  # noqa: BLE001 - classify every startup failure for the user
            dht = locals().get("dht")
            if dht is not None:
                # Its p2pd outlives it and would hold the port for the next attempt: reap it too.
                try:
                    self._p2pd_pids = [c.pid for c in psutil.Process(dht.pid).children(recursive=True)]
                except (psutil.Error, TypeError, ValueError):
                    pass
                try:
                    dht.kill()
                    dht.join(5)
                except Exception:
                    pass
            self._reap_p2pd()
            raise self._classify_start_error(e) from None
        self._dht = dht
        try:
            self._p2pd_pids = [c.pid for c in psutil.Process(dht.pid).children(recursive=True)]
        except psutil.Error:
            self._p2pd_pids = []
        try:
            running_id = str(self._call(lambda: dht.run_coroutine(_get_peer_id, return_future=True)))
            maddrs = self._call(lambda: dht.run_coroutine(_get_maddrs, return_future=True))
        except SwarmError:
            self._stop_process()
            raise
        if running_id != self.peer_id:  # would mean swarm.pem and the running key disagree: never continue
            self._stop_process()
            raise SwarmError(f"DHT runs as {running_id} but swarm.pem says {self.peer_id}",
                             where=str(self.identity_path), fix="report this as a bug; do not register this node")
        self._maddrs = [str(m) for m in maddrs]
        if not self.port and self._maddrs:
            # Keep the port across restarts so bootnode addresses we published stay valid.
            try:
                self.port = int(self._maddrs[0].split("/tcp/")[1].split("/")[0])
            except (IndexError, ValueError):
                pass

    def _classify_start_error(self, e: BaseException) -> SwarmError:
        msg = str(e) or type(e).__name__
        port = f"tcp {self.host}:{self.port}"
        if "address already in use" in msg:
            return _swarm_error("port_busy", f"DHT port {self.port} is already in use", port,
                                f"stop the program listening there (`ss -ltnp | grep :{self.port}`) or set "
                                "dht_port = 0 (random port) in the profile", retriable=False)
        if "failed to connect to bootstrap peers" in msg or "bootstrap" in msg.lower():
            return _swarm_error("bootnodes", "could not reach any DHT bootnode",
                                ", ".join(self.initial_peers) or "no bootnodes",
                                "check the network and the bootnode multiaddrs (config [networks.*].bootnodes or "
                                "the contract's getBootnodes()); the first node of a new swarm starts without bootnodes")
        if "already taken" in msg:
            return _swarm_error("identity_taken", "another running peer already uses this swarm.pem",
                                str(self.identity_path),
                                "stop the other node that uses this identity (one identity runs once)",
                                retriable=False)
        if "failed to start" in msg.lower() or "p2pd" in msg.lower():
            return _swarm_error("p2pd", f"the p2p daemon (p2pd) did not start: {msg.splitlines()[0][:200]}",
                                port, "check that hivemind's p2pd binary runs on this platform "
                                "(`.venv/bin/python -c 'import hivemind'`), then retry; on a loaded machine raise "
                                "startup_timeout")
        if isinstance(e, (TimeoutError, FutureTimeout)):
            return _swarm_error("startup_timeout", f"the DHT did not become ready in {self.startup_timeout:.0f} s",
                                port, "retry; if it persists check the bootnodes and the machine's load")
        return _swarm_error("start", f"the DHT failed to start: {type(e).__name__}: {msg[:200]}", port,
                            "retry; if it persists run `swarmdeck doctor` and report the message")

    def is_alive(self) -> bool:
        d = self._dht
        return d is not None and d.is_alive()

    def restart(self) -> None:
        """Replace a dead or stuck DHT process with a new one (same identity, same port). Caller state is kept."""
        with self._life_lock:
            if self._closed:
                raise SwarmError("this DHT handle was shut down", fix="create a new SwarmDHT")
            self._stop_process()
            time.sleep(RESTART_SETTLE_S)
            known = [m for p in self._seen.values() for m in p.maddrs]
            saved = self.initial_peers
            # Rejoin through peers we have heard from, not only the original bootnodes
            # (when we were the bootnode there are none).
            self.initial_peers = list(dict.fromkeys(saved + known))
            try:
                try:
                    self.start()
                except SwarmError as e:
                    if getattr(e, "cause", "") != "bootnodes" or not known:
                        raise
                    self.initial_peers = saved
                    self.start()
            finally:
                self.initial_peers = saved
            self.restarts += 1
            log.warning("DHT process restarted (%d restarts so far)", self.restarts)

    def _ensure_alive(self) -> None:
        if self.is_alive() and self._timeouts >= STUCK_AFTER_TIMEOUTS:
            log.warning("DHT process answered none of the last %d requests; restarting it", self._timeouts)
            self._kill_process()
            self._timeouts = 0
        if not self.is_alive():
            if self._dht is not None:
                log.warning("DHT process is dead (exit code %s); restarting it", self._dht.exitcode)
            self.restart()

    def _stop_process(self) -> None:
        dht, self._dht = self._dht, None
        if dht is not None:
            try:
                if dht.is_alive():
                    with self._send_lock:
                        dht.shutdown()
                dht.join(5)
                if dht.is_alive():
                    dht.kill()
                    dht.join(5)
            except Exception:  # a half-dead process must not stop the cleanup below
                pass
        self._reap_p2pd()

    def _kill_process(self) -> None:
        d = self._dht
        if d is not None and d.is_alive():
            d.kill()
            d.join(5)

    def _reap_p2pd(self) -> None:
        """Kill p2pd daemons of a previous DHT process: they outlive it and hold our port and identity."""
        pids, self._p2pd_pids = self._p2pd_pids, []
        procs = []
        for pid in pids:
            try:
                p = psutil.Process(pid)
                if p.name().startswith("p2pd"):
                    p.terminate()
                    procs.append(p)
            except psutil.Error:
                pass
        _, alive = psutil.wait_procs(procs, timeout=3)
        for p in alive:
            try:
                p.kill()
            except psutil.Error:
                pass
        psutil.wait_procs(alive, timeout=3)

    def shutdown(self) -> None:
        """Stop the DHT process and its p2pd. Idempotent."""
        with self._life_lock:
            self._closed = True
            self._stop_process()

    def __enter__(self) -> "SwarmDHT":
        return self

    def __exit__(self, *exc) -> None:
        self.shutdown()

    def child_pids(self) -> list[int]:
        """PIDs of the DHT process and its p2pd (for tests and the supervisor's process accounting)."""
        d = self._dht
        return ([d.pid] if d is not None and d.pid else []) + list(self._p2pd_pids)

    # ------------------------------------------------------------------ low level

    def _call(self, send, timeout: float | None = None):
        """Send one request (under the pipe lock) and wait for its future with a timeout."""
        with self._send_lock:
            fut = send()
        return self._wait(fut, timeout)

    def _wait(self, fut, timeout: float | None = None):
        t = self.op_timeout if timeout is None else max(0.0, timeout)
        try:
            result = fut.result(timeout=t)
        except (FutureTimeout, TimeoutError):
            fut.cancel()
            if t >= 0.5:  # a zero-budget wait at a fetch deadline says nothing about the process
                self._timeouts += 1
            raise _swarm_error("timeout", f"DHT request timed out after {t:.1f} s",
                               "DHT", "transient: retried next round; if it repeats, check peers and load") from None
        self._timeouts = 0
        return result

    def _store(self, key: str, value: bytes, expiration: float, subkey: str | None = None):
        d = self._dht
        with self._send_lock:
            return d.store(key, value, expiration_time=expiration, subkey=subkey, return_future=True)

    def _get(self, key: str, latest: bool = True):
        d = self._dht
        with self._send_lock:
            return d.get(key, latest=latest, return_future=True)

    @property
    def swarm_estimate(self) -> int:
        """Peers in the swarm as this node estimates them from its bucket reads (0 before the first)."""
        return self._shards.estimate

    def _guarded(self, op, *args, **kw):
        """Run op; if the DHT process died (before or during it), restart it and retry once."""
        self._ensure_alive()
        try:
            return op(*args, **kw)
        except (SwarmError, OSError, EOFError):
            if self.is_alive():
                raise
            self.restart()
            return op(*args, **kw)

    @property
    def multiaddrs(self) -> list[str]:
        """Multiaddrs others can dial (…/p2p/<peer id>): publish these as bootnodes."""
        if not self._maddrs and self.is_alive():
            d = self._dht
            self._maddrs = [str(m) for m in self._call(lambda: d.run_coroutine(_get_maddrs, return_future=True))]
        return list(self._maddrs)

    # ------------------------------------------------------------------ rollouts

    def publish_rollouts(self, round: int, rollouts: list[Rollout]) -> PublishResult:
        """Store this node's rollouts for `round`: each question group as content-addressed chunks, then one
        signed manifest (a summary per group) in this round's buckets. Raises SwarmError on failure."""
        blobs = [encode_rollouts([r], self.limits) for r in rollouts]
        return self._guarded(self._publish, int(round), list(rollouts), blobs)

    def _publish(self, round: int, rollouts: list[Rollout], blobs: list[bytes]) -> PublishResult:
        t0 = time.monotonic()
        exp = _dht_time() + self.expiration
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
            raise _swarm_error("encode", f"{len(groups)} question groups in one round; at most {records.MAX_GROUPS} "
                               "can be shared", "DHT", "lower questions_local", retriable=False)
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
            raise _swarm_error("encode", f"the {what} is {len(value)} bytes, over the {records.MAX_SIGNED_BYTES} "
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
            new_exp = max(exp, _dht_time() + self.expiration)  # equal expiration is refused as "not newer"
            if new_exp != exp and resign is not None:
                value = resign(new_exp)  # the signature covers the expiration time
            exp = new_exp
        raise _swarm_error("store", f"could not store the {what} in the DHT", "DHT",
                           "transient: check that peers are reachable; the next round retries")

    def _stored(self, key: str, value: bytes, subkey: str | None) -> bool:
        """hivemind's store() says False when one replica already had the record (e.g. reached twice
        through two routing entries) even though it is stored; ask the DHT what it holds instead."""
        found = self._wait(self._get(key))
        if subkey is None:
            return getattr(found, "value", None) == value
        return dict(_subkey_items(found)).get(subkey) == value

    def fetch_rollouts(self, round: int, timeout: float = 10.0, want: int | None = None,
                       previous: bool = True) -> dict[str, list[Rollout]]:
        """Other peers' rollouts for `round`, each group verified; bad records rejected and counted.

        Reads one bucket of the round's manifests (and of round-1: a peer one round behind still
        contributes with its newest round) and picks among the question groups they describe:
        `want` = J draws `want` groups uniformly among the groups with a nonzero advantage (the
        useful ones), over every peer in the buckets read; None takes every group there. Only the
        chosen groups' chunks are downloaded. Repeated calls for the same round (polling) keep what
        was already chosen and verified and add to it; `last_fetch.complete` says when nothing more
        can come. Returns within about `timeout` seconds.
        """
        deadline = time.monotonic() + float(timeout)
        return self._guarded(self._fetch, int(round), deadline, want, previous)

    def _fetch(self, round: int, deadline: float, want: int | None, previous: bool) -> dict[str, list[Rollout]]:
        t0 = time.monotonic()
        stats = FetchStats(round=round)
        self.last_fetch = stats
        sess = self._sessions.get(round)
        if sess is None:
            sess = _Session(round, random.Random(f"{self.peer_id}/{round}/{secrets.randbits(32)}"))
            self._sessions[round] = sess
            while len(self._sessions) > 4:
                self._sessions.pop(min(self._sessions))
        try:
            rounds = [round] + ([round - 1] if previous and round > 0 else [])
            newest: dict[str, tuple[records.Manifest, int]] = {}
            for rnd in reversed(rounds):  # the newer round's manifest of a peer wins
                for peer, m in self._read_manifests(sess, rnd, stats, deadline).items():
                    newest[peer] = (m, rnd)
                    sess.manifests[(peer, rnd)] = m  # a republished round replaces the earlier manifest
            stats.peers = len(newest)
            stats.offered = sum(len(m.groups) for m, _ in newest.values())
            stats.useful = sum(1 for m, _ in newest.values() for g in m.groups if g.signal)
            self.last_manifests = {p: m for p, (m, _) in newest.items()}
            pool = [(p, rnd, g) for p, (m, rnd) in sorted(newest.items()) for g in m.groups
                    if (want is None or g.signal) and (p, rnd, g.chunks) not in sess.tried]
            need = len(pool) if want is None else max(0, want - len(sess.current()))
            chosen = sess.rng.sample(pool, min(need, len(pool)))
            self._download(sess, chosen, stats, deadline)
            have = len(sess.current())
            left = len(pool) - len(chosen)
            stats.complete = (want is not None and have >= want) or left == 0
        finally:
            budget = deadline - time.monotonic()
            if budget > 0.05:  # never past the caller's deadline (a stuck process answers nothing)
                self._merge_refusals(min(1.0, budget))
            stats.seconds = time.monotonic() - t0
        out: dict[str, list[Rollout]] = {}
        for (peer, _rnd, _chunks), r in sess.current():
            out.setdefault(peer, []).append(_copy(r))
        stats.sources = len(out)
        stats.rollouts = sum(map(len, out.values()))
        return out

    def _read_manifests(self, sess: "_Session", rnd: int, stats: FetchStats,
                        deadline: float) -> dict[str, records.Manifest]:
        """Verified manifests of round `rnd` in this session's bucket (self excluded); learns the swarm size."""
        level = self._shards.read_level()
        got, count = self._read_bucket(sess, rnd, level, stats, deadline)
        if not got and level > 0:  # an estimate one step off, or a thin bucket: the parent holds more
            level -= 1
            got, count = self._read_bucket(sess, rnd, level, stats, deadline)
        if not count and self._shards.level is None and rnd == sess.round and not sess.estimated \
                and not sess.searched:
            sess.searched = True
            # Nothing at level 0 in either round, and no estimate yet: a node new to a big swarm
            # (its level-0 buckets are empty there). Look at finer levels once.
            got, count, level = self._search_levels(sess, rnd, stats, deadline)
        if count and not sess.estimated:  # once a session, from the older (complete) round when it has any
            self._shards.observe(count, level)
            sess.estimated = True
        for peer in got:
            self._saw(peer)
        return got

    def _read_bucket(self, sess, rnd, level, stats, deadline):
        bucket = sess.bucket(level)
        found = self._get_counted(records.manifest_key(rnd, level, bucket), stats, deadline)
        return self._parse_bucket(found, rnd, level, bucket, stats)

    def _search_levels(self, sess, rnd, stats, deadline):
        """A node new to a big swarm: level 0 is empty there; look at finer levels once (log2 steps)."""
        for level in range(2, MAX_LEVEL + 1, 2):
            if time.monotonic() >= deadline:
                break
            got, count = self._read_bucket(sess, rnd, level, stats, deadline)
            if count:
                return got, count, level
        return {}, 0, 0

    def _get_counted(self, key: str, stats: FetchStats, deadline: float, latest: bool = True):
        stats.requests += 1
        try:
            found = self._wait(self._get(key, latest=latest), deadline - time.monotonic())
        except SwarmError:
            return None
        stats.bytes += _value_bytes(found)
        return found

    def _parse_bucket(self, found, rnd: int, level: int, bucket: int,
                      stats: FetchStats) -> tuple[dict[str, records.Manifest], int]:
        kid = records.key_id(records.manifest_key(rnd, level, bucket))
        out: dict[str, records.Manifest] = {}
        count = 0
        for subkey, raw, exp in _subkey_entries(found):
            try:
                if not records.is_ours(subkey):
                    raise records.RecordError("foreign", f"subkey {str(subkey)[:40]!r} is not a swarmdeck record")
                ck = (kid, subkey, hashlib.sha256(raw if isinstance(raw, bytes) else b"").digest(), exp)
                m = self._verified.get(ck)
                if m is None:
                    rec = records.open_signed(kid, subkey, raw, exp)
                    m = records.parse_manifest(rec, rnd, self.limits.max_wire_bytes, self.limits.max_completions)
                    self._verified[ck] = m
                    while len(self._verified) > CACHE_ENTRIES:
                        self._verified.pop(next(iter(self._verified)))
            except records.RecordError as e:
                self._reject(e, subkey)
                stats.rejected += 1
                continue
            count += 1
            if m.peer_id != self.peer_id:
                out[m.peer_id] = m
        return out, count

    def _reject(self, e: records.RecordError, subkey: Any) -> None:
        self.rejected.add(e.reason)
        if e.reason == "version" and str(e) not in self._logged_versions:
            self._logged_versions.add(str(e))
            log.warning("ignoring DHT records from %s: %s (a peer on another swarmdeck release; update both to "
                        "exchange rollouts)", str(subkey)[:60], e)

    def _download(self, sess: "_Session", chosen, stats: FetchStats, deadline: float) -> None:
        futs = []
        for peer, rnd, g in chosen:
            sess.tried.add((peer, rnd, g.chunks))
            hit = self._groups.get((peer, rnd, g.chunks))
            if hit is not None:
                sess.got[(peer, rnd, g.chunks)] = hit
                stats.cached += 1
                continue
            fl = [self._get(records.chunk_key(d), latest=False) for d in g.chunks]
            stats.requests += len(fl)
            futs.append((peer, rnd, g, fl))
        for peer, rnd, g, fl in futs:
            parts: list[bytes] = []
            bad = None
            for d, fut in zip(g.chunks, fl):
                try:
                    v = self._wait(fut, deadline - time.monotonic())
                except SwarmError:
                    bad = "missing"
                    break
                stats.bytes += _value_bytes(v)
                entry = dict((k, x) for k, x, _ in _subkey_entries(v)).get(records.CHUNK_SUBKEY)
                if entry is None:
                    bad = "missing"
                    break
                try:
                    parts.append(records.check_chunk(records.key_id(records.chunk_key(d)), records.CHUNK_SUBKEY,
                                                     entry))
                except records.RecordError as e:
                    self._reject(e, records.CHUNK_SUBKEY)
                    bad = e.reason
                    break
            if bad == "missing":
                for f in fl:
                    f.cancel()
                stats.missing += 1
                sess.got[(peer, rnd, g.chunks)] = None
                continue
            if bad is not None:
                stats.rejected += 1
                sess.got[(peer, rnd, g.chunks)] = None
                continue
            blob = b"".join(parts)
            r = self._check_group(blob, peer, rnd, g)
            if r is None:
                stats.rejected += 1
                sess.got[(peer, rnd, g.chunks)] = None
                continue
            self._groups[(peer, rnd, g.chunks)] = r
            while len(self._groups) > CACHE_ENTRIES:
                self._groups.pop(next(iter(self._groups)))
            sess.got[(peer, rnd, g.chunks)] = r

    def _check_group(self, blob: bytes, peer: str, rnd: int, g: records.GroupInfo) -> Rollout | None:
        if len(blob) != g.size:
            self.rejected.add("checksum")
            return None
        try:
            rs = decode_rollouts(blob, self.limits, self.rejected)
        except WireError:
            return None
        if len(rs) != 1:
            self.rejected.add("schema")
            return None
        r = rs[0]
        if r.round != rnd or (r.peer_id and r.peer_id != peer):
            self.rejected.add("foreign")  # someone else's (or another round's) rollout under this manifest
            return None
        rw = r.rewards
        mean = sum(rw) / len(rw)
        std = math.sqrt(sum((x - mean) ** 2 for x in rw) / len(rw))
        if (len(r.completions) != g.completions or r.has_signal() != g.signal
                or abs(mean - g.mean) > 1e-4 * max(1.0, abs(mean)) or abs(std - g.std) > 1e-4 * max(1.0, std)):
            self.rejected.add("summary")  # a manifest that lies about its groups to be chosen
            return None
        r.peer_id = peer
        return r

    def _merge_refusals(self, timeout: float = 1.0) -> None:
        """Add the DHT process's validator refusals (stores and answers it refused) to `rejected`."""
        d = self._dht
        if d is None:
            return
        try:
            now = self._call(lambda: d.run_coroutine(validator_counts, return_future=True), timeout=timeout)
        except (SwarmError, OSError, EOFError):
            return
        for reason, n in (now or {}).items():
            delta = n - self._refusals_seen.get(reason, 0)
            if delta > 0 and not reason.startswith("version_"):  # version_<n> details "version"
                self.rejected.add(f"refused_{reason}", delta)
            if delta > 0 and reason.startswith("version_") and reason not in self._logged_versions:
                self._logged_versions.add(reason)
                log.warning("refused DHT records of record %s: this node speaks record version %d (a peer "
                            "runs another swarmdeck release; its records are ignored; update both to exchange "
                            "rollouts)", reason.replace("_", " "), records.VERSION)
        self._refusals_seen = dict(now or {})

    def peer_rewards(self) -> dict[str, float]:
        """Mean reward of each peer in the last fetch's manifests (all its groups, not only the ones chosen)."""
        out = {}
        for p, m in self.last_manifests.items():
            n = sum(g.completions for g in m.groups)
            out[p] = sum(g.mean * g.completions for g in m.groups) / n if n else 0.0
        return out

    # ------------------------------------------------------------------ peers

    def heartbeat(self) -> None:
        """Announce this peer (with its multiaddrs) in its heartbeat bucket; cheap, call once per round."""
        self._guarded(self._heartbeat_unguarded)

    def _heartbeat_unguarded(self) -> None:
        exp = _dht_time() + self.heartbeat_ttl
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
            for subkey, raw, exp in _subkey_entries(found):
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
            self._seen[peer] = _PeerSeen(t, maddrs or [])
        else:
            s.last_seen = max(s.last_seen, t)
            if maddrs:
                s.maddrs = maddrs


async def _get_peer_id(_dht, node):
    return str(node.peer_id)


async def _get_maddrs(_dht, node):
    return [str(m) for m in await node.get_visible_maddrs()]


def _copy(r: Rollout) -> Rollout:
    """A copy the caller may mutate without touching the cache (strings are shared, being immutable)."""
    return dataclasses.replace(r, completions=list(r.completions), rewards=list(r.rewards),
                               metadata=copy.deepcopy(r.metadata))


def _subkey_items(found: Any) -> list[tuple[Any, Any]]:
    """(subkey, value) pairs of a dictionary DHT value; anything else (a hostile plain value) -> []."""
    return [(k, v) for k, v, _ in _subkey_entries(found)]


def _subkey_entries(found: Any) -> list[tuple[Any, Any, float]]:
    """(subkey, value, expiration) of a dictionary DHT value; anything else (a hostile plain value) -> []."""
    value = getattr(found, "value", None)
    if not isinstance(value, dict):
        return []
    return [(k, getattr(v, "value", None), getattr(v, "expiration_time", 0.0)) for k, v in value.items()]


def _value_bytes(found: Any) -> int:
    """Value bytes in a DHT answer (what the benchmark and the dashboard count as received)."""
    value = getattr(found, "value", None)
    if isinstance(value, (bytes, bytearray)):
        return len(value)
    if isinstance(value, dict):
        return sum(len(v.value) for v in value.values() if isinstance(getattr(v, "value", None), (bytes, bytearray)))
    return 0


async def validator_counts(dht, node) -> dict[str, int]:
    from core.swarm.validator import counts

    return await counts(dht, node)


def _swarm_error(cause: str, what: str, where: str | None, fix: str | None, retriable: bool = True) -> SwarmError:
    e = SwarmError(what, where=where, fix=fix)
    e.cause = cause  # type: ignore[attr-defined]
    e.retriable = retriable  # type: ignore[attr-defined]
    return e
