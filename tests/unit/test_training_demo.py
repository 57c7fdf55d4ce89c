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


def test_the_shipped_demo_model_is_the_default_recipes_and_no_first_run_builds_it(monkeypatch):
    """A fresh clone's first start copies the demo model from the repository (issue 20: no 1.5-8 min
    build before the first reward). Fails when the recipe or builder changed without regenerating it:
    run `python -m core.training.demo ship`."""
    import json

    from core.training import demo

    info = json.loads((demo.SHIPPED_DIR / "swarmdeck-demo.json").read_text())
    assert info["digest"] == demo.DEFAULT_RECIPE.digest(), "run: python -m core.training.demo ship"
    assert demo.shipped_demo_model_matches()

    def no_build(*a, **kw):
        raise AssertionError("the default demo model was built although the repository ships it")

    monkeypatch.setattr(demo, "build_demo_model", no_build)
    d = ensure_demo_model()
    assert d == demo_model_dir() and is_demo_model(d)
    assert (d / "model.safetensors").read_bytes() == (demo.SHIPPED_DIR / "model.safetensors").read_bytes()
    assert not demo.shipped_demo_model_matches(MINI)  # another recipe is built (with progress), not copied


def test_a_build_reports_its_steps_for_the_progress_bar():
    from core.training.demo import build_demo_model

    steps = []
    import tempfile

    with tempfile.TemporaryDirectory() as d:
        build_demo_model(d, MINI, on_step=lambda s, n, el: steps.append((s, n, el)))
    assert [s for s, _, _ in steps] == list(range(1, MINI.steps + 1))
    assert all(n == MINI.steps for _, n, _ in steps) and steps[-1][2] >= steps[0][2] >= 0
