"""The local login service: the modal-login HTTP API on 127.0.0.1, for local/private networks.

Endpoints (same paths, bodies and replies as the public modal-login app; see RLSWARM_FACTS.md):
  GET  /                                 the sign-in page (email form)
  POST /api/login            {email}      our stand-in for the public app's hosted sign-in:
                                          creates/loads the account, writes userData.json
  POST /api/get-api-key      {whoamiStamp: {orgId}} (or {orgId}) -> {publicKey}; fresh session key
  POST /api/set-api-key-activated {orgId, apiKey, ...}            -> {activated: true}
  GET  /api/get-api-key-status?orgId=    plain text "activated" | "pending"
  POST /api/register-peer    {orgId, peerId}                      -> {hash}
  POST /api/submit-reward    {orgId, roundNumber, stageNumber, reward, peerId} -> {hash}
  POST /api/submit-winner    {orgId, roundNumber, winners, peerId}             -> {hash}
  GET  /api/health                       {ok: true, port}

Write replies follow the official app: 200 {hash}; 400 {error: <the contract's custom error>};
404 "user not found"; 500 for everything else, a chain that cannot be reached included
(500 {error, fix}).

One service serves one profile: it writes that profile's identity dir (userData.json,
userApiKey.json, 0600), as the public app writes its temp-data/. Several profiles run several
services (3000, 3001, ...). Write endpoints sign with the account's own EOA and send to the
chain (the local network's running LocalChain, or rpc_url/coordinator given explicitly).

Hardening: POSTs must be application/json, same-origin (an Origin header, when sent, must be
this server's own), with a loopback Host (no DNS rebinding), bodies <= MAX_BODY bytes; every
refusal is a 4xx with {error} and writes nothing. Keys never reach a log line.
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

import requests
from aiohttp import web

from core.base import safejson
from core.base import fsutil, procs
from core.base.net import port_free
from core.base.constants import DEFAULT_LOGIN_PORT
from core.identity import files as identity
from core.base.i18n import M
from core.base.errors import ChainError, IdentityError, SwarmdeckError
from core.login.accounts import AccountStore, normalize_email, valid_email
from core.base.paths import ensure_private_dir, profiles_dir

log = logging.getLogger("swarmdeck.login")

DEFAULT_PORT = DEFAULT_LOGIN_PORT
PORT_TRIES = 20
MAX_BODY = 16 * 1024
LOOPBACK_HOSTS = {"127.0.0.1", "localhost", "::1", "[::1]"}
STATIC = Path(__file__).resolve().parent / "static"
BODY = web.RequestKey("body", dict)  # the parsed JSON body of a POST, set by the guard


class LoginError(SwarmdeckError):
    pass


# A chain that cannot be reached is answered 500, as the official app answers every failure that
# is not a contract refusal (400): rl-swarm's client skips a 500 from submit-reward/submit-winner
# and keeps training, but raises on any other code (a 503 stopped its node).
CHAIN_DOWN_FIX = "check that the chain is up (`swarmdeck doctor`); the write can be sent again once it answers"


def _err(status: int, msg: str, **extra) -> web.Response:
    return web.json_response({"error": msg, **extra}, status=status)


def pick_port(host: str, preferred: int, strict: bool = False) -> int:
    """`preferred` if free, else the next free one (up to PORT_TRIES); strict: preferred or error."""
    if port_free(preferred, host):
        return preferred
    if not strict:
        for p in range(preferred + 1, preferred + PORT_TRIES):
            if port_free(p, host):
                return p
    raise LoginError(M("err.login.port_busy", port=preferred, host=host) if strict else
                     M("err.login.ports_busy", port=preferred, host=host, n=PORT_TRIES - 1),
                     where=f"{host}:{preferred}", fix=M("err.login.port_busy_fix", port=preferred))


class LoginService:
    def __init__(self, identity_dir: Path, *, network: str = "local", host: str = "127.0.0.1",
                 port: int = DEFAULT_PORT, strict_port: bool = False, rpc_url: str | None = None,
                 coordinator: str | None = None, accounts: AccountStore | None = None, fund_gas: bool | None = None):
        self.identity_dir = Path(identity_dir)
        self.network = network
        self.host = host
        self.requested_port = port
        self.strict_port = strict_port
        self.port: int | None = None
        self.accounts = accounts or AccountStore(network)
        self._rpc_url = rpc_url
        self._coordinator = coordinator
        # Gas is "sponsored" on the local chain (anvil_setBalance), like the public app's paymaster.
        self.fund_gas = (rpc_url is None) if fund_gas is None else fund_gas
        self._writers: dict[str, object] = {}
        self._runner: web.AppRunner | None = None

    # ------------------------------------------------------------------ app
    def make_app(self) -> web.Application:
        app = web.Application(client_max_size=MAX_BODY, middlewares=[self._guard])
        r = app.router
        r.add_get("/", self.page)
        r.add_get("/api/health", self.health)
        r.add_post("/api/login", self.login)
        r.add_post("/api/get-api-key", self.get_api_key)
        r.add_post("/api/set-api-key-activated", self.set_activated)
        r.add_get("/api/get-api-key-status", self.key_status)
        r.add_post("/api/register-peer", self.register_peer)
        r.add_post("/api/submit-reward", self.submit_reward)
        r.add_post("/api/submit-winner", self.submit_winner)
        return app

    @web.middleware
    async def _guard(self, request: web.Request, handler):
        host = (request.host or "").rsplit(":", 1)[0] if not (request.host or "").startswith("[") else \
            request.host.split("]")[0] + "]"
        if self.host in LOOPBACK_HOSTS and host not in LOOPBACK_HOSTS:
            return _err(421, f"this service only answers on localhost, not {host!r}")
        if request.method == "POST":
            origin = request.headers.get("Origin")
            if origin is not None:
                o = urlsplit(origin)
                if origin == "null" or f"{o.scheme}://{o.netloc}" != f"{request.scheme}://{request.host}":
                    return _err(403, "cross-origin request refused", origin=origin)
            if request.headers.get("Sec-Fetch-Site") in ("cross-site", "same-site"):
                return _err(403, "cross-origin request refused")
            if request.content_type != "application/json":
                return _err(415, "request body must be JSON (Content-Type: application/json)")
            if request.content_length is not None and request.content_length > MAX_BODY:
                return _err(413, f"request body too large (limit {MAX_BODY} bytes)")
            try:
                raw = await request.read()
            except web.HTTPRequestEntityTooLarge:
                return _err(413, f"request body too large (limit {MAX_BODY} bytes)")
            try:
                body = safejson.loads(raw)
            except (ValueError, UnicodeDecodeError):
                return _err(400, "malformed JSON body")
            if not isinstance(body, dict):
                return _err(400, "JSON body must be an object")
            request[BODY] = body
        try:
            return await handler(request)
        except web.HTTPException:
            raise
        except IdentityError as e:
            return _err(409, e.what, fix=e.fix)
        except Exception as e:  # a bug: say so without leaking internals (or keys) to the page
            log.exception("internal error on %s", request.path)
            return _err(500, f"internal error ({type(e).__name__})")

    @staticmethod
    def _fields(body: dict, spec: dict[str, type | tuple]) -> dict | web.Response:
        missing = [k for k in spec if k not in body]
        if missing:
            return _err(400, f"missing fields: {', '.join(missing)}")
        for k, t in spec.items():
            v = body[k]
            if isinstance(v, bool) or not isinstance(v, t):
                names = t.__name__ if isinstance(t, type) else "/".join(x.__name__ for x in t)
                return _err(400, f"field {k!r} must be {names}")
        return body

    # ------------------------------------------------------------------ pages
    async def page(self, request: web.Request) -> web.Response:
        html = (STATIC / "index.html").read_text(encoding="utf-8")
        return web.Response(text=html, content_type="text/html", headers={
            "Content-Security-Policy": "default-src 'self'; script-src 'self' 'unsafe-inline'; "
                                       "style-src 'self' 'unsafe-inline'; frame-ancestors 'none'",
            "X-Frame-Options": "DENY", "Referrer-Policy": "no-referrer", "Cache-Control": "no-store"})

    async def health(self, request: web.Request) -> web.Response:
        return web.json_response({"ok": True, "port": self.port, "network": self.network,
                                  "identity_dir": str(self.identity_dir)})

    # ------------------------------------------------------------------ sign-in
    async def login(self, request: web.Request) -> web.Response:
        body = self._fields(request[BODY], {"email": str})
        if isinstance(body, web.Response):
            return body
        email = body["email"]
        if not valid_email(email):
            return _err(400, "that does not look like an email address")
        existing = identity.read_user_data(self.identity_dir) or {}
        # Refuse another account before get_or_create: a refused sign-in must not leave a new
        # account (and its EOA key) behind in the account store.
        known_emails = {normalize_email(str(v.get("email") or "")) for v in existing.values()}
        if existing and all(v.get("email") for v in existing.values()) and normalize_email(email) not in known_emails:
            return _err(409, "this profile is already signed in with another account; "
                             "create a new profile for this email (swarmdeck profile new NAME)")
        # One email per node (the seed's rule for on-chain tracking): refuse here, before any file is
        # written, so the profile that had the account first keeps running.
        owners = identity.profiles_signed_in_with(email, exclude=self.identity_dir) if self._signs_a_profile() else []
        if owners:
            e = identity.email_taken_error(email, owners)
            return _err(409, f"{e.what} Fix: {e.fix}", fix=e.fix, profiles=owners)
        acct, created = self.accounts.get_or_create(email)
        if existing and acct.org_id not in existing:
            return _err(409, "this profile is already signed in with another account; "
                             "create a new profile for this email (swarmdeck profile new NAME)")
        identity.write_user_data(self.identity_dir, acct.org_id, acct.address, acct.user_id, acct.email)
        log.info("signed in account %s (%s)", acct.org_id, "new" if created else "existing")
        return web.json_response({"orgId": acct.org_id, "address": acct.address, "userId": acct.user_id,
                                  "created": created})

    def _signs_a_profile(self) -> bool:
        """Whether this service writes a profile's identity dir (the local network's sign-in), not
        an app's temp-data/ that a profile copies from (the official app's stand-in in tests)."""
        return self.identity_dir.resolve().parent.parent == profiles_dir().resolve()

    def _org_from(self, body: dict) -> str | None:
        stamp = body.get("whoamiStamp")
        if isinstance(stamp, dict) and isinstance(stamp.get("orgId"), str):
            return stamp["orgId"]
        if isinstance(body.get("orgId"), str):
            return body["orgId"]
        return None

    def _known(self, org_id: str) -> bool:
        ud = identity.read_user_data(self.identity_dir) or {}
        return org_id in ud and self.accounts.by_org(org_id) is not None

    async def get_api_key(self, request: web.Request) -> web.Response:
        body = request[BODY]
        if "whoamiStamp" not in body and "orgId" not in body:
            return _err(400, "missing fields: whoamiStamp")
        org_id = self._org_from(body)
        if org_id is None:
            return _err(400, "whoamiStamp must carry the orgId")
        if not self._known(org_id):
            return _err(404, "user not found")
        from eth_account import Account as EthAccount

        session = EthAccount.create()
        identity.append_user_api_key(self.identity_dir, org_id, {
            "publicKey": session.address, "privateKey": session.key.hex(),
            "createdAt": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "activated": False})
        log.info("issued a session key for %s: %s", org_id, session.address)
        return web.json_response({"publicKey": session.address})

    async def set_activated(self, request: web.Request) -> web.Response:
        body = self._fields(request[BODY], {"orgId": str, "apiKey": str})
        if isinstance(body, web.Response):
            return body
        if not self._known(body["orgId"]):
            return _err(404, "user not found")
        extra = {k: body[k] for k in ("deferredActionDigest", "accountAddress", "initCode")
                 if isinstance(body.get(k), str) and len(body[k]) <= 4096}
        if not identity.set_api_key_activated(self.identity_dir, body["orgId"], body["apiKey"], **extra):
            return _err(404, "api key not found")
        log.info("session key activated for %s", body["orgId"])
        return web.json_response({"activated": True})

    async def key_status(self, request: web.Request) -> web.Response:
        org_id = request.query.get("orgId")
        if not org_id:
            return _err(400, "missing query parameter: orgId")
        if not self._known(org_id):
            return _err(404, "user not found")
        info = identity.read_login(self.identity_dir)
        active = info is not None and info.org_id == org_id and info.activated
        return web.Response(text="activated" if active else "pending", content_type="text/plain")

    # ------------------------------------------------------------------ chain writes
    def _chain(self) -> tuple[str, str, object | None]:
        if self._rpc_url and self._coordinator:
            return self._rpc_url, self._coordinator, None
        from core.chain.devnet import LocalChain

        chain = LocalChain.attach(self.network)
        return chain.rpc_url, chain.coordinator, chain

    def _writer(self, org_id: str):
        from core.chain.web3_backend import ChainWriter

        rpc_url, coord, chain = self._chain()
        cache_key = f"{org_id}|{rpc_url}|{coord}"
        w = self._writers.get(cache_key)
        if w is None:
            w = ChainWriter(rpc_url, coord, self.accounts.private_key(org_id))
            self._writers = {k: v for k, v in self._writers.items() if not k.startswith(org_id + "|")}
            self._writers[cache_key] = w
        if self.fund_gas and w.w3.eth.get_balance(w.address) < 10**18:
            if chain is not None:
                chain.fund(w.address)
            else:  # an explicit RPC that is an anvil (a private swarm or the testnet stand-in)
                from core.chain.devnet import rpc_call

                rpc_call(rpc_url, "anvil_setBalance", [w.address, hex(1000 * 10**18)])
        return w

    async def _write(self, request: web.Request, spec: dict, fn: str, args) -> web.Response:
        body = self._fields(request[BODY], spec)
        if isinstance(body, web.Response):
            return body
        org_id = body["orgId"]
        if self.accounts.by_org(org_id) is None or org_id not in (identity.read_user_data(self.identity_dir) or {}):
            return _err(404, "user not found")
        info = identity.read_login(self.identity_dir)
        if info is None or info.org_id != org_id or not info.api_public_key or not info.activated:
            return _err(500, "api key not found")
        try:
            a = args(body)
        except ValueError as e:
            return _err(400, str(e))
        try:
            writer = await asyncio.to_thread(self._writer, org_id)
            out = await asyncio.to_thread(writer.send, fn, *a)
        except ChainError as e:
            return _err(500, e.what, fix=e.fix)
        except (OSError, requests.exceptions.RequestException):  # the RPC went away while topping up gas
            return _err(500, "chain unreachable, try again", fix=CHAIN_DOWN_FIX)
        if out.error is None:
            return web.json_response({"hash": out.tx})
        if out.transient:
            return _err(500, "chain unreachable, try again", fix=CHAIN_DOWN_FIX)
        return _err(400, out.error)

    @staticmethod
    def _peer(v: str) -> str:
        if not (1 <= len(v) <= 128):
            raise ValueError("peerId must be 1..128 characters")
        return v

    @staticmethod
    def _uint(name: str, v: int) -> int:
        if v < 0 or v >= 2**256:
            raise ValueError(f"{name} must be a non-negative integer")
        return v

    async def register_peer(self, request: web.Request) -> web.Response:
        return await self._write(request, {"orgId": str, "peerId": str}, "registerPeer",
                                 lambda b: [self._peer(b["peerId"])])

    async def submit_reward(self, request: web.Request) -> web.Response:
        def args(b):
            if not -(2**255) <= b["reward"] < 2**255:
                raise ValueError("reward out of int256 range")
            return [self._uint("roundNumber", b["roundNumber"]), self._uint("stageNumber", b["stageNumber"]),
                    b["reward"], self._peer(b["peerId"])]

        return await self._write(request, {"orgId": str, "roundNumber": int, "stageNumber": int, "reward": int,
                                           "peerId": str}, "submitReward", args)

    async def submit_winner(self, request: web.Request) -> web.Response:
        def args(b):
            w = b["winners"]
            # [] is a valid vote (for nobody) on the public contract, and the official app passes it on
            if len(w) > 32 or not all(isinstance(x, str) for x in w):
                raise ValueError("winners must be a list of 0..32 peer ids")
            return [self._uint("roundNumber", b["roundNumber"]), [self._peer(x) for x in w], self._peer(b["peerId"])]

        return await self._write(request, {"orgId": str, "roundNumber": int, "winners": list, "peerId": str},
                                 "submitWinners", args)

    # ------------------------------------------------------------------ lifecycle
    @property
    def url(self) -> str:
        h = "localhost" if self.host in ("127.0.0.1", "::1", "0.0.0.0") else self.host
        return f"http://{h}:{self.port}"

    async def start(self) -> "LoginService":
        self.port = pick_port(self.host, self.requested_port, self.strict_port)
        if self.port != self.requested_port:
            log.warning("port %d is in use; the login service uses port %d instead", self.requested_port, self.port)
        ensure_private_dir(self.identity_dir)
        self._runner = web.AppRunner(self.make_app(), access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.host, self.port, reuse_address=True)
        try:
            await site.start()
        except OSError as e:
            await self._runner.cleanup()
            raise LoginError(M("err.login.listen", addr=f"{self.host}:{self.port}", error=e.strerror),
                             where=f"{self.host}:{self.port}", fix=M("err.login.listen_fix"))
        log.info("login service on %s (serving %s)", self.url, self.identity_dir)
        return self

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None


class ServiceThread:
    """Run a LoginService on a background thread with its own event loop (tests, embedding).

        with ServiceThread(LoginService(paths.identity_dir, port=0 or 3000)) as svc: svc.url
    """

    def __init__(self, service: LoginService):
        self.service = service
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self.loop.run_forever, name="login-service", daemon=True)

    @property
    def url(self) -> str:
        return self.service.url

    def start(self) -> "ServiceThread":
        self._thread.start()
        fut = asyncio.run_coroutine_threadsafe(self.service.start(), self.loop)
        try:
            fut.result(30)
        except BaseException:
            self.loop.call_soon_threadsafe(self.loop.stop)
            self._thread.join(5)
            raise
        return self

    def stop(self) -> None:
        if self._thread.is_alive():
            asyncio.run_coroutine_threadsafe(self.service.stop(), self.loop).result(30)
            self.loop.call_soon_threadsafe(self.loop.stop)
            self._thread.join(10)
        self.loop.close()

    def __enter__(self) -> "ServiceThread":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()


# ---------------------------------------------------------------------- background process
@dataclass
class ServiceInfo:
    url: str
    port: int
    pid: int
    started: bool  # True when this call started it


def runtime_file(profile_paths) -> Path:
    return Path(profile_paths.run_dir) / "login.json"


def _alive(url: str) -> bool:
    import urllib.request

    try:
        with urllib.request.urlopen(f"{url}/api/health", timeout=1) as r:
            return r.status == 200
    except Exception:
        return False


def running_service(profile_paths) -> ServiceInfo | None:
    rec = procs.read_record(runtime_file(profile_paths))
    if not procs.alive(rec) or not rec.get("url") or not _alive(rec.get("url")):
        return None
    return ServiceInfo(rec.get("url"), int(rec.get("port")), rec.pid, False)


def service_url(profile_paths, default_port: int = DEFAULT_PORT) -> str:
    """Where this profile's login service listens (running one first, else the configured port)."""
    info = running_service(profile_paths)
    return info.url if info else f"http://localhost:{default_port}"


def ensure_service(profile_paths, *, port: int = DEFAULT_PORT, network: str = "local", host: str = "127.0.0.1",
                   timeout: float = 30.0) -> ServiceInfo:
    """Start `python -m core.login` for this profile in the background unless it already runs.

    The process outlives the caller (own session), so a node can keep using it after
    `swarmdeck login` returns; stop_service() ends it.
    """
    info = running_service(profile_paths)
    if info:
        return info
    ensure_private_dir(Path(profile_paths.run_dir))
    ensure_private_dir(Path(profile_paths.log_dir))
    rt = runtime_file(profile_paths)
    rt.unlink(missing_ok=True)
    logf = open(Path(profile_paths.log_dir) / "login.log", "ab")
    try:
        proc = subprocess.Popen([sys.executable, "-m", "core.login", "--profile", profile_paths.name,
                                 "--port", str(port), "--network", network, "--host", host],
                                stdout=logf, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                start_new_session=True, cwd=str(Path(__file__).resolve().parents[2]))
    finally:
        logf.close()
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            tail = (Path(profile_paths.log_dir) / "login.log").read_text(errors="replace")[-800:]
            raise LoginError(M("err.login.exited", detail=tail.strip().splitlines()[-1] if tail.strip() else proc.returncode),
                             where=str(Path(profile_paths.log_dir) / "login.log"), fix=M("err.login.read_log"))
        info = running_service(profile_paths)
        if info:
            return ServiceInfo(info.url, info.port, info.pid, True)
        time.sleep(0.1)
    proc.terminate()
    raise LoginError(M("err.login.no_answer"), where=str(rt), fix=M("err.login.see_log"))


def stop_service(profile_paths, timeout: float = 10.0) -> bool:
    """Stop the profile's background login service; False when none was running."""
    rt = runtime_file(profile_paths)
    stopped = procs.stop_group(procs.read_record(rt), timeout)
    rt.unlink(missing_ok=True)
    return stopped


async def _until_signalled(svc: "LoginService") -> None:
    """Serve until SIGTERM/SIGINT, then stop the service cleanly."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for s in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(s, stop.set)
    await stop.wait()
    await svc.stop()


def serve_forever(profile_paths, *, port: int, network: str, host: str) -> int:
    """The body of `python -m core.login`: run until SIGTERM/SIGINT, keep login.json current."""

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")

    async def main() -> None:
        svc = await LoginService(profile_paths.identity_dir, network=network, host=host, port=port).start()
        rt = runtime_file(profile_paths)
        procs.write_record(rt, procs.record_for(os.getpid(), url=svc.url, port=svc.port, host=host))
        print(f"login service: {svc.url} (port {svc.port})", flush=True)
        await _until_signalled(svc)
        rec = procs.read_record(rt)
        if rec is not None and rec.pid == os.getpid():
            rt.unlink(missing_ok=True)

    try:
        asyncio.run(main())
    except SwarmdeckError as e:
        print(f"swarmdeck login service: {e}", file=sys.stderr)
        return 1
    return 0
