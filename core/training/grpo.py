"""GRPO with SAPO rollout sharing: the trainer the node loop calls once per round.

Why our own loop on trl's pieces rather than trl's GRPOTrainer:
  GRPOTrainer owns the round (dataset -> generate -> score -> step) and its experimental
  `rollout_func` hands back only prompt/completion ids of ONE generation batch per step, with
  the group size fixed at `num_generations`; SAPO needs to train on rollouts that were
  generated elsewhere (other peers, different question counts per round, peers that drop
  out), to drop zero-advantage ones, to skip the step when nothing has signal, and to expose
  generation to the node separately (the node must publish its rollouts BEFORE training).
  Doing that through the Trainer means faking a dataset and a rollout_func per round and
  fighting its accumulation/step bookkeeping. So the loop here is small and explicit, and
  uses trl's memory-bounded `ChunkedLogProbFunction` for per-token log-probs (never the full
  [tokens x vocab] fp32 logits: ~5 GB at G=8 x 712 tokens x 152k vocab) and trl's GRPO loss
  shape (token-mean per sequence, two-sided clip eps_low/eps_high, optional k3 KL with beta).

Per round:
  gen      = engine.generate(engine.draw_questions(round), round)   # Generation: I questions x G completions
  ... publish gen.rollouts, fetch peers' ...
  external = engine.select_external(fetched, round)                 # drop zero-advantage, sample J
  metrics  = engine.train(gen.rollouts, external, gen)              # StepMetrics

Advantages are normalised per group (one question's G completions): (r - mean) / (std + 1e-4).
External rollouts are re-tokenised and their log-probs computed under the CURRENT policy (the
producer's sampling log-probs are neither trusted nor needed): with one optimizer step per
round (iterations=1, the default) the ratio is exactly 1 at the step, as in trl with
num_iterations=1; with iterations>1 the "old" log-probs are recomputed for every rollout under
the policy at the start of the round, local and external alike.
"""

from __future__ import annotations

import dataclasses
import hashlib
import logging
import math
import time
from dataclasses import dataclass
from typing import Any, Iterable, Sequence

from core.base.rollouts import Rollout
from core.training import selection
from core.training.model import LoadedModel, unpack_cpu_4bit
from core.training.tasks import SYSTEM_PROMPT, Question, TaskPool
from core.training.verify import RolloutVerifier, VerifyReport

log = logging.getLogger("swarmdeck.training")


@dataclass(frozen=True)
class Generation:
    """One generate() call: the scored rollouts and how fast they were sampled."""

    rollouts: list[Rollout]
    tokens: int = 0                 # sampled completion tokens
    seconds: float = 0.0            # sampling time
    tokens_per_s: float = 0.0
    total_seconds: float = 0.0      # sampling + decode + verifier scoring


@dataclass(frozen=True)
class StepMetrics:
    """One GRPO update (train / train_groups): what the node reports in its train.step event."""

    loss: float
    step_seconds: float
    tokens_per_s: float             # training throughput (completion tokens x iterations per second)
    tokens: int
    n_groups: int
    n_sequences: int
    grad_norm: float
    clip_frac: float
    skipped: bool                   # no optimizer step (nothing had signal, or a non-finite gradient)
    step: int                       # optimizer steps so far
    reason: str | None = None       # why it was skipped, when not for lack of signal
    n_local: int = 0
    n_external: int = 0
    n_dropped: int = 0              # rollouts without signal or unusable
    reward_local: float = 0.0       # mean reward of the local rollouts
    generate_tokens_per_s: float = 0.0  # of the Generation passed to train(), if any


@dataclass
class GRPOConfig:
    questions_local: int = 4        # I
    questions_external: int = 4     # J
    num_generations: int = 8        # G
    max_new_tokens: int = 256
    max_prompt_tokens: int = 512
    learning_rate: float = 5e-6
    epsilon_low: float = 0.2
    epsilon_high: float = 0.28
    beta: float = 0.0               # KL weight against the base model (adapters disabled); 0 = no KL
    temperature: float = 1.0
    top_p: float = 1.0
    top_k: int = 0
    iterations: int = 1             # optimizer steps per round on the same rollouts (trl's num_iterations)
    micro_batch: int = 8            # sequences per forward/backward (memory bound)
    gen_batch: int = 0              # sequences per generate() call; 0 = all I*G at once
    max_grad_norm: float = 1.0
    weight_decay: float = 0.0
    logprob_vocab_chunk: int = 4096  # vocabulary columns per log-prob tile
    seed: int = 0
    selection: str = "uniform"      # which useful peer groups to take: core.training.selection.POLICIES
    # Regenerate and re-score every peer group with this node's own tasks and verifiers before the
    # SAPO draw and training (core.training.verify). Off only as a benchmark's negative control.
    verify_external: bool = True

    @classmethod
    def from_mapping(cls, d: dict | Any) -> "GRPOConfig":
        """Build from the profile's [training] table (a dict or an object); unknown keys are ignored."""
        if not isinstance(d, dict):
            d = dataclasses.asdict(d) if dataclasses.is_dataclass(d) else vars(d)
        aliases = {"I": "questions_local", "J": "questions_external", "G": "num_generations",
                   "generations": "num_generations", "lr": "learning_rate"}
        names = {f.name for f in dataclasses.fields(cls)}
        kw = {}
        for k, v in d.items():
            k = aliases.get(k, k)
            if k in names and v is not None:
                kw[k] = v
        return cls(**kw)


@dataclass
class TokenGroup:
    """One question's completions as tokens, ready for the loss (internal / benchmarks)."""

    prompt_ids: list[int]
    completion_ids: list[list[int]]
    rewards: list[float]
    external: bool = False


def group_advantages(rewards: Sequence[float]) -> list[float]:
    n = len(rewards)
    if n == 0:
        return []
    mean = sum(rewards) / n
    std = math.sqrt(sum((r - mean) ** 2 for r in rewards) / (n - 1)) if n > 1 else 0.0
    return [(r - mean) / (std + 1e-4) for r in rewards]


def _finite(xs) -> bool:
    try:
        return all(math.isfinite(float(x)) for x in xs)
    except (TypeError, ValueError):
        return False


def select_external(candidates: Iterable[Rollout], j: int, seed: int | str = 0,
                    exclude_peer: str | None = None) -> list[Rollout]:
    """SAPO selection: drop zero-advantage rollouts (all rewards equal), then draw J peers first, groups second.

    Each peer gives at most its share, ceil(J / peers offering), so one peer listing many groups
    cannot take most of the J (core.base.draw). Deterministic for a given seed and candidate
    order (candidates are sorted by producer and question first, so the order peers' values
    arrived in does not matter). Other policies: core.training.selection.
    """
    return selection.select(candidates, j, seed=seed, exclude_peer=exclude_peer, policy="uniform")


class GRPOEngine:
    """Generation, verifier rewards and GRPO updates on one LoRA model. Not thread-safe."""

    def __init__(self, loaded: LoadedModel, config: GRPOConfig | None = None, tasks: TaskPool | None = None,
                 peer_id: str = ""):
        import torch

        self.loaded = loaded
        self.model = loaded.model
        self.tokenizer = loaded.tokenizer
        self.config = config or GRPOConfig()
        self.tasks = tasks or TaskPool()
        self.peer_id = peer_id
        self.device = torch.device(loaded.device if loaded.device != "cuda" else "cuda:0")
        params = [p for p in self.model.parameters() if p.requires_grad]
        if not params:
            from core.base.errors import TrainingError

            raise TrainingError("the model has no trainable (LoRA) parameters", where=loaded.name,
                                fix="load it through core.training.model.load_model")
        self.optimizer = torch.optim.AdamW(params, lr=self.config.learning_rate,
                                           weight_decay=self.config.weight_decay)
        self.steps = 0
        base = self.model.get_base_model() if hasattr(self.model, "get_base_model") else self.model
        self._backbone = base.get_decoder() if hasattr(base, "get_decoder") else base.model
        self._lm_head = base.get_output_embeddings()
        self._eos = self.tokenizer.eos_token_id
        self._pad = self.tokenizer.pad_token_id if self.tokenizer.pad_token_id is not None else self._eos
        self._prompt_cache: dict[str, list[int]] = {}
        # how often this node's own completions are exactly right, per task (selection policies)
        self.task_stats = selection.TaskStats()
        self.verifier = RolloutVerifier(self.tasks, self.config.num_generations, self.config.max_new_tokens,
                                        count_tokens=self._count_tokens,
                                        max_per_peer=max(1, self.config.questions_external))
        self.last_verify: VerifyReport | None = None

    def _count_tokens(self, text: str) -> int:
        return len(self.tokenizer(text, add_special_tokens=False)["input_ids"])

    # ---------------------------------------------------------------- questions / prompts
    def draw_questions(self, round_: int, n: int | None = None) -> list[Question]:
        return self.tasks.draw(round_, self.peer_id, self.config.questions_local if n is None else n)

    def prompt_ids(self, question: str) -> list[int]:
        ids = self._prompt_cache.get(question)
        if ids is None:
            msgs = [{"role": "system", "content": SYSTEM_PROMPT}, {"role": "user", "content": question}]
            text = self.tokenizer.apply_chat_template(msgs, tokenize=False, add_generation_prompt=True)
            ids = self.tokenizer(text, add_special_tokens=False)["input_ids"]
            ids = ids[-self.config.max_prompt_tokens:]  # keep the tail: the generation prompt must survive
            if len(self._prompt_cache) > 4096:
                self._prompt_cache.clear()
            self._prompt_cache[question] = ids
        return list(ids)

    # ---------------------------------------------------------------- generation
    def generate(self, questions: Sequence[Question], round_: int = 0) -> Generation:
        """G sampled completions per question, scored by the task's verifier, with the sampling speed.

        The Rollouts carry their completion token ids in a private attribute (`_completion_ids`,
        not part of the wire format) so local training uses the exact sampled tokens.
        """
        import torch

        cfg = self.config
        G = cfg.num_generations
        if not questions:
            return Generation(rollouts=[])
        prompts = [self.prompt_ids(q.question) for q in questions]
        rows = [p for p in prompts for _ in range(G)]
        torch.manual_seed(self.generation_seed(round_))
        batch = cfg.gen_batch if cfg.gen_batch > 0 else len(rows)
        comps: list[list[int]] = []
        t0 = time.perf_counter()
        self.model.eval()
        for s in range(0, len(rows), batch):
            comps.extend(self._generate_rows(rows[s:s + batch]))
        gen_s = time.perf_counter() - t0
        n_tok = sum(len(c) for c in comps)
        texts = self.tokenizer.batch_decode(comps, skip_special_tokens=True)
        out = []
        for qi, q in enumerate(questions):
            c_ids = comps[qi * G:(qi + 1) * G]
            c_txt = texts[qi * G:(qi + 1) * G]
            r = Rollout(task=q.task, question=q.question, answer=q.answer, completions=c_txt,
                        rewards=self.tasks.score_question(q, c_txt), round=round_, peer_id=self.peer_id,
                        metadata=q.metadata, truncated=[not (c and c[-1] == self._eos) for c in c_ids],
                        source={"config": self.tasks.fingerprint(q.task), "seed": int(q.seed)})
            r._completion_ids = c_ids  # type: ignore[attr-defined]  # local only, never serialised
            out.append(r)
        self.task_stats.update(out)
        return Generation(rollouts=out, tokens=n_tok, seconds=gen_s, tokens_per_s=n_tok / gen_s if gen_s else 0.0,
                          total_seconds=time.perf_counter() - t0)

    def generation_seed(self, round_: int) -> int:
        """The sampling seed of a round: a restart regenerates the same completions."""
        return int.from_bytes(hashlib.sha256(f"{self.config.seed}/{round_}/{self.peer_id}".encode()).digest()[:4], "big")

    def _generate_rows(self, rows: list[list[int]]) -> list[list[int]]:
        import torch

        cfg = self.config
        width = max(len(r) for r in rows)
        ids = torch.full((len(rows), width), self._pad, dtype=torch.long)
        mask = torch.zeros((len(rows), width), dtype=torch.long)
        for i, r in enumerate(rows):  # left padding
            ids[i, width - len(r):] = torch.tensor(r)
            mask[i, width - len(r):] = 1
        ids, mask = ids.to(self.device), mask.to(self.device)
        with torch.no_grad():
            seq = self.model.generate(
                input_ids=ids, attention_mask=mask, do_sample=True, temperature=cfg.temperature,
                top_p=cfg.top_p, top_k=cfg.top_k or None, max_new_tokens=cfg.max_new_tokens,
                eos_token_id=self._eos, pad_token_id=self._pad, use_cache=True,
            )
        gen = seq[:, width:].tolist()
        out = []
        for g in gen:
            if self._eos in g:  # keep the EOS: the model must learn to stop
                g = g[: g.index(self._eos) + 1]
            out.append(g)
        return out

    # ---------------------------------------------------------------- SAPO
    def verify_external(self, candidates: Iterable[Rollout]) -> VerifyReport:
        """Regenerate and re-score peers' groups (core.training.verify); the report's `accepted` carry
        this node's rewards. With verify_external off, everything passes as sent (negative control)."""
        if not self.config.verify_external:
            rs = [r for r in candidates if r.peer_id != self.peer_id]
            return VerifyReport(accepted=rs, checked=len(rs))
        return self.verifier.check_all(candidates, exclude_peer=self.peer_id)

    def select_external(self, candidates: Iterable[Rollout], round_: int) -> list[Rollout]:
        """SAPO: verify (re-derive and re-score) the peers' groups, then drop the zero-advantage ones
        and draw J by the configured policy (uniform = SAPO's draw; core.training.selection), all on
        this node's own rewards. The report is kept in `last_verify`."""
        rep = self.last_verify = self.verify_external(candidates)
        return selection.select(rep.accepted, self.config.questions_external,
                                seed=f"{self.config.seed}/{round_}/{self.peer_id}", exclude_peer=self.peer_id,
                                policy=self.config.selection, stats=self.task_stats)

    # ---------------------------------------------------------------- training
    def _to_group(self, r: Rollout, external: bool) -> TokenGroup | None:
        if (len(r.completions) != len(r.rewards) or len(r.completions) < 2 or not _finite(r.rewards)
                or not isinstance(r.question, str) or not all(isinstance(c, str) for c in r.completions)):
            return None  # malformed (a hostile or buggy peer): NaN/inf would poison the weights
        ids = getattr(r, "_completion_ids", None)
        if ids is None or len(ids) != len(r.completions):
            # A peer's rollout: re-tokenise its text. A finished completion ended with EOS, so it
            # gets one back; one the producer cut at max_new_tokens (truncated) gets none, or the
            # update would teach stopping at an arbitrary cut. Cap the length like our own
            # generations; a finished text too long for our budget is cut, so it gets no EOS either.
            ids = []
            cap = self.config.max_new_tokens
            for i, c in enumerate(r.completions):
                t = self.tokenizer(c, add_special_tokens=False)["input_ids"]
                if r.is_truncated(i) or len(t) >= cap:
                    ids.append(t[:cap])
                else:
                    ids.append(t + [self._eos])
        return TokenGroup(prompt_ids=self.prompt_ids(r.question), completion_ids=[list(x) for x in ids],
                          rewards=[float(x) for x in r.rewards], external=external)

    def train(self, local: Sequence[Rollout], external: Sequence[Rollout] = (),
              generation: Generation | None = None) -> StepMetrics:
        """One GRPO update on local + external rollouts (local = generation.rollouts, whose speed is reported).

        Rollouts whose rewards are all equal carry zero advantage and (with beta=0) no gradient;
        they are skipped, and when nothing has signal the optimizer step is skipped too
        (StepMetrics.skipped).
        """
        keep_flat = self.config.beta > 0
        groups = []
        dropped = 0
        if self.config.verify_external and any(not getattr(r, "_verified", False) for r in external):
            # Peers' groups that did not come through select_external: verify them here, so training
            # never sees a peer's own rewards, answer or metadata.
            checked = self.verifier.check_all(external, exclude_peer=self.peer_id).accepted
            dropped += len(external) - len(checked)
            external = checked
        for rs, ext in ((local, False), (external, True)):
            for r in rs:
                if not _finite(r.rewards) or not (r.has_signal() or keep_flat):
                    dropped += 1
                    continue
                g = self._to_group(r, ext)
                if g is None:
                    dropped += 1
                else:
                    groups.append(g)
        m = self.train_groups(groups)
        return dataclasses.replace(
            m, n_local=len(local), n_external=len(external), n_dropped=dropped,
            reward_local=(sum(sum(r.rewards) / max(1, len(r.rewards)) for r in local) / len(local)) if local else 0.0,
            generate_tokens_per_s=generation.tokens_per_s if generation is not None else 0.0)

    def train_groups(self, groups: Sequence[TokenGroup]) -> StepMetrics:
        import torch

        cfg = self.config
        t0 = time.perf_counter()
        n_seq = sum(len(g.completion_ids) for g in groups)
        if n_seq == 0:
            return StepMetrics(loss=0.0, step_seconds=time.perf_counter() - t0, tokens_per_s=0.0, tokens=0,
                               n_groups=0, n_sequences=0, grad_norm=0.0, clip_frac=0.0, skipped=True, step=self.steps)
        batches = list(self._micro_batches(groups))
        # Training mode first (a 4-bit layer in eval mode without grad may repack itself for CPU
        # inference), then undo any packing generation did: see model.keep_cpu_4bit_trainable.
        self.model.train()
        if self.loaded.mode == "4bit" and self.device.type == "cpu":
            unpack_cpu_4bit(self.model)
        old = None
        if cfg.iterations > 1:
            with torch.no_grad():
                old = [self._logps(b)[0].detach() for b in batches]
        total_loss = 0.0
        clipped = 0.0
        n_tok = 0
        grad_norm = 0.0
        for it in range(cfg.iterations):
            self.optimizer.zero_grad(set_to_none=True)
            total_loss = clipped = 0.0
            n_tok = 0
            for bi, b in enumerate(batches):
                logp, mask = self._logps(b)
                old_lp = old[bi] if old is not None else logp.detach()
                adv = b["adv"].unsqueeze(1)
                ratio = torch.exp(logp - old_lp)
                clipped_ratio = torch.clamp(ratio, 1 - cfg.epsilon_low, 1 + cfg.epsilon_high)
                per_tok = -torch.min(ratio * adv, clipped_ratio * adv)
                if cfg.beta > 0:
                    ref = self._ref_logps(b)
                    per_tok = per_tok + cfg.beta * (torch.exp(ref - logp) - (ref - logp) - 1)
                seq_loss = (per_tok * mask).sum(-1) / mask.sum(-1).clamp(min=1.0)
                loss = seq_loss.sum() / n_seq  # mean over every sequence of the round
                loss.backward()
                total_loss += float(loss.detach())
                with torch.no_grad():
                    is_clip = ((ratio < 1 - cfg.epsilon_low) & (adv < 0)) | ((ratio > 1 + cfg.epsilon_high) & (adv > 0))
                    clipped += float((is_clip.float() * mask).sum())
                n_tok += int(mask.sum())
            params = [p for grp in self.optimizer.param_groups for p in grp["params"]]
            grad_norm = float(torch.nn.utils.clip_grad_norm_(params, cfg.max_grad_norm))
            if not (math.isfinite(total_loss) and math.isfinite(grad_norm)):
                # Never step on a non-finite gradient: the adapter would be lost for good.
                self.optimizer.zero_grad(set_to_none=True)
                log.warning("GRPO step skipped: non-finite loss/gradient (loss=%s, grad_norm=%s)",
                            total_loss, grad_norm)
                return StepMetrics(loss=total_loss, step_seconds=time.perf_counter() - t0, tokens_per_s=0.0,
                                   tokens=n_tok, n_groups=len(groups), n_sequences=n_seq, grad_norm=grad_norm,
                                   clip_frac=0.0, skipped=True, reason="non-finite loss or gradient", step=self.steps)
            self.optimizer.step()
            self.steps += 1
        self.optimizer.zero_grad(set_to_none=True)
        dt = time.perf_counter() - t0
        return StepMetrics(loss=total_loss, step_seconds=dt, tokens_per_s=n_tok * cfg.iterations / dt if dt else 0.0,
                           tokens=n_tok, n_groups=len(groups), n_sequences=n_seq, grad_norm=grad_norm,
                           clip_frac=clipped / max(1, n_tok), skipped=False, step=self.steps)

    def _micro_batches(self, groups: Sequence[TokenGroup]):
        """Tensors per micro-batch; sequences of one prompt share it, so no prompt padding is needed."""
        import torch

        mb = max(1, self.config.micro_batch)
        for g in groups:
            adv = group_advantages(g.rewards)
            P = len(g.prompt_ids)
            for s in range(0, len(g.completion_ids), mb):
                comps = g.completion_ids[s:s + mb]
                C = max(1, max(len(c) for c in comps))
                ids = torch.full((len(comps), P + C), self._pad, dtype=torch.long)
                cmask = torch.zeros((len(comps), C), dtype=torch.float32)
                ids[:, :P] = torch.tensor(g.prompt_ids)
                for i, c in enumerate(comps):
                    if c:
                        ids[i, P:P + len(c)] = torch.tensor(c)
                        cmask[i, :len(c)] = 1.0
                attn = torch.cat([torch.ones((len(comps), P)), cmask], dim=1).long()
                yield {"ids": ids.to(self.device), "attn": attn.to(self.device), "cmask": cmask.to(self.device),
                       "P": P, "adv": torch.tensor(adv[s:s + mb], dtype=torch.float32, device=self.device)}

    def _logps(self, b: dict):
        """Per-token log-probs of the completion tokens, [B, C] fp32, plus the mask.

        Runs the decoder (LoRA included) to hidden states and folds the LM head in vocabulary
        tiles (trl's ChunkedLogProbFunction), only over real completion tokens.
        """
        import torch
        from trl.kernels import ChunkedLogProbFunction

        P, cmask, ids = b["P"], b["cmask"], b["ids"]
        hidden = self._backbone(input_ids=ids, attention_mask=b["attn"], use_cache=False).last_hidden_state
        h = hidden[:, P - 1:-1, :]
        targets = ids[:, P:]
        sel = cmask.bool()
        w = self._lm_head.weight
        bias = getattr(self._lm_head, "bias", None)
        lp = ChunkedLogProbFunction.apply(h[sel], w, bias, targets[sel], self.config.temperature,
                                          self.config.logprob_vocab_chunk, None, 1.0, ())[0]
        out = torch.zeros(cmask.shape, dtype=torch.float32, device=cmask.device)
        out = out.masked_scatter(sel, lp.float())
        return out, cmask

    def _ref_logps(self, b: dict):
        import torch

        with torch.no_grad(), self.model.disable_adapter():
            return self._logps(b)[0]

    # ---------------------------------------------------------------- helpers
    def lora_state(self) -> dict:
        """A detached CPU copy of the trainable (LoRA) weights (tests, change detection)."""
        return {n: p.detach().float().cpu().clone() for n, p in self.model.named_parameters() if p.requires_grad}
