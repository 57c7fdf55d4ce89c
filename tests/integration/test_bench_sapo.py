"""The SAPO swarm-vs-solo bench machinery at a minimal size (the full run is `just bench-sapo`).

Real parts: a (minimally pretrained) demo model, reasoning-gym verifiers, GRPO steps, and two real
hivemind DHT nodes for the first round of the swarm arm."""

from __future__ import annotations

import json

import pytest

from core.training.demo import DemoRecipe, ensure_demo_model
from core.training.tasks import DEMO_MIX, SCARCE_MIX
from tests.bench import sapo

pytestmark = pytest.mark.timeout(300)


@pytest.fixture(scope="module")
def mini_model(tmp_path_factory):
    # A 20-step recipe: the machinery, not the learning, is under test here (`just bench-sapo`).
    rec = DemoRecipe(examples=300, steps=60, batch=16, hidden_size=32, intermediate_size=64, num_hidden_layers=1)
    return str(ensure_demo_model(rec, dest=tmp_path_factory.mktemp("demo") / "m"))


def test_bench_writes_the_json_from_real_runs(mini_model, tmp_path):
    cfg = sapo.BenchConfig(nodes=2, rounds=2, seeds=2, I=1, J=1, G=4, dht_rounds=1, threads=1,
                           model=mini_model, out=str(tmp_path), heldout=6)
    res = sapo.run(cfg, log=lambda m: None)
    data = json.loads((tmp_path / "sapo.json").read_text())
    assert data == json.loads(json.dumps(res))
    assert (data["nodes"], data["rounds"], data["seeds"]) == (2, 2, 2)
    for arm in ("swarm", "solo"):
        assert len(data[arm]["mean_reward_per_round"]) == 2 and len(data[arm]["cumulative"]) == 2
        assert all(0.0 <= x <= 1.0 for x in data[arm]["mean_reward_per_round"])
    sw, so = data["swarm"]["cumulative"], data["solo"]["cumulative"]
    for arm, cum in (("swarm", sw), ("solo", so)):  # cumulative = the sum of that seed's round means
        assert cum == pytest.approx([sum(r) for r in data[arm]["per_seed_round"]], abs=1e-4)
    if sum(so):
        lo, hi = data["ci95"]
        assert data["ratio"] == pytest.approx(sum(sw) / sum(so), rel=1e-3) and lo <= hi
    else:  # nothing earned by the solo arm: the ratio is undefined, not a number made up
        assert data["ratio"] is None and data["ci95"] == [None, None]
    assert (tmp_path / "sapo.svg").read_text().startswith("<svg")
    # the DHT round ran and selected exactly what the in-process exchange selected
    assert [c["round"] for c in data["dht_check"]] == [0] and data["dht_check"][0]["agree"]
    assert data["dht_check"][0]["fetched"] == [1, 1]  # each node got the other's one rollout over the DHT
    assert data["solo"]["external_per_round"] == [0.0, 0.0]
    # useful training groups by origin: the solo arm has none from peers; the swarm arm's peer groups
    # are exactly the external groups it trained on
    assert data["solo"]["useful_groups"]["from_peers"] == 0
    assert data["swarm"]["useful_groups"]["from_peers"] == pytest.approx(sum(data["swarm"]["external_per_round"]) * 2 * 2)
    # costs: each arm generated tokens and spent CPU; the per-token ratio is the cumulative ratio
    # rescaled by what each arm generated per node (swarm 1 question a round, solo 2)
    for arm in ("swarm", "solo"):
        assert all(t > 0 for t in data[arm]["tokens_per_node"]) and all(c > 0 for c in data[arm]["cpu_seconds_per_node"])
    if data["ratio"] is not None and sum(sw):
        eff = [[c / t for c, t in zip(data[a]["cumulative"], data[a]["tokens_per_node"])] for a in ("swarm", "solo")]
        assert data["ratio_per_token"] == pytest.approx(sum(eff[0]) / sum(eff[1]), rel=0.02)
    # held-out accuracy per task at start and end, node 0 of every seed
    for h in data["swarm"]["heldout_node0"]:
        assert set(h) == {"before", "after"} and set(h["before"]["tasks"]) <= set(DEMO_MIX)
        assert sum(v["questions"] for v in h["before"]["tasks"].values()) == cfg.heldout
    assert set(data["swarm"]["local_signal_share_round0_by_task"]) <= set(DEMO_MIX)
    # the reported rewards are the verifiers' rewards of real generations: regenerate seed 0's
    # solo round 0 on a fresh engine and compare
    eng = sapo._engine(mini_model, cfg, seed=0, node=0)
    eng2 = sapo._engine(mini_model, cfg, seed=0, node=1)
    r0 = [eng.generate(eng.draw_questions(0, cfg.I + cfg.J), 0).rollouts,
          eng2.generate(eng2.draw_questions(0, cfg.I + cfg.J), 0).rollouts]
    means = [sum(x for ro in rs for x in ro.rewards) / sum(len(ro.rewards) for ro in rs) for rs in r0]
    assert data["solo"]["per_seed_round"][0][0] == pytest.approx(sum(means) / 2, abs=1e-6)
    # the same-questions score: each node's first I questions of a round, which both arms drew alike
    qs = [e.draw_questions(0, cfg.I) for e in (eng, eng2)]
    assert [q.question for q in qs[0]] == [q.question for q in eng.draw_questions(0, cfg.I + cfg.J)[:cfg.I]]
    assert data["solo"]["question_rewards"][0][0][0] == pytest.approx(
        [sum(ro.rewards) / len(ro.rewards) for ro in r0[0]], abs=1e-5)
    for arm in ("swarm", "solo"):
        first = [sum(sum(n[r][:cfg.I]) / cfg.I for n in data[arm]["question_rewards"][0]) / 2 for r in range(2)]
        assert data[arm]["cumulative_same_questions"][0] == pytest.approx(sum(first), abs=1e-4)
        assert all(0.0 <= x <= 1.0 for x in data[arm]["skipped_steps"])
    sq = data["swarm"]["cumulative_same_questions"], data["solo"]["cumulative_same_questions"]
    assert data["ratio_same_questions"] == (pytest.approx(sum(sq[0]) / sum(sq[1]), rel=1e-3) if sum(sq[1]) else None)


def test_scarce_regime_draws_the_harder_settings_and_selection_policy_reaches_the_engine(mini_model):
    cfg = sapo.BenchConfig(nodes=2, regime="scarce", select="rare", model=mini_model)
    eng = sapo._engine(mini_model, cfg, seed=0, node=0)
    qs = [q for r in range(4) for q in eng.draw_questions(r, 4)]
    assert {q.task for q in qs} == set(SCARCE_MIX) and eng.config.selection == "rare"
    bits = [q for q in qs if q.task == "count_bits"]
    lo, hi = SCARCE_MIX["count_bits"]["min_n"], SCARCE_MIX["count_bits"]["max_n"]
    assert bits and all(lo <= int(q.metadata["number"]) <= hi for q in bits)
    with pytest.raises(ValueError, match="scarce"):
        sapo.BenchConfig(regime="hard")


def test_split_mix_makes_each_node_a_specialist_that_still_scores_every_task(mini_model):
    cfg = sapo.BenchConfig(nodes=3, I=6, G=2, threads=1, model=mini_model, mix="split")
    engines = [sapo._engine(mini_model, cfg, seed=0, node=i) for i in range(3)]
    drawn = [{q.task for r in range(3) for q in e.draw_questions(r, cfg.I)} for e in engines]
    assert drawn == [{t} for t in list(DEMO_MIX)]  # node i draws task i only
    # a peer's rollout of another task is scored by that task's own verifier (its demo difficulty)
    q = engines[1].draw_questions(0, 1)[0]
    right = f"<answer>{q.answer}</answer>"
    assert engines[0].tasks.score_question(q, [right]) == [1.0]
    same = sapo._engine(mini_model, sapo.BenchConfig(nodes=3, model=mini_model), seed=0, node=0)
    assert len({q.task for r in range(6) for q in same.draw_questions(r, 6)}) == len(DEMO_MIX)


def test_poisoners_are_refused_with_verification_and_trained_on_without(mini_model, tmp_path):
    """`--poisoners K`: the liars' groups never reach a verifying node's training; with verification off (the
    negative control) they do, so the bench's poisoned/unverified ratio measures what verification saves."""
    cfg = sapo.BenchConfig(nodes=2, rounds=2, seeds=1, I=2, J=2, G=4, dht_rounds=0, heldout=0, threads=1,
                           model=mini_model, out=str(tmp_path), poisoners=1)
    res = sapo.run(cfg, log=lambda m: None)
    assert set(res) >= {"swarm", "solo", "poisoned", "poisoned_unverified"}
    assert res["poisoned"]["poisoned_selected"] == [0]
    assert res["poisoned_unverified"]["poisoned_selected"][0] > 0
    eng = sapo._engine(mini_model, cfg, seed=0, node=0)
    lies = sapo.liar_groups(eng.tasks, 0, 1, 3, 4)
    rep = eng.verify_external(lies)
    assert rep.accepted == [] and dict(rep.refused) == {"disagree": 2, "flood": 1}  # per-peer cap J=2
