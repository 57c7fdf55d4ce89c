"""The DHT process's lifecycle and its request pipe: start (with retries and classified errors), restart
when dead or stuck, shutdown, reaping p2pd, and every request bounded by a timeout.

Why bounded: hivemind's DHT front-end sends each request to its DHT process through a
multiprocessing pipe whose read end is non-blocking. Python writes a message over 16 KiB as
two writes (header, body); when the reader wakes between them it gets EAGAIN, logs
"[Errno 11] Resource temporarily unavailable", drops the request, and the caller's future
never resolves. So every value we store is small (core.swarm.publish.CHUNK_BYTES), at most
STORE_WINDOW stores are in flight, every future has a timeout, and all pipe writes go through
one lock (Connection.send is not thread-safe). Replies travel through a separate blocking pipe.

Each process should own one SwarmDHT (the node does): before each DHT process is forked we reset
hivemind's result-pipe backend (see _start_once), so several SwarmDHTs in one process (tests) must
not be started while another one has requests in flight from a different thread.
"""

from __future__ import annotations

import logging
import threading
import time
from concurrent.futures import TimeoutError as FutureTimeout

import psutil

from core.base.errors import SwarmError
from core.swarm import traffic

log = logging.getLogger("core.swarm.dht")

RESTART_SETTLE_S = 1.0            # measured: restarting at once after killing a stuck process can hang bootstrap
STUCK_AFTER_TIMEOUTS = 3          # consecutive unanswered requests before the process is replaced
_FORK_LOCK = threading.Lock()


class DHTProcess:
    """Mixin of SwarmDHT: owns self._dht (hivemind's DHT process) and its p2pd, and the request pipe.

    Uses SwarmDHT's identity_path, peer_id, host/port, announce_*, initial_peers, timeouts, _seen.
    """

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

        from core.swarm.validator import SwarmRecordValidator, install_entry_filter

        host_maddrs = [f"/ip4/{self.host}/tcp/{self.port}"]
        announce = None
        if self.announce_host or self.announce_port:
            a_port = self.announce_port or self.port
            if not a_port:
                raise swarm_error("announce_port", "announce multiaddr needs an explicit port",
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
        try:
            # Count what crosses the wire (FetchStats.bytes); keep the valid entries of a replica's answer
            # that also holds forged ones (core.swarm.validator._keep_valid_entries).
            self._call(lambda: dht.run_coroutine(traffic.install, return_future=True))
            self._call(lambda: dht.run_coroutine(install_entry_filter, return_future=True))
        except SwarmError:
            log.warning("could not install the DHT traffic counter or entry filter in the DHT process")
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
            return swarm_error("port_busy", f"DHT port {self.port} is already in use", port,
                                f"stop the program listening there (`ss -ltnp | grep :{self.port}`) or set "
                                "dht_port = 0 (random port) in the profile", retriable=False)
        if "failed to connect to bootstrap peers" in msg or "bootstrap" in msg.lower():
            return swarm_error("bootnodes", "could not reach any DHT bootnode",
                                ", ".join(self.initial_peers) or "no bootnodes",
                                "check the network and the bootnode multiaddrs (config [networks.*].bootnodes or "
                                "the contract's getBootnodes()); the first node of a new swarm starts without bootnodes")
        if "already taken" in msg:
            return swarm_error("identity_taken", "another running peer already uses this swarm.pem",
                                str(self.identity_path),
                                "stop the other node that uses this identity (one identity runs once)",
                                retriable=False)
        if "failed to start" in msg.lower() or "p2pd" in msg.lower():
            return swarm_error("p2pd", f"the p2p daemon (p2pd) did not start: {msg.splitlines()[0][:200]}",
                                port, "check that hivemind's p2pd binary runs on this platform "
                                "(`.venv/bin/python -c 'import hivemind'`), then retry; on a loaded machine raise "
                                "startup_timeout")
        if isinstance(e, (TimeoutError, FutureTimeout)):
            return swarm_error("startup_timeout", f"the DHT did not become ready in {self.startup_timeout:.0f} s",
                                port, "retry; if it persists check the bootnodes and the machine's load")
        return swarm_error("start", f"the DHT failed to start: {type(e).__name__}: {msg[:200]}", port,
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
            raise swarm_error("timeout", f"DHT request timed out after {t:.1f} s",
                               "DHT", "transient: retried next round; if it repeats, check peers and load") from None
        self._timeouts = 0
        return result

    def _store(self, key: str, value: bytes, expiration: float, subkey: str | None = None):
        d = self._dht
        with self._send_lock:
            return d.store(key, value, expiration_time=expiration, subkey=subkey, return_future=True)

    def _get(self, key: str, latest: bool = True, beam: int | None = None):
        """beam: how many of the nodes nearest the key a search keeps visiting (hivemind's beam_size,
        default its bucket size, 20); a latest=True read receives the value from each one holding it."""
        d = self._dht
        kw = {} if beam is None else {"beam_size": int(beam)}
        with self._send_lock:
            return d.get(key, latest=latest, return_future=True, **kw)

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


async def _get_peer_id(_dht, node):
    return str(node.peer_id)


async def _get_maddrs(_dht, node):
    return [str(m) for m in await node.get_visible_maddrs()]



def swarm_error(cause: str, what: str, where: str | None, fix: str | None, retriable: bool = True) -> SwarmError:
    e = SwarmError(what, where=where, fix=fix)
    e.cause = cause  # type: ignore[attr-defined]
    e.retriable = retriable  # type: ignore[attr-defined]
    return e
