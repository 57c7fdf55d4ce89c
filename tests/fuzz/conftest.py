"""`just fuzz SECONDS`: each target is driven for SWARMDECK_FUZZ_SECONDS (default 10) with mutated inputs."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "reliability"))
