"""The local network's demo model: a tiny Qwen2 that starts with some skill and room to grow.

A randomly initialised model (core.training.tiny) never solves a task, so GRPO has nothing to
reinforce and a local network's reward chart stays flat at 0. This module builds, once, a small
Qwen2-architecture model (about 0.9 M parameters, a byte-level BPE tokenizer trained here with
digits split one per token) and pretrains it by supervised fine-tuning on synthetic examples of
the demo task mix (DEMO_MIX in core.training.tasks: easy reasoning-gym tasks, drawn with seeds
the swarm never uses) in the swarm's answer format: the chat prompt with the node's system
prompt, then `<answer>X</answer>` and end-of-sequence.

Room to grow: the pretraining answers are deliberately imperfect, in the two ways small real
models are when GRPO starts on them: a share (`wordy`) is written in a style the verifiers give
only partial credit for ("<answer>It is 3</answer>"), and a share (`near_miss`) is the right
number +-1 or +-2. The pretrained policy samples those often; GRPO's job on top is the one it does
on real models: drop the rejected style and sharpen what the model already half knows. Measured
numbers: docs/sharing.md, "Local demo model".

The build is seeded (the same recipe gives the same weights for the same torch thread count) and
cached under data_dir()/models/demo-<hash of the recipe and this builder's code version>: a new
recipe gets a new directory, the same recipe is built once and loads instantly afterwards.
Processes that start together (the local network's peers) share one build: a file lock makes
the others wait for it instead of building in parallel.

Shipped, not built, on a first run: the default recipe's result (3.4 MB: weights 3.3 MB, tokenizer,
config) is committed under core/training/demo_model/, so a fresh clone trains at once instead of
building for 1.5-8 minutes (137 s measured quiet on the 2-core dev machine, 491 s with other work on
it). ensure_demo_model copies it into the cache when its digest is the recipe's; a changed recipe
(or builder) no longer matches and is built as before, with progress (`on_step`: the node's
`model.build` events, a bar on the dashboard). `python -m core.training.demo ship` rebuilds the
shipped copy after a recipe change; a unit test fails while the two disagree.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
import os
import random
import shutil
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from core.base import paths

DEMO_NAME = "demo"
DEMO_ALIASES = {"demo", "tiny-demo"}
BUILDER_VERSION = 1  # bump when the build code changes in a way the recipe does not capture

# Training settings the demo model is made for. The node uses them in place of the stock
# defaults (which suit 0.5B+ models) when the profile leaves a setting at its default.
DEMO_TRAINING = {
    "learning_rate": 1e-3,
    "max_new_tokens": 16,
    "generations": 8,
    "temperature": 1.0,
    "lora_rank": 16,
    "lora_alpha": 32,
}

SPECIAL_TOKENS = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"]
CHAT_TEMPLATE = (
    "{% for message in messages %}"
    "{{ '<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>' + '\n' }}"
    "{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}"
)


@dataclass(frozen=True)
class DemoRecipe:
    """Everything the demo model's weights depend on (its hash names the cache directory)."""

    examples: int = 8000          # synthetic SFT examples, spread evenly over the task mix
    steps: int = 800              # optimizer steps
    batch: int = 32
    learning_rate: float = 3e-3
    warmup: int = 50
    near_miss: float = 0.2        # share of answers replaced by a near miss (room to grow)
    wordy: float = 0.4            # share written "<answer>It is X</answer>" (partial credit only)
    hidden_size: int = 128
    intermediate_size: int = 384
    num_hidden_layers: int = 4
    num_attention_heads: int = 4
    num_key_value_heads: int = 2
    vocab_size: int = 512
    seed: int = 0
    data_seed: int = 7_000_000    # reasoning-gym seeds of the SFT data (the swarm draws from hashes)
    mix: tuple = ()               # ((task, config-json), ...); () = core.training.tasks.DEMO_MIX

    def resolved_mix(self) -> dict[str, dict]:
        if self.mix:
            return {t: json.loads(c) for t, c in self.mix}
        from core.training.tasks import DEMO_MIX

        return {t: dict(c) for t, c in DEMO_MIX.items()}

    def digest(self) -> str:
        from core.training.tasks import SYSTEM_PROMPT

        d = dataclasses.asdict(self)
        d["mix"] = self.resolved_mix()
        blob = json.dumps({"recipe": d, "system": SYSTEM_PROMPT, "template": CHAT_TEMPLATE,
                           "builder": BUILDER_VERSION}, sort_keys=True, default=list)
        return hashlib.sha256(blob.encode()).hexdigest()


DEFAULT_RECIPE = DemoRecipe()


def demo_model_dir(recipe: DemoRecipe = DEFAULT_RECIPE) -> Path:
    return paths.data_dir() / "models" / f"{DEMO_NAME}-{recipe.digest()[:12]}"


def is_demo_model(path_or_name: str | Path) -> bool:
    if str(path_or_name) in DEMO_ALIASES:
        return True
    return (Path(path_or_name) / "swarmdeck-demo.json").is_file()


def _is_complete(d: Path) -> bool:
    return (d / "swarmdeck-demo.json").is_file() and (d / "model.safetensors").is_file()


# ---------------------------------------------------------------------- data

def _prompt_text(question: str) -> str:
    from core.training.tasks import SYSTEM_PROMPT

    return (f"<|im_start|>system\n{SYSTEM_PROMPT}<|im_end|>\n<|im_start|>user\n{question}<|im_end|>\n"
            "<|im_start|>assistant\n")


def _near_miss(answer: str, rng: random.Random) -> str:
    try:
        v = int(answer)
    except ValueError:
        return answer
    w = v + rng.choice((-2, -1, 1, 2))
    if v >= 0 and w < 0:
        w = v + rng.choice((1, 2))
    return str(w)


def synthetic_examples(recipe: DemoRecipe) -> list[tuple[str, str]]:
    """(prompt text, completion text) pairs; `near_miss` / `wordy` shares are deliberately off."""
    import reasoning_gym as rg

    from core.training.tasks import _quiet_stdout

    mix = recipe.resolved_mix()
    per = max(1, recipe.examples // len(mix))
    rng = random.Random(recipe.seed)
    out = []
    for i, (task, cfg) in enumerate(sorted(mix.items())):
        with _quiet_stdout():
            ds = rg.create_dataset(task, seed=recipe.data_seed + i, size=per, **cfg)
            entries = [ds[k] for k in range(per)]
        for e in entries:
            a = str(e["answer"])
            if rng.random() < recipe.near_miss:
                a = _near_miss(a, rng)
            if rng.random() < recipe.wordy:
                a = "It is " + a
            out.append((_prompt_text(str(e["question"])), f"<answer>{a}</answer>"))
    rng.shuffle(out)
    return out


def build_tokenizer(texts: list[str], vocab_size: int, out_dir: Path):
    """Byte-level BPE trained on the SFT texts; digits are always single tokens (arithmetic)."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.BPE(unk_token=None))
    tok.pre_tokenizer = pre_tokenizers.Sequence([pre_tokenizers.Digits(individual_digits=True),
                                                 pre_tokenizers.ByteLevel(add_prefix_space=False)])
    tok.decoder = decoders.ByteLevel()
    tok.post_processor = processors.ByteLevel(trim_offsets=False)
    trainer = trainers.BpeTrainer(vocab_size=vocab_size, special_tokens=SPECIAL_TOKENS,
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False)
    tok.train_from_iterator(texts, trainer=trainer)
    fast = PreTrainedTokenizerFast(tokenizer_object=tok, eos_token="<|im_end|>", pad_token="<|endoftext|>",
                                   bos_token=None, unk_token=None, padding_side="left", model_max_length=1024)
    fast.chat_template = CHAT_TEMPLATE
    fast.save_pretrained(str(out_dir))
    return fast


# ---------------------------------------------------------------------- build

def build_demo_model(out_dir: Path, recipe: DemoRecipe = DEFAULT_RECIPE,
                     progress: Callable[[str], None] | None = None,
                     on_step: Callable[[int, int, float], None] | None = None) -> Path:
    """Tokenizer + SFT-pretrained tiny Qwen2 into out_dir (no caching; see ensure_demo_model)."""
    import torch
    from transformers import GenerationConfig, Qwen2Config, Qwen2ForCausalLM

    from core.training.quiet import quiet_optional_warnings

    quiet_optional_warnings()
    say = progress or (lambda m: None)
    t0 = time.monotonic()
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    pairs = synthetic_examples(recipe)
    tok = build_tokenizer([p + c for p, c in pairs[:4000]], recipe.vocab_size, out_dir)
    eos, pad = tok.eos_token_id, tok.pad_token_id
    # Every prompt starts with the same system part: run it once per step (batch 1) and let the
    # examples attend to its cached keys/values - about 2.5x less compute than full sequences.
    head = _prompt_text("")
    prefix_text = head[: head.index("<|im_start|>user\n") + len("<|im_start|>user\n")]
    prefix = tok(prefix_text, add_special_tokens=False)["input_ids"]
    enc = []
    for p, c in pairs:
        pi = tok(p, add_special_tokens=False)["input_ids"]
        if pi[:len(prefix)] != prefix:
            continue
        enc.append((pi[len(prefix):], tok(c, add_special_tokens=False)["input_ids"] + [eos]))
    cfg = Qwen2Config(vocab_size=max(len(tok), recipe.vocab_size), hidden_size=recipe.hidden_size,
                      intermediate_size=recipe.intermediate_size, num_hidden_layers=recipe.num_hidden_layers,
                      num_attention_heads=recipe.num_attention_heads, num_key_value_heads=recipe.num_key_value_heads,
                      max_position_embeddings=1024, rope_theta=10000.0, tie_word_embeddings=True,
                      bos_token_id=None, eos_token_id=eos, pad_token_id=pad)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(recipe.seed)
        model = Qwen2ForCausalLM(cfg)
        opt = torch.optim.AdamW(model.parameters(), lr=recipe.learning_rate, betas=(0.9, 0.98), weight_decay=0.0)
        rng = random.Random(recipe.seed + 1)
        pre = torch.tensor([prefix])
        model.train()
        say(f"pretraining on {len(enc)} synthetic examples, {recipe.steps} steps")
        loss_v = float("nan")
        for step in range(recipe.steps):
            lr = recipe.learning_rate * min(1.0, (step + 1) / max(1, recipe.warmup))
            lr *= 0.5 * (1 + math.cos(math.pi * step / recipe.steps))
            for g in opt.param_groups:
                g["lr"] = lr
            batch = [enc[rng.randrange(len(enc))] for _ in range(recipe.batch)]
            B, W = len(batch), max(len(p) + len(c) for p, c in batch)
            ids = torch.full((B, W), pad, dtype=torch.long)
            labels = torch.full((B, W), -100, dtype=torch.long)
            att = torch.zeros((B, W), dtype=torch.long)
            for i, (p, c) in enumerate(batch):
                s = p + c
                ids[i, :len(s)] = torch.tensor(s)
                att[i, :len(s)] = 1
                labels[i, len(p):len(s)] = torch.tensor(c)
            first = model(input_ids=pre, use_cache=True)
            cache = getattr(first, "cache", None) or first.past_key_values
            for layer in cache.layers:
                layer.keys = layer.keys.expand(B, -1, -1, -1)
                layer.values = layer.values.expand(B, -1, -1, -1)
            full = torch.cat([torch.ones((B, len(prefix)), dtype=torch.long), att], dim=1)
            kw = {"cache": cache} if "cache" in type(first).__dataclass_fields__ else {"past_key_values": cache}
            out = model(input_ids=ids, attention_mask=full, labels=labels, use_cache=True, **kw)
            out.loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            opt.step()
            opt.zero_grad(set_to_none=True)
            loss_v = float(out.loss.detach())
            if on_step is not None:
                on_step(step + 1, recipe.steps, time.monotonic() - t0)
            if (step + 1) % 100 == 0:
                say(f"step {step + 1}/{recipe.steps}, loss {loss_v:.3f}, {time.monotonic() - t0:.0f} s")
    model.eval()
    model.generation_config = GenerationConfig(eos_token_id=eos, pad_token_id=pad, do_sample=True, temperature=1.0)
    model.save_pretrained(str(out_dir))
    info = {"name": DEMO_NAME, "digest": recipe.digest(), "recipe": dataclasses.asdict(recipe),
            "mix": recipe.resolved_mix(), "build_seconds": round(time.monotonic() - t0, 1),
            "final_loss": loss_v, "torch_threads": torch.get_num_threads()}
    (out_dir / "swarmdeck-demo.json").write_text(json.dumps(info, indent=1, default=list))
    return out_dir


SHIPPED_DIR = Path(__file__).resolve().parent / "demo_model"
_SHIPPED_FILES = ("config.json", "generation_config.json", "model.safetensors", "tokenizer.json",
                  "tokenizer_config.json", "chat_template.jinja", "swarmdeck-demo.json")


def shipped_demo_model_matches(recipe: DemoRecipe = DEFAULT_RECIPE) -> bool:
    """True when the copy in the repository is this recipe's model (its digest), so no build is needed."""
    try:
        info = json.loads((SHIPPED_DIR / "swarmdeck-demo.json").read_text())
    except (OSError, ValueError):
        return False
    return (isinstance(info, dict) and info.get("digest") == recipe.digest()
            and (SHIPPED_DIR / "model.safetensors").is_file())


def ensure_demo_model(recipe: DemoRecipe = DEFAULT_RECIPE, dest: Path | None = None,
                      progress: Callable[[str], None] | None = None,
                      on_step: Callable[[int, int, float], None] | None = None) -> Path:
    """The cached demo model dir: the shipped copy when it is this recipe's, else built first (minutes,
    once per recipe; on_step(step, steps, elapsed_s) follows the build).

    A file lock serialises builds across processes; the build goes to a temp dir that is renamed
    into place, so a crash never leaves a half model that later loads."""
    import fcntl

    dest = Path(dest) if dest is not None else demo_model_dir(recipe)
    if _is_complete(dest):
        return dest
    dest.parent.mkdir(parents=True, exist_ok=True)
    lock_path = dest.parent / f".{dest.name}.lock"
    with open(lock_path, "a+") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            if _is_complete(dest):
                return dest
            tmp = Path(tempfile.mkdtemp(prefix=f".{dest.name}.", dir=dest.parent))
            try:
                if shipped_demo_model_matches(recipe):
                    for f in _SHIPPED_FILES:
                        if (SHIPPED_DIR / f).is_file():
                            shutil.copyfile(SHIPPED_DIR / f, tmp / f)
                    if progress:
                        progress("copied the demo model shipped in the repository (no build needed)")
                else:
                    build_demo_model(tmp, recipe, progress=progress, on_step=on_step)
                if dest.exists():  # an incomplete leftover (crash before the rename)
                    shutil.rmtree(dest, ignore_errors=True)
                os.rename(tmp, dest)
            finally:
                shutil.rmtree(tmp, ignore_errors=True)
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)
    return dest


def apply_demo_defaults(training, defaults=None):
    """(settings, changed): the demo model's training settings for every field the profile left at
    the stock default (the stock defaults suit 0.5B+ models: lr 5e-6 would not move this one)."""
    from dataclasses import fields, replace

    stock = defaults if defaults is not None else type(training)()
    changed = {}
    for f in fields(training):
        if f.name in DEMO_TRAINING and getattr(training, f.name) == getattr(stock, f.name):
            changed[f.name] = DEMO_TRAINING[f.name]
    return (replace(training, **changed) if changed else training), changed


def _ship(argv: list[str]) -> int:
    """`python -m core.training.demo ship`: rebuild the copy in the repository (after a recipe change)."""
    if argv != ["ship"]:
        print("usage: python -m core.training.demo ship   (rebuilds core/training/demo_model/ from the recipe)")
        return 2
    tmp = Path(tempfile.mkdtemp(prefix=".demo_model.", dir=SHIPPED_DIR.parent))
    try:
        build_demo_model(tmp, DEFAULT_RECIPE, progress=print)
        if SHIPPED_DIR.exists():
            shutil.rmtree(SHIPPED_DIR)
        os.rename(tmp, SHIPPED_DIR)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    print(f"wrote {SHIPPED_DIR}")
    return 0


if __name__ == "__main__":
    import sys

    raise SystemExit(_ship(sys.argv[1:]))
