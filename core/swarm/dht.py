"""SwarmDHT: rollout sharing over a hivemind 1.1.12 DHT that never hangs and survives its own crash.

Keys (all values are bytes; msgpack in hivemind, JSON/zlib inside; never pickle from the network):

  "swarmdeck/rollouts/<round>"   subkey <peer_id>  -> manifest  {"v":1,"n":chunks,"size":bytes,"sha256":hex,"nonce":hex}
  "swarmdeck/chunk/<round>/<peer_id>/<nonce>/<i>" -> raw bytes of chunk i of the wire message (core.swarm.wire)
  "swarmdeck/peers"              subkey <peer_id>  -> heartbeat {"v":1,"t":unix,"maddrs":[...]}

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
chunk long, however many peers share a round.
"""

from __future__ import annotations

import copy
import dataclasses
import hashlib
import json
import logging
import math
import secrets
import threading
import time
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Sequence

import psutil

from core.base import safejson
from core.identity import files as identity
from core.base.errors import SwarmError
from core.base.rollouts import Rollout
from core.swarm.wire import DEFAULT_LIMITS, Limits, RejectCounter, WireError, decode_rollouts, encode_rollouts

log = logging.getLogger(__name__)

CHUNK_BYTES = 12 * 1024            # stored value size; pickled request stays < 16 KiB
MAX_ACCEPTED_CHUNK = 60 * 1024     # what we accept from peers (they may chunk differently)
RESTART_SETTLE_S = 1.0            # measured: restarting at once after killing a stuck process can hang bootstrap
STUCK_AFTER_TIMEOUTS = 3          # consecutive unanswered requests before the process is replaced
STORE_WINDOW = 4                   # stores in flight: 4 x ~12.5 KiB < 64 KiB pipe buffer
MAX_MANIFEST_BYTES = 1024
CACHE_ENTRIES = 512                # verified (round, peer) entries kept; ~ a few rounds of a big swarm
MAX_PEERS_PER_FETCH = 128          # bound on work a subkey flood can cause
ROLLOUT_KEY = "swarmdeck/rollouts/{round}"
CHUNK_KEY = "swarmdeck/chunk/{round}/{peer}/{nonce}/{i}"
PEERS_KEY = "swarmdeck/peers"
# Peers we have heard from are remembered for rejoining and the dashboard, but not forever: a
# node running for weeks in a churning public swarm would otherwise keep every peer it ever saw.
PEER_FORGET_S = 24 * 3600.0
MAX_KNOWN_PEERS = 2000
_FORK_LOCK = threading.Lock()


def rollout_key(round: int) -> str:
    return ROLLOUT_KEY.format(round=int(round))


def chunk_key(round: int, peer: str, nonce: str, i: int) -> str:
    return CHUNK_KEY.format(round=int(round), peer=peer, nonce=nonce, i=int(i))


@dataclass
class PublishResult:
    round: int
    bytes: int
    chunks: int
    seconds: float


@dataclass
class FetchStats:
    round: int
    peers: int = 0                 # peers whose rollouts arrived intact
    rollouts: int = 0
    rejected: int = 0              # entries rejected as malformed/oversized/tampered this fetch
    missing: int = 0               # peers whose chunks did not arrive in time
    cached: int = 0                # peers served from the verified-rollouts cache (same manifest checksum)
    seconds: float = 0.0


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
        self._dht = None
        self._p2pd_pids: list[int] = []
        self._maddrs: list[str] = []
        self._seen: dict[str, _PeerSeen] = {}
        self._cache: dict[tuple[int, str, str], list[Rollout]] = {}  # (round, peer, sha256) -> verified
        self._send_lock = threading.Lock()    # one writer on hivemind's request pipe
        self._life_lock = threading.RLock()   # start / restart / shutdown
        self._closed = False
        self._timeouts = 0                    # consecutive timed-out requests: many = stuck process
        ident = identity.load_or_create_swarm_pem(self.identity_path)
        self.peer_id: str = ident.peer_id
        self.display_name: str = ident.display_name
        if start:
            self.start()

    # ------------------------------------------------------------------ lifecycle

    @classmethod
    def from_profile(cls, profile: Any, bootnodes: Iterable[str] | None = None, **kw) -> "SwarmDHT":
        """Build from a core.identity.profiles.Profile: swarm.pem, dht_port, and bootnodes (given ones win over config)."""
        peers = list(bootnodes) if bootnodes is not None else list(getattr(profile.network, "bootnodes", []) or [])
        kw.setdefault("port", int(getattr(profile.settings, "dht_port", 0) or 0))
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
        """Store this node's rollouts for `round` (chunks first, manifest last). Raises SwarmError on failure."""
        blob = encode_rollouts(rollouts, self.limits)
        return self._guarded(self._publish_blob, int(round), blob)

    def publish_raw(self, round: int, blob: bytes) -> PublishResult:
        """Store an already-encoded message (used by tests and benchmarks; no validation)."""
        return self._guarded(self._publish_blob, int(round), bytes(blob))

    def _publish_blob(self, round: int, blob: bytes) -> PublishResult:
        t0 = time.monotonic()
        nonce = secrets.token_hex(6)
        exp = _dht_time() + self.expiration
        chunks = [blob[i:i + self.chunk_bytes] for i in range(0, len(blob), self.chunk_bytes)] or [b""]
        pending: list[tuple[int, Any]] = []
        failed: list[int] = []

        def drain(keep: int) -> None:
            while len(pending) > keep:
                i, fut = pending.pop(0)
                if not self._wait(fut):
                    failed.append(i)

        for i, c in enumerate(chunks):
            drain(STORE_WINDOW - 1)
            pending.append((i, self._store(chunk_key(round, self.peer_id, nonce, i), c, exp)))
        drain(0)
        for i in failed:
            self._store_retrying(chunk_key(round, self.peer_id, nonce, i), chunks[i], exp, None,
                                 f"rollout chunk {i} of round {round}")
        manifest = json.dumps({"v": 1, "n": len(chunks), "size": len(blob), "nonce": nonce,
                               "sha256": hashlib.sha256(blob).hexdigest()}, separators=(",", ":")).encode()
        self._store_retrying(rollout_key(round), manifest, exp, self.peer_id, f"rollout manifest of round {round}")
        self._heartbeat_unguarded()
        return PublishResult(round=round, bytes=len(blob), chunks=len(chunks), seconds=time.monotonic() - t0)

    def _store_retrying(self, key: str, value: bytes, exp: float, subkey: str | None, what: str) -> None:
        # A store can be refused for a moment (e.g. peers still blacklist our previous process after a
        # restart, for hivemind's 5 s blacklist time): back off briefly rather than lose the round.
        for delay in (0.0, 0.25, 0.5, 1.0, 2.0):
            time.sleep(delay)
            if self._wait(self._store(key, value, exp, subkey=subkey)) or self._stored(key, value, subkey):
                return
            exp = max(exp, _dht_time() + self.expiration)  # equal expiration would be refused as "not newer"
        raise _swarm_error("store", f"could not store the {what} in the DHT", "DHT",
                           "transient: check that peers are reachable; the next round retries")

    def _stored(self, key: str, value: bytes, subkey: str | None) -> bool:
        """hivemind's store() says False when one replica already had the record (e.g. reached twice
        through two routing entries) even though it is stored; ask the DHT what it holds instead."""
        found = self._wait(self._get(key))
        if subkey is None:
            return getattr(found, "value", None) == value
        return dict(_subkey_items(found)).get(subkey) == value

    def fetch_rollouts(self, round: int, timeout: float = 10.0) -> dict[str, list[Rollout]]:
        """Other peers' rollouts for `round` (self excluded), each verified; bad entries rejected and counted.

        Returns within about `timeout` seconds; peers whose data did not arrive in time are left out.
        """
        deadline = time.monotonic() + float(timeout)
        return self._guarded(self._fetch, int(round), deadline)

    def _fetch(self, round: int, deadline: float) -> dict[str, list[Rollout]]:
        t0 = time.monotonic()
        stats = FetchStats(round=round)
        self.last_fetch = stats
        try:
            found = self._wait(self._get(rollout_key(round)), deadline - time.monotonic())
        except SwarmError:
            stats.seconds = time.monotonic() - t0
            return {}  # nothing arrived in time: this round trains on local rollouts only
        entries = _subkey_items(found)
        manifests: dict[str, dict] = {}
        for peer, raw in entries[:MAX_PEERS_PER_FETCH]:
            if peer == self.peer_id:
                continue
            m = self._parse_manifest(peer, raw)
            if m is None:
                stats.rejected += 1
            else:
                manifests[peer] = m
        stats.rejected += max(0, len(entries) - MAX_PEERS_PER_FETCH)
        if len(entries) > MAX_PEERS_PER_FETCH:
            self.rejected.add("too_many_peers", len(entries) - MAX_PEERS_PER_FETCH)
        out: dict[str, list[Rollout]] = {}
        # Callers poll a round until every peer has published: reuse what we already verified.
        for peer in list(manifests):
            hit = self._cache.get((round, peer, manifests[peer]["sha256"]))
            if hit is not None:
                del manifests[peer]
                out[peer] = [_copy(r) for r in hit]
                stats.peers += 1
                stats.cached += 1
                stats.rollouts += len(hit)
        # Pipeline every chunk get (requests are tiny), then collect with the remaining time.
        futs = {peer: [self._get(chunk_key(round, peer, m["nonce"], i)) for i in range(m["n"])]
                for peer, m in manifests.items()}
        for peer, fl in futs.items():
            m = manifests[peer]
            parts: list[bytes] = []
            bad = None
            for fut in fl:
                try:
                    v = self._wait(fut, deadline - time.monotonic())
                except SwarmError:
                    bad = "missing"
                    break
                val = getattr(v, "value", None)
                if v is None:
                    bad = "missing"
                    break
                if not isinstance(val, bytes) or len(val) > MAX_ACCEPTED_CHUNK:
                    bad = "chunk"
                    break
                parts.append(val)
                if sum(map(len, parts)) > m["size"]:
                    bad = "chunk"
                    break
            if bad == "missing":
                for f in fl:
                    f.cancel()
                stats.missing += 1
                continue
            if bad:
                self.rejected.add("chunk")
                stats.rejected += 1
                continue
            blob = b"".join(parts)
            if len(blob) != m["size"] or hashlib.sha256(blob).hexdigest() != m["sha256"]:
                self.rejected.add("checksum")
                stats.rejected += 1
                continue
            try:
                rollouts = decode_rollouts(blob, self.limits, self.rejected)
            except WireError:
                stats.rejected += 1
                continue
            if any(r.round != round or (r.peer_id and r.peer_id != peer) for r in rollouts):
                # Someone else's (or another round's) rollouts re-published under this subkey.
                self.rejected.add("foreign")
                stats.rejected += 1
                continue
            for r in rollouts:
                r.peer_id = peer
            self._cache[(round, peer, m["sha256"])] = rollouts
            while len(self._cache) > CACHE_ENTRIES:
                self._cache.pop(next(iter(self._cache)))
            out[peer] = [_copy(r) for r in rollouts]
            self._saw(peer)
            stats.peers += 1
            stats.rollouts += len(rollouts)
        stats.seconds = time.monotonic() - t0
        return out

    def _parse_manifest(self, peer: Any, raw: Any) -> dict | None:
        if not isinstance(peer, str) or not 0 < len(peer) <= self.limits.max_name_chars or "/" in peer:
            self.rejected.add("manifest")
            return None
        try:
            if not isinstance(raw, bytes) or len(raw) > MAX_MANIFEST_BYTES:
                raise ValueError("not small bytes")
            m = safejson.loads(raw.decode("utf-8"))
            ok = (isinstance(m, dict) and m.get("v") == 1
                  and all(isinstance(m.get(k), int) and not isinstance(m.get(k), bool) for k in ("n", "size"))
                  and isinstance(m.get("sha256"), str) and len(m["sha256"]) == 64
                  and isinstance(m.get("nonce"), str) and 0 < len(m["nonce"]) <= 32 and "/" not in m["nonce"])
            if not ok:
                raise ValueError("bad fields")
            if m["v"] != 1:
                raise ValueError("version")
            if not 0 < m["size"] <= self.limits.max_wire_bytes:
                self.rejected.add("oversized")
                return None
            max_n = math.ceil(m["size"] / 1024)  # chunks below 1 KiB would be a request flood
            if not math.ceil(m["size"] / MAX_ACCEPTED_CHUNK) <= m["n"] <= max(1, max_n):
                raise ValueError("chunk count")
        except (ValueError, UnicodeDecodeError, RecursionError):
            self.rejected.add("manifest")
            return None
        return m

    # ------------------------------------------------------------------ peers

    def heartbeat(self) -> None:
        """Announce this peer (with its multiaddrs) under the peers key; cheap, call once per round."""
        self._guarded(self._heartbeat_unguarded)

    def _heartbeat_unguarded(self) -> None:
        value = json.dumps({"v": 1, "t": time.time(), "maddrs": self._maddrs[:8]}, separators=(",", ":")).encode()
        if len(value) > MAX_MANIFEST_BYTES:
            value = json.dumps({"v": 1, "t": time.time(), "maddrs": []}).encode()
        self._wait(self._store(PEERS_KEY, value, _dht_time() + self.heartbeat_ttl, subkey=self.peer_id))

    def peers(self, refresh: bool = True, timeout: float | None = None) -> list[dict]:
        """Other peers seen (heartbeats and fetched rollouts): [{peer_id, name, last_seen}], newest first."""
        if refresh:
            try:
                found = self._guarded(lambda: self._wait(self._get(PEERS_KEY), timeout))
            except SwarmError:
                found = None
            for peer, raw in _subkey_items(found)[:MAX_PEERS_PER_FETCH]:
                if not isinstance(peer, str) or peer == self.peer_id or not 0 < len(peer) <= 128:
                    continue
                try:
                    hb = safejson.loads(raw.decode("utf-8")) if isinstance(raw, bytes) and len(raw) <= 1024 else None
                    t = float(hb["t"])
                    maddrs = [str(m) for m in hb.get("maddrs", [])[:8] if isinstance(m, str) and len(m) < 256]
                except (ValueError, TypeError, KeyError, AttributeError, UnicodeDecodeError):
                    self.rejected.add("heartbeat")
                    continue
                # Trust our own clock over theirs, but never report a peer as seen in the future.
                self._saw(peer, min(t, time.time()), maddrs)
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
    value = getattr(found, "value", None)
    if not isinstance(value, dict):
        return []
    return [(k, getattr(v, "value", None)) for k, v in value.items()]


def _swarm_error(cause: str, what: str, where: str | None, fix: str | None, retriable: bool = True) -> SwarmError:
    e = SwarmError(what, where=where, fix=fix)
    e.cause = cause  # type: ignore[attr-defined]
    e.retriable = retriable  # type: ignore[attr-defined]
    return e
