"""`swarmdeck … | head`: a reader that stops early ends the command quietly (issue 20: `standing --json
| head` ended in a BrokenPipeError traceback). The pipe is closed before the command writes."""

from __future__ import annotations

import subprocess
import sys

import pytest


@pytest.mark.parametrize("argv", [["standing", "--json"], ["status", "--json"], ["--help"]])
def test_a_closed_pipe_ends_the_command_without_a_traceback(argv):
    p = subprocess.Popen([sys.executable, "-m", "tui", *argv], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    p.stdout.close()  # the reader (head) is gone before anything was written
    try:
        _, err = p.communicate(timeout=120)
    finally:
        if p.poll() is None:
            p.kill()
    text = err.decode(errors="replace")
    assert "Traceback" not in text and "BrokenPipeError" not in text, text
    assert p.returncode in (0, 1, 141), (p.returncode, text)
