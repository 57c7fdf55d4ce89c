"""A tiny Qwen2-architecture model with a locally trained byte-level BPE tokenizer.

Used by tests and by the embedded local network on CPU, where the model hub cannot be
reached. Everything is built offline and deterministically (fixed seed, fixed corpus), so
two builds give byte-identical weights and the same tokenizer. The result is cached under
data_dir()/models/<name>; a build goes to a temp dir first and is renamed into place, so a
crash mid-build never leaves a half model that later loads.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
import threading
from pathlib import Path

from core.base import paths

TINY_NAME = "tiny-qwen2"
# Bump when the architecture / corpus / template changes, so stale caches are not reused.
TINY_VERSION = 1

# Qwen2-style special tokens; the chat template below is Qwen's im_start/im_end shape.
SPECIAL_TOKENS = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"]
CHAT_TEMPLATE = (
    "{% for message in messages %}"
    "{{ '<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>' + '\n' }}"
    "{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}"
)

TINY_CONFIG = dict(
    vocab_size=512,
    hidden_size=64,
    intermediate_size=128,
    num_hidden_layers=2,
    num_attention_heads=4,
    num_key_value_heads=2,
    max_position_embeddings=2048,
    rope_theta=10000.0,
    tie_word_embeddings=True,
)

_build_lock = threading.Lock()


def _corpus() -> list[str]:
    """A small fixed corpus resembling the swarm's prompts (digits, operators, task words)."""
    words = (
        "Calculate Simplify the fraction convert number base binary hexadecimal decimal matrix distance "
        "program output grid input rule day week Monday Tuesday Wednesday Thursday Friday Saturday Sunday "
        "answer question premises variables true false and or not implies reasoning think step final "
        "Put your answer inside tags <answer> </answer> system user assistant you are a helpful"
    ).split()
    lines = []
    for i in range(400):
        a, b, c = (i * 7919) % 1000, (i * 104729) % 97, (i * 31) % 13
        w = words[i % len(words)]
        lines.append(f"{w} {a} + {b} - {c} = {a + b - c}. {words[(i * 3) % len(words)]} {a}/{b + 1}")
        lines.append(f"<answer>{a * c}</answer> {w.lower()} {bin(a)[2:]} {hex(b)[2:]} [{c}, {a % 10}]")
    lines.append(" ".join(words))
    return lines


def build_tokenizer(out_dir: Path):
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.BPE(unk_token=None))
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    tok.post_processor = processors.ByteLevel(trim_offsets=False)
    trainer = trainers.BpeTrainer(
        vocab_size=TINY_CONFIG["vocab_size"],
        special_tokens=SPECIAL_TOKENS,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tok.train_from_iterator(_corpus(), trainer=trainer)
    fast = PreTrainedTokenizerFast(
        tokenizer_object=tok,
        eos_token="<|im_end|>",
        pad_token="<|endoftext|>",
        bos_token=None,
        unk_token=None,
        padding_side="left",
        model_max_length=TINY_CONFIG["max_position_embeddings"],
    )
    fast.chat_template = CHAT_TEMPLATE
    fast.save_pretrained(str(out_dir))
    return fast


def build_tiny_model(out_dir: Path) -> Path:
    """Build tokenizer + randomly initialised (seeded) tiny Qwen2 into out_dir (no caching)."""
    import torch
    from transformers import GenerationConfig, Qwen2Config, Qwen2ForCausalLM

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    tok = build_tokenizer(out_dir)
    vocab = max(len(tok), TINY_CONFIG["vocab_size"])
    cfg = Qwen2Config(
        **{**TINY_CONFIG, "vocab_size": vocab},
        bos_token_id=None,
        eos_token_id=tok.eos_token_id,
        pad_token_id=tok.pad_token_id,
    )
    # Seed the init only, without disturbing the caller's global RNG streams.
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(1234)
        model = Qwen2ForCausalLM(cfg)
    model.generation_config = GenerationConfig(
        eos_token_id=tok.eos_token_id, pad_token_id=tok.pad_token_id, do_sample=True, temperature=1.0
    )
    model.save_pretrained(str(out_dir))
    (out_dir / "swarmdeck-tiny.json").write_text(json.dumps({"name": TINY_NAME, "version": TINY_VERSION}))
    return out_dir


def tiny_model_dir() -> Path:
    return paths.data_dir() / "models" / f"{TINY_NAME}-v{TINY_VERSION}"


def _is_complete(d: Path) -> bool:
    return (d / "swarmdeck-tiny.json").is_file() and (d / "config.json").is_file()


def ensure_tiny_model(dest: Path | None = None) -> Path:
    """Return the cached tiny model dir, building it (a few seconds) when missing."""
    dest = Path(dest) if dest is not None else tiny_model_dir()
    if _is_complete(dest):
        return dest
    with _build_lock:
        if _is_complete(dest):
            return dest
        dest.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=f".{dest.name}.", dir=dest.parent))
        try:
            build_tiny_model(tmp)
            try:
                os.rename(tmp, dest)
            except OSError:
                # Another process finished first (dest exists and is non-empty): use theirs.
                if not _is_complete(dest):
                    raise
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
    return dest
