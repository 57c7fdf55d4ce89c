#!/usr/bin/env bash
# GPU check (at most 8 minutes): Qwen2.5-0.5B/1.5B/7B-shaped random models (nothing downloaded),
# generation of G=8 x 512-token completions + one GRPO step, in 4-bit, 8-bit and bf16 with LoRA.
# Prints peak GPU memory, tokens/s and step time per shape and mode as a table and as JSON
# (also written to bench-results/gpu_check.json), plus the dashboard's NVML readings.
# Goals: 7B-shape 4-bit <= 16 GB peak, 1.5B-shape 4-bit <= 5 GB.
#   usage: bash tests/bench/gpu_check.sh [--sizes 0.5b,1.5b,7b] [--modes 4bit,8bit,bf16]
# Without a CUDA GPU it says so and exits 2 (nothing is measured).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."
PY="${PYTHON:-.venv/bin/python}"
if [ ! -x "$PY" ]; then PY="$(command -v python3)"; fi
if ! "$PY" -c 'import torch, sys; sys.exit(0 if torch.cuda.is_available() else 3)' 2>/dev/null; then
    echo "gpu_check: no CUDA GPU visible to torch ($PY): CPU-only machine, no NVIDIA driver, or a CPU-only" \
         "torch wheel. Nothing was measured; run this on a machine with an NVIDIA GPU." >&2
    exit 2
fi
command -v nvidia-smi >/dev/null 2>&1 && nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader || true
export HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 PYTHONUNBUFFERED=1
# 470 s for the measurements, then the process is stopped: the whole check stays under 8 minutes.
exec timeout --kill-after=10 470 "$PY" -m tests.bench.gpu_check --budget 430 "$@"
