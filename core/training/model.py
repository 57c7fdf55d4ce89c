"""Load a causal LM for GRPO: quantized (bitsandbytes 4/8-bit) or bf16/fp32, with LoRA on top.

`load_model(name, mode)` never raises a traceback for a quantization problem: when 4/8-bit
cannot run here (bitsandbytes missing, no kernel for this platform, a load error), it loads
bf16 (CUDA with bf16 support) or fp32 instead, logs ONE line saying so, and returns a
`LoadedModel` whose `.mode` / `.reason` / `.fallback` say which path ran and why; the node
turns that into a `node.mode` event.

Names: "tiny" (or "tiny-qwen2") builds/loads the local tiny model (core.training.tiny);
anything else goes to transformers' from_pretrained (a local path, or a hub name already in
the user's cache; HF_HUB_OFFLINE is respected).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from core.base.errors import TrainingError
from core.base.i18n import M
from core.hardware.probe import recommend
from core.training.quiet import quiet_optional_warnings
from core.training.tiny import ensure_tiny_model

log = logging.getLogger("swarmdeck.training")

MODES = ("auto", "4bit", "8bit", "bf16", "fp32")
LORA_TARGETS = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]
TINY_ALIASES = {"tiny", "tiny-qwen2"}

@dataclass
class LoraSettings:
    r: int = 16
    alpha: int = 32
    dropout: float = 0.0
    target_modules: list[str] = field(default_factory=lambda: list(LORA_TARGETS))


@dataclass
class LoadedModel:
    model: Any                 # peft PeftModel (LoRA adapters trainable, base frozen)
    tokenizer: Any
    name: str                  # what was asked for
    path: str                  # what was loaded (resolved local dir or hub name)
    requested: str             # mode asked for ("auto" resolved into `mode` or a fallback)
    mode: str                  # the path that actually ran: 4bit | 8bit | bf16 | fp32
    device: str                # cpu | cuda
    reason: str                # why this path ran (one human sentence; the node.mode event's reason)
    fallback: bool = False     # True when quantization was asked for but could not run

    def mode_event(self) -> dict:
        """Fields for the `node.mode` event."""
        return {"mode": self.mode, "device": self.device, "reason": self.reason, "requested": self.requested,
                "fallback": self.fallback}


def resolve_path(name: str) -> str:
    if name in TINY_ALIASES:
        return str(ensure_tiny_model())
    from core.training.demo import DEMO_ALIASES, ensure_demo_model

    if name in DEMO_ALIASES:
        return str(ensure_demo_model())
    return str(Path(name).expanduser()) if Path(name).expanduser().exists() else name


def _cuda_info() -> tuple[bool, float, bool]:
    """(cuda available, VRAM GiB of device 0, bf16 supported)."""
    try:
        import torch

        if torch.cuda.is_available():
            props = torch.cuda.get_device_properties(0)
            return True, props.total_memory / 2**30, bool(torch.cuda.is_bf16_supported())
    except Exception:
        pass
    return False, 0.0, False


def recommend_mode(vram_gib: float | None) -> tuple[str, str]:
    """(mode, reason) for "auto": the doctor's recommendation (core.hardware.probe.recommend) for this VRAM."""
    rec = recommend(vram_gib or None)
    return rec.quant, M("train.mode_auto", reason=rec.reason)


def _check_bitsandbytes() -> None:
    """Raise (any exception) when bitsandbytes cannot quantize here."""
    import bitsandbytes  # noqa: F401  (ImportError when missing or broken)
    import bitsandbytes.functional  # noqa: F401


def load_model(
    name: str,
    mode: str = "auto",
    lora: LoraSettings | None = None,
    device: str | None = None,
    gradient_checkpointing: bool | None = None,
    adapter_dir: str | Path | None = None,
    cpu_threads: int | None = None,
) -> LoadedModel:
    """Load `name` in `mode` with LoRA adapters. See module docstring for the fallback rules.

    device: "cpu" | "cuda" | None (cuda when available).
    gradient_checkpointing: None = on for CUDA (memory), off on CPU (speed).
    adapter_dir: load existing LoRA weights (a checkpoint) instead of fresh adapters.
    cpu_threads: on CPU, torch intra-op threads for this process. Set it when several nodes
        share a machine (cores // nodes): oversubscribed OpenMP threads made steps ~20x slower
        on a loaded 2-core box (measured: 20 s vs 1 s per tiny round).
    """
    if mode not in MODES:
        raise TrainingError(f"unknown quantization mode {mode!r}", where="profile setting `quant`",
                            fix=f"use one of: {', '.join(MODES)}")
    quiet_optional_warnings()
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    has_cuda, vram, bf16_ok = _cuda_info()
    if device is None:
        device = "cuda" if has_cuda else "cpu"
    if device == "cpu":
        vram, bf16_ok = 0.0, False
        if cpu_threads:
            torch.set_num_threads(max(1, int(cpu_threads)))
    path = resolve_path(name)
    requested = mode
    reason = M("train.mode_requested", mode=mode)
    if mode == "auto":
        mode, reason = recommend_mode(vram if device == "cuda" else None)

    try:
        tokenizer = AutoTokenizer.from_pretrained(path)
    except Exception as e:
        raise TrainingError(f"cannot load tokenizer/model {name!r}: {type(e).__name__}: {e}",
                            where=str(path),
                            fix="check the model name; real models load from the Hugging Face cache "
                                "(download once with network access), or use model = \"tiny\"") from None
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    tokenizer.padding_side = "left"

    fallback_dtype = torch.bfloat16 if (device == "cuda" and bf16_ok) else torch.float32
    fallback_mode = "bf16" if fallback_dtype == torch.bfloat16 else "fp32"
    model = None
    fallback = False
    if mode in ("4bit", "8bit"):
        try:
            _check_bitsandbytes()
            from transformers import BitsAndBytesConfig

            compute = torch.bfloat16 if (device == "cuda" and bf16_ok) else torch.float32
            if mode == "4bit":
                qcfg = BitsAndBytesConfig(load_in_4bit=True, bnb_4bit_quant_type="nf4",
                                          bnb_4bit_use_double_quant=True, bnb_4bit_compute_dtype=compute)
            else:
                qcfg = BitsAndBytesConfig(load_in_8bit=True)
            model = AutoModelForCausalLM.from_pretrained(
                path, quantization_config=qcfg, dtype=compute,
                device_map={"": 0} if device == "cuda" else {"": "cpu"},
            )
            if requested != "auto":
                reason = M("train.mode_bnb", mode=mode, kind="nf4 + double quant" if mode == "4bit" else "int8",
                           device=device)
        except Exception as e:  # any failure of the quantized path -> full-precision fallback
            why = f"{type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}".strip()
            reason = M("train.mode_fallback", mode=mode, why=why, fallback=fallback_mode)
            log.warning("training mode: %s", reason)
            model, mode, fallback = None, fallback_mode, True
    if model is None:
        if mode == "bf16" and not (device == "cuda" and bf16_ok):
            # bf16 on CPU works but is far slower than fp32 on most CPUs; say so rather than guess.
            dtype = torch.bfloat16
        else:
            dtype = torch.bfloat16 if mode == "bf16" else torch.float32
        try:
            model = AutoModelForCausalLM.from_pretrained(path, dtype=dtype)
        except Exception as e:
            raise TrainingError(f"cannot load model {name!r}: {type(e).__name__}: {e}", where=str(path),
                                fix="check the model name / free memory, or pick a smaller model") from None
        model.to(device)
        if not fallback and requested != "auto":
            reason = M("train.mode_lora", mode=mode, device=device)

    if gradient_checkpointing is None:
        gradient_checkpointing = device == "cuda"
    if mode == "4bit" and device == "cpu":
        keep_cpu_4bit_trainable(model)
    model = attach_lora(model, lora or LoraSettings(), quantized=mode in ("4bit", "8bit"),
                        gradient_checkpointing=gradient_checkpointing, adapter_dir=adapter_dir)
    log.info("model %s loaded: %s on %s (%s)", name, mode, device, reason)
    return LoadedModel(model=model, tokenizer=tokenizer, name=name, path=str(path), requested=requested,
                       mode=mode, device=device, reason=reason, fallback=fallback)


def keep_cpu_4bit_trainable(model) -> int:
    """Stop bitsandbytes from repacking 4-bit weights for CPU inference; returns the layers changed.

    On CPUs with AVX512-BF16, bitsandbytes (0.49+) converts a Linear4bit's weight to a packed CPU
    layout the first time it runs in eval mode without grad (our generation). That layout has an
    inference-only matmul (no autograd, an in-place bias add), so the next training forward fails
    with "a view of a leaf Variable that requires grad is being used in an in-place operation".
    Turning the layer's AVX512-BF16 flag off keeps the trainable layout; generation then uses the
    same dequantizing path as on every other CPU. unpack_cpu_4bit() undoes a packing that happened
    anyway (the engine calls it before each training step).
    """
    n = 0
    for m in model.modules():
        if getattr(m, "support_avx512bf16_for_cpu", False):
            m.support_avx512bf16_for_cpu = False
            n += 1
    return n


def unpack_cpu_4bit(model) -> int:
    """Convert Linear4bit weights in bitsandbytes' packed CPU inference layout back to the standard
    (trainable) layout, losslessly; returns the number of layers converted (0 = nothing packed)."""
    n = 0
    for m in model.modules():
        w = getattr(m, "weight", None)
        qs = getattr(w, "quant_state", None)
        if qs is None or not getattr(qs, "packing_format_for_cpu", False):
            continue
        from bitsandbytes.functional import _convert_weight_packed_for_cpu_inverse

        w.data, w.quant_state = _convert_weight_packed_for_cpu_inverse(w.data, qs)
        if getattr(m, "quant_state", None) is not None:
            m.quant_state = w.quant_state
        n += 1
    return n


def attach_lora(model, lora: LoraSettings, quantized: bool, gradient_checkpointing: bool,
                adapter_dir: str | Path | None = None):
    from peft import LoraConfig, PeftModel, get_peft_model, prepare_model_for_kbit_training

    if quantized:
        model = prepare_model_for_kbit_training(model, use_gradient_checkpointing=gradient_checkpointing,
                                                gradient_checkpointing_kwargs={"use_reentrant": False})
    elif gradient_checkpointing:
        model.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
        model.enable_input_require_grads()
    if adapter_dir is not None:
        return PeftModel.from_pretrained(model, str(adapter_dir), is_trainable=True)
    cfg = LoraConfig(r=lora.r, lora_alpha=lora.alpha, lora_dropout=lora.dropout,
                     target_modules=list(lora.target_modules), bias="none", task_type="CAUSAL_LM")
    return get_peft_model(model, cfg)
