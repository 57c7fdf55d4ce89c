"""Fairness and reach of the rollout exchange, on a real hivemind DHT (issue 22, part 5).

Real SwarmDHT nodes on 127.0.0.1; the many swarm peers are light peers (tests/helpers/light_peers.py):
real SwarmDHT handles, each with its own identity, shard levels and draw, sending their requests
through one host node's DHT process (so 30+ peers fit on 2 cores).

  - crowding: one identity publishing a 64-group manifest of tiny groups takes no more than one
    peer's share of an honest observer's J draws (it took 81-86 % with the J drawn over groups);
    twenty fresh keys move the observer's swarm-size estimate by a bounded factor in a round;
  - newcomers: a node joining a swarm settled at shard levels 2-3 sees peers and is chosen by them
    within 2 rounds (it saw nobody, and nobody could choose it, before).
"""

from __future__ import annotations

import math
from collections import Counter

import pytest

from core.base.rollouts import Rollout
from tests.helpers.light_peers import detach, light_peer

pytestmark = [pytest.mark.slow, pytest.mark.timeout(600)]


def _groups(peer: str, rnd: int, n: int, tag: str = "") -> list[Rollout]:
    """n tiny question groups, each with signal (rewards differ): what a crowder lists to be drawn."""
    return [Rollout(task="basic_arithmetic", question=f"{tag}{peer[-6:]} r{rnd} q{i}: {i} + {i}?", answer=str(2 * i),
                    completions=[f"<answer>{2 * i}</answer>", "<answer>0</answer>"], rewards=[1.0, 0.0],
                    round=rnd, peer_id=peer) for i in range(n)]


@pytest.fixture
def hub(swarm, tmp_path):
    """A bootnode, a host DHT process for light peers, and a real observer node; light peers detached at the end."""
    boot = swarm("boot")
    host = swarm("host", initial_peers=boot.multiaddrs)
    lights = []

    def make(name: str):
        p = light_peer(host, tmp_path / "light" / name / "swarm.pem")
        lights.append(p)
        return p

    make.boot, make.host = boot, host  # type: ignore[attr-defined]
    yield make
    detach(lights)


def test_one_peer_listing_64_groups_takes_no_more_than_one_peers_share(hub, swarm):
    J, ROUNDS = 4, 5
    obs = swarm("observer", initial_peers=hub.boot.multiaddrs)
    honest = [hub(f"honest{i}") for i in range(3)]
    crowder = hub("crowder")
    drawn: Counter = Counter()
    for r in range(1, ROUNDS + 1):
        for p in honest:
            p.publish_rollouts(r, _groups(p.peer_id, r, 4))
        crowder.publish_rollouts(r, _groups(crowder.peer_id, r, 64, "tiny "))
        got = obs.fetch_rollouts(r, timeout=60, want=J, previous=False)
        st = obs.last_fetch
        assert st.peers == 4 and st.useful == 3 * 4 + 64, st  # the observer saw every peer's whole offer
        n = {p: len(rs) for p, rs in got.items()}
        assert sum(n.values()) == J, (r, n)
        share = math.ceil(J / st.peers)
        assert n.get(crowder.peer_id, 0) <= share, (r, n)  # no more than one peer's share, every round
        drawn.update(n)
    total = sum(drawn.values())
    frac = drawn[crowder.peer_id] / total
    print(f"crowder's share of the observer's draws: {frac:.2f} over {ROUNDS} rounds "
          f"({drawn[crowder.peer_id]} of {total}); each honest peer: "
          f"{[drawn[p.peer_id] for p in honest]}")
    assert frac <= 1 / 4 + 1e-9
    assert all(drawn[p.peer_id] > 0 for p in honest)


def test_twenty_fresh_keys_move_the_swarm_estimate_by_a_bounded_factor(hub, swarm):
    obs = swarm("observer", initial_peers=hub.boot.multiaddrs)
    honest = [hub(f"honest{i}") for i in range(3)]
    estimates = []
    for r in range(1, 4):
        for p in honest:
            p.publish_rollouts(r, _groups(p.peer_id, r, 2))
        obs.fetch_rollouts(r, timeout=60, want=4, previous=False)
        estimates.append(obs.swarm_estimate)
    before = obs.swarm_estimate
    sybils = [hub(f"sybil{i}") for i in range(20)]
    r = 4
    for p in honest + sybils:
        p.publish_rollouts(r, _groups(p.peer_id, r, 1))
    obs.fetch_rollouts(r, timeout=60, want=4, previous=False)
    assert obs.last_fetch.peers == 23  # every fresh key was read (and counted as a peer it may draw)
    after = obs.swarm_estimate
    print(f"swarm estimate: {estimates} -> {after} after 20 fresh keys joined 3 honest peers")
    assert 2 <= before <= 4, estimates
    assert after <= 2 * before, (before, after)  # a raw count would have said 23

    # With a gate that admits the registered peers only (a set here; core.node.sharing.RegisteredGate reads
    # the coordinator contract), the fresh keys take none of the draws and do not count as swarm.
    registered = {p.peer_id for p in honest}
    obs.peer_filter = registered.__contains__
    gated = []
    for r in (5, 6, 7):
        for p in honest + sybils:
            p.publish_rollouts(r, _groups(p.peer_id, r, 1))
        got = obs.fetch_rollouts(r, timeout=60, want=4, previous=False)
        assert set(got) <= registered and len(got) == 3, set(got)
        gated.append(obs.swarm_estimate)
    print(f"with the registered-only gate: estimate {gated}")
    assert gated[-1] <= after, gated  # moves back towards the 3 registered peers, not up


def test_a_late_joiner_into_a_settled_swarm_sees_peers_and_is_chosen_within_two_rounds(hub, swarm, monkeypatch):
    # 36 settled peers with buckets of ~8 manifests settle at shard level 3, as ~70 peers do at the
    # default 16 (the swarm where a newcomer saw no one for 5 rounds); the level logic is the same code.
    from core.swarm import shards

    monkeypatch.setattr(shards, "SHARD_PEERS", 8)
    J = 4
    settled = [hub(f"settled{i}") for i in range(36)]

    def play(r, peers):
        for p in peers:
            p.publish_rollouts(r, _groups(p.peer_id, r, 1))
        return {p.peer_id: (p.fetch_rollouts(r, timeout=60, want=J), p.last_fetch) for p in peers}

    for r in (1, 2):
        play(r, settled)
    levels = sorted({p._shards.level for p in settled})
    assert set(levels) <= {2, 3, 4} and max(levels) >= 2, levels  # settled above the newcomer's level 0
    new = swarm("newcomer", initial_peers=hub.boot.multiaddrs)
    seen_at = chosen_at = None
    for r in (3, 4):
        res = play(r, settled + [new])
        got, st = res[new.peer_id]
        choosers = [p for p, (g, _) in res.items() if new.peer_id in g]
        print(f"round {r}: newcomer at level {new._shards.level} (estimate {new.swarm_estimate}) saw {st.peers} "
              f"peers, took {sum(map(len, got.values()))}; chosen by {len(choosers)} settled peers")
        if seen_at is None and st.peers > 0 and got:
            seen_at = r
        if chosen_at is None and choosers:
            chosen_at = r
    assert seen_at is not None and chosen_at is not None, (seen_at, chosen_at)
