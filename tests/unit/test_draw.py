"""The J draw over peers first, then groups (core.base.draw), and the engine's select_external that uses it."""

from __future__ import annotations

import random
from collections import Counter

from core.base.draw import draw_per_peer, peer_share
from core.base.rollouts import Rollout
from core.training.grpo import select_external


def _g(peer: str, i: int) -> Rollout:
    return Rollout(task="basic_arithmetic", question=f"{peer} q{i}", answer="0", completions=["a", "b"],
                   rewards=[1.0, 0.0], round=3, peer_id=peer)


def test_a_peer_listing_64_groups_takes_one_peers_share_of_the_engine_draw():
    cands = [_g("QmCrowd", i) for i in range(64)] + [_g(f"QmHonest{k}", i) for k in range(3) for i in range(4)]
    shares = Counter()
    for seed in range(200):
        pick = select_external(cands, 4, seed=seed)
        n = Counter(r.peer_id for r in pick)
        assert len(pick) == 4 and max(n.values()) == 1, n  # J=4 among 4 peers: one group each
        shares.update(n)
    assert shares["QmCrowd"] == 200  # a uniform draw over groups gave it 84 % (4 * 64/76 a round)
    # within a peer, every group is still drawn
    seen = {r.question for s in range(400) for r in select_external(cands, 4, seed=s) if r.peer_id == "QmCrowd"}
    assert len(seen) > 55


def test_a_peers_share_caps_the_draw_even_when_the_others_offer_less():
    items = [("big", i) for i in range(10)] + [("small", 0)]
    got = draw_per_peer(random.Random(1), items, 6, lambda x: x[0])
    assert Counter(p for p, _ in got) == {"big": 3, "small": 1}  # share = ceil(6/2) = 3: fewer than 6 taken
    # what earlier polls took counts against the share
    got = draw_per_peer(random.Random(1), items, 6, lambda x: x[0], taken={"big": 3}, cap=3)
    assert Counter(p for p, _ in got) == {"small": 1}
    assert peer_share(4, 0) == 4 and peer_share(4, 3) == 2 and peer_share(4, 4) == 1


def test_the_draw_is_deterministic_for_a_seed():
    items = [(f"p{k}", i) for k in range(5) for i in range(3)]
    a = draw_per_peer(random.Random(7), items, 7, lambda x: x[0])
    assert a == draw_per_peer(random.Random(7), items, 7, lambda x: x[0])
    assert Counter(p for p, _ in a).most_common(1)[0][1] == 2  # 7 over 5 peers: two passes, nobody thrice
