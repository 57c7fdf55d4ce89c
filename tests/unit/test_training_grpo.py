"""GRPO engine: SAPO external rollouts mixed in, zero-advantage ones dropped, loss pieces."""

from __future__ import annotations

import dataclasses
import math

import pytest
import torch

from core.base.rollouts import Rollout
from core.training.grpo import GRPOConfig, GRPOEngine, StepMetrics, group_advantages, select_external
from core.training.model import load_model
from core.training.tiny import build_tiny_model


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    return str(build_tiny_model(tmp_path_factory.mktemp("tiny") / "m"))


def _engine(tiny, **cfg):
    # These tests check the GRPO mechanics on hand-made peer groups (no provenance, made-up rewards), so
    # the receiver-side verification is off here; tests/unit/test_training_verify.py covers it.
    base = dict(questions_local=2, questions_external=2, num_generations=4, max_new_tokens=12, learning_rate=1e-2,
                verify_external=False)
    base.update(cfg)
    return GRPOEngine(load_model(tiny, "fp32"), GRPOConfig(**base), peer_id="QmLocal")


def _ext(peer, i, rewards, completions=None):
    return Rollout(task="basic_arithmetic", question=f"Calculate {i} + {i}.", answer=str(2 * i),
                   completions=completions or [f"<answer>{2 * i + k}</answer>" for k in range(len(rewards))],
                   rewards=list(rewards), round=3, peer_id=peer)


def test_group_advantages():
    a = group_advantages([1.0, 0.0, 0.0, 1.0])
    assert math.isclose(sum(a), 0.0, abs_tol=1e-6) and a[0] > 0 > a[1]
    assert group_advantages([0.5, 0.5, 0.5]) == [0.0, 0.0, 0.0]


def test_select_external_drops_zero_advantage_and_samples_uniformly():
    flat = [_ext("QmB", i, [1.0] * 4) for i in range(5)] + [_ext("QmC", i, [0.0] * 4) for i in range(5)]
    signal = [_ext("QmB", 10 + i, [1.0, 0.0, 0.0, 0.0]) for i in range(6)]
    own = [_ext("QmLocal", 99, [1.0, 0.0, 1.0, 0.0])]
    cands = flat + signal + own
    pick = select_external(cands, 4, seed=7, exclude_peer="QmLocal")
    assert len(pick) == 4 and all(r.has_signal() and r.peer_id != "QmLocal" for r in pick)
    # deterministic for a seed, independent of arrival order
    assert [r.question for r in pick] == [r.question for r in select_external(list(reversed(cands)), 4, seed=7,
                                                                              exclude_peer="QmLocal")]
    # uniform: over many seeds every signal rollout gets picked
    seen = {r.question for s in range(50) for r in select_external(cands, 2, seed=s, exclude_peer="QmLocal")}
    assert seen == {r.question for r in signal}
    assert select_external(flat, 4, seed=1) == []  # nothing with signal: train on local only
    assert len(select_external(signal, 10, seed=1)) == 6


def test_external_rollouts_are_mixed_into_the_update(tiny):
    eng = _engine(tiny)
    gen = eng.generate(eng.draw_questions(3), 3)
    local = gen.rollouts
    assert all(r.peer_id == "QmLocal" and r.round == 3 for r in local)
    for r in local:
        r.rewards = [1.0, 0.0, 0.0, 0.0]
    external = [_ext("QmPeerB", 1, [1.0, 0.0, 1.0, 0.0]), _ext("QmPeerC", 2, [0.0, 0.0, 1.0, 0.0]),
                _ext("QmPeerD", 3, [1.0, 1.0, 1.0, 1.0])]  # the last has zero advantage
    m = eng.train(local, external, gen)
    assert isinstance(m, StepMetrics) and m.generate_tokens_per_s == gen.tokens_per_s > 0
    with pytest.raises(dataclasses.FrozenInstanceError):
        m.loss = 0.0  # type: ignore[misc]
    assert m.n_local == 2 and m.n_external == 3 and m.n_dropped == 1
    assert m.n_groups == 4 and m.n_sequences == 16
    assert m.tokens > 0 and m.tokens_per_s > 0 and math.isfinite(m.loss)


def test_external_only_changes_weights_and_follows_the_advantage(tiny):
    eng = _engine(tiny, learning_rate=5e-3)
    good, bad = "<answer>4</answer>", "<answer>banana</answer>"
    ext = [_ext("QmPeerB", 2, [1.0, 0.0, 1.0, 0.0], completions=[good, bad, good, bad])]
    b = eng._micro_batches([eng._to_group(ext[0], True)])
    batch = next(iter(b))
    with torch.no_grad():
        lp0, mask = eng._logps(batch)
    before = eng.lora_state()
    for _ in range(3):
        m = eng.train([], ext)
    assert not m.skipped and m.n_groups == 1
    after = eng.lora_state()
    assert max((after[k] - before[k]).abs().max().item() for k in before) > 1e-4
    with torch.no_grad():
        lp1, _ = eng._logps(batch)
    seq0 = (lp0 * mask).sum(-1)
    seq1 = (lp1 * mask).sum(-1)
    # rewarded completions (0, 2) become more likely relative to the penalised ones (1, 3)
    assert (seq1[0] - seq1[1]) > (seq0[0] - seq0[1])


def test_no_signal_skips_the_step(tiny):
    eng = _engine(tiny)
    flat = [_ext("QmPeerB", 1, [0.0] * 4), _ext("QmPeerB", 2, [1.0] * 4)]
    before = eng.lora_state()
    m = eng.train(flat[:1], flat[1:])
    assert m.skipped and m.n_dropped == 2 and m.loss == 0.0
    after = eng.lora_state()
    assert all(torch.equal(before[k], after[k]) for k in before)


def test_malformed_external_rollout_is_dropped(tiny):
    eng = _engine(tiny)
    bad = _ext("QmEvil", 1, [1.0, 0.0, 1.0, 0.0])
    bad.completions = bad.completions[:2]  # rewards and completions disagree
    typed = _ext("QmEvil", 3, [1.0, 0.0, 1.0, 0.0])
    typed.completions = [1, 2, 3, 4]  # not text
    m = eng.train([], [bad, typed, _ext("QmPeerB", 2, [1.0, 0.0, 0.0, 0.0])])
    assert m.n_dropped == 2 and m.n_groups == 1


def test_iterations_beta_and_clipping(tiny):
    eng = _engine(tiny, iterations=3, beta=0.04, learning_rate=5e-2)
    ext = [_ext("QmPeerB", 1, [1.0, 0.0, 0.0, 0.0]), _ext("QmPeerC", 2, [0.0, 1.0, 1.0, 1.0])]
    m = eng.train([], ext)
    assert m.step == 3 and math.isfinite(m.loss) and 0.0 <= m.clip_frac <= 1.0
    # with a large lr the later iterations move the ratio out of [0.8, 1.28]: clipping engages
    assert m.clip_frac > 0.0


def test_config_from_profile_mapping():
    c = GRPOConfig.from_mapping({"questions_local": 3, "J": 5, "generations": 6, "lr": 1e-4, "unknown": 1})
    assert (c.questions_local, c.questions_external, c.num_generations, c.learning_rate) == (3, 5, 6, 1e-4)
    assert (c.epsilon_low, c.epsilon_high, c.beta) == (0.2, 0.28, 0.0)


def test_non_finite_rewards_never_reach_the_weights(tiny):
    eng = _engine(tiny)
    evil = [_ext("QmEvil", 1, [float("nan"), 0.0, 1.0, 0.0]), _ext("QmEvil", 2, [float("inf"), 0.0, 0.0, 0.0])]
    assert select_external(evil, 4, seed=0) == []
    before = eng.lora_state()
    m = eng.train([], evil + [_ext("QmPeerB", 3, [1.0, 0.0, 0.0, 0.0])])
    assert m.n_dropped == 2 and m.n_groups == 1 and math.isfinite(m.loss)
    after = eng.lora_state()
    assert all(torch.isfinite(v).all() for v in after.values())
    assert any(not torch.equal(before[k], after[k]) for k in before)


def test_peer_completions_cut_at_max_new_tokens_get_no_eos(tiny):
    """A peer's completion that stopped at max_new_tokens is re-tokenised WITHOUT an appended
    end-of-sequence (it would teach stopping at an arbitrary cut); finished ones get it back."""
    eng = _engine(tiny, max_new_tokens=12)
    eos = eng.tokenizer.eos_token_id
    r = _ext("QmB", 1, [1.0, 0.0, 1.0, 0.0])
    r.truncated = [True, False, True, False]
    g = eng._to_group(r, external=True)
    ends = [ids[-1] == eos for ids in g.completion_ids]
    assert ends == [False, True, False, True]
    for ids, text in zip(g.completion_ids, r.completions):
        assert eng.tokenizer.decode([t for t in ids if t != eos]) == text  # the text itself is kept whole
    # a record from before the flag (wire v1, or an old Rollout): every completion finished
    old = _ext("QmB", 2, [1.0, 0.0, 1.0, 0.0])
    assert old.truncated == [] and not old.is_truncated(0)
    assert all(ids[-1] == eos for ids in eng._to_group(old, external=True).completion_ids)
    # a "finished" text longer than our budget is cut to it: no EOS at the cut either
    long = _ext("QmB", 3, [1.0, 0.0], completions=["9 " * 40, "<answer>1</answer>"])
    g = eng._to_group(long, external=True)
    assert len(g.completion_ids[0]) == 12 and g.completion_ids[0][-1] != eos
    assert g.completion_ids[1][-1] == eos


def test_generate_marks_truncated_completions_and_the_wire_keeps_them(tiny):
    from core.swarm.wire import decode_rollouts, encode_rollouts

    eng = _engine(tiny, max_new_tokens=3)  # the random tiny model rarely stops within 3 tokens
    rollouts = eng.generate(eng.draw_questions(5), 5).rollouts
    eos = eng.tokenizer.eos_token_id
    flags = [f for r in rollouts for f in r.truncated]
    assert len(flags) == sum(len(r.completions) for r in rollouts) and any(flags)
    for r in rollouts:
        assert r.truncated == [ids[-1] != eos for ids in r._completion_ids]
    back = decode_rollouts(encode_rollouts(rollouts))
    assert [r.truncated for r in back] == [r.truncated for r in rollouts]
    # on the receiving side the cut ones stay without EOS
    g = eng._to_group(back[0], external=True)
    assert [ids[-1] == eos for ids in g.completion_ids] == [not t for t in back[0].truncated]
