"""The reasoning-gym nine-task composite (as the public swarm's era B) and its verifiers.

Questions are a pure function of (round, peer id, index): every node draws its own
questions, a restart redraws the same ones, and tests can check them. Rewards come from each
task's own verifier (`score_answer`), fed the answer extracted from a completion.

Answer extraction (what the prompt asks for and what the verifier sees):
  1. the text inside the LAST <answer>...</answer> pair (stripped), else
  2. the last non-empty line of the completion (stripped), else "".
A completion that says nothing scores whatever the verifier gives "" (usually 0).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import random
import re
import sys
import threading
from dataclasses import dataclass, field
from typing import Any

from core.base.errors import TrainingError

TASKS = (
    "arc_1d",
    "basic_arithmetic",
    "base_conversion",
    "bf",
    "binary_matrix",
    "calendar_arithmetic",
    "decimal_arithmetic",
    "fraction_simplification",
    "propositional_logic",
)

# The local network's demo mix: easy reasoning-gym tasks (their own generators and verifiers) at a
# difficulty the CPU demo model (core.training.demo) half solves, so GRPO has signal from round 1.
# Real models train on the composite above. Chosen with the profile setting training.task_mix.
DEMO_MIX: dict[str, dict] = {
    "count_bits": {"min_n": 1, "max_n": 31},
    "gcd": {"min_numbers": 2, "max_numbers": 2, "min_value": 1, "max_value": 12},
    "basic_arithmetic": {"min_terms": 2, "max_terms": 2, "min_digits": 1, "max_digits": 1,
                         "operators": ["+", "-"], "allow_parentheses": False, "allow_negation": False},
}
TASK_MIXES = ("composite", "demo")

# The scarce-signal regime for the same CPU demo model (issue 21, `bench-sapo --regime scarce`):
# harder settings of two demo tasks, where at round 0 only about a quarter of a node's own groups
# have any nonzero advantage - the regime SAPO's sharing is meant for (rare successes). Chosen by
# measurement before any swarm/solo comparison ran (64-96 questions x 8 samples at round 0, demo
# model, temperature 1): count_bits 512-2047 23 % of groups with signal, basic_arithmetic with 3
# one-digit terms 28-31 %; for comparison the demo settings give 88 %, 91 % (gcd) and 44 %. gcd
# stays above 60 % at any size tried (its answer is often 1, easy to guess), so it is left out.
SCARCE_MIX: dict[str, dict] = {
    "count_bits": {"min_n": 512, "max_n": 2047},
    "basic_arithmetic": {"min_terms": 3, "max_terms": 3, "min_digits": 1, "max_digits": 1,
                         "operators": ["+", "-"], "allow_parentheses": False, "allow_negation": False},
}

SYSTEM_PROMPT = (
    "You are a careful reasoner. Think briefly, then give the final answer inside "
    "<answer> </answer> tags, for example <answer>42</answer>."
)

_ANSWER_RE = re.compile(r"<answer>(.*?)</answer>", re.DOTALL)


@dataclass
class Question:
    task: str
    question: str
    answer: str               # reference answer ("" when the verifier works from metadata alone)
    metadata: dict = field(default_factory=dict)  # JSON-able; the verifier needs it
    seed: int = 0

    def entry(self) -> dict:
        """The reasoning-gym entry shape the verifier expects."""
        return {"question": self.question, "answer": self.answer or None, "metadata": self.metadata}

    def messages(self) -> list[dict]:
        return [{"role": "system", "content": SYSTEM_PROMPT}, {"role": "user", "content": self.question}]


def extract_answer(completion: str) -> str:
    found = _ANSWER_RE.findall(completion or "")
    if found:
        return found[-1].strip()
    for line in reversed((completion or "").splitlines()):
        if line.strip():
            return line.strip()
    return ""


class _ThreadQuietStdout:
    """sys.stdout stand-in that drops writes from threads inside _quiet_stdout(), passes the rest.

    Some reasoning-gym generators (bf) print to stdout, which is the node's event stream.
    contextlib.redirect_stdout would swap sys.stdout for EVERY thread, swallowing events other
    threads write meanwhile; this only silences the calling thread.
    """

    def __init__(self, real):
        self._real = real
        self._local = threading.local()

    def write(self, s):
        if getattr(self._local, "quiet", 0):
            return len(s)
        return self._real.write(s)

    def __getattr__(self, name):
        return getattr(self._real, name)


_stdout_lock = threading.Lock()


@contextlib.contextmanager
def _quiet_stdout():
    with _stdout_lock:
        proxy = sys.stdout
        if not isinstance(proxy, _ThreadQuietStdout):
            proxy = sys.stdout = _ThreadQuietStdout(sys.stdout)
    proxy._local.quiet = getattr(proxy._local, "quiet", 0) + 1
    try:
        yield
    finally:
        proxy._local.quiet -= 1


def _seed_for(round_: int, peer_id: str, salt: str = "") -> int:
    h = hashlib.sha256(f"swarmdeck/{salt}/{int(round_)}/{peer_id}".encode()).digest()
    return int.from_bytes(h[:8], "big")


def _jsonable(obj: Any) -> Any:
    # Metadata travels between peers as JSON; normalise tuples/sets/numpy scalars now, so the
    # verifier sees the same thing locally and on the receiving side.
    return json.loads(json.dumps(obj, default=lambda o: o.tolist() if hasattr(o, "tolist") else str(o)))


def task_pool(mix: str = "composite", salt: str = "") -> "TaskPool":
    """The TaskPool of a task mix: "composite" (the nine-task reasoning-gym composite, for real
    models) or "demo" (DEMO_MIX, easy tasks for the local demo model)."""
    if mix == "demo":
        return TaskPool(tuple(DEMO_MIX), salt=salt, configs=DEMO_MIX)
    if mix == "scarce":  # benches (tests/bench/sapo.py --regime scarce); not a profile choice
        return TaskPool(tuple(SCARCE_MIX), salt=salt, configs=SCARCE_MIX)
    if mix == "composite":
        return TaskPool(TASKS, salt=salt)
    raise TrainingError(f"unknown task mix {mix!r}", where="profile setting training.task_mix",
                        fix=f"use one of: auto, {', '.join(TASK_MIXES)}")


class TaskPool:
    """Draws questions from a task mix and scores answers with each task's verifier.

    configs: per task, the reasoning-gym dataset settings (difficulty) its questions are drawn
    with and its verifier is built with; a task without an entry uses reasoning-gym's defaults.
    """

    def __init__(self, tasks: tuple[str, ...] | list[str] = TASKS, salt: str = "",
                 configs: dict[str, dict] | None = None):
        import reasoning_gym  # noqa: F401  (heavy; imported here to fail early with a clear ImportError)
        from reasoning_gym.factory import DATASETS

        known = set(TASKS) | set(DATASETS)
        unknown = [t for t in tasks if t not in known]
        if unknown:
            raise TrainingError(f"unknown reasoning-gym task(s) {unknown}", where="training.tasks",
                                fix=f"use names from: {', '.join(TASKS)} (or another reasoning-gym dataset)")
        self.tasks = tuple(tasks)
        self.salt = salt
        self.configs = {t: dict(c) for t, c in (configs or {}).items()}
        self._scorers: dict[str, Any] = {}
        self._regenerated: dict[tuple[str, int], Question] = {}

    def draw(self, round_: int, peer_id: str, n: int) -> list[Question]:
        """n questions for this (round, peer): deterministic, tasks picked uniformly."""
        rng = random.Random(_seed_for(round_, peer_id, self.salt))
        out = []
        for _ in range(n):
            task = self.tasks[rng.randrange(len(self.tasks))]
            seed = rng.randrange(2**31)
            out.append(self.regenerate(task, seed))
        return out

    def regenerate(self, task: str, seed: int) -> Question:
        """The question of (task, dataset seed) under this pool's config: a pure function of the two, so a
        receiver re-creates a peer's question, reference answer and metadata itself (core.training.verify)."""
        import reasoning_gym as rg

        key = (task, int(seed))
        q = self._regenerated.get(key)
        if q is None:
            # Some generators (bf) print progress dots to stdout, which is the node's event
            # stream: capture them.
            with _quiet_stdout():
                ds = rg.create_dataset(task, seed=int(seed), size=1, **self.configs.get(task, {}))
                e = ds[0]
            ans = e.get("answer")
            q = Question(task=task, question=str(e["question"]), answer="" if ans is None else str(ans),
                         metadata=_jsonable(e.get("metadata") or {}), seed=int(seed))
            if len(self._regenerated) >= 512:  # bounded: a node sees I + a few J questions per round
                self._regenerated.pop(next(iter(self._regenerated)))
            self._regenerated[key] = q
        return Question(task=q.task, question=q.question, answer=q.answer, metadata=json.loads(json.dumps(q.metadata)),
                        seed=q.seed)

    def can_verify(self, task: str) -> bool:
        """Whether this pool regenerates and scores `task` (a task it draws, or one it has a config for)."""
        return task in self.tasks or task in self.configs

    def fingerprint(self, task: str) -> str:
        """A short id of the task's generator settings: two nodes regenerate the same question from a seed
        only when their fingerprints match (same task, same config)."""
        doc = json.dumps({"task": task, "config": self.configs.get(task, {})}, sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(doc.encode()).hexdigest()[:16]

    def _scorer(self, task: str):
        s = self._scorers.get(task)
        if s is None:
            import reasoning_gym as rg

            # score_answer depends on the entry, not on the dataset's seed.
            with _quiet_stdout():
                s = self._scorers[task] = rg.create_dataset(task, seed=0, size=1, **self.configs.get(task, {}))
        return s

    def score(self, task: str, entry: dict, completion: str) -> float:
        """Verifier reward in [0, 1] for one completion (a verifier crash scores 0, never propagates)."""
        try:
            scorer = self._scorer(task)
            with _quiet_stdout():
                r = scorer.score_answer(extract_answer(completion), entry)
            return float(r) if r is not None else 0.0
        except Exception:
            return 0.0

    def score_question(self, q: Question, completions: list[str]) -> list[float]:
        e = q.entry()
        return [self.score(q.task, e, c) for c in completions]
