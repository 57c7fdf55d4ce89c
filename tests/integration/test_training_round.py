"""Two peers' training sides through the public API, as the node loop drives them:
draw -> generate -> (wire: JSON, no private fields) -> SAPO select -> train -> checkpoint -> resume.
The DHT is left out here (core/swarm has its own tests); rollouts cross as JSON like on the wire."""

from __future__ import annotations

import dataclasses
import json

import pytest

from core.events.types import TrainStep
from core.base.rollouts import Rollout
from core.training.checkpoint import CheckpointManager
from core.training.grpo import GRPOConfig, GRPOEngine
from core.training.model import load_model
from core.training.tasks import Question
from core.training.tiny import build_tiny_model


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    return str(build_tiny_model(tmp_path_factory.mktemp("tiny") / "m"))


def _wire(rollouts):
    # what another peer receives: the dataclass fields only, through JSON
    return [Rollout(**json.loads(json.dumps(dataclasses.asdict(r)))) for r in rollouts]


def test_two_peers_share_and_train_then_resume(tiny, tmp_path, monkeypatch):
    # 4-bit layers behave as on an AVX512-BF16 CPU whatever this one is: they would repack
    # themselves for CPU inference during generation, which broke the next training step there.
    import bitsandbytes.nn.modules as bnb_modules

    monkeypatch.setattr(bnb_modules, "has_avx512bf16", lambda: True)
    cfg = dict(questions_local=2, questions_external=2, num_generations=4, max_new_tokens=12, learning_rate=5e-3)
    a = GRPOEngine(load_model(tiny, "4bit"), GRPOConfig(**cfg), peer_id="QmPeerA")
    b = GRPOEngine(load_model(tiny, "fp32"), GRPOConfig(**cfg), peer_id="QmPeerB")
    ck = CheckpointManager(tmp_path / "a-ck", keep=2)
    start = a.lora_state()
    for rnd in (1, 2):
        ga = a.generate(a.draw_questions(rnd), rnd)
        la, lb = ga.rollouts, b.generate(b.draw_questions(rnd), rnd).rollouts
        assert ga.tokens > 0 and ga.tokens_per_s > 0
        assert {r.question for r in la}.isdisjoint({r.question for r in lb})  # seeded by peer id
        # the random tiny model scores ~0 everywhere; give B's rollouts signal as a trained model would:
        # one right completion per group, scored by B's verifier (A re-scores them with its own)
        for r in lb:
            r.completions[0] = f"<answer>{r.answer}</answer>"
            r.rewards = b.tasks.score_question(Question(r.task, r.question, r.answer, r.metadata), r.completions)
        got = _wire(lb + la)  # A fetches everything of the round, its own included
        assert all(not hasattr(r, "_completion_ids") for r in got)
        ext = a.select_external(got, rnd)
        assert ext and all(r.peer_id == "QmPeerB" for r in ext), a.last_verify  # never its own, only with signal
        m = a.train(la, ext, ga)
        assert m.n_external == len(ext) and m.n_groups >= len(ext) and not m.skipped
        assert m.generate_tokens_per_s == ga.tokens_per_s
        ev = TrainStep(round=rnd, loss=m.loss, step_seconds=m.step_seconds, tokens_per_s=m.generate_tokens_per_s)
        assert TrainStep.from_wire(json.loads(ev.to_json())) == ev  # what the node emits reads back
        ck.save(a.model, a.optimizer, rnd, extra={"mode": a.loaded.mode})
    after = a.lora_state()
    assert max((after[k] - start[k]).abs().max().item() for k in start) > 1e-5  # learnt from B's rollouts

    # restart: a fresh process state resumes at round 2 with the same adapter and optimizer
    a2 = GRPOEngine(load_model(tiny, "4bit"), GRPOConfig(**cfg), peer_id="QmPeerA")
    info = CheckpointManager(tmp_path / "a-ck").load_latest(a2.model, a2.optimizer)
    assert info.round == 2 and info.meta["mode"] == "4bit"
    s2 = a2.lora_state()
    assert all((s2[k] == after[k]).all() for k in after)
    # and regenerates exactly the same questions for a round
    assert [q.question for q in a2.draw_questions(2)] == [q.question for q in a.draw_questions(2)]
