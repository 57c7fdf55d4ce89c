"""Model loading: 4-bit / 8-bit (bitsandbytes on CPU) and bf16/fp32, LoRA on top, and the
fallback when quantization cannot run. A GRPO step must really change the LoRA weights."""

from __future__ import annotations

import logging
import sys

import pytest
import torch

from core.base.errors import TrainingError
from core.training.grpo import GRPOConfig, GRPOEngine
from core.training.model import load_model
from core.training.tiny import build_tiny_model


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    return str(build_tiny_model(tmp_path_factory.mktemp("tiny") / "m"))


def _step_changes_lora(lm):
    eng = GRPOEngine(lm, GRPOConfig(questions_local=2, num_generations=4, max_new_tokens=16, learning_rate=1e-2),
                     peer_id="QmModelTest")
    gen = eng.generate(eng.draw_questions(1), 1)
    rollouts = gen.rollouts
    assert len(rollouts) == 2 and all(len(r.completions) == 4 for r in rollouts)
    assert gen.tokens > 0 and gen.tokens_per_s > 0
    for r in rollouts:  # the random tiny model never solves a task: give the groups signal
        r.rewards = [1.0, 0.0, 0.0, 0.5]
    before = eng.lora_state()
    m = eng.train(rollouts, [])
    after = eng.lora_state()
    assert not m.skipped and m.n_sequences == 8 and m.step_seconds > 0
    delta = max((after[k] - before[k]).abs().max().item() for k in before)
    assert delta > 1e-4, delta
    assert all(torch.isfinite(v).all() for v in after.values())
    return m


def _force_avx512bf16(monkeypatch):
    """Make bitsandbytes' Linear4bit behave as on an AVX512-BF16 CPU (Sapphire Rapids and later)
    whatever this CPU is: such a layer repacks its weight for CPU inference on the first eval-mode
    forward without grad (our generation), which broke the next training step."""
    import bitsandbytes.nn.modules as bnb_modules

    monkeypatch.setattr(bnb_modules, "has_avx512bf16", lambda: True)


def _packed_layers(model):
    import bitsandbytes as bnb

    return [m for m in model.modules() if isinstance(m, bnb.nn.Linear4bit)
            and getattr(getattr(m.weight, "quant_state", None), "packing_format_for_cpu", False)]


@pytest.mark.parametrize("mode,layer", [("4bit", "Linear4bit"), ("8bit", "Linear8bitLt")])
def test_quantized_load_and_grpo_step(tiny, mode, layer, monkeypatch):
    _force_avx512bf16(monkeypatch)
    lm = load_model(tiny, mode)
    assert (lm.mode, lm.device, lm.fallback) == (mode, "cpu", False)
    q_proj = lm.model.get_base_model().model.layers[0].self_attn.q_proj
    assert type(q_proj.base_layer).__name__ == layer  # really quantized, LoRA wrapped around it
    assert hasattr(q_proj, "lora_A")
    trainable = [n for n, p in lm.model.named_parameters() if p.requires_grad]
    assert trainable and all("lora_" in n for n in trainable)
    _step_changes_lora(lm)


def test_4bit_packed_cpu_layout_is_undone_before_training(tiny):
    """Whatever packed the 4-bit weights for CPU inference, the engine trains on the standard layout
    again: the conversion is forced here with bitsandbytes' own packer (any CPU)."""
    import bitsandbytes as bnb
    from bitsandbytes.functional import _convert_weight_packed_for_cpu

    from core.training.model import unpack_cpu_4bit

    lm = load_model(tiny, "4bit")
    layers = [m for m in lm.model.modules() if isinstance(m, bnb.nn.Linear4bit)]
    assert layers
    before = {id(m): m.weight.data.clone() for m in layers}
    x = torch.tensor([[5, 6, 7, 8]])
    with torch.no_grad():
        ref = lm.model(input_ids=x).logits
    for m in layers:
        m.weight.data, m.weight.quant_state = _convert_weight_packed_for_cpu(m.weight.data, m.weight.quant_state)
    assert len(_packed_layers(lm.model)) == len(layers)
    assert unpack_cpu_4bit(lm.model) == len(layers) and not _packed_layers(lm.model)
    assert all(torch.equal(m.weight.data, before[id(m)]) for m in layers)  # the 4-bit codes round-trip exactly
    with torch.no_grad():  # (bitsandbytes re-quantizes the double-quant absmax: outputs agree to ~1e-3)
        assert torch.allclose(lm.model(input_ids=x).logits, ref, atol=5e-3)
    for m in layers:  # packed again: the engine's step must undo it by itself
        m.weight.data, m.weight.quant_state = _convert_weight_packed_for_cpu(m.weight.data, m.weight.quant_state)
    _step_changes_lora(lm)
    assert not _packed_layers(lm.model)


@pytest.mark.parametrize("mode,dtype", [("fp32", torch.float32), ("bf16", torch.bfloat16)])
def test_full_precision_paths(tiny, mode, dtype):
    lm = load_model(tiny, mode)
    assert lm.mode == mode and not lm.fallback
    assert lm.model.get_base_model().model.layers[0].self_attn.q_proj.base_layer.weight.dtype == dtype
    _step_changes_lora(lm)


def test_auto_on_cpu_is_fp32(tiny):
    lm = load_model(tiny, "auto")
    assert lm.requested == "auto" and lm.mode == "fp32" and lm.device == "cpu"
    assert "CPU" in lm.reason or "cpu" in lm.reason


def test_quantization_failure_falls_back_with_one_message(tiny, monkeypatch, caplog):
    # Simulates a platform where bitsandbytes is missing/broken: a None entry in sys.modules
    # makes `import bitsandbytes` raise ImportError (monkeypatching the import, as allowed).
    monkeypatch.setitem(sys.modules, "bitsandbytes", None)
    caplog.set_level(logging.WARNING, logger="swarmdeck.training")
    lm = load_model(tiny, "4bit")
    assert lm.fallback and lm.mode == "fp32" and lm.requested == "4bit"
    assert "4bit quantization could not run here" in lm.reason and "bitsandbytes" in lm.reason
    assert "fp32 + LoRA" in lm.reason
    warn = [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert len(warn) == 1 and "could not run" in warn[0].getMessage()
    ev = lm.mode_event()
    assert ev["mode"] == "fp32" and ev["device"] == "cpu" and ev["fallback"] is True
    from core.events.types import NodeMode

    NodeMode(**ev, model="tiny")  # valid for the node's event (as the runner emits it, with the model name)
    _step_changes_lora(lm)


def test_quantized_load_error_falls_back(tiny, monkeypatch):
    # bitsandbytes imports, but the quantized load itself fails (e.g. no kernel for this GPU).
    import transformers

    real = transformers.AutoModelForCausalLM.from_pretrained

    def failing(*a, **kw):
        if "quantization_config" in kw:
            raise RuntimeError("CUDA Setup failed: no kernel image for this device")
        return real(*a, **kw)

    monkeypatch.setattr(transformers.AutoModelForCausalLM, "from_pretrained", failing)
    lm = load_model(tiny, "8bit")
    assert lm.fallback and lm.mode == "fp32" and "RuntimeError: CUDA Setup failed" in lm.reason


def test_bad_mode_and_missing_model(tmp_path):
    with pytest.raises(TrainingError) as ei:
        load_model("tiny", "3bit")
    assert "3bit" in str(ei.value) and ei.value.fix
    with pytest.raises(TrainingError) as ei:
        load_model(str(tmp_path / "no-such-model"), "fp32")
    assert ei.value.fix and "no-such-model" in str(ei.value)
