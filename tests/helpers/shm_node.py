"""A node stand-in that holds torch shared memory the way a real node does: hivemind's MPFuture (its
DHT calls) puts torch in the `file_system` sharing strategy and keeps a segment in /dev/shm per process,
named torch_<pid>_*. It speaks the child contract (running, rounds) like tests/helpers/fake_node.py and
starts one child process that holds a segment too, as the DHT process does. Only a clean exit unlinks them.
"""

from __future__ import annotations

import json
import multiprocessing
import os
import sys
import time


def _emit(type_: str, **data) -> None:
    sys.stdout.write(json.dumps({"v": 1, "type": type_, "ts": time.time(), "seq": 0, "profile": "", **data}) + "\n")
    sys.stdout.flush()


def _dht_like(ready) -> None:
    import hivemind.utils.mpfuture as mpf

    fut = mpf.MPFuture()  # noqa: F841  (its shared state is the segment)
    ready.set()
    while True:
        time.sleep(1)


def main() -> int:
    import hivemind.utils.mpfuture as mpf

    fut = mpf.MPFuture()  # noqa: F841
    ctx = multiprocessing.get_context("fork")
    ready = ctx.Event()
    child = ctx.Process(target=_dht_like, args=(ready,), daemon=False)
    child.start()
    ready.wait(60)
    _emit("node.state", state="running")
    _emit("log", level="info", message=f"shm pids {os.getpid()} {child.pid}", shm_pids=[os.getpid(), child.pid])
    r = 0
    while True:
        r += 1
        _emit("round.finished", round=r, stage=0, reward=0.5, n_local=1, n_external=0)
        time.sleep(0.5)


if __name__ == "__main__":
    sys.exit(main())
