"""Receiver-side verification (core.training.verify): a peer's claimed rewards, answer and metadata never
steer this node's training; every kind of bad group is refused and counted by reason.

The engine tests run the real GRPO update on the locally built tiny model: a group whose rewards were
inverted (and one whose answer was also rewritten to match) trains exactly as the honest group does, or
not at all; with verification off the same inputs push the LoRA update the opposite way (the control)."""

from __future__ import annotations

import copy
import dataclasses
import math

import pytest
import torch

from core.base.rollouts import Rollout
from core.training.grpo import GRPOConfig, GRPOEngine
from core.training.model import load_model
from core.training.tasks import task_pool
from core.training.tiny import build_tiny_model
from core.training.verify import RolloutVerifier

G = 4


@pytest.fixture(scope="module")
def pool():
    return task_pool("demo")


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    return str(build_tiny_model(tmp_path_factory.mktemp("tiny") / "m"))


def honest_group(pool, peer="QmPeerB", rnd=3, index=0, task="basic_arithmetic") -> Rollout:
    """What an honest peer sends: a question it drew, two right and two wrong completions, true rewards."""
    q = next(q for q in pool.draw(rnd, peer, 40) if q.task == task)
    if index:
        q = [x for x in pool.draw(rnd, peer, 80) if x.task == task][index]
    wrong = str(int(q.answer) + 7) if q.answer.lstrip("-").isdigit() else q.answer + "x"
    comps = [f"Adding up.\n<answer>{q.answer}</answer>", f"Hmm.\n<answer>{wrong}</answer>",
             f"<answer>{q.answer}</answer>", f"I guess\n<answer>{wrong}</answer>"]
    rewards = pool.score_question(q, comps)
    assert rewards == [1.0, 0.0, 1.0, 0.0]
    return Rollout(task=q.task, question=q.question, answer=q.answer, completions=comps, rewards=rewards,
                   round=rnd, peer_id=peer, metadata=q.metadata, truncated=[False] * G,
                   source={"config": pool.fingerprint(q.task), "seed": q.seed})


def inverted(r: Rollout) -> Rollout:
    return dataclasses.replace(r, rewards=[1.0 - x for x in r.rewards])


def rewritten(r: Rollout) -> Rollout:
    """The liar's full story: rewards inverted AND the reference answer/metadata rewritten to match its wrong
    completions, so the sender's own verifier would agree with the inverted rewards."""
    wrong = r.completions[1].split("<answer>")[1].split("</answer>")[0]
    meta = copy.deepcopy(r.metadata)
    meta["expression"] = f"{wrong} + 0"
    return dataclasses.replace(r, answer=wrong, metadata=meta, rewards=[1.0 - x for x in r.rewards])


# ------------------------------------------------------------------ engine level (real model)

def _engine(tiny, pool, verify=True):
    cfg = GRPOConfig(questions_local=2, questions_external=2, num_generations=G, max_new_tokens=24,
                     learning_rate=5e-3, verify_external=verify)
    torch.manual_seed(0)
    return GRPOEngine(load_model(tiny, "fp32"), cfg, tasks=pool, peer_id="QmLocal")


def _update(eng: GRPOEngine, group: Rollout, via_select: bool) -> tuple[torch.Tensor, bool]:
    """The LoRA update one round with only this peer group would make; the engine is put back after."""
    before = eng.lora_state()
    opt = copy.deepcopy(eng.optimizer.state_dict())
    ext = eng.select_external([group], 3) if via_select else [group]
    m = eng.train([], ext)
    after = eng.lora_state()
    delta = torch.cat([(after[k] - before[k]).flatten() for k in sorted(before)])
    with torch.no_grad():
        for n, p in eng.model.named_parameters():
            if p.requires_grad:
                p.copy_(before[n].to(p.dtype))
    eng.optimizer.load_state_dict(opt)
    return delta, m.skipped


def _cos(a, b) -> float:
    return float(torch.dot(a, b) / (a.norm() * b.norm()))


@pytest.mark.parametrize("via_select", [True, False], ids=["select_external", "train_direct"])
def test_lying_peer_trains_as_the_honest_group_or_not_at_all(tiny, pool, via_select):
    honest = honest_group(pool)
    eng = _engine(tiny, pool)
    d_honest, skipped = _update(eng, honest, via_select)
    assert not skipped and d_honest.abs().max() > 1e-6
    # the sender's answer and metadata alone (true rewards) never change anything: ours are regenerated
    d_meta, _ = _update(eng, dataclasses.replace(rewritten(honest), rewards=list(honest.rewards)), via_select)
    assert torch.allclose(d_meta, d_honest, atol=1e-7)
    for lie in (inverted(honest), rewritten(honest)):
        d, skipped = _update(eng, lie, via_select)
        same = torch.allclose(d, d_honest, atol=1e-7)
        untouched = skipped and float(d.abs().max()) == 0.0
        assert same or untouched, f"a lying group moved the adapter (cosine to honest {_cos(d, d_honest):.2f})"


def test_without_verification_the_lie_flips_the_update(tiny, pool):
    """The negative control: the same lies with re-scoring off point the update the other way, so the
    test above would notice if verification stopped working."""
    honest = honest_group(pool)
    eng = _engine(tiny, pool, verify=False)
    d_honest, _ = _update(eng, honest, True)
    for lie in (inverted(honest), rewritten(honest)):
        d, skipped = _update(eng, lie, True)
        assert not skipped and _cos(d, d_honest) < -0.9


def test_select_external_keeps_only_verified_groups_with_receiver_rewards(tiny, pool):
    eng = _engine(tiny, pool)
    h1, h2 = honest_group(pool, "QmPeerB"), honest_group(pool, "QmPeerC")
    lie = rewritten(honest_group(pool, "QmPeerD"))
    flat = dataclasses.replace(h2, peer_id="QmPeerE", rewards=[1.0] * G)  # claims all right: a lie too
    got = eng.select_external([h1, lie, h2, flat], 3)
    assert sorted(r.peer_id for r in got) == ["QmPeerB", "QmPeerC"]
    assert all(getattr(r, "_verified", False) and r.rewards == [1.0, 0.0, 1.0, 0.0] for r in got)
    rep = eng.last_verify
    assert dict(rep.refused) == {"disagree": 2} and set(rep.by_peer) == {"QmPeerD", "QmPeerE"}
    assert rep.checked == 4 and rep.seconds > 0


# ------------------------------------------------------------------ bad input (verifier, no model)

def _verifier(pool, max_new_tokens=64):
    return RolloutVerifier(pool, num_generations=G, max_new_tokens=max_new_tokens,
                           count_tokens=lambda s: len(s.split()), max_per_peer=2)


def _refused(v, r) -> dict:
    rep = v.check_all([r])
    assert rep.accepted == []
    return dict(rep.refused)


def test_honest_group_passes_with_regenerated_answer(pool):
    h = honest_group(pool)
    sent = dataclasses.replace(h, answer="999", metadata={"junk": 1})  # answer/metadata are never used
    rep = _verifier(pool).check_all([sent])
    assert len(rep.accepted) == 1 and not rep.refused
    got = rep.accepted[0]
    assert got.answer == h.answer and got.metadata == h.metadata and got.rewards == h.rewards
    assert sent.answer == "999"  # the caller's object is left as it was


@pytest.mark.parametrize("change,reason", [
    (dict(source={}), "unverifiable"),
    (dict(task="bf"), "unknown_task"),
    (dict(source={"config": "0" * 16, "seed": 1}), "foreign_config"),
    (dict(question="Calculate 1 + 1."), "question_mismatch"),
    (dict(rewards=[float("nan"), 0.0, 1.0, 0.0]), "nonfinite"),
    (dict(completions=["<answer>1</answer>"] * 3, rewards=[0.0] * 3), "group_size"),
    (dict(completions=["word " * 300] + ["<answer>1</answer>"] * 3), "over_budget"),
    (dict(rewards=[0.0, 1.0, 0.0, 1.0]), "disagree"),
])
def test_bad_groups_refused_by_reason(pool, change, reason):
    h = honest_group(pool)
    assert _refused(_verifier(pool), dataclasses.replace(h, **change)) == {reason: 1}


def test_seed_of_another_question_is_a_mismatch(pool):
    h = honest_group(pool)
    other = honest_group(pool, index=1)
    assert _refused(_verifier(pool), dataclasses.replace(h, source=dict(other.source))) == {"question_mismatch": 1}


def test_a_mix_with_other_settings_is_foreign(pool):
    h = honest_group(pool)
    harder = task_pool("demo")
    harder.configs["basic_arithmetic"] = {**harder.configs["basic_arithmetic"], "max_digits": 3}
    assert harder.fingerprint("basic_arithmetic") != pool.fingerprint("basic_arithmetic")
    assert _refused(_verifier(harder), h) == {"foreign_config": 1}


def test_flood_from_one_peer_capped_per_round(pool):
    groups = [honest_group(pool, "QmFlood", index=i) for i in range(5)] + [honest_group(pool, "QmOther")]
    rep = _verifier(pool).check_all(groups)  # max_per_peer=2
    assert dict(rep.refused) == {"flood": 3} and dict(rep.by_peer["QmFlood"]) == {"flood": 3}
    assert sorted(r.peer_id for r in rep.accepted) == ["QmFlood", "QmFlood", "QmOther"]


def test_nothing_crashes_the_verifier(pool):
    h = honest_group(pool)
    weird = [dataclasses.replace(h, source={"config": pool.fingerprint(h.task), "seed": 2**62}),
             dataclasses.replace(h, source={"config": pool.fingerprint(h.task)}),
             dataclasses.replace(h, rewards=[math.inf] * G), dataclasses.replace(h, completions=[""] * G,
                                                                                 rewards=[0.0] * G)]
    weird = [dataclasses.replace(r, peer_id=f"QmW{i}") for i, r in enumerate(weird)]
    rep = _verifier(pool).check_all(weird)
    assert rep.checked == 4 and sum(rep.refused.values()) + len(rep.accepted) == 4
    assert dict(rep.refused) == {"question_mismatch": 1, "unverifiable": 1, "nonfinite": 1}
    assert [r.rewards for r in rep.accepted] == [[0.0] * G]  # empty answers: honest zeros, kept
