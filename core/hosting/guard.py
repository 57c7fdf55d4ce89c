"""The chain endpoint a swarm host exposes: a JSON-RPC guard in front of the embedded anvil.

anvil itself listens on 127.0.0.1 only. Members reach the chain through this guard, which

  * passes read calls (ALLOWED_READS) and eth_sendRawTransaction (a transaction the member
    signed with its own key) and refuses every other method: anvil_*, evm_*, hardhat_*,
    debug_*, personal_*, eth_sendTransaction, eth_sign* and anything not on the list
    (an allowlist: a method anvil adds later is refused until it is listed here);
  * limits each request: body size (MAX_BODY), calls per batch (MAX_BATCH), calls per second
    per client address (a token bucket: RATE per second, BURST at once), and concurrent
    connections (MAX_CONNECTIONS); a slow client is cut off after IO_TIMEOUT seconds;
  * serves the faucet at POST /faucet (core.hosting.faucet) when the host runs one.

Refusals are JSON-RPC errors (code -32601 for a refused method) in an HTTP 200 answer, like
any JSON-RPC server, so clients show the message; limits answer HTTP 413 / 429 / 503.
"""

from __future__ import annotations

import json
import threading
import time
import urllib.error
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Callable

from core.base import safejson

ALLOWED_READS = frozenset({
    "eth_chainId", "net_version", "net_listening", "web3_clientVersion", "eth_syncing",
    "eth_blockNumber", "eth_gasPrice", "eth_maxPriorityFeePerGas", "eth_feeHistory", "eth_blobBaseFee",
    "eth_getBalance", "eth_getCode", "eth_getStorageAt", "eth_getTransactionCount",
    "eth_call", "eth_estimateGas", "eth_createAccessList",
    "eth_getBlockByNumber", "eth_getBlockByHash", "eth_getBlockReceipts",
    "eth_getBlockTransactionCountByNumber", "eth_getBlockTransactionCountByHash",
    "eth_getTransactionByHash", "eth_getTransactionReceipt",
    "eth_getTransactionByBlockNumberAndIndex", "eth_getTransactionByBlockHashAndIndex",
    "eth_getLogs",
})
ALLOWED_WRITES = frozenset({"eth_sendRawTransaction"})
ALLOWED = ALLOWED_READS | ALLOWED_WRITES
# Named in the refusal so an operator reading a member's error knows why.
DANGEROUS_PREFIXES = ("anvil_", "evm_", "hardhat_", "debug_", "personal_", "eth_sign", "admin_", "miner_",
                      "txpool_", "trace_", "ots_", "engine_")

MAX_BODY = 128 * 1024      # bytes; a signed coordinator transaction is < 2 KiB
MAX_BATCH = 20             # calls in one JSON-RPC batch
RATE = 20.0                # calls per second per client address (sustained)
BURST = 100.0              # calls at once per client address
MAX_CONNECTIONS = 64       # concurrent connections handled; more get 503
IO_TIMEOUT = 10.0          # seconds a client may take to send its request
UPSTREAM_TIMEOUT = 15.0
LOOPBACK = frozenset({"127.0.0.1", "::1"})  # the host's own processes (its bootnode): not rate-limited


def refusal(method: Any) -> str:
    m = str(method)[:64]
    if m == "eth_sendTransaction":
        why = "the host's chain takes only transactions you signed yourself (eth_sendRawTransaction)"
    elif m.startswith(DANGEROUS_PREFIXES):
        why = "test-chain, debug and signing methods are for the host only"
    else:
        why = "only read calls and eth_sendRawTransaction pass this swarm's RPC guard"
    return f"method {m!r} is refused by the swarm host's RPC guard: {why}"


class TokenBucket:
    """Per-key token buckets (key = client address). Old idle keys are dropped."""

    def __init__(self, rate: float, burst: float, clock: Callable[[], float] = time.monotonic):
        self.rate, self.burst, self.clock = float(rate), float(burst), clock
        self._b: dict[str, tuple[float, float]] = {}
        self._lock = threading.Lock()

    def take(self, key: str, n: float = 1.0) -> bool:
        now = self.clock()
        with self._lock:
            tokens, last = self._b.get(key, (self.burst, now))
            tokens = min(self.burst, tokens + (now - last) * self.rate)
            ok = tokens >= n
            if ok:
                tokens -= n
            self._b[key] = (tokens, now)
            if len(self._b) > 10000:  # forget clients idle long enough to be full again
                full = [k for k, (t, l) in self._b.items() if now - l > self.burst / max(self.rate, 1e-9)]
                for k in full:
                    del self._b[k]
            return ok


def _err(id_: Any, code: int, message: str) -> dict:
    return {"jsonrpc": "2.0", "id": id_, "error": {"code": code, "message": message}}


class RpcGuard:
    """A ThreadingHTTPServer on (bind, port) forwarding allowed JSON-RPC calls to `upstream`.

        guard = RpcGuard("http://127.0.0.1:PORT", bind="0.0.0.0", port=8545, faucet=faucet).start()
        guard.url ... guard.stop()

    `upstream` may be changed while it runs (the host restarts anvil on another port).
    """

    def __init__(self, upstream: str, *, bind: str = "127.0.0.1", port: int = 0, faucet=None,
                 max_body: int = MAX_BODY, max_batch: int = MAX_BATCH, rate: float = RATE, burst: float = BURST,
                 max_connections: int = MAX_CONNECTIONS, io_timeout: float = IO_TIMEOUT,
                 exempt: frozenset[str] = LOOPBACK):
        self.upstream = upstream
        self.bind, self.port = bind, int(port)
        self.faucet = faucet
        self.max_body, self.max_batch = int(max_body), int(max_batch)
        self.bucket = TokenBucket(rate, burst)
        self.io_timeout = float(io_timeout)
        self.exempt = frozenset(exempt)  # client addresses not rate-limited (the host's own processes)
        self._slots = threading.BoundedSemaphore(max_connections)
        self.refused = 0       # calls refused (method not allowed)
        self.limited = 0       # requests refused for a limit
        self.forwarded = 0
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        return f"http://{self.bind}:{self.port}"

    def start(self) -> "RpcGuard":
        guard = self

        class Handler(BaseHTTPRequestHandler):
            server_version = "swarmdeck-rpc-guard"
            sys_version = ""
            timeout = guard.io_timeout  # applies to each socket read: a slow client is cut off

            def log_message(self, *a) -> None:  # no per-request logging (a flood would fill the disk)
                pass

            def _send(self, code: int, obj: Any, extra: dict | None = None) -> None:
                body = json.dumps(obj, separators=(",", ":")).encode()
                self.send_response(code)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                for k, v in (extra or {}).items():
                    self.send_header(k, v)
                self.end_headers()
                self.wfile.write(body)

            def do_GET(self) -> None:
                if not guard._slots.acquire(blocking=False):
                    guard.limited += 1
                    return self._send(503, {"error": "too many connections"})
                try:
                    if self.path == "/health":
                        return self._send(200, {"ok": True, "faucet": guard.faucet is not None})
                    self._send(405, {"error": "POST JSON-RPC to /"})
                finally:
                    guard._slots.release()

            def do_POST(self) -> None:
                if not guard._slots.acquire(blocking=False):
                    guard.limited += 1
                    self.close_connection = True
                    return self._send(503, _err(None, -32005, "the host's RPC is busy; retry shortly"))
                try:
                    self._post()
                finally:
                    guard._slots.release()

            def _post(self) -> None:
                client = self.client_address[0]
                try:
                    n = int(self.headers.get("Content-Length") or "-1")
                except ValueError:
                    n = -1
                if n < 0:
                    self.close_connection = True
                    return self._send(411, _err(None, -32600, "Content-Length required"))
                if n > guard.max_body:
                    guard.limited += 1
                    self.close_connection = True
                    return self._send(413, _err(None, -32600, f"request body over {guard.max_body} bytes"))
                raw = self.rfile.read(n)
                path = self.path.split("?", 1)[0]
                if path == "/faucet":
                    if guard.faucet is None:
                        return self._send(404, {"error": "this swarm host runs no faucet"})
                    if client not in guard.exempt and not guard.bucket.take(client, 10.0):
                        guard.limited += 1
                        return self._send(429, {"error": "too many requests"}, {"Retry-After": "5"})
                    code, obj = guard.faucet.handle(raw, client)
                    return self._send(code, obj)
                if path != "/":
                    return self._send(404, _err(None, -32601, "JSON-RPC is served at /"))
                try:
                    req = safejson.loads(raw.decode("utf-8"))
                except (ValueError, UnicodeDecodeError, RecursionError):
                    return self._send(400, _err(None, -32700, "parse error: the body is not JSON"))
                batch = isinstance(req, list)
                calls = req if batch else [req]
                if batch and not calls:
                    return self._send(400, _err(None, -32600, "empty batch"))
                if len(calls) > guard.max_batch:
                    guard.limited += 1
                    return self._send(413, _err(None, -32600, f"batch over {guard.max_batch} calls"))
                if client not in guard.exempt and not guard.bucket.take(client, float(len(calls))):
                    guard.limited += 1
                    return self._send(429, _err(None, -32005, "rate limit: too many calls from this address; "
                                                              "slow down"), {"Retry-After": "1"})
                out = [guard.handle_call(c) for c in calls]
                self._send(200, out if batch else out[0])

        self._server = ThreadingHTTPServer((self.bind, self.port), Handler)
        self._server.daemon_threads = True
        self.port = self._server.server_address[1]
        self._thread = threading.Thread(target=self._server.serve_forever, name="rpc-guard", daemon=True)
        self._thread.start()
        return self

    def handle_call(self, call: Any) -> dict:
        if not isinstance(call, dict):
            return _err(None, -32600, "invalid request: not an object")
        id_ = call.get("id")
        if not (id_ is None or isinstance(id_, (int, str))) or isinstance(id_, bool):
            id_ = None
        method = call.get("method")
        if not isinstance(method, str) or not method:
            return _err(id_, -32600, "invalid request: no method")
        if method not in ALLOWED:
            self.refused += 1
            return _err(id_, -32601, refusal(method))
        params = call.get("params", [])
        if not isinstance(params, (list, dict)):
            return _err(id_, -32602, "invalid params")
        body = json.dumps({"jsonrpc": "2.0", "id": 1, "method": method, "params": params}).encode()
        try:
            r = urllib.request.Request(self.upstream, data=body, headers={"Content-Type": "application/json"})
            with urllib.request.urlopen(r, timeout=UPSTREAM_TIMEOUT) as resp:
                ans = json.loads(resp.read())
        except (urllib.error.URLError, OSError, ValueError) as e:
            return _err(id_, -32603, f"the host's chain did not answer ({type(e).__name__}); retry shortly")
        self.forwarded += 1
        if not isinstance(ans, dict):
            return _err(id_, -32603, "the host's chain sent a bad answer")
        ans["id"] = id_
        return ans

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        if self._thread is not None:
            self._thread.join(5)
            self._thread = None
