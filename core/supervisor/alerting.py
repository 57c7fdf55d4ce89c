"""The supervisor's side of alerts: every event it publishes goes through the rule engine
(core.alerts.rules), and every `check_interval` seconds it gathers the facts no event carries (free disk,
the identity's backup, a sign-in the login app asks for, the chain's round) in a worker thread.
Transitions go to the apprise sender thread (core.alerts.sender): the supervisor's loop never waits on
the network. So alerts fire with no TUI open, from the process that sees the node die.

Settings: [alerts] with [profiles.NAME.alerts] over it, read when the supervisor starts (restart the
profile to apply a change; the URL file is read per message). A config that cannot be read leaves the
defaults in force and says so in supervisor.log.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import shutil
import time
import urllib.request
from typing import Callable

from core.alerts.rules import AlertEngine, Facts
from core.alerts.sender import AlertSender
from core.alerts.urls import urls_path
from core.base.constants import is_demo_peer
from core.base import paths as _paths
from core.base import procs
from core.base.fsutil import atomic_write_json
from core.base.paths import ProfilePaths
from core.config import settings as _config
from core.config.settings import AlertSettings
from core.events.types import Event

CURRENT_ROUND_SELECTOR = "0x8a19c8bc"   # keccak("currentRound()")[:4]
CHAIN_ROUND_EVERY = 300.0               # the public RPC rate-limits: one read per profile per 5 min


def _eth_call(rpc_url: str, to: str, data: str, timeout: float = 10.0) -> str:
    body = json.dumps({"jsonrpc": "2.0", "id": 1, "method": "eth_call",
                       "params": [{"to": to, "data": data}, "latest"]}).encode()
    req = urllib.request.Request(rpc_url, data=body, headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=timeout) as r:
        out = json.loads(r.read())
    if not isinstance(out, dict) or "result" not in out:
        raise ValueError("no result")
    return out["result"]


class SupervisorAlerts:
    def __init__(self, profile: str, paths: ProfilePaths, note: Callable[[str, int], None]):
        self.profile = profile
        self.paths = paths
        self._note = note
        self.round_seconds: float | None = None
        self.network = None
        self.settings = AlertSettings()
        try:
            if not _config.config_path().exists():
                raise FileNotFoundError  # no config yet: the defaults, nothing to say
            cfg = _config.load_config(create=False, strict=False)
            self.settings = cfg.alerts(profile if cfg.has_profile(profile) else None)
            if cfg.has_profile(profile):
                self.network = cfg.network(cfg.profile_settings(profile).network)
                self.round_seconds = self.network.round_seconds
        except FileNotFoundError:
            pass
        except Exception as e:  # a broken config must not stop the node: defaults, and say so
            self.settings = AlertSettings()
            note(f"alerts: config not readable ({type(e).__name__}: {getattr(e, 'what', e)}); using the defaults",
                 logging.WARNING)
        self.check_interval = float(os.environ.get("SWARMDECK_ALERT_CHECK_S") or 60.0)
        self.engine = AlertEngine(profile, self.settings)
        self.sender = AlertSender(urls_path(self.settings), on_note=self._thread_note)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._chain_round: int | None = None
        self._chain_round_at = 0.0
        self._no_url_said = False
        self.state_file = paths.root / "alerts-state.json"
        with contextlib.suppress(OSError, ValueError):
            self.engine.restore(json.loads(self.state_file.read_text()))

    # the sender thread's notes go through the loop (supervisor.note touches the control server)
    def _thread_note(self, msg: str) -> None:
        if "no alert URL" in msg:
            if self._no_url_said:
                return
            self._no_url_said = True
        if self._loop is not None and not self._loop.is_closed():
            with contextlib.suppress(RuntimeError):
                self._loop.call_soon_threadsafe(self._note, msg, logging.INFO)

    def _send(self, alerts) -> None:
        for a in alerts:
            self.sender.submit(a)
        if self.engine.dirty:  # rare (a condition changed): a few hundred bytes, written at once
            try:
                atomic_write_json(self.state_file, self.engine.snapshot())
            except OSError as e:
                self._note(f"alerts: cannot save {self.state_file}: {e}", logging.WARNING)

    def on_event(self, ev: Event) -> None:
        """Called by Supervisor.publish for every event (the loop's thread); cheap and never raises."""
        try:
            self._send(self.engine.observe(ev, now=time.time()))
        except Exception as e:
            self._note(f"alerts: rule engine failed on {ev.type}: {type(e).__name__}: {e}", logging.ERROR)

    async def run(self, state: Callable[[], str]) -> None:
        """The periodic check, until cancelled."""
        self._loop = asyncio.get_running_loop()
        if not self.settings.enabled:
            return
        while True:
            await asyncio.sleep(self.check_interval)
            try:
                facts = await self._loop.run_in_executor(None, self.facts, state())
                self._send(self.engine.check(facts))
            except asyncio.CancelledError:
                raise
            except Exception as e:
                self._note(f"alerts: check failed: {type(e).__name__}: {e}", logging.WARNING)

    def start(self, state: Callable[[], str]) -> asyncio.Future:
        self._loop = asyncio.get_running_loop()
        return asyncio.ensure_future(self.run(state))

    # ------------------------------------------------------------------ facts (worker thread)
    def facts(self, state: str) -> Facts:
        on = set(self.settings.conditions)
        disk_free = backup = signin_req = chain_round = None
        if "disk" in on:
            with contextlib.suppress(OSError):
                disk_free = shutil.disk_usage(self.paths.root).free
        if "backup" in on and self.paths.swarm_pem.exists() and not is_demo_peer(self.profile):
            from core.identity.backup import backup_state

            with contextlib.suppress(Exception):
                backup = backup_state(self.profile).get("state") == "verified"
        if "sign_in" in on:
            from core.identity import signin

            with contextlib.suppress(Exception):
                req = signin.required(self.profile)
                signin_req = {"reason": req["reason"], "fix": signin.command(self.profile)} if req else None
        if "behind" in on and state == "running":
            chain_round = self.chain_round()
        return Facts(now=time.time(), state=state, disk_free_bytes=disk_free, disk_path=str(self.paths.root),
                     backup_verified=backup, signin_required=signin_req, chain_round=chain_round,
                     round_seconds=self.round_seconds)

    def chain_round(self) -> int | None:
        """The coordinator's currentRound() (one eth_call, at most every CHAIN_ROUND_EVERY s); None if unknown."""
        now = time.monotonic()
        if self._chain_round_at and now - self._chain_round_at < CHAIN_ROUND_EVERY:
            return self._chain_round
        self._chain_round_at = now
        try:
            net = self.network
            if net is None:
                return None
            rpc, coord = net.rpc_url, net.coordinator
            if net.kind == "local":  # the local chain's files (core.chain.devnet writes them), read as data:
                d = _paths.network_dir(net.name)  # importing core.chain here would cost ~15 MiB per supervisor
                rec = procs.read_record(d / "runtime.json")
                rpc = rec.get("rpc_url") if rec else None
                coord = json.loads((d / "deployment.json").read_text()).get("coordinator")
            if not rpc or not coord:
                return None
            self._chain_round = int(_eth_call(str(rpc), str(coord), CURRENT_ROUND_SELECTOR), 16)
        except Exception:
            self._chain_round = None
        return self._chain_round

    def close(self) -> None:
        self.sender.close(timeout=10.0)
