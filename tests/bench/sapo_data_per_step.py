"""Does more useful data per GRPO step make a node learn faster? The premise of SAPO at equal compute.

Sharing gives a node more useful groups (nonzero advantage) per step than it would have alone; if a
node alone learns no faster from 16 questions a step than from 4, peers' groups cannot speed it up
either. This runs the bench's solo arm (nothing shared) at several questions-per-step from the same
seeds and scores every arm on the same questions: each node's first `--score-on` questions of a
round, which every arm draws alike (TaskPool.draw's prefix). Same model, task pool and settings as
`just bench-sapo`; writes bench-results/sapo_data_per_step.json.

    .venv/bin/python -m tests.bench.sapo_data_per_step --regime scarce --rounds 40 --per-step 4 8 16
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from tests.bench import sapo


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--regime", choices=sapo.REGIMES, default="scarce")
    ap.add_argument("--nodes", type=int, default=4)
    ap.add_argument("--rounds", type=int, default=40)
    ap.add_argument("--seeds", type=int, default=3)
    ap.add_argument("--per-step", type=int, nargs="+", default=[4, 8, 16], help="own questions per step, one arm each")
    ap.add_argument("--score-on", type=int, help="score every arm on each node's first K questions (default: the smallest arm's)")
    ap.add_argument("--out", default=str(sapo.ROOT / "bench-results"))
    args = ap.parse_args(argv)
    k = args.score_on or min(args.per_step)
    if k > min(args.per_step) or k < 1:
        print(f"--score-on must be between 1 and the smallest --per-step ({min(args.per_step)})", file=sys.stderr)
        return 2
    import torch

    from core.training.demo import ensure_demo_model

    torch.set_num_threads(1)
    model_dir = str(ensure_demo_model())
    t0 = time.monotonic()
    res = {"regime": args.regime, "nodes": args.nodes, "rounds": args.rounds, "seeds": args.seeds, "score_on": k,
           "arms": {}}
    for n in args.per_step:
        cfg = sapo.BenchConfig(nodes=args.nodes, rounds=args.rounds, seeds=args.seeds, I=n, J=0, dht_rounds=0,
                               heldout=0, regime=args.regime)
        runs = [sapo.run_arm("solo", s, cfg, model_dir, log=lambda m: None) for s in range(args.seeds)]
        cum = [sum(sum(sum(node[r][:k]) / k for node in run["q_rewards"]) / args.nodes for r in range(args.rounds))
               for run in runs]
        useful = [sum(map(sum, run["useful_own"])) / (args.nodes * args.rounds) for run in runs]
        res["arms"][str(n)] = {"cumulative_same_questions": [round(c, 5) for c in cum],
                               "useful_groups_per_step": [round(u, 3) for u in useful],
                               "skipped_steps": [round(run["skipped_steps"], 4) for run in runs],
                               "seconds": [round(run["seconds"], 1) for run in runs]}
        print(f"{n} questions a step: cumulative reward on the first {k} questions per seed "
              f"{[round(c, 3) for c in cum]}; useful groups a step {[round(u, 2) for u in useful]}; "
              f"steps skipped {[round(run['skipped_steps'], 3) for run in runs]}", flush=True)
    base = res["arms"][str(min(args.per_step))]["cumulative_same_questions"]
    for n, arm in res["arms"].items():
        arm["ratio_to_smallest"] = sapo._ratio(arm["cumulative_same_questions"], base)
        arm["ci95"] = sapo.bootstrap_ci(arm["cumulative_same_questions"], base)
        print(f"{n} vs {min(args.per_step)} questions a step: {sapo._fmt(arm['ratio_to_smallest'])} "
              f"(95% CI {sapo._fmt(arm['ci95'][0])}..{sapo._fmt(arm['ci95'][1])})")
    res["seconds"] = round(time.monotonic() - t0, 1)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "sapo_data_per_step.json").write_text(json.dumps(res, indent=1))
    print(f"written: {out / 'sapo_data_per_step.json'} ({res['seconds']:.0f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
