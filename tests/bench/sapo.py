"""Swarm vs solo: does sharing rollouts (SAPO) help the demo model learn? `just bench-sapo [--quick]`.

N nodes (default 4) on the local demo model, each with the same training compute per round (I+J
question groups per GRPO step), in two arms started from the same seeds:
  swarm: I questions generated locally + J peers' rollouts (SAPO: drop zero-advantage groups,
         sample J uniformly - the node's own GRPOEngine.select_external);
  solo:  I+J questions generated locally, nothing shared.
Rewards are the verifiers' rewards of each node's OWN rollouts (what the dashboard charts).
Rollouts are exchanged in-process through the same selection code; for the first
`--dht-rounds` rounds of the first seed's swarm arm the exchange really goes over hivemind DHT
nodes (core.swarm.dht.SwarmDHT: publish, fetch, the wire format) and the bench checks that each
node selects exactly the rollouts the in-process path selects ("dht_check" in the JSON).

Writes bench-results/sapo.json ({"nodes", "rounds", "seeds", "swarm": {"mean_reward_per_round",
"cumulative"}, "solo": {...}, "ratio", "ci95", ...}) and bench-results/sapo.svg, and draws both
curves in the terminal (plotext when installed). `--quick` runs a reduced version (same output shape).

Issue 21 added: --regime demo|scarce|split (scarce: SCARCE_MIX, about a quarter of a node's own
groups with signal at round 0, where sharing should pay), --select (the swarm arm's selection
policy, core.training.selection), and to the JSON the same ratio per generated token and per node
CPU-second (ratio_per_token, ratio_per_cpu_second, with ci95_*), per arm useful_groups
(own / from_peers / peer_share), local_signal_share_round0_by_task, tokens and CPU seconds per
node, and node 0's held-out accuracy per task before and after (heldout_node0, every seed).
A run stopped early leaves its finished seeds in sapo.partial.json. Docs: docs/sharing.md.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import random
import sys
import tempfile
import time
from dataclasses import dataclass, field, replace
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
REGIMES = ("demo", "scarce", "split")


@dataclass
class BenchConfig:
    nodes: int = 4
    rounds: int = 100              # the full run: 3 seeds x 100 rounds
    seeds: int = 3
    I: int = 4
    J: int = 4
    G: int = 8
    dht_rounds: int = 3
    heldout: int = 64              # held-out questions for node 0's before/after accuracy; 0 = off
    heldout_seeds: int = 100       # ... on the first this many seeds
    threads: int = 1               # torch threads; more than the free cores makes OpenMP spin (20x slower)
    model: str = "demo"            # "demo" = the local demo model (built once, cached); or a model dir
    mix: str = "same"              # same: every node draws from the whole demo mix; split: node i only from
    #                                task i (mod the mix), so peers' rollouts are what a node never generates
    regime: str = "demo"           # demo: the demo mix, every node all of it; scarce: SCARCE_MIX (about a
    #                                quarter of groups with signal at round 0); split: = mix "split"
    select: str = "uniform"        # the swarm arm's selection policy (core.training.selection.POLICIES)
    out: str = str(ROOT / "bench-results")
    overrides: dict = field(default_factory=dict)  # GRPOConfig overrides (tests)
    poisoners: int = 0             # K lying peers (rewards inverted, answers rewritten, every group claimed
    #                                useful): adds the arms "poisoned" (verification on) and "poisoned_unverified"

    def __post_init__(self):
        if self.mix == "split":  # the older spelling of --regime split
            self.regime = "split"
        if self.regime not in REGIMES:
            raise ValueError(f"unknown regime {self.regime!r}; use one of {', '.join(REGIMES)}")

    @property
    def pool_mix(self) -> str:
        """The task_pool mix the regime draws from (split draws the demo mix, one task per node)."""
        return "scarce" if self.regime == "scarce" else "demo"

    @classmethod
    def quick(cls, **kw) -> "BenchConfig":
        return cls(**{**dict(nodes=4, rounds=12, seeds=3, I=2, J=2, G=8, dht_rounds=2, heldout=32,
                              heldout_seeds=1), **kw})


def _engine(model_dir: str, cfg: BenchConfig, seed: int, node: int):
    import torch

    from core.training.demo import DEMO_TRAINING
    from core.training.grpo import GRPOConfig, GRPOEngine
    from core.training.model import LoraSettings, load_model
    from core.training.tasks import DEMO_MIX, TaskPool, task_pool

    torch.manual_seed(seed * 1000 + node)  # the LoRA init: the same in both arms
    lm = load_model(model_dir, "fp32", lora=LoraSettings(r=DEMO_TRAINING["lora_rank"],
                                                         alpha=DEMO_TRAINING["lora_alpha"]), device="cpu")
    g = dict(questions_local=cfg.I, questions_external=cfg.J, num_generations=cfg.G,
             max_new_tokens=DEMO_TRAINING["max_new_tokens"], learning_rate=DEMO_TRAINING["learning_rate"],
             temperature=DEMO_TRAINING["temperature"], seed=seed, selection=cfg.select)
    g.update(cfg.overrides)
    pool = task_pool(cfg.pool_mix, salt=f"sapo-bench/{seed}")
    if cfg.regime == "split":  # draws one task; scores (peers' rollouts) every task of the mix with its verifier
        pool = TaskPool((list(DEMO_MIX)[node % len(DEMO_MIX)],), salt=pool.salt, configs=DEMO_MIX)
    return GRPOEngine(lm, GRPOConfig(**g), tasks=pool, peer_id=f"node{node}")


def _key(r) -> tuple:
    return (r.peer_id, r.round, r.task, r.question, tuple(r.completions), tuple(r.rewards))


class DhtExchange:
    """N real SwarmDHT nodes (own identities, node 0 the bootnode) carrying the bench's rollouts."""

    def __init__(self, n: int, tmp: Path):
        from core.swarm.dht import SwarmDHT

        self.dhts = [SwarmDHT(tmp / f"node{0}.pem", initial_peers=[])]
        boot = [m for m in self.dhts[0].multiaddrs if "/ip4/127.0.0.1/" in m] or self.dhts[0].multiaddrs
        for i in range(1, n):
            self.dhts.append(SwarmDHT(tmp / f"node{i}.pem", initial_peers=boot))
        self.name = {d.peer_id: f"node{i}" for i, d in enumerate(self.dhts)}

    def exchange(self, r: int, local: list[list], timeout: float = 30.0) -> list[list]:
        """Publish every node's rollouts for round r; return what each node fetched (names mapped back)."""
        for d, rs in zip(self.dhts, local):
            d.publish_rollouts(r, [replace(x, peer_id=d.peer_id) for x in rs])
        out = []
        expected = [sum(len(rs) for j, rs in enumerate(local) if j != i) for i in range(len(self.dhts))]
        for i, d in enumerate(self.dhts):
            deadline = time.monotonic() + timeout
            while True:
                # want=None: every group on offer (the node's own path, want=J, has the DHT layer draw
                # J useful groups itself; here the same selection code as in-process must choose).
                got = d.fetch_rollouts(r, timeout=10.0, want=None, previous=False)
                if sum(map(len, got.values())) >= expected[i] or time.monotonic() > deadline:
                    break
                time.sleep(0.3)
            out.append([replace(x, peer_id=self.name.get(p, p)) for p, rs in sorted(got.items()) for x in rs])
        return out

    def close(self) -> None:
        for d in self.dhts:
            d.shutdown()


def heldout(eng, n: int = 64, mix: str = "demo") -> dict:
    """Mean verifier reward and exact accuracy (reward 1) of one engine on n held-out questions of the
    regime's whole mix (drawn for a peer id no node has), G samples each at the training temperature;
    the same per task under "tasks"."""
    from core.training.tasks import task_pool

    qs = task_pool(mix, salt=eng.tasks.salt).draw(10**6, "held-out", n)
    stats = eng.task_stats  # held-out generations must not move the node's own solve estimates
    eng.task_stats = type(stats)()
    try:
        rs = eng.generate(qs, 10**6).rollouts
    finally:
        eng.task_stats = stats

    def agg(rows):
        vals = [x for r in rows for x in r.rewards]
        return {"reward": round(sum(vals) / len(vals), 4) if vals else None,
                "accuracy": round(sum(x >= 1.0 for x in vals) / len(vals), 4) if vals else None,
                "questions": len(rows), "samples": len(vals)}

    out = agg(rs)
    out["tasks"] = {t: agg([r for r in rs if r.task == t]) for t in sorted({r.task for r in rs})}
    return out


@dataclass
class NodeCost:
    tokens: int = 0          # completion tokens this node generated
    cpu: float = 0.0         # CPU seconds of its generation, scoring and training (its own thread)


def _timed(cost: NodeCost, fn, *a):
    t = time.thread_time()
    try:
        return fn(*a)
    finally:
        cost.cpu += time.thread_time() - t


def liar_groups(pool, k: int, r: int, n: int, g: int) -> list:
    """A poisoner's round: real questions with true provenance, one right answer among wrong ones, every
    reward inverted, the reference answer rewritten to a wrong one, flat groups claimed to have a winner."""
    from core.base.rollouts import Rollout

    out = []
    for i, q in enumerate(pool.draw(r, f"liar{k}", n)):
        wrong = [str(int(q.answer) + d) if q.answer.lstrip("-").isdigit() else f"{q.answer}{d}" for d in (1, 2, 3, 5)]
        comps = [f"<answer>{q.answer}</answer>"] + [f"<answer>{wrong[j % 4]}</answer>" for j in range(g - 1)]
        claimed = [1.0 - x for x in pool.score_question(q, comps)]
        if len(set(claimed)) == 1:
            claimed = [1.0] + [0.0] * (g - 1)
        out.append(Rollout(task=q.task, question=q.question, answer=wrong[0], completions=comps, rewards=claimed,
                           round=r, peer_id=f"liar{k}", metadata={**q.metadata, "answer": wrong[0]},
                           truncated=[False] * g, source={"config": pool.fingerprint(q.task), "seed": q.seed}))
    return out


def run_arm(arm: str, seed: int, cfg: BenchConfig, model_dir: str, log=print) -> dict:
    """One arm from one seed: rewards[node][round], costs, useful groups by origin, plus the DHT check."""
    if arm == "poisoned_unverified":  # the negative control: receivers believe the claimed rewards
        cfg = replace(cfg, overrides={**cfg.overrides, "verify_external": False})
    engines = [_engine(model_dir, cfg, seed, i) for i in range(cfg.nodes)]
    shares = arm != "solo"
    n_local = cfg.I if shares else cfg.I + cfg.J
    poison = cfg.poisoners if arm.startswith("poisoned") else 0
    n_poisoned = 0
    short = 0  # (node, round) pairs that got fewer than J useful peer groups
    skipped = 0  # (node, round) pairs whose GRPO step was skipped: no group with signal
    rewards = [[] for _ in engines]
    # per node, per round: mean reward of each own question. A node's first I questions of a round are the
    # same in both arms (TaskPool.draw's prefix), so "same questions" compares the arms on identical ones.
    q_rewards = [[] for _ in engines]
    cost = [NodeCost() for _ in engines]
    n_ext, n_signal = [], []
    useful_own = [[] for _ in engines]    # per node, per round: own groups with signal
    useful_peer = [[] for _ in engines]   # per node, per round: peers' groups taken (all have signal)
    task_round0: dict[str, list[int]] = {}  # task -> [groups with signal, groups] at round 0, every node
    dht_rounds = cfg.dht_rounds if (arm == "swarm" and seed == 0) else 0
    dht = None
    checks = []
    t0 = time.monotonic()
    held = ({"before": heldout(engines[0], cfg.heldout, cfg.pool_mix)}
            if cfg.heldout and seed < cfg.heldout_seeds else {})
    try:
        if dht_rounds:
            dht = DhtExchange(cfg.nodes, Path(tempfile.mkdtemp(prefix="sapo-dht-")))
        for r in range(cfg.rounds):
            gens = [_timed(c, e.generate, e.draw_questions(r, n_local), r) for e, c in zip(engines, cost)]
            local = [g.rollouts for g in gens]
            for i, (g, rs) in enumerate(zip(gens, local)):
                cost[i].tokens += g.tokens
                vals = [x for ro in rs for x in ro.rewards]
                rewards[i].append(sum(vals) / len(vals) if vals else 0.0)
                q_rewards[i].append([round(sum(ro.rewards) / len(ro.rewards), 5) for ro in rs])
                useful_own[i].append(sum(ro.has_signal() for ro in rs))
                if r == 0:
                    for ro in rs:
                        c = task_round0.setdefault(ro.task, [0, 0])
                        c[0] += ro.has_signal()
                        c[1] += 1
            n_signal.append(sum(ro.has_signal() for rs in local for ro in rs))
            if shares:
                lies = [x for k in range(poison) for x in liar_groups(engines[0].tasks, k, r, cfg.I, cfg.G)]
                ext = [_timed(cost[i], e.select_external,
                              [x for j, rs in enumerate(local) if j != i for x in rs] + lies, r)
                       for i, e in enumerate(engines)]
                n_poisoned += sum(x.peer_id.startswith("liar") for xs in ext for x in xs)
                if dht is not None and r < dht_rounds:
                    fetched = dht.exchange(r, local)
                    via = [e.select_external(f, r) for e, f in zip(engines, fetched)]
                    same = all(sorted(map(_key, a)) == sorted(map(_key, b)) for a, b in zip(ext, via))
                    checks.append({"round": r, "agree": same, "fetched": [len(f) for f in fetched],
                                   "selected": [len(v) for v in via]})
                    ext = via  # these rounds really train on what came over the DHT
                    if r == dht_rounds - 1:
                        dht.close()
                        dht = None
            else:
                ext = [[] for _ in engines]
            n_ext.append(sum(len(x) for x in ext))
            short += sum(len(x) < cfg.J for x in ext) if shares else 0
            for i, (e, rs, x) in enumerate(zip(engines, local, ext)):
                useful_peer[i].append(len(x))
                skipped += bool(_timed(cost[i], e.train, rs, x).skipped)
            if r % 5 == 4 or r == cfg.rounds - 1:
                m = sum(rw[-1] for rw in rewards) / len(rewards)
                log(f"  {arm} seed {seed} round {r + 1}/{cfg.rounds}: mean reward {m:.3f} "
                    f"({time.monotonic() - t0:.0f} s)")
    finally:
        if dht is not None:
            dht.close()
    if held:
        held["after"] = heldout(engines[0], cfg.heldout, cfg.pool_mix)
    return {"rewards": rewards, "q_rewards": q_rewards, "n_external": n_ext, "n_signal_local": n_signal, "dht_check": checks,
            "seconds": time.monotonic() - t0, "heldout": held, "poisoned_selected": n_poisoned,
            "short_of_j": short / max(1, cfg.rounds * cfg.nodes),
            "skipped_steps": skipped / max(1, cfg.rounds * cfg.nodes), "tokens": [c.tokens for c in cost],
            "cpu_seconds": [round(c.cpu, 3) for c in cost], "useful_own": useful_own, "useful_peer": useful_peer,
            "task_signal_round0": task_round0}


def _ratio(sw: list[float], so: list[float]) -> float | None:
    # None when undefined (the solo arm earned nothing): JSON has no NaN
    return (sum(sw) / len(sw)) / (sum(so) / len(so)) if sum(so) else None


def summarize(arms: dict[str, list[dict]], cfg: BenchConfig) -> dict:
    seeds = min(len(v) for v in arms.values())
    out = {"nodes": cfg.nodes, "rounds": cfg.rounds, "seeds": seeds, "regime": cfg.regime, "select": cfg.select}
    cums, cums_same, per_tok, per_cpu = {}, {}, {}, {}
    for arm, runs in arms.items():
        runs = runs[:seeds]
        per_seed_round = [[sum(n[r] for n in run["rewards"]) / len(run["rewards"]) for r in range(cfg.rounds)]
                          for run in runs]
        mean_round = [sum(s[r] for s in per_seed_round) / len(per_seed_round) for r in range(cfg.rounds)]
        cum = [sum(s) for s in per_seed_round]
        cums[arm] = cum
        # the same, scored only on each node's first I questions of a round: identical in every arm
        same_round = [[sum(sum(n[r][:cfg.I]) / cfg.I for n in run["q_rewards"]) / len(run["q_rewards"])
                       for r in range(cfg.rounds)] for run in runs] if cfg.I else []
        cums_same[arm] = [sum(s) for s in same_round]
        # per node: the seed's cumulative reward over the generated tokens / CPU seconds one node spent
        toks = [sum(run["tokens"]) / len(run["tokens"]) for run in runs]
        cpus = [sum(run["cpu_seconds"]) / len(run["cpu_seconds"]) for run in runs]
        per_tok[arm] = [c / t if t else 0.0 for c, t in zip(cum, toks)]
        per_cpu[arm] = [c / t if t else 0.0 for c, t in zip(cum, cpus)]
        own = sum(x for run in runs for node in run["useful_own"] for x in node)
        peer = sum(x for run in runs for node in run["useful_peer"] for x in node)
        t0 = {}
        for run in runs:
            for task, (k, n) in run["task_signal_round0"].items():
                c = t0.setdefault(task, [0, 0])
                c[0] += k
                c[1] += n
        k = max(1, cfg.rounds // 5)
        out[arm] = {"mean_reward_per_round": [round(x, 5) for x in mean_round],
                    "cumulative": [round(x, 5) for x in cum],
                    "per_seed_round": [[round(x, 6) for x in s] for s in per_seed_round],
                    "cumulative_same_questions": [round(x, 5) for x in cums_same[arm]],
                    "per_seed_round_same_questions": [[round(x, 6) for x in s] for s in same_round],
                    # [seed][node][round] -> mean reward of each own question, in draw order
                    "question_rewards": [run["q_rewards"] for run in runs],
                    "first_rounds_mean": round(sum(mean_round[:k]) / k, 5),
                    "last_rounds_mean": round(sum(mean_round[-k:]) / k, 5),
                    "external_per_round": [sum(run["n_external"]) / max(1, len(run["n_external"])) / cfg.nodes
                                           for run in runs],
                    # share of the nodes' own question groups with signal (not all rewards equal)
                    "local_signal_share": [round(sum(run["n_signal_local"]) / max(1, len(run["n_signal_local"]))
                                                 / (cfg.nodes * (cfg.I if arm == "swarm" else cfg.I + cfg.J)), 4)
                                           for run in runs],
                    # the same at round 0, per task, over every node and seed (what the regime was chosen by)
                    "local_signal_share_round0_by_task": {t: {"share": round(a / b, 4), "groups": b}
                                                          for t, (a, b) in sorted(t0.items())},
                    "useful_groups": {"own": own, "from_peers": peer,
                                      "peer_share": round(peer / (own + peer), 4) if own + peer else None},
                    "tokens_per_node": [round(x) for x in toks],
                    "cpu_seconds_per_node": [round(x, 3) for x in cpus],
                    "seconds": [round(run["seconds"], 1) for run in runs],
                    # share of (node, round) pairs with fewer than J useful peer groups after verification
                    "short_of_j": [round(run.get("short_of_j", 0.0), 4) for run in runs],
                    # share of (node, round) pairs with no GRPO step: not one group with signal
                    "skipped_steps": [round(run.get("skipped_steps", 0.0), 4) for run in runs],
                    "heldout_node0_seed0": runs[0].get("heldout") or None,
                    "heldout_node0": [run.get("heldout") or None for run in runs]}
    for arm in arms:
        if arm.startswith("poisoned"):  # swarm/solo of the arms with K lying peers; groups of liars trained on
            a, b = cums[arm], cums["solo"]
            out[arm]["ratio_to_solo"] = (sum(a) / len(a)) / (sum(b) / len(b)) if sum(b) else None
            out[arm]["ci95"] = bootstrap_ci(a, b)
            out[arm]["poisoned_selected"] = [run["poisoned_selected"] for run in arms[arm][:seeds]]
    sw, so = cums["swarm"], cums["solo"]
    out["ratio"] = _ratio(sw, so)
    out["ci95"] = bootstrap_ci(sw, so)
    out["per_seed_ratio"] = [a / b if b else None for a, b in zip(sw, so)]
    out["ci95_t"] = t_ci(out["per_seed_ratio"])
    # The arms scored on the same questions (each node's first I of a round), so they differ only by what
    # they learned; the headline ratio scores each arm on all its own questions (solo: I+J, swarm: I) and
    # also carries the luck of which questions each arm drew.
    if cfg.I:
        a, b = cums_same["swarm"], cums_same["solo"]
        out["ratio_same_questions"] = _ratio(a, b)
        out["ci95_same_questions"] = bootstrap_ci(a, b)
        out["per_seed_ratio_same_questions"] = [x / y if y else None for x, y in zip(a, b)]
        out["ci95_t_same_questions"] = t_ci(out["per_seed_ratio_same_questions"])
    out["ratio_per_token"] = _ratio(per_tok["swarm"], per_tok["solo"])
    out["ci95_per_token"] = bootstrap_ci(per_tok["swarm"], per_tok["solo"])
    out["ratio_per_cpu_second"] = _ratio(per_cpu["swarm"], per_cpu["solo"])
    out["ci95_per_cpu_second"] = bootstrap_ci(per_cpu["swarm"], per_cpu["solo"])
    out["dht_check"] = [c for run in arms["swarm"][:seeds] for c in run["dht_check"]]
    return out


def bootstrap_ci(sw: list[float], so: list[float], reps: int = 10000, seed: int = 0) -> list[float]:
    """95% percentile bootstrap of mean(swarm)/mean(solo), resampling seeds (paired)."""
    rng = random.Random(seed)
    n = len(sw)
    vals = []
    for _ in range(reps):
        idx = [rng.randrange(n) for _ in range(n)]
        a, b = sum(sw[i] for i in idx), sum(so[i] for i in idx)
        if b:
            vals.append(a / b)
    vals.sort()
    if not vals:
        return [None, None]
    return [round(vals[int(0.025 * (len(vals) - 1))], 4), round(vals[int(0.975 * (len(vals) - 1))], 4)]


# Student's t, 97.5 % quantile, for 1..30 degrees of freedom (no scipy at run time)
_T975 = (12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228, 2.201, 2.179, 2.160, 2.145, 2.131,
         2.120, 2.110, 2.101, 2.093, 2.086, 2.080, 2.074, 2.069, 2.064, 2.060, 2.056, 2.052, 2.048, 2.045, 2.042)


def t_ci(ratios: list) -> list:
    """95 % t-interval of the geometric mean of per-seed ratios (seeds are independent runs). With 3 seeds
    the percentile bootstrap is little more than [min, max] of the ratios; this one widens with their spread,
    which between seeds is large here (docs/sharing.md: the quick scarce run's ratios ranged 0.59-1.92 over 9 seeds)."""
    xs = [math.log(r) for r in ratios if r]
    if len(xs) < 2 or len(xs) != len(ratios):
        return [None, None]
    m = sum(xs) / len(xs)
    sd = math.sqrt(sum((x - m) ** 2 for x in xs) / (len(xs) - 1))
    h = _T975[min(len(xs) - 1, len(_T975)) - 1] * sd / math.sqrt(len(xs))
    return [round(math.exp(m - h), 4), round(math.exp(m + h), 4)]


def _fmt(x) -> str:
    return "n/a" if x is None else f"{x:.3f}"


def write_svg(res: dict, path: Path) -> None:
    W, H, pad = 640, 360, 48
    sw, so = res["swarm"]["mean_reward_per_round"], res["solo"]["mean_reward_per_round"]
    n = len(sw)
    hi = max(sw + so + [1e-9])
    lo = min(sw + so + [0.0])

    def pts(ys):
        return " ".join(f"{pad + (W - 2 * pad) * (i / max(1, n - 1)):.1f},"
                        f"{H - pad - (H - 2 * pad) * ((y - lo) / (hi - lo or 1)):.1f}" for i, y in enumerate(ys))

    svg = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{W}" height="{H}" font-family="sans-serif" font-size="12">',
           f'<rect width="{W}" height="{H}" fill="white"/>',
           f'<text x="{pad}" y="20">SAPO bench ({res.get("regime", "demo")}): {res["nodes"]} nodes, {res["seeds"]} seeds - swarm/solo '
           f'cumulative reward {_fmt(res["ratio"])} (95% CI {_fmt(res["ci95"][0])}..{_fmt(res["ci95"][1])})</text>',
           f'<line x1="{pad}" y1="{H - pad}" x2="{W - pad}" y2="{H - pad}" stroke="black"/>',
           f'<line x1="{pad}" y1="{pad}" x2="{pad}" y2="{H - pad}" stroke="black"/>',
           f'<text x="{W / 2 - 20}" y="{H - 12}">round</text>',
           f'<text x="4" y="{pad - 6}">reward</text>',
           f'<text x="4" y="{pad + 4}">{hi:.2f}</text><text x="4" y="{H - pad}">{lo:.2f}</text>',
           f'<polyline fill="none" stroke="#d62728" stroke-width="2" points="{pts(sw)}"/>',
           f'<polyline fill="none" stroke="#1f77b4" stroke-width="2" points="{pts(so)}"/>',
           f'<text x="{W - pad - 150}" y="{pad}" fill="#d62728">swarm (I local + J peers)</text>',
           f'<text x="{W - pad - 150}" y="{pad + 16}" fill="#1f77b4">solo (I+J local)</text>', "</svg>"]
    path.write_text("\n".join(svg))


def terminal_plot(res: dict, width: int = 72, height: int = 16) -> None:
    """Both curves in the terminal: plotext's classic API (5.x) when installed, else a text chart."""
    sw, so = res["swarm"]["mean_reward_per_round"], res["solo"]["mean_reward_per_round"]
    xs = list(range(1, len(sw) + 1))
    try:
        import plotext as plt
    except ImportError:
        plt = None
    if plt is not None and all(hasattr(plt, f) for f in ("plot", "show", "clear_figure")):
        plt.clear_figure()
        plt.plot(xs, sw, label="swarm")
        plt.plot(xs, so, label="solo")
        plt.title("mean reward per round")
        plt.xlabel("round")
        plt.plotsize(width, height + 4)
        plt.show()
        return
    lo, hi = min(sw + so), max(sw + so)
    span = (hi - lo) or 1.0
    grid = [[" "] * width for _ in range(height)]
    for ys, ch in ((so, "o"), (sw, "*")):
        for i, y in enumerate(ys):
            col = round(i * (width - 1) / max(1, len(ys) - 1))
            row = height - 1 - round((y - lo) / span * (height - 1))
            grid[row][col] = "#" if grid[row][col] not in (" ", ch) else ch
    print("mean reward per round   * swarm   o solo   (# both)")
    for r, line in enumerate(grid):
        label = f"{hi - r * span / (height - 1):6.3f} |" if r in (0, height // 2, height - 1) else "       |"
        print(label + "".join(line))
    print("       +" + "-" * width)
    print(f"        round 1{' ' * (width - 10 - len(str(len(sw))))}{len(sw)}")


def run(cfg: BenchConfig, log=print) -> dict:
    import torch

    from core.training.model import quiet_optional_warnings

    quiet_optional_warnings()
    torch.set_num_threads(max(1, cfg.threads))
    t0 = time.monotonic()
    if cfg.model == "demo":
        from core.training.demo import ensure_demo_model

        model_dir = str(ensure_demo_model(progress=lambda m: log(f"  demo model: {m}")))
    else:
        model_dir = cfg.model
    log(f"model ready in {time.monotonic() - t0:.0f} s: {model_dir}")
    names = ("swarm", "solo") + (("poisoned", "poisoned_unverified") if cfg.poisoners else ())
    arms = {a: [] for a in names}
    out = Path(cfg.out)
    out.mkdir(parents=True, exist_ok=True)

    def result() -> dict:
        res = summarize(arms, cfg)
        res["config"] = {"I": cfg.I, "J": cfg.J, "G": cfg.G, "dht_rounds": cfg.dht_rounds, "threads": cfg.threads,
                         "model": model_dir, "mix": cfg.mix, "regime": cfg.regime, "select": cfg.select,
                         "poisoners": cfg.poisoners, **cfg.overrides}
        res["seconds"] = round(time.monotonic() - t0, 1)
        return res

    for seed in range(cfg.seeds):
        for arm in names:
            arms[arm].append(run_arm(arm, seed, cfg, model_dir, log=log))
        if seed < cfg.seeds - 1:  # a long run that is stopped early still leaves its finished seeds
            (out / "sapo.partial.json").write_text(json.dumps(result(), indent=1))
    res = result()
    (out / "sapo.json").write_text(json.dumps(res, indent=1))
    (out / "sapo.partial.json").unlink(missing_ok=True)
    write_svg(res, out / "sapo.svg")
    return res


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m tests.bench.sapo", description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="reduced run (<= 3 min on 2 quiet cores), same output")
    ap.add_argument("--nodes", type=int)
    ap.add_argument("--rounds", type=int)
    ap.add_argument("--seeds", type=int)
    ap.add_argument("-I", type=int, dest="I")
    ap.add_argument("-J", type=int, dest="J")
    ap.add_argument("-G", type=int, dest="G")
    ap.add_argument("--dht-rounds", type=int)
    ap.add_argument("--heldout", type=int, help="held-out questions for the before/after accuracy (0 = off)")
    ap.add_argument("--lr", type=float, help="learning rate (default: the demo model's)")
    ap.add_argument("--threads", type=int, help="torch threads (default 1)")
    ap.add_argument("--mix", choices=("same", "split"),
                    help="same (default): every node draws from the whole demo mix; split: node i draws only "
                         "task i of the mix (specialists: what sharing can bring them is the other tasks)")
    ap.add_argument("--regime", choices=REGIMES,
                    help="demo (default): the demo task mix, about 2/3 of a node's own groups have signal; "
                         "scarce: harder settings where about a quarter do; split: = --mix split")
    ap.add_argument("--select", choices=("uniform", "least_solved", "rare"),
                    help="the swarm arm's choice among peers' useful groups (default uniform, SAPO's)")
    ap.add_argument("--out", help="output folder (default bench-results/)")
    ap.add_argument("--poisoners", type=int, help="K lying peers (rewards inverted, answers rewritten): adds the arms "
                                                  "poisoned (verification on) and poisoned_unverified (off)")
    args = ap.parse_args(argv)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    kw = {k: v for k, v in vars(args).items() if k not in ("quick", "lr") and v is not None}
    if args.lr is not None:
        if not args.lr > 0:
            print(f"sapo bench: --lr must be > 0 (got {args.lr})", file=sys.stderr)
            return 2
        kw["overrides"] = {"learning_rate": args.lr}
    cfg = BenchConfig.quick(**kw) if args.quick else BenchConfig(**kw)
    if min(cfg.nodes, cfg.rounds, cfg.seeds, cfg.G) < 1 or cfg.nodes < 2 or cfg.G < 2 or min(cfg.I, cfg.J) < 0:
        print("sapo bench: need --nodes >= 2, --rounds >= 1, --seeds >= 1, -G >= 2", file=sys.stderr)
        return 2
    print(f"SAPO bench: {cfg.nodes} nodes x {cfg.rounds} rounds x {cfg.seeds} seeds, I={cfg.I} J={cfg.J} G={cfg.G}, "
          f"regime {cfg.regime}, selection {cfg.select}", flush=True)
    res = run(cfg, log=lambda m: print(m, flush=True))
    terminal_plot(res)
    print(f"swarm cumulative per seed {res['swarm']['cumulative']}; solo {res['solo']['cumulative']}")
    print(f"reward first->last rounds: swarm {res['swarm']['first_rounds_mean']:.3f} -> "
          f"{res['swarm']['last_rounds_mean']:.3f}, solo {res['solo']['first_rounds_mean']:.3f} -> "
          f"{res['solo']['last_rounds_mean']:.3f}")
    print(f"ratio swarm/solo cumulative reward: {_fmt(res['ratio'])} (95% CI {_fmt(res['ci95'][0])}.."
          f"{_fmt(res['ci95'][1])}, bootstrap over {cfg.seeds} seeds; t-interval {_fmt(res['ci95_t'][0])}.."
          f"{_fmt(res['ci95_t'][1])})")
    if "ratio_same_questions" in res:
        print(f"scored on the same questions (each node's first I={cfg.I} of a round): "
              f"{_fmt(res['ratio_same_questions'])} (95% CI {_fmt(res['ci95_same_questions'][0])}.."
              f"{_fmt(res['ci95_same_questions'][1])}; t-interval over seeds {_fmt(res['ci95_t_same_questions'][0])}.."
              f"{_fmt(res['ci95_t_same_questions'][1])}; per seed "
              f"{', '.join(_fmt(x) for x in res['per_seed_ratio_same_questions'])})")
    print(f"per generated token: {_fmt(res['ratio_per_token'])} (95% CI {_fmt(res['ci95_per_token'][0])}.."
          f"{_fmt(res['ci95_per_token'][1])}); per node CPU-second: {_fmt(res['ratio_per_cpu_second'])} "
          f"(95% CI {_fmt(res['ci95_per_cpu_second'][0])}..{_fmt(res['ci95_per_cpu_second'][1])})")
    for arm in ("swarm", "solo"):
        u = res[arm]["useful_groups"]
        sig = ", ".join(f"{t} {v['share']:.2f}" for t, v in res[arm]["local_signal_share_round0_by_task"].items())
        print(f"{arm}: useful training groups own {u['own']}, from peers {u['from_peers']} (peer share "
              f"{_fmt(u['peer_share'])}); own groups with signal at round 0: {sig}; GRPO steps skipped (no "
              f"signal) {sum(res[arm]['skipped_steps']) / len(res[arm]['skipped_steps']):.1%}")
        h = res[arm].get("heldout_node0_seed0")
        if h:
            per = ", ".join(f"{t} {v['accuracy']:.3f}->{h['after']['tasks'].get(t, {}).get('accuracy') or 0:.3f}"
                            for t, v in h["before"]["tasks"].items())
            print(f"held-out ({h['before']['questions']} questions x {cfg.G}) node 0, seed 0, {arm}: accuracy "
                  f"{h['before']['accuracy']:.3f} -> {h['after']['accuracy']:.3f}, reward {h['before']['reward']:.3f} "
                  f"-> {h['after']['reward']:.3f}; per task {per}")
    for arm in ("poisoned", "poisoned_unverified"):
        if arm in res:
            x = res[arm]
            print(f"{arm} ({cfg.poisoners} liar(s)): /solo cumulative reward {_fmt(x['ratio_to_solo'])} (95% CI "
                  f"{_fmt(x['ci95'][0])}..{_fmt(x['ci95'][1])}); liars' groups trained on per seed "
                  f"{x['poisoned_selected']}")
    agree = [c["agree"] for c in res["dht_check"]]
    if agree:
        print(f"DHT path: {sum(agree)}/{len(agree)} rounds selected exactly what the in-process path selected")
    print(f"written: {Path(cfg.out) / 'sapo.json'}, {Path(cfg.out) / 'sapo.svg'} ({res['seconds']:.0f} s)")
    return 0 if all(agree) else 1


if __name__ == "__main__":
    sys.exit(main())
