"""`just fuzz SECONDS`: each target is driven for SWARMDECK_FUZZ_SECONDS (default 10) with mutated inputs."""
