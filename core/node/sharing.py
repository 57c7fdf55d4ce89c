"""Verified sharing, the node's side: fetch peers' groups, verify each, keep score of the peers, and
fetch more when verification leaves fewer than J useful groups.

The node loop (core.node.runner) and the poisoner test drive the same object:
  take = sharing.fetch(round, want=J, deadline)   # poll the DHT; every group verified as it arrives
  external = engine.select_external(take.candidates, round)   # verify (cached) + SAPO draw
  sharing.trust_event(round)                      # what the dashboard / status / alerts show

`verify` is GRPOEngine.verify_external (core.training.verify: regenerate the question from its
provenance, re-score every completion with this node's verifier); `trust` is core.swarm.trust.PeerTrust.
The DHT's peer_filter is set here, so an ignored peer's groups are not even downloaded.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Callable, Iterable

from core.events.types import PeerTrust as PeerTrustEvent
from core.swarm.trust import Ignored, PeerTrust


@dataclass
class Take:
    """One round's fetch: what arrived, what verification made of it, and what it cost."""

    fetched: dict[str, list] = field(default_factory=dict)   # peer -> groups downloaded (this round's session)
    candidates: list = field(default_factory=list)           # the same minus ignored peers' groups
    useful: int = 0                                          # groups that passed verification with signal
    verify_seconds: float = 0.0                              # regeneration + re-scoring time
    refused: dict = field(default_factory=dict)              # reason -> groups refused this round
    requests: int = 0
    bytes: int = 0
    choosable: int = 0
    filtered: int = 0
    offered: int = 0


ZERO_ADDRESS = "0x0000000000000000000000000000000000000000"


class RegisteredGate:
    """Registered peers only: a peer id the swarm's coordinator contract has no EOA for is refused.

    Bounds sybils by what registration costs (faucet limits on hosted swarms). Read through the chain
    client's getEoa, batched and cached: a registered peer for `keep_rounds` rounds, an unregistered one
    (or one whose lookup failed) for the current round only; at most `max_lookups` peer ids looked up per
    round, so a flood of fresh keys costs a bounded number of RPC calls (the rest wait for a later round,
    refused meanwhile). A lookup that fails (RPC down) refuses the peers it could not check for this
    round (fail closed: an attacker cannot get in by making the RPC slow) and is counted in `errors`;
    registered peers already cached keep passing.
    """

    def __init__(self, coordinator, max_lookups: int = 64, keep_rounds: int = 10, batch: int = 32):
        self.coordinator = coordinator
        self.max_lookups = max(1, int(max_lookups))
        self.keep_rounds = max(1, int(keep_rounds))
        self.batch = max(1, int(batch))
        self._yes: dict[str, int] = {}      # peer -> round it was last seen registered
        self._no: dict[str, int] = {}       # peer -> round it was found unregistered (or unchecked)
        self._round = -1
        self._looked_up = 0
        self.lookups = 0                    # peer ids looked up, all rounds (cost)
        self.calls = 0                      # RPC calls made
        self.errors = 0
        self.refused = 0                    # distinct (peer, round) refusals

    def begin_round(self, r: int, peers: Iterable[str] = ()) -> None:
        """A new round: forget stale verdicts and look the given peers up in batches (within the budget)."""
        if r != self._round:
            self._round, self._looked_up = r, 0
            self._no.clear()
            for p in [p for p, at in self._yes.items() if at <= r - self.keep_rounds]:
                del self._yes[p]
        self._lookup([p for p in peers if p not in self._yes and p not in self._no])

    def allowed(self, peer: str) -> bool:
        if peer in self._yes:
            return True
        if peer not in self._no:
            self._lookup([peer])
        if peer in self._yes:
            return True
        return False

    def _lookup(self, peers: list[str]) -> None:
        peers = list(dict.fromkeys(peers))
        room = self.max_lookups - self._looked_up
        todo, over = peers[:max(0, room)], peers[max(0, room):]
        for p in over:  # past this round's budget: refused until a later round checks it
            self._refuse(p)
        for i in range(0, len(todo), self.batch):
            part = todo[i:i + self.batch]
            self._looked_up += len(part)
            self.lookups += len(part)
            self.calls += 1
            try:
                eoas = list(self.coordinator.get_eoa(part))
            except Exception:
                self.errors += 1
                for p in part:
                    self._refuse(p)
                continue
            for p, eoa in zip(part, eoas):
                if eoa and str(eoa).lower() != ZERO_ADDRESS:
                    self._yes[p] = self._round
                else:
                    self._refuse(p)

    def _refuse(self, p: str) -> None:
        if p not in self._no:
            self._no[p] = self._round
            self.refused += 1


class VerifiedSharing:
    def __init__(self, dht, verify: Callable, trust: PeerTrust | None,
                 on_ignored: Callable[[Ignored, int], None] | None = None,
                 sleep: Callable[[float], None] = time.sleep, fetch: Callable | None = None,
                 gate: RegisteredGate | None = None):
        self.dht = dht
        self.gate = gate
        self.verify = verify
        self.trust = trust
        self.on_ignored = on_ignored
        self.sleep = sleep
        self._fetch = fetch or (lambda r, want, timeout: dht.fetch_rollouts(r, timeout=timeout, want=want,
                                                                           previous=True))
        self.round = 0                       # the round peer_filter judges by
        self._seen: dict[tuple, int] = {}    # (peer, round, reason) -> refusals already counted (bounded)
        dht.peer_filter = self.peer_allowed

    def peer_allowed(self, peer: str) -> bool:
        """SwarmDHT.peer_filter: False = do not download this peer's groups (ignored by peer trust, or not
        registered on the coordinator where the registered-peers-only gate is on)."""
        if self.trust is not None and self.trust.is_ignored(peer, self.round):
            return False
        return self.gate is None or self.gate.allowed(peer)

    def fetch(self, r: int, want: int, deadline: float, known: set[str] | None = None) -> Take:
        """Poll the DHT until `want` groups that pass verification with signal (on OUR rewards) are in hand,
        or every known peer has published and nothing is left to choose, or `deadline` (monotonic) passes.
        Each group refused or flat on our rewards is replaced by asking the DHT for one more."""
        self.round = r
        if self.gate is not None:
            self.gate.begin_round(r, known or ())
        take = Take()
        ask = want
        while True:
            fetched = self._fetch(r, ask, max(1.0, min(10.0, deadline - time.monotonic())))
            st = self.dht.last_fetch
            if st is not None:
                take.requests += st.requests
                take.bytes += st.bytes
                take.choosable = st.peers
                take.filtered = max(take.filtered, getattr(st, "filtered", 0))
                take.offered = st.offered
            take.fetched = fetched
            take.candidates = [ro for p, rs in fetched.items() if self.peer_allowed(p) for ro in rs]
            rep = self.verify(take.candidates)   # cached per group: polling re-checks nothing
            take.verify_seconds += rep.seconds
            take.refused = dict(rep.refused)
            self.count(rep, r)
            take.useful = sum(1 for x in rep.accepted if x.has_signal())
            have = sum(map(len, fetched.values()))
            more = want + (have - take.useful)
            if take.useful >= want or time.monotonic() >= deadline:
                break
            if more > ask and not (st is not None and st.complete and have < ask):
                ask = more
                continue
            waiting_for = {p for p in (known or ()) if self.peer_allowed(p)}  # an ignored peer is not awaited
            if known and st is not None and st.complete and waiting_for <= set(self.dht.last_manifests):
                break
            self.sleep(0.5)
        # a peer ignored during this fetch: drop what it sent before the verdict
        take.candidates = [ro for p, rs in take.fetched.items() if self.peer_allowed(p) for ro in rs]
        return take

    def count(self, rep, r: int) -> None:
        """Each refused group counts once against its peer; a peer newly ignored is reported once."""
        if self.trust is None:
            return
        seen = self._seen
        for peer, reasons in rep.by_peer.items():
            for reason, n in reasons.items():
                key = (peer, r, reason)
                new = n - seen.get(key, 0)
                if new <= 0:
                    continue
                seen[key] = n
                entry = self.trust.record(peer, reason, r, new)
                if entry is not None and self.on_ignored is not None:
                    self.on_ignored(entry, r)
        while len(seen) > 4096:
            seen.pop(next(iter(seen)))

    def trust_event(self, r: int) -> PeerTrustEvent | None:
        if self.trust is None:
            return None
        ignored = tuple({"peer_id": e.peer_id, "reason": e.reason, "since_round": e.since_round,
                         "until_round": e.until_round} for e in self.trust.ignored(r))
        refused = dict(self.trust.refused)
        if self.gate is not None and self.gate.refused:
            refused["unregistered"] = self.gate.refused  # peers refused before any download (not per group)
        return PeerTrustEvent(round=r, refused=refused, by_peer=self.trust.refused_peers(), ignored=ignored)
