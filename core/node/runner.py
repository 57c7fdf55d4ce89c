"""One swarm node: identity + DHT + training + chain, round after round, emitting typed events.

Run as the supervisor's child: `python -m core.node --profile NAME`. Child contract (see
core/supervisor/): typed events as JSON lines on stdout, human logs on stderr, SIGTERM = finish
the current phase, checkpoint and exit 0; exit 42 = out of memory (after an `oom` event);
exit 78 = a user error a restart cannot fix (after an `error` event naming the fix).

One round:
  follow the round from the chain (or the wall clock on a chain-less swarm) -> draw I questions
  (seeded by round + peer id) -> G completions each, verifier rewards -> publish to the DHT ->
  fetch peers' rollouts, drop zero-advantage ones, sample J -> one GRPO update -> queue the
  reward and winner vote (idempotent, persisted) -> checkpoint (write-then-rename) -> events.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import signal
import sys
import threading
import time
from dataclasses import dataclass, replace

from core.identity import files as identity
from core.base.constants import EXIT_CONFIG, EXIT_OOM, TINY_MODEL, local_cpu_model
from core.base.errors import SwarmdeckError, SwarmError, message_of
from core.base.i18n import M
from core.events.log import EventBus
from core.events.types import (
    ChainTotals, CheckpointSaved, ErrorEvent, Event, HfPush, LogEvent, ModelBuild, NodeIdentity, NodeMode, NodeState, Oom,
    PeersUpdate, PeerTrust, RolloutsFetched, RolloutsShared, RoundFinished, RoundStarted, TrainStep,
)
from core.node.roles import is_designated_bootnode

log = logging.getLogger("swarmdeck.node")

PEERS_IN_EVENT = 50  # peers listed in a peers.update event (all are counted in its "total")


@dataclass
class NodeOptions:
    bootnode: bool = False          # publish this node as the swarm's bootnode (local network)
    share_wait: float | None = None  # seconds to wait for peers' rollouts (None = from round length)
    poll: float = 0.5               # round polling period (seconds)
    max_rounds: int | None = None   # stop after this many trained rounds (tests, benchmarks)


class StopRequested(Exception):
    pass


class Node:
    def __init__(self, profile, bus: EventBus, options: NodeOptions | None = None,
                 stop_event: threading.Event | None = None):
        self.profile = profile
        self.bus = bus
        self.opts = options or NodeOptions()
        self.stop_event = stop_event or threading.Event()
        self.paths = profile.paths
        self.settings = profile.settings
        self.net = profile.network
        # The seed's "testnet participation" answer (N = train in the swarm, nothing on chain),
        # recorded by the setup wizard in the profile state.
        from core.identity.profiles import read_state

        self.chain_enabled = bool(read_state(profile.name).get("testnet_participation", True))
        if self.net.kind == "local" and not self.opts.bootnode:
            self.opts.bootnode = is_designated_bootnode(profile.name)
        self.dht = None
        self.engine = None
        self.coordinator = None
        self.queue = None
        self.checkpoints = None
        self.pusher = None
        self.last_round: int | None = None
        self.rounds_done = 0
        self._refused_seen = 0  # the DHT layer's refused-record count at the previous round
        self._lock = None
        self._chain_warned = False
        self._boot_used: list[str] = []
        self._uses_app = False  # writes go through the official sign-in app this node started
        self.sharing = None       # core.node.sharing.VerifiedSharing, set with the engine

    # ------------------------------------------------------------------ helpers
    def emit(self, ev: Event) -> None:
        self.bus.emit(ev)

    def _check_stop(self) -> None:
        if self.stop_event.is_set():
            raise StopRequested()

    def _sleep(self, seconds: float) -> None:
        if self.stop_event.wait(seconds):
            raise StopRequested()

    def _training_settings(self):
        """Profile training settings with the supervisor's OOM step-downs applied."""
        t = self.settings.training
        quant = self.settings.quant
        try:
            ov = json.loads(os.environ.get("SWARMDECK_DOWNSHIFT") or "{}")
        except ValueError:
            ov = {}
        if ov:
            quant = ov.get("quant", quant)
            t = replace(t, generations=int(ov.get("generations", t.generations)),
                        max_new_tokens=int(ov.get("max_new_tokens", t.max_new_tokens)))
            log.warning("running stepped down after an out-of-memory: %s", ov)
        return t, quant

    # ------------------------------------------------------------------ start-up
    def start(self) -> None:
        p = self.profile
        self.emit(NodeState(state="starting"))
        identity.assert_no_duplicates(p.name)
        self._lock = identity.NodeLock(self.paths).acquire()
        ident = identity.load_or_create_swarm_pem(self.paths.swarm_pem)
        self.peer_id = ident.peer_id
        self.emit(NodeIdentity(peer_id=ident.peer_id, display_name=ident.display_name))
        log.info("identity %s (%s)", ident.peer_id, ident.display_name)

        if self.chain_enabled:
            from core.login.coordinator import make_coordinator
            from core.chain.queue import SubmissionQueue

            if self.net.kind == "local" and self.settings.backend == "modal-login":
                # Writes go through the profile's login service: make sure it runs (it may have
                # been stopped, or the machine rebooted since the sign-in).
                from core.login.service import ensure_service

                ensure_service(self.paths, port=self.settings.login_port, network=self.net.name)
            elif self.settings.backend == "modal-login" and self.settings.login_app:
                # The official sign-in app signs this node's writes: (re)start it with the profile's
                # credentials put back into its temp-data/ (no new browser sign-in after a restart).
                from core.login import modal_app

                app = modal_app.ensure_running(p, progress=self._app_progress, stop=self.stop_event)
                log.info("sign-in app at %s (%s)", app.url, "started" if app.started else "already running")
                self._uses_app = True
            from core.identity import signin

            self.coordinator = make_coordinator(p)
            # A stale session key ("signin" replies) makes the queue wait for a new sign-in while
            # this node keeps training and sharing rollouts; the profile state says "sign in again".
            self.queue = SubmissionQueue(self.coordinator, self.paths.queue_dir, bus=self.bus,
                                         identity_dir=self.paths.identity_dir, on_signin=self._on_signin,
                                         signin_required=signin.required(p.name), profile=p.name).start()
        self._start_dht()
        # Past its start, not running yet: the model still loads (or, once per recipe, the demo model is
        # built: minutes). The supervisor and the alert rules say `preparing` until the `running` below,
        # so no "no round progress" alarm counts the build.
        self.emit(NodeState(state="preparing", reason=M("event.loading_model")))
        if self.chain_enabled:
            self.queue.register(self.peer_id)
        self._start_training()
        self.emit(NodeState(state="running"))

    def _keep_app_up(self) -> None:
        """Start the sign-in app again when it died (killed, out of memory): the writes need it.
        Its port may change, so the coordinator follows the new URL."""
        if not self._uses_app:
            return
        from core.login import modal_app

        if modal_app.running_app(self.paths, timeout=10.0) is not None:  # busy is not dead
            return
        self.emit(LogEvent(level="warning", message=M("event.app_down")))
        try:
            app = modal_app.ensure_running(self.profile, progress=self._app_progress, stop=self.stop_event)
        except SwarmdeckError as e:
            self.emit(ErrorEvent(where=e.part("where") or M("event.err.sign_in_app"), what=e.part("what"),
                                 fix=e.part("fix") or M("event.err.see_file", path=str(modal_app.log_file(self.paths)))))
            return
        if hasattr(self.coordinator, "login_url"):
            self.coordinator.login_url = app.url
        self.emit(LogEvent(level="info", message=M("event.app_again", url=app.url)))

    def _app_progress(self, step: str, **kw) -> None:
        if "line" in kw:
            log.debug("sign-in app %s: %s", step, kw["line"])
        else:
            log.info("sign-in app: %s %s", step, " ".join(f"{k}={v}" for k, v in kw.items()))

    def _on_signin(self, info: dict | None) -> None:
        """The queue's sign-in hook: record (or clear) the profile's "sign in again" state."""
        from core.identity import signin

        name = self.profile.name
        signin.record(name, info)
        if info is None:
            self.emit(LogEvent(level="info", message=M("event.signin_ok")))
            return
        self.emit(LogEvent(level="warning", message=M("event.signin_wait", reason=info["reason"],
                                                      command=signin.command(name))))

    def _bootnodes(self) -> list[str]:
        configured = list(getattr(self.net, "bootnodes", ()) or ())
        if configured or self.opts.bootnode or self.coordinator is None:
            return configured
        try:
            found = self.coordinator.get_bootnodes()
        except Exception as e:  # RPC down: start alone; peers find us through our heartbeat later
            log.warning("could not read bootnodes from the chain (%s); starting without", e)
            return []
        # Our own old entries (a restarted bootnode) are dead addresses: skip them.
        return [a for a in found if not a.endswith("/p2p/" + self.peer_id)]

    def _start_dht(self) -> None:
        from core.swarm.dht import SwarmDHT

        peers = self._bootnodes()
        try:
            self.dht = SwarmDHT.from_profile(self.profile, bootnodes=peers)
        except SwarmError as e:
            if getattr(e, "cause", "") != "bootnodes":
                raise
            if self.net.kind != "local":
                # A hosted swarm's bootnode is down: wait for it (saying for how long), do not crash-loop.
                peers = self._wait_for_bootnodes(peers, e)
        if self.dht is None:
            # On the local network a dead bootnode (stopped, or an address from an earlier run)
            # must not keep the swarm down: start a new swarm here and publish it.
            self.emit(ErrorEvent(where=", ".join(peers)[:300], what=M("event.err.no_local_bootnode"),
                                 fix=M("event.err.no_local_bootnode_fix")))
            peers = []
            self.dht = SwarmDHT.from_profile(self.profile, bootnodes=[])
            self.opts.bootnode = True
        self._boot_used = list(peers)
        maddrs = self.dht.multiaddrs
        log.info("DHT up, %d bootnode(s), listening on %s", len(peers), ", ".join(maddrs[:2]))
        if (self.opts.bootnode or not peers) and self.net.kind == "local":
            self._publish_bootnode(maddrs)

    def _wait_for_bootnodes(self, peers: list[str], err: SwarmError) -> list[str]:
        """No bootnode answers and this network has no stand-in: retry with backoff (re-reading the chain's
        list, which the host updates) until one answers or we are stopped. Each failure is an error event
        that says how long the bootnodes have been unreachable and where to look on the host."""
        from core.swarm.dht import SwarmDHT

        t0 = time.monotonic()
        delay = 5.0
        while True:
            gone = time.monotonic() - t0
            since = f"{gone:.0f} s" if gone < 120 else f"{gone / 60:.0f} min"
            self.emit(ErrorEvent(where=", ".join(peers)[:300] or "-",
                                 what=M("event.err.bootnodes_unreachable", since=since, error=err.what),
                                 fix=M("event.err.bootnodes_unreachable_fix")))
            log.warning("no bootnode answers for %s; retrying in %.0f s", since, delay)
            self._sleep(delay)
            delay = min(60.0, delay * 2)
            peers = self._bootnodes() or peers
            try:
                self.dht = SwarmDHT.from_profile(self.profile, bootnodes=peers)
                log.info("a bootnode answers again after %.0f s", time.monotonic() - t0)
                return peers
            except SwarmError as e:
                if getattr(e, "cause", "") != "bootnodes":
                    raise
                err = e

    def _publish_bootnode(self, maddrs: list[str]) -> None:
        """On the local network the first node (or the designated one) is the bootnode: put it on chain."""
        try:
            from core.chain.devnet import LocalChain

            from core.swarm.addrs import replace_own_entries

            chain = LocalChain.attach(self.net.name)
            mine = [m for m in maddrs if "/ip4/127.0.0.1/" in m] or maddrs
            # the designated bootnode replaces stale entries of earlier runs; any other replaces its own
            # (a restart on a new port must not leave the dead address listed first)
            current = [] if self.opts.bootnode else list(chain.contract.functions.getBootnodes().call())
            wanted = replace_own_entries(current, mine, self.peer_id)
            if self.opts.bootnode or current:
                chain.clear_bootnodes()
            chain.add_bootnodes(wanted)
            log.info("published this node as a bootnode on the local chain")
        except Exception as e:
            log.warning("could not publish this node as bootnode: %s", e)

    def _start_training(self) -> None:
        from core.training.checkpoint import CheckpointManager
        from core.training.grpo import GRPOConfig, GRPOEngine
        from core.training.model import LoraSettings, load_model

        t, quant = self._training_settings()
        name = self._model_name()
        from core.training.demo import apply_demo_defaults, is_demo_model

        demo = is_demo_model(name)
        if demo:
            t, changed = apply_demo_defaults(t)
            if changed:
                log.info("demo model: using its training settings %s", changed)
        mix = t.task_mix if t.task_mix != "auto" else ("demo" if demo else "composite")
        loaded = load_model(name, quant, lora=LoraSettings(r=t.lora_rank, alpha=t.lora_alpha),
                            cpu_threads=self._cpu_threads())
        self.emit(NodeMode(**loaded.mode_event(), model=self.model_label or name))
        log.info("model %s: %s on %s (%s)", name, loaded.mode, loaded.device, loaded.reason)
        cfg = GRPOConfig(questions_local=t.questions_local, questions_external=t.questions_external,
                         num_generations=t.generations, max_new_tokens=t.max_new_tokens,
                         max_prompt_tokens=t.max_prompt_tokens, learning_rate=t.learning_rate,
                         epsilon_low=t.epsilon_low, epsilon_high=t.epsilon_high, beta=t.beta,
                         temperature=t.temperature, seed=t.seed, verify_external=bool(t.verify_peers))
        from core.training.tasks import task_pool

        self.engine = GRPOEngine(loaded, cfg, tasks=task_pool(mix), peer_id=self.peer_id)
        from core.node.sharing import VerifiedSharing
        from core.swarm.trust import PeerTrust
        from core.training.verify import TRUST_REASONS

        trust = PeerTrust(strikes=t.peer_strikes, cool_off=t.peer_cool_off_rounds, strike_reasons=TRUST_REASONS)
        self.sharing = VerifiedSharing(self.dht, self.engine.verify_external, trust, on_ignored=self._on_peer_ignored,
                                       sleep=self._sleep, fetch=self._fetch_recent, gate=self._registered_gate(t))
        self.checkpoints = CheckpointManager(self.paths.checkpoints_dir)
        info = self.checkpoints.load_latest(self.engine.model, self.engine.optimizer)
        if info is not None:
            self.last_round = info.round
            self.emit(LogEvent(level="info", message=M("event.resumed", round=info.round)))
        self._setup_hf_push(t)

    def _registered_gate(self, t):
        """The registered-peers-only gate (core.node.sharing.RegisteredGate), where it applies: on by default
        for hosted swarms (a network with a coordinator, not the local one); needs this node's chain client."""
        mode = getattr(t, "registered_peers_only", "auto")
        on = mode == "on" or (mode == "auto" and self.net.kind != "local" and bool(getattr(self.net, "coordinator", "")))
        if not on:
            return None
        if self.coordinator is None:
            log.warning("registered_peers_only is on but this node has no chain client (testnet participation off): "
                        "peers are not checked against the coordinator")
            return None
        from core.node.sharing import RegisteredGate

        return RegisteredGate(self.coordinator)

    def _cpu_threads(self) -> int | None:
        """Torch threads on CPU. A local network runs several nodes on one machine: torch's default
        (all cores each) makes them fight, ~20x slower rounds measured on 2 cores."""
        env = os.environ.get("SWARMDECK_CPU_THREADS")
        if env and env.isdigit() and int(env) > 0:
            return int(env)
        if self.net.kind == "local":
            return max(1, (os.cpu_count() or 2) // 2)
        return None

    model_label: str | None = None  # the model's name as the user knows it (the dashboard shows it)

    def _model_name(self) -> str:
        name = self.settings.model
        if name == "auto":
            from core.hardware.probe import recommend_for

            rec = recommend_for(tuple(self.settings.gpus))
            # With no GPU on the local network, the demo model keeps rounds to seconds and learns.
            local = local_cpu_model()
            name = local if (rec.cpu_mode and self.net.kind == "local") else rec.model
        self.model_label = name
        if name == TINY_MODEL:
            from core.training.tiny import ensure_tiny_model

            return str(ensure_tiny_model())
        from core.training.demo import DEMO_ALIASES, demo_model_dir, ensure_demo_model, shipped_demo_model_matches

        if name in DEMO_ALIASES:
            self.model_label = "demo"
            if not (demo_model_dir() / "swarmdeck-demo.json").is_file() and not shipped_demo_model_matches():
                self.emit(LogEvent(level="info", message=M("event.building_demo")))
            return str(ensure_demo_model(progress=lambda m: log.info("demo model: %s", m),
                                         on_step=self._build_progress("demo")))
        return name

    def _build_progress(self, model: str):
        """on_step for a model build: a `model.build` event (step, steps, ETA) at most every 2 s, and the last."""
        last = [0.0]

        def on_step(step: int, steps: int, elapsed: float) -> None:
            now = time.monotonic()
            if step < steps and now - last[0] < 2.0:
                return
            last[0] = now
            eta = elapsed / step * (steps - step) if step else None
            self.emit(ModelBuild(model=model, step=step, steps=steps, elapsed_s=round(elapsed, 1),
                                 eta_s=round(eta, 1) if eta is not None else None))
        return on_step

    def _setup_hf_push(self, t) -> None:
        repo = self.settings.hf_repo
        token_file = self.paths.secrets_dir / "hf_token"
        if not repo or not token_file.exists():
            return
        from core.training.hf_push import HubPusher

        self.pusher = HubPusher(repo, token_file.read_text().strip(), every=t.hf_push_every,
                                on_result=lambda r, status, reason=None: self.emit(
                                    HfPush(round=r, status=status, reason=reason or "")))

    # ------------------------------------------------------------------ rounds
    def current_round(self) -> tuple[int, int]:
        if self.coordinator is None:
            rs = float(getattr(self.net, "round_seconds", 60.0) or 60.0)
            return int(time.time() // rs), 0
        r, s = self.coordinator.current_round(), self.coordinator.current_stage()
        self._chain_warned = False
        return int(r), int(s)

    def _wait_for_new_round(self) -> tuple[int, int]:
        while True:
            self._check_stop()
            if self.queue is not None and self.queue.identity_error is not None:
                # Our peer id belongs to another account on chain: nothing this node does would
                # count. Stop loudly (exit 78: the supervisor does not retry) instead of training on.
                raise self.queue.identity_error
            try:
                r, s = self.current_round()
            except Exception as e:
                if not self._chain_warned:
                    self._chain_warned = True
                    self.emit(ErrorEvent(where=str(getattr(self.net, "rpc_url", "chain")),
                                         what=M("event.err.chain_round", error=message_of(e)),
                                         fix=M("event.err.chain_round_fix")))
                self._sleep(min(5.0, self.opts.poll * 4))
                continue
            if self.last_round is None or r > self.last_round:
                return r, s
            self._sleep(self.opts.poll)

    def _maybe_rejoin(self) -> None:
        """Join the swarm's new entry point when the chain's bootnode list changed under us.

        A restarted bootnode (new port) starts a fresh DHT and republishes itself; peers that
        kept running are still connected to each other but not to it, and would stay two
        swarms for good. One chain read per round notices the change; the DHT process is
        restarted with the new bootnodes (same identity, caller state kept).
        """
        if self.coordinator is None or self.dht is None or getattr(self.net, "bootnodes", ()):
            return
        try:
            current = [a for a in self.coordinator.get_bootnodes() if not a.endswith("/p2p/" + self.peer_id)]
        except Exception:
            return
        if not current or set(current) == set(self._boot_used):
            return
        self._boot_used = current
        self.emit(LogEvent(level="info", message=M("event.bootnode_changed")))
        try:
            self.dht.initial_peers = list(current)
            self.dht.restart()
        except SwarmError as e:
            self.emit(ErrorEvent(where=", ".join(current)[:300], what=M("event.err.rejoin", error=e.part("what")),
                                 fix=e.part("fix") or M("event.err.transient_next_round")))
            if not self.dht.is_alive():  # nothing reachable: keep a DHT of our own rather than none
                self.dht.initial_peers = []
                self.dht.restart()

    def _link_peers(self) -> None:
        """Across machines, dial the peers heard of (heartbeats) and the bootnodes directly, so rollouts
        do not all pass through the bootnode and a restarted bootnode is linked up again (core.swarm.reach)."""
        if self.dht is None or self.net.kind == "local":
            return
        from core.swarm import reach

        reach.dial_known(self.dht, extra=self._boot_used)

    def _share_wait(self) -> float:
        if self.opts.share_wait is not None:
            return self.opts.share_wait
        rs = float(getattr(self.net, "round_seconds", 60.0) or 60.0)
        return max(2.0, min(30.0, rs * 0.3))

    def run_round(self, r: int, stage: int) -> None:
        t0 = time.monotonic()
        self.emit(RoundStarted(round=r, stage=stage))
        eng = self.engine
        gen = eng.generate(eng.draw_questions(r), r)
        local = gen.rollouts
        self._check_stop()
        try:
            pub = self.dht.publish_rollouts(r, local)
            self.emit(RolloutsShared(round=r, bytes=pub.bytes, chunks=pub.chunks))
        except SwarmError as e:  # peers miss our rollouts this round; we still train and report
            self.emit(ErrorEvent(where="DHT", what=M("event.err.share", error=e.part("what")),
                                 fix=e.part("fix") or M("event.err.transient_retry")))

        # Take J of the peers' rollouts (the DHT layer draws them among the useful groups it can see and
        # downloads only those). Poll until J are in hand, or every peer we know of has published and
        # nothing more is left to choose, or the share wait is over.
        # Every group downloaded is regenerated and re-scored (core.node.sharing, core.training.verify):
        # groups refused, or flat on OUR rewards, do not count towards J, so the fetch asks the DHT for as
        # many more as were lost, until J useful ones are in hand, or every peer we know of has published
        # and nothing more is left to choose, or the share wait is over.
        deadline = time.monotonic() + self._share_wait()
        want = int(eng.config.questions_external)
        known = {p["peer_id"] for p in self.dht.peers(refresh=True) if time.time() - p["last_seen"] < 300}
        take = self.sharing.fetch(r, want, deadline, known)
        fetched, candidates = take.fetched, take.candidates
        external = eng.select_external(candidates, r)
        verify_s = take.verify_seconds + (eng.last_verify.seconds if eng.last_verify is not None else 0.0)
        # peers' groups refused this round: by verification (regenerated and re-scored here), and records
        # the DHT layer refused (bad signature, wrong version, junk) since the previous round
        refused_records = self.dht.rejected.total - self._refused_seen
        self._refused_seen = self.dht.rejected.total
        rep = eng.last_verify
        refused_from = {p: sum(c.values()) for p, c in (rep.by_peer.items() if rep is not None else ())}
        refused_now = max(0, refused_records) + sum(refused_from.values())
        # n_candidates: the peers' groups on offer (useful or not); only the J drawn were downloaded.
        self.emit(RolloutsFetched(round=r, peers=len(fetched), n_external=len(external),
                                  n_candidates=max(take.offered, len(candidates)), rejected=self.dht.rejected.total,
                                  requests=take.requests, bytes=take.bytes, choosable=take.choosable,
                                  filtered=take.filtered, useful=take.useful,
                                  refused=dict(eng.last_verify.refused) if eng.last_verify is not None else {}))
        trust_ev = self.sharing.trust_event(r)
        if trust_ev is not None:
            self.emit(trust_ev)
        if not fetched:
            log.info("round %d: no peer rollouts arrived; training on local rollouts only", r)
        peers = self.dht.peers(refresh=False)
        # the newest ones in full (the dashboard shows a few), the count of all: keeps each
        # event small in a swarm of thousands
        self.emit(PeersUpdate(peers=peers[:PEERS_IN_EVENT], total=len(peers)))

        self._check_stop()
        m = eng.train(local, external, gen)
        self.emit(TrainStep(round=r, loss=float(m.loss), step_seconds=float(m.step_seconds),
                            tokens_per_s=float(m.generate_tokens_per_s), skipped=m.skipped))

        reward = float(m.reward_local)
        if self.queue is not None:
            # One reward per round, at stage 0, as the official nodes report it: the coordinator refuses a
            # stage above its current one even for a past round, so a later stage seen at round start could
            # be refused by the time the queue delivers it.
            self.queue.reward(r, 0, reward, self.peer_id)
            verified: dict[str, list] = {}
            for ro in (eng.last_verify.accepted if eng.last_verify is not None else ()):
                verified.setdefault(ro.peer_id, []).append(ro)
            self.queue.winners(r, self._winners(local, verified), self.peer_id)
        if self.checkpoints is not None and (r % max(1, self.settings.training.checkpoint_every) == 0
                                             or self.stop_event.is_set()):
            path = self.checkpoints.save(eng.model, eng.optimizer, r)
            self.emit(CheckpointSaved(round=r, path=str(path)))
            if self.pusher is not None and self.pusher.due(r):
                self.pusher.maybe_push(r, path)  # background; the result arrives as an hf.push event
        self._emit_chain_totals()
        self.last_round = r
        self.rounds_done += 1
        secs = round(time.monotonic() - t0, 3)
        taken: dict[str, int] = {}
        for ro in external:
            taken[ro.peer_id] = taken.get(ro.peer_id, 0) + 1
        self.emit(RoundFinished(round=r, stage=stage, reward=reward, n_local=len(local),
                                n_external=len(external), peers=len(fetched), seconds=secs,
                                verify_seconds=round(verify_s, 4),
                                verify_pct=round(100.0 * verify_s / secs, 3) if secs > 0 else None,
                                useful_own=sum(1 for ro in local if ro.has_signal()),
                                useful_peers=sum(1 for ro in external if ro.has_signal()),
                                refused=refused_now, taken_from=taken, refused_from=refused_from))
        # One human line per round for the dashboard's log pane (the numbers above, in words).
        self.emit(LogEvent(level="info", message=M(
            "event.round_done", round=r, reward=reward, n_local=len(local), n_external=len(external),
            peers=len(fetched), seconds=secs,
            outcome=M("event.no_signal") if m.skipped else M("event.loss", loss=float(m.loss)))))

    # ------------------------------------------------------------------ verified sharing
    def _peer_allowed(self, peer: str) -> bool:
        return self.sharing is None or self.sharing.peer_allowed(peer)

    def _on_peer_ignored(self, entry, r: int) -> None:
        """Logged once per verdict, not every round (core.swarm.trust)."""
        self.emit(LogEvent(level="warning", message=M(
            "event.peer_ignored", peer=entry.peer_id, reason=M(f"event.trust_reason.{entry.reason}"),
            rounds=entry.until_round - r)))

    def _emit_chain_totals(self) -> None:
        """This peer's totals as the chain has them (what leaderboards show), for the dashboard."""
        if self.coordinator is None:
            return
        from core.chain import reward_from_chain

        try:
            total = self.coordinator.get_total_rewards([self.peer_id])[0]
            wins = self.coordinator.get_total_wins(self.peer_id)
        except Exception:  # RPC down: the next round tries again
            return
        self.emit(ChainTotals(total_reward=reward_from_chain(total), total_wins=int(wins)))

    def _fetch_recent(self, r: int, want: int, timeout: float) -> dict[str, list]:
        """`want` peers' rollouts of this round, or of the previous one.

        Nodes on slow hardware finish rounds late and skip ahead to the chain's current round,
        so peers are often one round apart; a finished round's rollouts are still good SAPO
        data (question, completions, verifier rewards), so a peer missing from round r is
        taken from round r-1 (fetch_rollouts reads both).
        """
        try:
            return self.dht.fetch_rollouts(r, timeout=timeout, want=want, previous=True)
        except SwarmError as e:
            self.emit(ErrorEvent(where="DHT", what=M("event.err.fetch", error=e.part("what")),
                                 fix=e.part("fix") or M("event.err.transient_local")))
            return {}

    def _winners(self, local, verified: dict[str, list]) -> list[str]:
        """Vote for the peer whose rollouts scored best this round (ourselves included).

        Peers are scored on the groups this node verified (its own verifier's rewards), never on what a
        manifest claims: a peer that claims perfect rewards would otherwise win every vote."""
        def mean(rs):
            vals = [x for r in rs for x in r.rewards]
            return sum(vals) / len(vals) if vals else 0.0

        scores = {self.peer_id: mean(local)}
        scores.update({p: mean(rs) for p, rs in verified.items() if p != self.peer_id and self._peer_allowed(p)})
        return [max(sorted(scores), key=lambda p: scores[p])]

    def run(self) -> None:
        try:
            self.start()
            while self.opts.max_rounds is None or self.rounds_done < self.opts.max_rounds:
                r, s = self._wait_for_new_round()
                self._maybe_rejoin()
                self._link_peers()
                self._keep_app_up()
                self.run_round(r, s)
        except StopRequested:
            pass
        finally:
            self.shutdown()

    def shutdown(self) -> None:
        self.emit(NodeState(state="stopping"))
        if self.queue is not None:
            self.queue.flush(timeout=10.0)
            self.queue.stop(timeout=5.0)
        if self.pusher is not None:
            self.pusher.wait(timeout=10.0)
        if self.dht is not None:
            self.dht.shutdown()
        if self.coordinator is not None:
            self.coordinator.close()
        if self._lock is not None:
            self._lock.release()
        self.emit(NodeState(state="stopped"))


# ---------------------------------------------------------------------- entry point

def _is_oom(e: BaseException) -> bool:
    try:
        import torch

        if isinstance(e, torch.OutOfMemoryError):
            return True
    except Exception:
        pass
    return isinstance(e, MemoryError) or "out of memory" in str(e).lower()


def main(argv: list[str] | None = None, out=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m core.node", description="Run one swarm node (the supervisor's child).")
    ap.add_argument("--profile", "-p", default=None, help="profile name (default: the current profile)")
    ap.add_argument("--bootnode", action="store_true", help="publish this node as the local swarm's bootnode")
    ap.add_argument("--max-rounds", type=int, default=None, help="stop after N rounds (tests)")
    ap.add_argument("--share-wait", type=float, default=None, help="seconds to wait for peers' rollouts")
    args = ap.parse_args(argv)

    out = out or sys.stdout
    logging.basicConfig(level=os.environ.get("SWARMDECK_LOG_LEVEL", "INFO"), stream=sys.stderr,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    from core.training.quiet import quiet_optional_warnings

    quiet_optional_warnings()
    from core.identity.profiles import load_profile

    write_lock = threading.Lock()

    def to_stdout(ev) -> None:
        with write_lock:
            out.write(ev.to_json() + "\n")
            out.flush()

    stop = threading.Event()
    bus = EventBus()
    bus.subscribe(to_stdout)

    def on_term(signum, frame) -> None:
        log.info("signal %d: finishing the current step, then stopping", signum)
        stop.set()

    signal.signal(signal.SIGTERM, on_term)
    signal.signal(signal.SIGINT, on_term)
    try:
        profile = load_profile(args.profile)
        bus.profile = profile.name
        node = Node(profile, bus, NodeOptions(bootnode=args.bootnode, max_rounds=args.max_rounds,
                                              share_wait=args.share_wait), stop)
        node.run()
        return 0
    except SwarmdeckError as e:
        bus.emit(ErrorEvent(where=e.part("where") or "", what=e.part("what"), fix=e.part("fix") or ""))
        log.error("%s", e)
        # A config/identity problem survives a restart; a network one may not.
        from core.base.errors import ChainError

        transient = isinstance(e, (SwarmError, ChainError)) and getattr(e, "retriable", True)
        return 1 if transient else EXIT_CONFIG
    except BaseException as e:  # noqa: BLE001 - the supervisor must learn why
        if _is_oom(e):
            bus.emit(Oom(kind="cuda" if "cuda" in str(e).lower() else "memory", what=str(e)[:300]))
            log.error("out of memory: %s", e)
            return EXIT_OOM
        if isinstance(e, KeyboardInterrupt):
            return 0
        bus.emit(ErrorEvent(where="node", what=f"{type(e).__name__}: {e}"[:500], fix=M("event.err.bug")))
        log.exception("node crashed")
        return 1


if __name__ == "__main__":
    sys.exit(main())
