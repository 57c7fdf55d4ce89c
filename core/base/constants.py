"""Values that several layers must agree on, declared once.

Exit codes are the contract between the node child (core.node) and its supervisor; the quant
modes are what the config, the model loader, the wizard and the OOM downshift all accept; the
login port and local round length are defaults shared by config, doctor, CLI and TUI.
"""

import os

# Node child exit codes the supervisor reacts to (anything else is a plain crash).
EXIT_OOM = 42  # out of memory: restart one step down the quant ladder
EXIT_CONFIG = 78  # EX_CONFIG (sysexits.h): a setting is wrong, restarting would not help

# Quantization modes. "auto" lets the loader choose from the hardware.
QUANT_MODES = ("4bit", "8bit", "bf16", "fp32")
QUANT_CHOICES = ("auto",) + QUANT_MODES
# Memory use, most to least: the OOM downshift walks this left to right.
QUANT_ORDER = ("fp32", "bf16", "8bit", "4bit")

# The login service's (modal-login API) default port.
DEFAULT_LOGIN_PORT = 3000

# Round length of the local network's advancer (`swarmdeck network up`, docs/local-network.md: "a round every 30 s").
LOCAL_ROUND_SECONDS = 30.0

# Model names that select a model built here (no hub): the tiny Qwen2 (tests, smoke runs) and the
# demo model (core.training.demo, pretrained to half-solve the demo task mix: it learns on CPU).
TINY_MODEL = "tiny"
DEMO_MODEL = "demo"


def local_cpu_model() -> str:
    """The model a CPU-only node on the local network runs when its model is "auto": the demo model,
    unless SWARMDECK_LOCAL_MODEL names another (the test suite sets "tiny")."""
    return os.environ.get("SWARMDECK_LOCAL_MODEL") or DEMO_MODEL


# The local network's demo peers (`swarmdeck network up`): profiles swarmdeck makes and runs for the local
# network, not the user's own nodes. They need no backup and are never "the best of your nodes".
DEMO_PEER_PREFIX = "local-peer-"


def is_demo_peer(name: str) -> bool:
    return name.startswith(DEMO_PEER_PREFIX)
