"""Training benchmarks, ratios against baselines measured in the same run (CPU, tiny model).

1. engine round time / bare trl GRPOTrainer step time, same model, LoRA, I*G sequences,
   max completion length, lr, clip, beta, reward function (goal <= 1.05);
2. engine rollout tokens/s / raw `model.generate` on the same batch (goal >= 0.9);
3. s/step of the engine in each mode (fp32, bf16, 4bit, 8bit) for the record.

Reward used by BOTH sides: the task's verifier score plus a small deterministic bonus from the
completion text, because a random tiny model never solves a task: with all-zero rewards the
engine would skip its (signal-less) update and the comparison would flatter it.
Results are printed and written to the "## Training" section of tests/bench/RESULTS.md.
"""

from __future__ import annotations

import os
import re
import statistics
import time
from pathlib import Path

import pytest

os.environ.setdefault("TRL_EXPERIMENTAL_SILENCE", "1")

I, G, MAX_NEW, ROUNDS = 2, 4, 32, 5
LR = 1e-4
RESULTS = Path(__file__).with_name("RESULTS.md")


def _bench_pool():
    from core.training.tasks import TaskPool

    class BenchPool(TaskPool):
        def score(self, task, entry, completion):
            return super().score(task, entry, completion) + (len(completion) % 5) / 10.0

    return BenchPool()


def write_section(title: str, body: str) -> None:
    """Replace (or append) our `## title` section of RESULTS.md, leaving other sections alone."""
    text = RESULTS.read_text() if RESULTS.exists() else "# Benchmark results\n"
    block = f"## {title}\n\n{body.strip()}\n\n"
    pat = re.compile(rf"^## {re.escape(title)}\n.*?(?=^## |\Z)", re.S | re.M)
    text = pat.sub(lambda _: block, text) if pat.search(text) else text.rstrip() + "\n\n" + block
    RESULTS.write_text(text)


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    from core.training.tiny import build_tiny_model

    return str(build_tiny_model(tmp_path_factory.mktemp("tiny") / "m"))


def _engine(tiny, mode="fp32"):
    from core.training.grpo import GRPOConfig, GRPOEngine
    from core.training.model import load_model

    cfg = GRPOConfig(questions_local=I, num_generations=G, max_new_tokens=MAX_NEW, learning_rate=LR,
                     micro_batch=I * G)
    return GRPOEngine(load_model(tiny, mode), cfg, tasks=_bench_pool(), peer_id="QmBench")


def _engine_rounds(eng, rounds=ROUNDS, detail=None):
    times, toks = [], []
    for r in range(rounds + 1):
        qs = eng.draw_questions(r)
        t0 = time.perf_counter()
        gen = eng.generate(qs, r)
        m = eng.train(gen.rollouts, [], gen)
        dt = time.perf_counter() - t0
        if r:  # round 0 warms up allocators / autograd
            times.append(dt)
            toks.append(gen.tokens)
            if detail is not None:
                detail.setdefault("train_s", []).append(m.step_seconds)
                detail.setdefault("gen_tps", []).append(gen.tokens_per_s)
    return times, toks, m


def _trl_steps(tiny, rounds=ROUNDS):
    import torch
    from datasets import Dataset
    from peft import LoraConfig
    from transformers import AutoModelForCausalLM, AutoTokenizer, TrainerCallback
    from trl import GRPOConfig as TrlConfig
    from trl import GRPOTrainer

    from core.training.model import LORA_TARGETS, quiet_optional_warnings
    from core.training.tasks import SYSTEM_PROMPT, TaskPool

    quiet_optional_warnings()
    pool = _bench_pool()
    qs = [q for r in range(rounds + 1) for q in TaskPool().draw(r, "QmBench", I)]
    by_q = {q.question: q for q in qs}
    ds = Dataset.from_list([{"prompt": [{"role": "system", "content": SYSTEM_PROMPT},
                                        {"role": "user", "content": q.question}]} for q in qs])

    def reward(prompts, completions, **kw):
        out = []
        for p, c in zip(prompts, completions):
            q = by_q[p[-1]["content"]]
            text = c[-1]["content"] if isinstance(c, list) else c
            out.append(pool.score(q.task, q.entry(), text))
        return out

    tok = AutoTokenizer.from_pretrained(tiny)
    tok.padding_side = "left"
    model = AutoModelForCausalLM.from_pretrained(tiny, dtype=torch.float32)
    args = TrlConfig(
        output_dir=str(Path(tiny).parent / "trl-out"), per_device_train_batch_size=I * G, num_generations=G,
        max_completion_length=MAX_NEW, learning_rate=LR, beta=0.0, epsilon=0.2, epsilon_high=0.28,
        loss_type="grpo", max_steps=rounds + 1, logging_steps=1, report_to=[], use_cpu=True,
        save_strategy="no", temperature=1.0, top_k=0, bf16=False, disable_tqdm=True, shuffle_dataset=False,
        gradient_accumulation_steps=1, seed=0, gradient_checkpointing=False, lr_scheduler_type="constant", warmup_steps=0,
    )
    times = []

    class Timer(TrainerCallback):
        def on_step_begin(self, a, state, control, **kw):
            self.t0 = time.perf_counter()

        def on_step_end(self, a, state, control, **kw):
            times.append(time.perf_counter() - self.t0)

    tr = GRPOTrainer(model=model, reward_funcs=reward, args=args, train_dataset=ds, processing_class=tok,
                     peft_config=LoraConfig(r=16, lora_alpha=32, lora_dropout=0.0, target_modules=LORA_TARGETS,
                                            task_type="CAUSAL_LM"),
                     callbacks=[Timer()])
    tr.train()
    lens = [h["completions/mean_length"] for h in tr.state.log_history if "completions/mean_length" in h]
    toks = [float(x) * I * G for x in lens]
    return times[1:], toks[1:len(times)]


def _raw_generate_tps(eng, qs, reps=5):
    """tokens/s of a bare model.generate on the batch the engine generates (same prompts, G, kwargs,
    and the same sampling seed as engine.generate(qs, k), so both sample identical tokens)."""
    import torch

    cfg = eng.config
    rows = [eng.prompt_ids(q.question) for q in qs for _ in range(cfg.num_generations)]
    width = max(len(r) for r in rows)
    ids = torch.full((len(rows), width), eng._pad, dtype=torch.long)
    mask = torch.zeros_like(ids)
    for i, r in enumerate(rows):
        ids[i, width - len(r):] = torch.tensor(r)
        mask[i, width - len(r):] = 1
    rates = []
    eng.model.eval()
    for k in range(reps):
        torch.manual_seed(eng.generation_seed(k))
        t0 = time.perf_counter()
        with torch.no_grad():
            out = eng.model.generate(input_ids=ids, attention_mask=mask, do_sample=True, temperature=1.0,
                                     top_p=1.0, max_new_tokens=cfg.max_new_tokens, eos_token_id=eng._eos,
                                     pad_token_id=eng._pad, use_cache=True)
        dt = time.perf_counter() - t0
        n = 0
        for g in out[:, width:].tolist():
            n += g.index(eng._eos) + 1 if eng._eos in g else len(g)
        rates.append(n / dt)
    return rates


def _engine_generate_tps(eng, qs, reps=5):
    rates = []
    for k in range(reps):
        t0 = time.perf_counter()
        gen = eng.generate(qs, k)  # whole call: generation + decode + verifier scoring
        rates.append(gen.tokens / (time.perf_counter() - t0))
    return rates


def test_bench_training(tiny):
    # 1. engine vs bare trl, interleaved twice to average out the shared machine's noise
    import torch

    threads = torch.get_num_threads()
    # One intra-op thread: this 2-core machine is shared by other helpers' processes, and
    # oversubscribed OpenMP threads made every step ~20x slower and the ratios noise.
    torch.set_num_threads(1)
    eng_t, eng_tok, trl_t, trl_tok = [], [], [], []
    eng = _engine(tiny)
    for _ in range(2):
        t, tk, _m = _engine_rounds(eng)
        eng_t += t
        eng_tok += tk
        t, tk = _trl_steps(tiny)
        trl_t += t
        trl_tok += tk
    e_med, t_med = statistics.median(eng_t), statistics.median(trl_t)
    round_ratio = e_med / t_med
    # per generated token, since sampled lengths differ between the two runs
    e_pt = sum(eng_t) / max(1, sum(eng_tok))
    t_pt = sum(trl_t[:len(trl_tok)]) / max(1, sum(trl_tok)) if trl_tok else float("nan")

    # 2. rollout tokens/s vs raw generate, same batch, alternating
    qs = eng.draw_questions(100)
    raw, ours = [], []
    for _ in range(4):  # interleaved: the machine's load drifts
        raw += _raw_generate_tps(eng, qs, reps=3)
        ours += _engine_generate_tps(eng, qs, reps=3)
    tps_ratio = statistics.median(ours) / statistics.median(raw)

    # 3. per mode s/step (generate + train of one round, I*G sequences)
    modes = {}
    for mode in ("fp32", "bf16", "4bit", "8bit"):
        e = eng if mode == "fp32" else _engine(tiny, mode)
        d: dict = {}
        t, tk, m = _engine_rounds(e, rounds=4, detail=d)
        modes[mode] = (statistics.median(t), statistics.median(d["gen_tps"]), statistics.median(d["train_s"]),
                       e.loaded.mode)

    lines = [
        f"Tiny Qwen2 (107k params), CPU ({os.cpu_count()} cores, shared), fp32 + LoRA r=16, I={I} G={G} "
        f"max_new_tokens={MAX_NEW}, torch threads=1; medians over {len(eng_t)} rounds / steps after warm-up. "
        f"Run {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}.",
        "",
        "| metric | swarmdeck | baseline | ratio | goal |",
        "|---|---|---|---|---|",
        f"| round time (generate + score + GRPO step) vs bare trl GRPOTrainer step | {e_med:.3f} s | "
        f"{t_med:.3f} s | **{round_ratio:.2f}** | <= 1.05 |",
        f"| same, per generated token | {e_pt * 1e3:.2f} ms | {t_pt * 1e3:.2f} ms | {e_pt / t_pt:.2f} | |",
        f"| rollout tokens/s vs raw model.generate, same batch | {statistics.median(ours):.0f} tok/s | "
        f"{statistics.median(raw):.0f} tok/s | **{tps_ratio:.2f}** | >= 0.9 |",
        "",
        "Engine per mode (one round = generate I*G completions + verifier + one GRPO step):",
        "",
        "| mode | s/round | GRPO step s (median) | generate tok/s (median) |",
        "|---|---|---|---|",
    ]
    for mode, (s, tps, step, ran) in modes.items():
        lines.append(f"| {mode}{'' if ran == mode else f' (ran {ran})'} | {s:.3f} | {step:.3f} | {tps:.0f} |")
    torch.set_num_threads(threads)
    body = "\n".join(lines)
    print("\n" + body)
    write_section("Training", body)
    assert round_ratio > 0 and tps_ratio > 0
