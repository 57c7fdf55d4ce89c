"""The tiny Qwen2 model + local byte-level BPE tokenizer: deterministic, offline, cached."""

from __future__ import annotations

import hashlib

from core.training.tiny import build_tiny_model, ensure_tiny_model, tiny_model_dir


def _digest(d):
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(d.iterdir()) if p.name in ("model.safetensors", "tokenizer.json", "config.json")}


def test_build_is_deterministic(tmp_path):
    a = build_tiny_model(tmp_path / "a")
    b = build_tiny_model(tmp_path / "b")
    assert _digest(a) == _digest(b) and len(_digest(a)) == 3


def test_tokenizer_and_chat_template(tmp_path):
    from transformers import AutoConfig, AutoTokenizer

    d = build_tiny_model(tmp_path / "m")
    tok = AutoTokenizer.from_pretrained(d)
    cfg = AutoConfig.from_pretrained(d)
    assert cfg.model_type == "qwen2" and cfg.vocab_size >= len(tok)
    text = tok.apply_chat_template([{"role": "user", "content": "Calculate 2 + 2."}], tokenize=False,
                                   add_generation_prompt=True)
    assert text == "<|im_start|>user\nCalculate 2 + 2.<|im_end|>\n<|im_start|>assistant\n"
    ids = tok("héllo <answer>42</answer> ∑", add_special_tokens=False)["input_ids"]
    assert tok.decode(ids) == "héllo <answer>42</answer> ∑"  # byte-level: any text round-trips
    assert tok.eos_token == "<|im_end|>" and tok.pad_token_id != tok.eos_token_id


def test_cached_under_data_dir():
    d = ensure_tiny_model()
    assert d == tiny_model_dir() and (d / "model.safetensors").is_file()
    mtime = (d / "model.safetensors").stat().st_mtime_ns
    assert ensure_tiny_model() == d
    assert (d / "model.safetensors").stat().st_mtime_ns == mtime  # not rebuilt
    assert not [p for p in d.parent.iterdir() if p.name.startswith(".")]  # no temp dirs left
