"""Waiting on a condition instead of sleeping a guessed time."""

from __future__ import annotations

import time


def wait_until(cond, timeout: float, what: str, interval: float = 0.05, ignore: tuple = (OSError, ValueError)):
    """cond()'s first truthy value, polled every `interval` s; AssertionError naming `what` after `timeout` s.

    Exceptions in `ignore` count as "not yet" (a file half-written, a socket not listening yet).
    """
    deadline = time.monotonic() + timeout
    last = None
    while True:
        try:
            last = cond()
        except ignore:
            last = None
        if last:
            return last
        if time.monotonic() >= deadline:
            raise AssertionError(f"timed out after {timeout:g} s waiting for {what} (last: {last!r})")
        time.sleep(interval)
