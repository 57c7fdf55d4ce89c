# swarmdeck tasks. `just run` and `just test` work on a fresh machine on their own.
set shell := ["bash", "-euo", "pipefail", "-c"]

venv := ".venv"
py := venv + "/bin/python"

# Create .venv, install torch 2.13.0 first (local CPU wheel), then the project, npm parts and Chromium.
setup:
    #!/usr/bin/env bash
    set -euo pipefail
    if [ ! -x {{py}} ]; then python3 -m venv {{venv}}; fi
    stamp={{venv}}/.setup-stamp
    if [ ! -f "$stamp" ] || [ pyproject.toml -nt "$stamp" ] || [ package.json -nt "$stamp" ]; then
        echo "==> installing torch 2.13.0 (CPU wheel) first"
        {{py}} -m pip install -q --upgrade pip
        {{py}} -m pip install -q "torch==2.13.0"
        echo "==> installing swarmdeck and its dependencies (a few minutes on first run)"
        {{py}} -m pip install -q -e ".[dev]"
        if [ -f package.json ]; then echo "==> npm parts (anvil, solc, yarn)"; npm ci --no-audit --no-fund --silent; fi
        touch "$stamp"
    fi
    if ! command -v chromium >/dev/null 2>&1 || ! command -v zbarimg >/dev/null 2>&1 || [ ! -x /usr/sbin/sshd ]; then
        echo "==> installing Debian chromium (login page tests), zbar-tools (QR decode test), openssh (fleet tests)"
        if [ "$(id -u)" = 0 ]; then apt-get update -qq && apt-get install -y -qq chromium zbar-tools openssh-server openssh-client >/dev/null;
        else echo "chromium, zbarimg or sshd missing: run 'sudo apt-get install chromium zbar-tools openssh-server openssh-client' (those tests will be skipped)"; fi
    fi

# Set up, then run swarmdeck on the embedded local network.
run *ARGS: setup
    {{venv}}/bin/swarmdeck {{ARGS}}

# The whole test suite (fails when any test fails, and when no test ran).
test *ARGS: setup
    #!/usr/bin/env bash
    set -uo pipefail
    export HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1
    # the layer contracts (.importlinter) first: a broken one fails the recipe
    {{venv}}/bin/lint-imports || exit 1
    {{py}} -m pytest -q -p no:cacheprovider --timeout=600 --ignore=tests/bench --ignore=tests/fuzz {{ARGS}}
    rc=$?
    if [ $rc -eq 5 ]; then echo "no tests were collected: failing on purpose"; exit 1; fi
    exit $rc

# Benchmarks: ratios against a baseline measured in the same run.
bench *ARGS: setup
    HF_HUB_OFFLINE=1 {{py}} -m pytest -q -p no:cacheprovider tests/bench -s --timeout=1800 -o testpaths=tests/bench {{ARGS}}

# DHT scale benchmark: one node's rollout-exchange cost at 4, 16 and 64 loopback peers (~7 min).
bench-dht-scale *ARGS: setup
    HF_HUB_OFFLINE=1 {{py}} -m pytest -q -p no:cacheprovider tests/bench/test_bench_dht_scale.py -s --timeout=3000 -o testpaths=tests/bench {{ARGS}}

# Swarm vs solo (SAPO): 4 demo-model nodes, sharing 4/4 vs 8 local, 3 seeds x 40 rounds; --quick: <= 3 min; --mix split: specialist nodes.
# Writes bench-results/sapo.json and sapo.svg, and draws both curves in the terminal.
bench-sapo *ARGS: setup
    HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 {{py}} -m tests.bench.sapo {{ARGS}}

# GPU check (<= 8 min, needs CUDA): 0.5B/1.5B/7B-shaped models, generation + one GRPO step, 4-bit/8-bit/bf16.
gpu-check *ARGS: setup
    bash tests/bench/gpu_check.sh {{ARGS}}

# Fuzz the parsers (SECONDS per target; short by default).
fuzz SECONDS="60": setup
    SWARMDECK_FUZZ_SECONDS={{SECONDS}} {{py}} -m pytest -q -p no:cacheprovider tests/fuzz -o testpaths=tests/fuzz --timeout=0

# Soak: 3 local nodes for MINUTES, reports RSS / open-file growth.
soak MINUTES="60": setup
    HF_HUB_OFFLINE=1 {{py}} -m tests.soak --minutes {{MINUTES}}

lint: setup
    {{py}} -m compileall -q core tui tests
