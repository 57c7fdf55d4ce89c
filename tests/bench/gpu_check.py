#!/usr/bin/env python
"""GPU check: generation + one GRPO step on Qwen2.5-0.5B/1.5B/7B-shaped random models, in 4-bit,
8-bit and bf16 with LoRA; peak GPU memory, tokens/s and step time per shape and mode, as a table
and as JSON, plus the dashboard's NVML readings (core.hardware.telemetry) taken during the run.

Run through tests/bench/gpu_check.sh (which checks for CUDA first and caps the run at 8 minutes).
The measuring itself is tests/bench/gpu_memory.py (each shape in its own child process; random
weights from the real Qwen2.5 configs, nothing downloaded); this adds generation of the full
completion length, the NVML sampler and the JSON. On a machine without CUDA it says so and exits 2.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


class NvmlSampler:
    """Samples the dashboard's telemetry (NVML) every `period` seconds in a thread; keeps the maxima."""

    def __init__(self, period: float = 1.0):
        from core.hardware.telemetry import Telemetry

        self.tel = Telemetry()
        self.period = period
        self.samples = 0
        self.gpus: dict[int, dict] = {}
        self._stop = threading.Event()
        self._t = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                snap = self.tel.sample()
            except Exception:
                snap = None
            if snap is not None:
                self.samples += 1
                for g in snap.gpus:
                    d = {k: v for k, v in vars(g).items() if not k.startswith("_")}
                    cur = self.gpus.setdefault(d.get("index", 0), {"first": d, "max": {}})
                    cur["last"] = d
                    for k, v in d.items():
                        if isinstance(v, (int, float)) and not isinstance(v, bool):
                            cur["max"][k] = max(cur["max"].get(k, v), v)
            self._stop.wait(self.period)

    def __enter__(self):
        self._t.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._t.join(timeout=5)
        try:
            self.tel.close()
        except Exception:
            pass

    def report(self) -> dict:
        return {"samples": self.samples, "gpus": self.gpus}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--sizes", default="0.5b,1.5b,7b")
    ap.add_argument("--modes", default="4bit,8bit,bf16")
    ap.add_argument("--G", type=int, default=8)
    ap.add_argument("--completion", type=int, default=512)
    ap.add_argument("--steps", type=int, default=1, help="measured GRPO steps per config after a warm-up step")
    ap.add_argument("--budget", type=float, default=450.0, help="seconds for the whole run")
    ap.add_argument("--json", default=str(ROOT / "bench-results" / "gpu_check.json"))
    args = ap.parse_args(argv)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    import torch

    if not torch.cuda.is_available():
        print("gpu_check: torch sees no CUDA device here (CPU-only machine, no driver, or a CPU-only torch "
              "wheel); nothing was measured. Run it on a machine with an NVIDIA GPU.", file=sys.stderr)
        return 2
    from tests.bench import gpu_memory

    with NvmlSampler() as nv:
        t0 = time.monotonic()
        results, device_desc = gpu_memory.measure(args.sizes, args.modes, steps=args.steps, G=args.G,
                                                  prompt=200, completion=args.completion,
                                                  gen_tokens=args.completion, budget=args.budget)
        wall = time.monotonic() - t0
    md = gpu_memory.table(results, argparse.Namespace(G=args.G, prompt=200, completion=args.completion,
                                                      steps=args.steps), device_desc)
    print("\n" + md)
    nvml = nv.report()
    print("\nNVML (the dashboard's telemetry) during the run:")
    for idx, g in sorted(nvml["gpus"].items()):
        print(f"  GPU {idx}: max {json.dumps(g['max'])}")
    if not nvml["gpus"]:
        print("  no NVML readings (nvidia-ml-py missing or NVML not answering)")
    out = {"device": device_desc, "G": args.G, "completion_tokens": args.completion, "wall_s": round(wall, 1),
           "results": results, "goals_gb": {f"{k[0]}/{k[1]}": v for k, v in gpu_memory.GOALS_GB.items()},
           "nvml": nvml}
    print("\nJSON " + json.dumps(out, default=str))
    p = Path(args.json)
    p.parent.mkdir(parents=True, exist_ok=True)
    p.write_text(json.dumps(out, indent=1, default=str))
    print(f"written to {p}")
    bad = [r for r in results if r.get("status") not in ("ok",)]
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
