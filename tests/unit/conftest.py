"""Unit tests start no processes: anything that forks or execs belongs in tests/integration/.

Every way a test could start one (subprocess, multiprocessing, os.fork/posix_spawn/system) ends in
one of the functions patched here; the attempt is refused and the test fails, even if the code under
test swallows the error. Libraries' own one-shot probes (matplotlib asking fontconfig for fonts,
ctypes looking for a shared library) are not the test starting a process and are let through.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import _posixsubprocess
import pytest

# subprocess keeps its own reference to fork_exec; multiprocessing calls the module's.
_ENTRY_POINTS = [(subprocess, "_fork_exec"), (_posixsubprocess, "fork_exec"), (os, "fork"), (os, "forkpty"),
                 (os, "posix_spawn"), (os, "posix_spawnp"), (os, "system")]


LIBRARY_PROBES = {"fc-list", "fc-match", "ldconfig", "gcc", "cc", "ld", "objdump"}


def _program(args) -> str:
    try:
        first = args[0]
        return Path(os.fsdecode(first)).name
    except (IndexError, TypeError):
        return ""


@pytest.fixture(autouse=True)
def no_processes(monkeypatch, request):
    started: list[str] = []

    def refuse(name, real):
        def call(*args, **kwargs):
            if real is not None and args and _program(args[0]) in LIBRARY_PROBES:
                return real(*args, **kwargs)
            started.append(name)
            raise RuntimeError(f"unit tests start no processes ({name}): move {request.node.nodeid} "
                               "to tests/integration/")
        return call

    for mod, name in _ENTRY_POINTS:
        if hasattr(mod, name):
            # fork_exec's first argument is the argv: a library probe can be told apart there
            real = getattr(mod, name) if name.endswith("fork_exec") else None
            monkeypatch.setattr(mod, name, refuse(f"{mod.__name__}.{name}", real))
    yield
    if started:
        pytest.fail(f"{request.node.nodeid} tried to start a process ({', '.join(started)}): unit tests start "
                    "none; move it to tests/integration/", pytrace=False)
