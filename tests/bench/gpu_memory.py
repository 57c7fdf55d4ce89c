#!/usr/bin/env python
"""Peak GPU memory and GRPO step time for 0.5B / 1.5B / 7B-shaped Qwen2 models, bf16 vs 8-bit vs
4-bit, LoRA r=16, G=8 completions of 512 tokens (plus a 200-token prompt).

Standalone (not collected by pytest), from the repo root: `python -m tests.bench.gpu_memory [--sizes 0.5b,1.5b]
[--modes 4bit] [--steps 2] [--budget 420] [--results]`. No model hub: random weights from the
real Qwen2.5 configs written inline, quantized in place with bitsandbytes (nf4 + double quant /
int8), then LoRA + prepare_model_for_kbit_training exactly as core.training.model does, and the
step is swarmdeck's own GRPOEngine.train_groups (chunked log-probs, gradient checkpointing).
Completions are random token ids: memory and time of a step do not depend on the text.

Each model size runs in its own child process (a CUDA OOM or a crash in one cannot take the
others down; the GPU is clean for the next). `--budget` seconds caps the whole run: configs that
would start after it are reported as "skipped (budget)". Prints a markdown table; `--results`
also writes it to the "## Training (GPU memory)" section of tests/bench/RESULTS.md.
On a machine without CUDA it prints that it needs a GPU and exits with status 2.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

# Shapes from the public Qwen2.5 configs (hidden, intermediate, layers, heads, kv heads, vocab, tied).
SHAPES = {
    "tiny": dict(hidden_size=64, intermediate_size=128, num_hidden_layers=2, num_attention_heads=4,
                 num_key_value_heads=2, vocab_size=512, tie_word_embeddings=True),  # CPU smoke test only
    "0.5b": dict(hidden_size=896, intermediate_size=4864, num_hidden_layers=24, num_attention_heads=14,
                 num_key_value_heads=2, vocab_size=151936, tie_word_embeddings=True),
    "1.5b": dict(hidden_size=1536, intermediate_size=8960, num_hidden_layers=28, num_attention_heads=12,
                 num_key_value_heads=2, vocab_size=151936, tie_word_embeddings=True),
    "7b": dict(hidden_size=3584, intermediate_size=18944, num_hidden_layers=28, num_attention_heads=28,
               num_key_value_heads=4, vocab_size=152064, tie_word_embeddings=False),
}
GOALS_GB = {("7b", "4bit"): 16.0, ("1.5b", "4bit"): 5.0}


def _quantize_linears(model, mode: str, device, compute_dtype):
    """Swap every decoder nn.Linear for a bitsandbytes layer holding the same (random) weights."""
    import bitsandbytes as bnb
    import torch

    for parent in list(model.modules()):
        for cname, child in list(parent.named_children()):
            if not isinstance(child, torch.nn.Linear) or cname == "lm_head":
                continue
            w, b = child.weight.data, child.bias
            if mode == "4bit":
                new = bnb.nn.Linear4bit(child.in_features, child.out_features, bias=b is not None,
                                        compute_dtype=compute_dtype, compress_statistics=True, quant_type="nf4",
                                        device="meta")
                new.weight = bnb.nn.Params4bit(w, requires_grad=False, compress_statistics=True, quant_type="nf4")
            else:
                new = bnb.nn.Linear8bitLt(child.in_features, child.out_features, bias=b is not None,
                                          has_fp16_weights=False, threshold=6.0, device="meta")
                # Int8Params quantizes on a move from CPU.
                new.weight = bnb.nn.Int8Params(w.to("cpu"), requires_grad=False, has_fp16_weights=False)
            if b is not None:
                new.bias = torch.nn.Parameter(b.data, requires_grad=False)
            setattr(parent, cname, new.to(device))
            del child, w
    setattr(model, f"is_loaded_in_{mode[0]}bit", True)  # what prepare_model_for_kbit_training checks
    model.is_quantized = True


def run_one(size: str, mode: str, steps: int, G: int, prompt: int, completion: int, gen_tokens: int,
            device_name: str) -> dict:
    import gc
    import types

    import torch
    from transformers import Qwen2Config, Qwen2ForCausalLM

    from core.training.grpo import GRPOConfig, GRPOEngine, TokenGroup
    from core.training.model import LoadedModel, LoraSettings, attach_lora, quiet_optional_warnings

    quiet_optional_warnings()
    dev = torch.device(device_name)
    cuda = dev.type == "cuda"
    dtype = torch.bfloat16 if (cuda or mode == "bf16") else torch.float32
    cfg = Qwen2Config(**SHAPES[size], rope_theta=1e6, max_position_embeddings=32768, rms_norm_eps=1e-6,
                      eos_token_id=2, pad_token_id=0, bos_token_id=None)
    t0 = time.perf_counter()
    if cuda:
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats()
    prev = torch.get_default_dtype()
    torch.set_default_dtype(dtype)
    try:
        with dev:
            model = Qwen2ForCausalLM(cfg)
    finally:
        torch.set_default_dtype(prev)
    model.config.use_cache = False
    if mode in ("4bit", "8bit"):
        _quantize_linears(model, mode, dev, dtype)
    model = attach_lora(model, LoraSettings(), quantized=mode != "bf16", gradient_checkpointing=True)
    gc.collect()
    build_s = time.perf_counter() - t0
    tok = types.SimpleNamespace(eos_token_id=2, pad_token_id=0)
    lm = LoadedModel(model=model, tokenizer=tok, name=f"qwen2-{size}-random", path="", requested=mode, mode=mode,
                     device=dev.type, reason="benchmark")
    eng = GRPOEngine(lm, GRPOConfig(num_generations=G, max_new_tokens=completion, micro_batch=G,
                                    learning_rate=1e-5))
    g = torch.Generator().manual_seed(0)
    V = SHAPES[size]["vocab_size"]

    def group():
        p = torch.randint(3, V, (prompt,), generator=g).tolist()
        cs = [torch.randint(3, V, (completion,), generator=g).tolist() for _ in range(G)]
        return TokenGroup(prompt_ids=p, completion_ids=cs, rewards=[float(i % 2) for i in range(G)])

    if cuda:
        torch.cuda.synchronize()
        weights_gb = torch.cuda.memory_allocated() / 2**30
        torch.cuda.reset_peak_memory_stats()
    else:
        weights_gb = float("nan")
    times = []
    for i in range(steps + 1):  # step 0 warms up kernels and the allocator
        t = time.perf_counter()
        eng.train_groups([group()])
        if cuda:
            torch.cuda.synchronize()
        if i:
            times.append(time.perf_counter() - t)
    peak_gb = torch.cuda.max_memory_allocated() / 2**30 if cuda else float("nan")
    reserved_gb = torch.cuda.max_memory_reserved() / 2**30 if cuda else float("nan")
    gen_tps = None
    if gen_tokens > 0:
        eng.config.max_new_tokens = gen_tokens
        rows = [torch.randint(3, V, (prompt,), generator=g).tolist()] * G
        model.eval()
        eng._generate_rows(rows[:1])  # warm-up
        t = time.perf_counter()
        out = eng._generate_rows(rows)
        if cuda:
            torch.cuda.synchronize()
        gen_tps = sum(len(o) for o in out) / (time.perf_counter() - t)
    return {"size": size, "mode": mode, "status": "ok", "peak_gb": peak_gb, "reserved_gb": reserved_gb,
            "weights_gb": weights_gb, "step_s": sorted(times)[len(times) // 2], "build_s": build_s,
            "gen_tok_s": gen_tps, "tokens_per_step": G * completion}


def child_main(args) -> int:
    import torch

    for mode in args.modes.split(","):
        try:
            res = run_one(args.child, mode, args.steps, args.G, args.prompt, args.completion, args.gen_tokens,
                          args.device)
        except torch.cuda.OutOfMemoryError as e:
            res = {"size": args.child, "mode": mode, "status": "OOM", "error": str(e).splitlines()[0][:200]}
        except Exception as e:  # report and go on with the next mode
            res = {"size": args.child, "mode": mode, "status": "error", "error": f"{type(e).__name__}: {e}"[:300]}
        print("RESULT " + json.dumps(res), flush=True)
        import gc

        gc.collect()
        if torch.cuda.is_available():
            torch.cuda.empty_cache()
    return 0


def table(results: list[dict], args, device_desc: str) -> str:
    lines = [f"Device: {device_desc}. Qwen2.5-shaped random weights, LoRA r=16 on all linear layers, "
             f"gradient checkpointing, G={args.G}, prompt {args.prompt} + completion {args.completion} tokens, "
             f"one GRPO step over the G sequences; median of {args.steps} steps after a warm-up step. "
             f"Peak = torch.cuda.max_memory_allocated during the steps (weights included).",
             "",
             "| shape | mode | peak GiB | weights GiB | s/step | train tok/s | gen tok/s (G seqs) | goal |",
             "|---|---|---|---|---|---|---|---|"]
    for r in results:
        goal = GOALS_GB.get((r["size"], r["mode"]))
        goal_s = f"<= {goal:.0f} GB" if goal else ""
        if r["status"] != "ok":
            lines.append(f"| {r['size']} | {r['mode']} | {r['status']} | | | | | {goal_s} {r.get('error', '')} |")
            continue
        ok = "" if goal is None else (" ✓" if r["peak_gb"] * 1.0737 <= goal else " ✗")
        gen = f"{r['gen_tok_s']:.0f}" if r.get("gen_tok_s") else "-"
        lines.append(f"| {r['size']} | {r['mode']} | {r['peak_gb']:.2f} | {r['weights_gb']:.2f} | {r['step_s']:.2f} | "
                     f"{r['tokens_per_step'] / r['step_s']:.0f} | {gen} | {goal_s}{ok} |")
    return "\n".join(lines)


def measure(sizes: str, modes: str, *, steps: int = 2, G: int = 8, prompt: int = 200, completion: int = 512,
            gen_tokens: int = 0, budget: float = 480.0, device: str = "cuda") -> tuple[list[dict], str]:
    """Each shape in its own child process, within `budget` seconds: (results, device description)."""
    import torch

    if device == "cuda":
        p = torch.cuda.get_device_properties(0)
        device_desc = f"{p.name}, {p.total_memory / 2**30:.0f} GiB, torch {torch.__version__}"
    else:
        device_desc = "CPU (smoke test)"
    deadline = time.monotonic() + budget
    results = []
    for size in sizes.split(","):
        mode_list = modes.split(",")
        left = deadline - time.monotonic()
        if left < 20:
            results += [{"size": size, "mode": m, "status": "skipped (budget)"} for m in mode_list]
            continue
        cmd = [sys.executable, "-m", "tests.bench.gpu_memory", "--child", size, "--modes", ",".join(mode_list), "--steps", str(steps),
               "--G", str(G), "--prompt", str(prompt), "--completion", str(completion),
               "--gen-tokens", str(gen_tokens), "--device", device]
        got = {}
        try:
            proc = subprocess.run(cmd, capture_output=True, text=True, timeout=left, cwd=str(ROOT))
            out, err = proc.stdout, proc.stderr
        except subprocess.TimeoutExpired as e:
            out = e.stdout.decode() if isinstance(e.stdout, bytes) else (e.stdout or "")
            err = "timeout (budget)"
        for line in out.splitlines():
            if line.startswith("RESULT "):
                r = json.loads(line[7:])
                got[r["mode"]] = r
                detail = f"peak {r['peak_gb']:.2f} GiB, {r['step_s']:.2f} s/step" if r["status"] == "ok" else ""
                print(f"  {r['size']:>5} {r['mode']:>5}: {r['status']} {detail}", flush=True)
        for m in mode_list:
            results.append(got.get(m) or {"size": size, "mode": m, "status": "crashed",
                                          "error": (err or "").strip().splitlines()[-1][:200] if err else ""})
    return results, device_desc


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--sizes", default="0.5b,1.5b,7b", help="comma list of: 0.5b,1.5b,7b (tiny = CPU smoke test)")
    ap.add_argument("--modes", default="bf16,8bit,4bit", help="comma list of: bf16,8bit,4bit")
    ap.add_argument("--steps", type=int, default=2, help="measured steps per config (after one warm-up)")
    ap.add_argument("--G", type=int, default=8)
    ap.add_argument("--prompt", type=int, default=200)
    ap.add_argument("--completion", type=int, default=512)
    ap.add_argument("--gen-tokens", type=int, default=0, help="also time generation of this many tokens (0 = off)")
    ap.add_argument("--budget", type=float, default=480.0, help="seconds for the whole run; later configs skipped")
    ap.add_argument("--results", action="store_true", help="write the table to tests/bench/RESULTS.md")
    ap.add_argument("--device", default="cuda", help=argparse.SUPPRESS)
    ap.add_argument("--child", default=None, help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    if args.child:
        return child_main(args)

    import torch

    if args.device == "cuda" and not torch.cuda.is_available():
        print("gpu_memory.py needs a GPU: torch sees no CUDA device here (CPU-only machine or no driver). "
              "Run it on a CUDA machine; nothing was measured.")
        return 2
    results, device_desc = measure(args.sizes, args.modes, steps=args.steps, G=args.G, prompt=args.prompt,
                                   completion=args.completion, gen_tokens=args.gen_tokens, budget=args.budget,
                                   device=args.device)
    md = table(results, args, device_desc)
    print("\n" + md)
    if args.results:
        from tests.bench.test_bench_training import write_section

        write_section("Training (GPU memory)", md)
    return 0


if __name__ == "__main__":
    sys.exit(main())
