"""Which peers' groups a node takes: SAPO's uniform draw and our two policies (core.training.selection)."""

from __future__ import annotations

import pytest

from core.base.rollouts import Rollout
from core.training import selection
from core.training.grpo import select_external


def _g(peer, task, i, rewards):
    return Rollout(task=task, question=f"{task} question {i}", answer="1",
                   completions=[f"<answer>{k}</answer>" for k in range(len(rewards))],
                   rewards=list(rewards), round=2, peer_id=peer)


def _pool():
    # two peers offer every kind, so the per-peer share (ceil(J / peers)) leaves the policy its choice
    peers = ("QmB", "QmC")
    return ([_g(p, "gcd", i, [1.0, 1.0, 1.0, 0.0]) for p in peers for i in range(2)]            # 3 of 4 right
            + [_g(p, "count_bits", i, [1.0, 0.0, 0.0, 0.0]) for p in peers for i in range(2)]  # rare: 1 of 4
            + [_g(p, "count_bits", 10 + i, [0.2, 0.0, 0.0, 0.0]) for p in peers for i in range(2)]  # partial only
            + [_g(p, "gcd", 20 + i, [0.0] * 4) for p in peers for i in range(3)]                 # no signal
            + [_g("QmLocal", "count_bits", 30, [1.0, 0.0, 0.0, 0.0])])                         # the node's own


def test_uniform_is_the_engines_sapo_draw_unchanged():
    pool = _pool()
    for seed in range(5):
        a = selection.select(pool, 3, seed=seed, exclude_peer="QmLocal")
        assert a == select_external(pool, 3, seed=seed, exclude_peer="QmLocal")
        assert all(r.has_signal() and r.peer_id != "QmLocal" for r in a)


def test_rare_takes_the_fewest_successes_first_and_partial_credit_last():
    pool = _pool()
    pick = selection.select(pool, 4, seed=1, exclude_peer="QmLocal", policy="rare")
    assert {(r.peer_id, r.question) for r in pick} == {(p, f"count_bits question {i}") for p in ("QmB", "QmC")
                                                         for i in range(2)}
    pick6 = selection.select(pool, 6, seed=1, exclude_peer="QmLocal", policy="rare")
    assert [selection.successes(r.rewards) for r in pick6] == [1, 1, 1, 1, 3, 3]
    # no peer gives more than its share, whatever the policy prefers: J=2 among 2 peers is 1 each
    assert len({r.peer_id for r in selection.select(pool, 2, seed=1, exclude_peer="QmLocal", policy="rare")}) == 2
    lone = [r for r in pool if r.peer_id == "QmB"]
    assert len(selection.select(lone, 4, seed=1, policy="rare")) == 4  # one peer offering: its share is all
    # order of arrival does not matter
    assert pick == selection.select(list(reversed(pool)), 4, seed=1, exclude_peer="QmLocal", policy="rare")


def test_least_solved_follows_the_receivers_own_success_rate():
    pool = _pool()
    st = selection.TaskStats()
    st.update([_g("QmLocal", "gcd", 0, [0.0] * 8), _g("QmLocal", "count_bits", 0, [1.0] * 4 + [0.0] * 4)])
    assert st.solved("gcd") == 0.0 and st.solved("count_bits") == pytest.approx(0.5)
    pick = selection.select(pool, 4, seed=3, exclude_peer="QmLocal", policy="least_solved", stats=st)
    assert {r.task for r in pick} == {"gcd"} and all(r.has_signal() for r in pick)
    # the node gets better at gcd, worse at count_bits: the choice follows
    for _ in range(10):
        st.update([_g("QmLocal", "gcd", 0, [1.0] * 8), _g("QmLocal", "count_bits", 0, [0.0] * 8)])
    pick = selection.select(pool, 4, seed=3, exclude_peer="QmLocal", policy="least_solved", stats=st)
    assert {r.task for r in pick} == {"count_bits"}


def test_unknown_policy_is_a_clear_error():
    with pytest.raises(ValueError, match="least_solved"):
        selection.select(_pool(), 2, policy="best")
