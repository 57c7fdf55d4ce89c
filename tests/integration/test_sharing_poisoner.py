"""Verified sharing over a real hivemind DHT: 3 honest nodes and 1 poisoner, round after round.

The honest nodes are SwarmDHT peers on 127.0.0.1 that publish real reasoning-gym groups (questions drawn
from the demo mix, completions right and wrong, rewards from the verifier) and take peers' groups through
the node's own path: core.node.sharing.VerifiedSharing (fetch, verify, peer trust, fetch more) and the
SAPO draw. The poisoner is a raw hivemind peer (tests.helpers.dht_hostile.HostilePeer) that signs valid
records with its own key: real provenance, but every reward inverted, every reference answer rewritten
to match, and every group claimed useful (flat groups claim a winner). It publishes twice as many groups
as an honest node, so an honest J draw meets them every round.

Checked: no honest node ever selects a poisoned group; each marks the poisoner ignored within 3 rounds and
then downloads nothing of it; each still takes J useful groups from the honest peers. The same run with
verification off (the negative control) selects poisoned groups, so the test can fail.
"""

from __future__ import annotations

import time

import pytest

from core.base.rollouts import Rollout
from core.node.sharing import VerifiedSharing
from core.swarm import records
from core.swarm.shards import shard_bucket
from core.swarm.trust import PeerTrust
from core.swarm.wire import encode_rollouts
from core.training.grpo import select_external
from core.training.tasks import task_pool
from core.training.verify import TRUST_REASONS, RolloutVerifier, VerifyReport
from tests.helpers.dht_hostile import HostilePeer

pytestmark = [pytest.mark.slow, pytest.mark.timeout(600)]

G, I, J = 4, 4, 4
ROUNDS = 5


def _completions(answer: str, right: int) -> list[str]:
    wrong = str(int(answer) + 3) if answer.lstrip("-").isdigit() else answer + "?"
    return [f"<answer>{answer}</answer>" if k < right else f"<answer>{wrong}</answer>" for k in range(G)]


def honest_round(pool, peer: str, rnd: int) -> list[Rollout]:
    out = []
    for i, q in enumerate(pool.draw(rnd, peer, I)):
        comps = _completions(q.answer, 1 + i % (G - 1))  # 1..G-1 right: every group has signal
        out.append(Rollout(task=q.task, question=q.question, answer=q.answer, completions=comps,
                           rewards=pool.score_question(q, comps), round=rnd, peer_id=peer, metadata=q.metadata,
                           truncated=[False] * G, source={"config": pool.fingerprint(q.task), "seed": q.seed}))
    return out


def poisoned_round(pool, peer: str, rnd: int) -> list[Rollout]:
    """Real questions with true provenance; rewards inverted, answers rewritten to the wrong completion,
    all-right or all-wrong groups claimed to have a winner (so every group looks useful)."""
    out = []
    for i, q in enumerate(pool.draw(rnd, peer, 2 * I)):
        comps = _completions(q.answer, i % (G + 1))
        true = pool.score_question(q, comps)
        claimed = [1.0 - x for x in true]
        if len(set(claimed)) == 1:
            claimed = [1.0] + [0.0] * (G - 1)
        wrong = comps[-1].split("<answer>")[1].split("</answer>")[0]
        out.append(Rollout(task=q.task, question=q.question, answer=wrong, completions=comps, rewards=claimed,
                           round=rnd, peer_id=peer, metadata={**q.metadata, "answer": wrong},
                           truncated=[False] * G, source={"config": pool.fingerprint(q.task), "seed": q.seed}))
    return out


def publish_poison(h: HostilePeer, rollouts: list[Rollout], rnd: int) -> None:
    """The poisoner's manifest, signed with its own key (valid records), at the levels a small swarm reads."""
    from hivemind.utils import get_dht_time

    exp = get_dht_time() + 600
    groups = [h.group(encode_rollouts([r]), exp, like=r, index=i) for i, r in enumerate(rollouts)]
    body = records.manifest_body(h.me.peer_id, rnd, groups)
    for level in (0, 1):
        key = records.manifest_key(rnd, level, shard_bucket(h.me.peer_id, rnd, level))
        assert h.store(key, h.me.sign("m", key, h.me.subkey, exp, body), h.me.subkey, exp)


class Honest:
    def __init__(self, dht, pool, verify: bool):
        self.dht = dht
        self.peer_id = dht.peer_id
        verifier = RolloutVerifier(pool, num_generations=G, max_new_tokens=64, count_tokens=lambda s: len(s.split()),
                                   max_per_peer=J)

        def check(cands):
            if verify:
                return verifier.check_all(cands, exclude_peer=self.peer_id)
            rs = [r for r in cands if r.peer_id != self.peer_id]
            return VerifyReport(accepted=rs, checked=len(rs))

        self.check = check
        self.trust = PeerTrust(strikes=2, cool_off=20, strike_reasons=TRUST_REASONS)
        self.ignored_at: dict[str, int] = {}
        self.sharing = VerifiedSharing(dht, check, self.trust,
                                       on_ignored=lambda e, r: self.ignored_at.setdefault(e.peer_id, r))
        self.selected: list[Rollout] = []
        self.short_rounds = 0

    def take(self, rnd: int, known: set[str]) -> list[Rollout]:
        t = self.sharing.fetch(rnd, J, time.monotonic() + 60, known)
        rep = self.check(t.candidates)
        chosen = select_external(rep.accepted, J, seed=f"0/{rnd}/{self.peer_id}", exclude_peer=self.peer_id)
        self.selected += chosen
        self.short_rounds += len(chosen) < J
        self.last_take = t
        return chosen


@pytest.mark.parametrize("verify", ["on", "off"])
def test_poisoner_is_refused_and_ignored_while_honest_nodes_share(swarm, tmp_path, verify):
    pool = task_pool("demo")
    a = swarm("a")
    dhts = [a] + [swarm(n, initial_peers=a.multiaddrs) for n in ("b", "c")]
    h = HostilePeer(tmp_path, a.multiaddrs, swarm.pids)
    try:
        nodes = [Honest(d, pool, verify == "on") for d in dhts]
        liar = h.me.peer_id
        everyone = {n.peer_id for n in nodes} | {liar}
        downloaded_after_ignore = skipped_after_ignore = 0
        rounds = ROUNDS if verify == "on" else 3
        for rnd in range(1, rounds + 1):
            for n in nodes:
                n.dht.publish_rollouts(rnd, honest_round(pool, n.peer_id, rnd))
            publish_poison(h, poisoned_round(pool, liar, rnd), rnd)
            for n in nodes:
                ignored_before = n.trust.is_ignored(liar, rnd)
                chosen = n.take(rnd, everyone - {n.peer_id})
                if ignored_before:  # nothing of the liar downloaded; its manifest's groups counted as filtered
                    downloaded_after_ignore += len(n.last_take.fetched.get(liar, []))
                    skipped_after_ignore += n.last_take.filtered
                if verify == "on":
                    assert all(r.peer_id != liar for r in chosen), f"round {rnd}: {n.peer_id} took a poisoned group"
        poisoned = sum(r.peer_id == liar for n in nodes for r in n.selected)
        if verify == "off":
            assert poisoned > 0, "the negative control never selected a poisoned group: the test cannot fail"
            return
        assert poisoned == 0
        for n in nodes:
            assert liar in n.ignored_at and n.ignored_at[liar] <= 3, (n.peer_id, n.ignored_at, dict(n.trust.refused))
            assert set(n.trust.refused) <= {"disagree"} and n.trust.refused["disagree"] >= 2
            assert {e.peer_id for e in n.trust.ignored(rounds)} == {liar}
            assert n.short_rounds == 0, f"{n.peer_id} had fewer than J useful groups in {n.short_rounds} round(s)"
            assert len(n.selected) == J * rounds and {r.peer_id for r in n.selected} <= {m.peer_id for m in nodes}
        assert downloaded_after_ignore == 0 and skipped_after_ignore > 0
    finally:
        h.shutdown()


def test_old_wire_v2_peer_shares_the_dht_but_is_refused_as_unverifiable(swarm, tmp_path):
    """An old node (rollout wire v2, no provenance) on the same DHT: its groups download and decode without an
    error, are refused for training as `unverifiable`, and the old peer ends up ignored for a while."""
    import json
    import zlib

    from hivemind.utils import get_dht_time

    from core.swarm import wire

    pool = task_pool("demo")
    a = swarm("a")
    b = swarm("b", initial_peers=a.multiaddrs)
    h = HostilePeer(tmp_path, a.multiaddrs, swarm.pids)
    try:
        node = Honest(a, pool, verify=True)
        old = h.me.peer_id
        for rnd in (1, 2, 3):
            b.publish_rollouts(rnd, honest_round(pool, b.peer_id, rnd))
            exp = get_dht_time() + 600
            groups = []
            for i, r in enumerate(honest_round(pool, old, rnd)):
                d = {k: v for k, v in wire._rollout_to_dict(r, 2).items()}
                blob = wire.MAGIC + bytes([2]) + zlib.compress(json.dumps({"rollouts": [d]}).encode())
                groups.append(h.group(blob, exp, like=r, index=i))
            body = records.manifest_body(old, rnd, groups)
            for level in (0, 1):
                key = records.manifest_key(rnd, level, shard_bucket(old, rnd, level))
                assert h.store(key, h.me.sign("m", key, h.me.subkey, exp, body), h.me.subkey, exp)
            chosen = node.take(rnd, {b.peer_id, old})
            assert chosen and all(r.peer_id == b.peer_id for r in chosen)
        assert not any(k in a.rejected.by_reason() for k in ("version", "schema"))  # decoded without an error
        assert set(node.trust.refused) == {"unverifiable"} and old in node.ignored_at
    finally:
        h.shutdown()
