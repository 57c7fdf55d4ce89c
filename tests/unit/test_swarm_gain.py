"""What the swarm gave a node, folded from its round.finished events (core.events.swarm_gain)."""

from __future__ import annotations

import random

from core.events.swarm_gain import SwarmGain
from core.events.types import Event, RoundFinished


def _rf(r, reward, own, peers, refused=0, taken=None, refused_from=None):
    return RoundFinished(round=r, stage=0, reward=reward, n_local=4, n_external=peers, useful_own=own,
                         useful_peers=peers, refused=refused, taken_from=taken or {}, refused_from=refused_from)


def test_counts_by_origin_and_per_peer_survive_the_wire():
    g = SwarmGain()
    for r in range(1, 4):
        ev = _rf(r, 0.1, own=2, peers=3, refused=1 if r == 2 else 0, taken={"QmA": 2, "QmB": 1},
                 refused_from={"QmB": 1} if r == 2 else None)
        g.add(Event.from_wire(ev.to_wire()))  # as read back from events.jsonl
    g.add(RoundFinished(round=4, stage=0, reward=0.2, n_local=4, n_external=0))  # an older node: no origins
    last = g.last()
    assert (last.round, last.own, last.peers, last.refused) == (3, 2, 3, 0)
    assert g.taken_from == {"QmA": 6, "QmB": 3} and g.refused_from == {"QmB": 1}
    v = g.view()
    assert (v["rounds"], v["own"], v["from_peers"], v["refused"], v["verdict"]) == (3, 6, 9, 1, "too_early")
    assert v["peer_share"] == 0.6
    s = g.summary()
    assert s["last_round"] == {"round": 3, "own": 2, "from_peers": 3, "refused": 0}


def test_the_verdict_needs_the_peers_part_of_the_rise_beyond_the_noise():
    rng = random.Random(0)
    # a clear rise, half the useful groups from peers: the peers' half of it is far beyond the noise
    g = SwarmGain()
    for r in range(20):
        g.add(_rf(r, 0.1 + 0.02 * r + rng.uniform(-0.005, 0.005), own=4, peers=4))
    v = g.view()
    assert v["verdict"] == "faster" and abs(v["own_alone"] - v["rise"] / 2) < 1e-4 and v["rise"] > 0.15
    # the same rise with no peer groups: nothing to credit them with
    g = SwarmGain()
    for r in range(20):
        g.add(_rf(r, 0.1 + 0.02 * r, own=4, peers=0))
    assert g.view()["verdict"] == "no_peer_groups"
    # noise only (rewards 0.004..0.263 from one round to the next, as on the demo model): within noise
    g = SwarmGain()
    for r in range(20):
        g.add(_rf(r, rng.uniform(0.004, 0.263), own=4, peers=4))
    assert g.view()["verdict"] == "within_noise"
    # a clear fall
    g = SwarmGain()
    for r in range(20):
        g.add(_rf(r, 0.6 - 0.02 * r, own=4, peers=4))
    assert g.view()["verdict"] == "falling"
    # only the newest 20 rounds count
    for r in range(20, 45):
        g.add(_rf(r, 0.2, own=1, peers=7))
    v = g.view()
    assert v["rounds"] == 20 and v["own"] == 20 and v["from_peers"] == 140
