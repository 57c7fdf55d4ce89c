"""Stale or wrong session keys: a "sign in again" state, not a crash loop or a lost write.

Real anvil (LocalChain), the real local login service over real HTTP, the real SubmissionQueue.
The only stand-in is for Alchemy's bundler (it cannot run here): a tiny aiohttp app that answers
the official modal-login app's 500 reply shape for a user operation refused with "AA24 signature
error", and, once "signed in again", forwards to the real login service (so the write still
lands on the real chain).
"""

from __future__ import annotations

import asyncio
import functools
import json
import threading
import time

import pytest
from aiohttp import ClientSession, web

from core.identity import signin
from core.chain.devnet import free_port
from core.chain.modal_login_backend import ModalLoginCoordinator, signature_error
from core.chain.queue import SubmissionQueue
from core.events.log import EventBus
from core.login.service import LoginService, ServiceThread
from core.identity.profiles import create_profile, read_state

from tests.helpers.chain import events
from tests.helpers.http import http, sign_in
from tests.helpers.wait import wait_until


class Counting(ModalLoginCoordinator):
    """The real coordinator, counting the HTTP requests it sends (to prove there is no hammering)."""

    def __init__(self, *a, **kw):
        super().__init__(*a, **kw)
        self.requests: list[float] = []

    def _post(self, path, body):
        self.requests.append(time.monotonic())
        return super()._post(path, body)


def _bus(name: str):
    seen: list[dict] = []
    bus = EventBus(name)
    bus.subscribe(lambda e: seen.append(e.to_wire()))
    return bus, seen


def _of(seen: list[dict], typ: str) -> list[dict]:
    return [e for e in seen if e["type"] == typ]


@pytest.mark.timeout(120)
def test_stale_key_waits_for_a_new_sign_in_then_the_write_lands(chain):
    from core.usecases.profile_state import build_status
    from tui.commands.status_cmd import render_text

    prof = create_profile("stale", network="local", backend="modal-login")
    paths = prof.paths
    svc = ServiceThread(LoginService(paths.identity_dir, port=free_port())).start()
    q = None
    try:
        user = sign_in(svc.url, "sam@example.org")
        coord = Counting(svc.url, user["orgId"], chain.rpc_url, chain.coordinator, eoa=user["address"],
                         profile="stale", timeout=10)
        assert coord.register_peer("QmStale").status == "landed"

        # A half-finished re-login: the page asked for a new session key but never activated it.
        # The newest entry is the live one, so the service now answers 500 "api key not found".
        st, newkey = http(f"{svc.url}/api/get-api-key", {"whoamiStamp": {"orgId": user["orgId"]}})
        assert st == 200
        res = coord.submit_reward(coord.current_round(), 0, 1, "QmStale")
        assert res.status == "signin" and "api key not found" in res.error
        assert "sign in again: swarmdeck login -p stale" in res.error

        bus, seen = _bus("stale")
        q = SubmissionQueue(coord, paths.queue_dir, bus=bus, identity_dir=paths.identity_dir,
                            on_signin=functools.partial(signin.record, "stale"), signin_retry=60.0)
        r = coord.current_round()
        coord.requests.clear()
        q.reward(r, 0, 1.5, "QmStale")
        q.start(poll=0.1)
        wait_until(lambda: _of(seen, "login.required"), 10, "login.required")
        time.sleep(5)  # the queue polls 10x a second: a backoff-less retry would send ~50 requests here

        item = q.get(f"reward-r{r}-s0")
        assert item.status == "pending" and "swarmdeck login -p stale" in item.reason
        assert len(_of(seen, "login.required")) == 1
        ev = _of(seen, "login.required")[0]
        assert "api key not found" in ev["reason"] and ev["fix"] == "swarmdeck login -p stale"
        assert len(coord.requests) <= 2, f"{len(coord.requests)} requests in 5 s while a sign-in was due"
        state = read_state("stale")
        assert "api key not found" in state["sign_in_required"]["reason"]
        assert signin.required("stale")["where"] == svc.url
        t0 = time.monotonic()
        assert q.flush(10) is False and time.monotonic() - t0 < 1.0  # a node's shutdown does not wait on it
        assert len(coord.requests) <= 2

        # swarmdeck status says it, with the command, and no secret
        status = build_status()
        p = next(x for x in status["profiles"] if x["name"] == "stale")
        assert p["sign_in_required"]["fix"] == "swarmdeck login -p stale"
        text = render_text(status)
        assert "SIGN IN AGAIN" in text and "swarmdeck login -p stale" in text
        keys = json.loads(paths.user_api_key.read_text())[user["orgId"]]
        dumped = json.dumps(status) + json.dumps(seen) + text
        assert all(k["privateKey"][2:] not in dumped for k in keys) and "privateKey" not in dumped

        # The sign-in is finished (the page activates the new key): userApiKey.json changes, the
        # queue notices at once (no 60 s wait) and the pending reward lands.
        st, act = http(f"{svc.url}/api/set-api-key-activated", {
            "orgId": user["orgId"], "apiKey": newkey["publicKey"], "deferredActionDigest": "",
            "accountAddress": user["address"], "initCode": ""})
        assert st == 200 and act == {"activated": True}
        wait_until(lambda: not q.pending(), 15, "the pending reward to land")
        assert q.get(f"reward-r{r}-s0").status == "landed"
        evs = events(chain, "RewardSubmitted", peerId="QmStale")
        assert len(evs) == 1 and evs[0]["args"]["reward"] == 1500
        assert len(_of(seen, "login.ok")) == 1 and _of(seen, "login.ok")[0]["kind"] == "reward"
        assert signin.required("stale") is None
        assert next(x for x in build_status()["profiles"] if x["name"] == "stale")["sign_in_required"] is None
        assert len(coord.requests) <= 4
    finally:
        if q is not None:
            q.stop()
        svc.stop()


@pytest.mark.timeout(120)
def test_an_episode_recorded_by_an_earlier_run_ends_when_a_write_lands(chain):
    """A restarted node resumes the recorded episode, probes at once, and clears it when the key works."""
    prof = create_profile("again", network="local", backend="modal-login")
    signin.mark_required("again", "session key missing or not activated (HTTP 500 api key not found)",
                         "http://127.0.0.1:1")
    since = signin.required("again")["since"]
    assert since and signin.required("again")["reason"].startswith("session key missing")
    with ServiceThread(LoginService(prof.paths.identity_dir, port=free_port())) as svc:
        user = sign_in(svc.url, "ada@example.org")  # signed in again meanwhile
        coord = Counting(svc.url, user["orgId"], chain.rpc_url, chain.coordinator, eoa=user["address"],
                         profile="again")
        bus, seen = _bus("again")
        q = SubmissionQueue(coord, prof.paths.queue_dir, bus=bus, identity_dir=prof.paths.identity_dir,
                            on_signin=functools.partial(signin.record, "again"),
                            signin_required=signin.required("again"))
        q.register("QmAgain")
        q.reward(coord.current_round(), 0, 0.25, "QmAgain")
        assert q.process() == 0
        assert len(coord.requests) == 2
        assert [e["type"] for e in seen if e["type"].startswith("login.")] == ["login.ok"]
        assert signin.required("again") is None
        assert len(events(chain, "RewardSubmitted", peerId="QmAgain")) == 1


# --- the official app's AA24 reply (stand-in for Alchemy's bundler) ----------------------------

class BundlerStandIn:
    """Answers like the official modal-login app when Alchemy's bundler refuses the user operation
    signed with a stale session key; after `fixed = True`, forwards to the real login service."""

    AA24_BODY = {"error": "An unexpected error occurred", "original": {
        "name": "UserOperationExecutionError", "shortMessage": "Execution reverted for an unknown reason.",
        "details": "{\"code\":-32500,\"message\":\"validation reverted: [reason]: AA24 signature error\"}",
        "version": "viem@2.21.0"}}

    def __init__(self, upstream: str):
        self.upstream = upstream
        self.fixed = False
        self.hits = 0
        self.port = free_port()
        self.body: dict | str = self.AA24_BODY
        self.status = 500
        self._loop = asyncio.new_event_loop()
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def handle(self, request: web.Request) -> web.Response:
        self.hits += 1
        if self.fixed:
            async with ClientSession() as s:
                async with s.post(self.upstream + request.path, data=await request.read(),
                                  headers={"Content-Type": "application/json"}) as r:
                    return web.Response(status=r.status, body=await r.read(), content_type="application/json")
        if isinstance(self.body, str):
            return web.Response(status=self.status, text=self.body, content_type="text/html")
        return web.json_response(self.body, status=self.status)

    def _run(self) -> None:
        asyncio.set_event_loop(self._loop)
        app = web.Application()
        app.router.add_post("/api/{tail:.*}", self.handle)
        self._runner = web.AppRunner(app)
        self._loop.run_until_complete(self._runner.setup())
        self._loop.run_until_complete(web.TCPSite(self._runner, "127.0.0.1", self.port).start())
        self._ready.set()
        self._loop.run_forever()
        self._loop.run_until_complete(self._runner.cleanup())
        self._loop.close()

    def __enter__(self) -> "BundlerStandIn":
        self._thread.start()
        assert self._ready.wait(10)
        return self

    def __exit__(self, *exc) -> None:
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)
        assert not self._thread.is_alive()


@pytest.mark.timeout(120)
def test_aa24_from_the_official_app_is_sign_in_again_not_a_retry_loop(chain):
    prof = create_profile("aa", network="local", backend="modal-login")
    paths = prof.paths
    with ServiceThread(LoginService(paths.identity_dir, port=free_port())) as svc, \
            BundlerStandIn(svc.url) as app:
        user = sign_in(svc.url, "aa@example.org")
        coord = Counting(app.url, user["orgId"], chain.rpc_url, chain.coordinator, eoa=user["address"],
                         profile="aa", timeout=10)
        bus, seen = _bus("aa")
        q = SubmissionQueue(coord, paths.queue_dir, bus=bus, identity_dir=paths.identity_dir,
                            on_signin=functools.partial(signin.record, "aa"), signin_retry=60.0,
                            base_delay=0.05, max_delay=0.1)  # a plain retry would be ~20 requests a second
        r = coord.current_round()
        q.register("QmAA")
        q.reward(r, 0, 2.0, "QmAA")
        q.winners(r, ["QmAA"], "QmAA")
        q.start(poll=0.1)
        wait_until(lambda: _of(seen, "login.required"), 10, "login.required")
        time.sleep(4)
        assert q.counts() == {"pending": 3, "landed": 0, "failed": 0}  # nothing lost
        assert app.hits == 1, f"{app.hits} requests to the app in 4 s"
        ev = _of(seen, "login.required")
        assert len(ev) == 1 and "AA24" in ev[0]["reason"] and ev[0]["fix"] == "swarmdeck login -p aa"
        assert "AA24" in signin.required("aa")["reason"]
        # a new sign-in: the identity files are written again (the official flow copies them in)
        app.fixed = True
        paths.user_data.write_text(paths.user_data.read_text())
        wait_until(lambda: not q.pending(), 20, "all three writes to land")
        q.stop()
        assert q.counts() == {"pending": 0, "landed": 3, "failed": 0}
        assert len(events(chain, "RewardSubmitted", peerId="QmAA")) == 1
        assert len(_of(seen, "login.ok")) == 1 and len(_of(seen, "login.required")) == 1
        assert signin.required("aa") is None
        assert app.hits == 4


@pytest.mark.timeout(60)
def test_reply_mapping_of_the_official_app_shapes():
    """Each reply shape the official app (or its bundler) gives, through real HTTP to the stand-in."""
    with BundlerStandIn("http://127.0.0.1:1") as app:
        c = ModalLoginCoordinator(app.url, "org", "http://127.0.0.1:1", "0x" + "0" * 40, profile="p1", timeout=5)
        cases = [
            (500, BundlerStandIn.AA24_BODY, "signin", "AA24"),
            (500, {"error": "An unexpected error occurred", "original": {"details": "AA23 reverted (or OOG)"}},
             "signin", "AA23"),
            (400, {"error": "Invalid account signature"}, "signin", "invalid signature"),
            (502, "<html>upstream said: invalid signature</html>", "signin", "invalid signature"),
            (404, {"error": "user not found"}, "signin", "user not found"),
            (500, {"error": "api key not found"}, "signin", "api key not found"),
            (503, {"error": "api key not activated"}, "signin", "api key not activated"),
            (500, {"error": "An unexpected error occurred", "original": {}}, "retry", "unexpected"),
            (404, "<html>This page could not be found.</html>", "retry", "could not be found"),
            (400, {"error": "InvalidRoundNumber"}, "rejected", "InvalidRoundNumber"),
            (500, {"error": "An unexpected error occurred", "original": {"details": "AA21 didn't pay prefund"}},
             "retry", "unexpected"),
        ]
        for status, body, want, needle in cases:
            app.status, app.body = status, body
            res = c.submit_reward(1, 0, 5, "QmMap")
            assert res.status == want, (status, body, res)
            assert needle in res.error, (needle, res.error)
            if want == "signin":
                assert res.error.endswith("sign in again: swarmdeck login -p p1")
                assert "shortMessage" not in res.error and "viem" not in res.error  # our words, not the body
    assert signature_error("...AA24 signature error...") == "AA24"
    assert signature_error("AA25 invalid account nonce") is None
