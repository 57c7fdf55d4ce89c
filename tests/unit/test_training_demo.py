"""The local demo model: built once per recipe (cached by its hash), loadable, and its task mix and
training defaults. The full recipe's learning is measured by `just bench-sapo` (docs/sharing.md)."""

from __future__ import annotations

import pytest

from core.config.settings import TrainingSettings
from core.training.demo import (DEMO_TRAINING, DemoRecipe, apply_demo_defaults, demo_model_dir, ensure_demo_model,
                                is_demo_model, synthetic_examples)
from core.training.tasks import DEMO_MIX, task_pool

MINI = DemoRecipe(examples=120, steps=6, batch=4, hidden_size=32, intermediate_size=64, num_hidden_layers=1)


def test_mini_build_is_cached_by_recipe_hash_and_loads():
    d = ensure_demo_model(MINI)
    assert d == demo_model_dir(MINI) and d.name == f"demo-{MINI.digest()[:12]}" and is_demo_model(d)
    mtime = (d / "model.safetensors").stat().st_mtime_ns
    assert ensure_demo_model(MINI) == d and (d / "model.safetensors").stat().st_mtime_ns == mtime  # not rebuilt
    assert not [p for p in d.parent.iterdir() if p.name.startswith(".") and p.is_dir()]  # no temp dirs left
    other = DemoRecipe(**{**MINI.__dict__, "steps": 7})
    assert demo_model_dir(other) != d  # another recipe, another directory
    from core.training.grpo import GRPOConfig, GRPOEngine
    from core.training.model import load_model

    lm = load_model(str(d), "fp32")
    eng = GRPOEngine(lm, GRPOConfig(questions_local=2, num_generations=2, max_new_tokens=8),
                     tasks=task_pool("demo"), peer_id="QmDemo")
    ro = eng.generate(eng.draw_questions(1), 1).rollouts
    assert {r.task for r in ro} <= set(DEMO_MIX) and all(len(r.rewards) == 2 for r in ro)


def test_synthetic_examples_use_the_answer_format_and_are_deliberately_imperfect():
    pairs = synthetic_examples(DemoRecipe(examples=300))
    assert len(pairs) == 300
    assert all(p.endswith("<|im_start|>assistant\n") and c.startswith("<answer>") and c.endswith("</answer>")
               for p, c in pairs)
    wordy = sum("It is" in c for _, c in pairs) / len(pairs)
    assert 0.3 < wordy < 0.5  # recipe default 0.4


def test_demo_training_defaults_apply_only_to_settings_left_at_default():
    t, changed = apply_demo_defaults(TrainingSettings())
    assert changed == {k: v for k, v in DEMO_TRAINING.items() if k in changed} and t.learning_rate == 1e-3
    t2, changed2 = apply_demo_defaults(TrainingSettings(learning_rate=3e-4, generations=4))
    assert t2.learning_rate == 3e-4 and t2.generations == 4 and "learning_rate" not in changed2
    assert t2.max_new_tokens == DEMO_TRAINING["max_new_tokens"]


def test_unknown_mix_is_refused_with_the_fix():
    from core.base.errors import TrainingError

    with pytest.raises(TrainingError) as e:
        task_pool("easy")
    assert "task_mix" in str(e.value.where) and "demo" in e.value.fix
