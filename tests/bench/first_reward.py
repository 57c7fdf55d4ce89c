"""Sign-in done -> first reward, as a new user's first run has it (issue 20: goal <= 60 s on 2 cores).

    .venv/bin/python -m tests.bench.first_reward [--busy]

A fresh SWARMDECK_HOME (so a fresh data dir: the demo model comes from the repository's copy, as on a
fresh clone), the local network as the TUI brings it up during the wizard (chain + 2 demo peers,
30 s rounds, the demo model: the defaults), then a profile signs in through the local login service's
own API (what the sign-in page calls). The clock starts when the session key is activated; the node is
started as the TUI's auto-start does (its supervisor, detached) and the clock stops at the profile's
first round.finished in events.jsonl (the dashboard draws it at its next 1 s refresh).
--busy: one busy loop (`python -c 'while 1: pass'`) runs meanwhile. Prints one JSON line.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
import urllib.request


def _post(url: str, body: dict) -> dict:
    req = urllib.request.Request(url, data=json.dumps(body).encode(), method="POST",
                                 headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=30) as r:
        return json.loads(r.read())


def main() -> int:
    busy = "--busy" in sys.argv
    home = tempfile.mkdtemp(prefix="swarmdeck-firstreward-")
    os.environ.update(SWARMDECK_HOME=home, HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1")
    os.environ.pop("SWARMDECK_LOCAL_MODEL", None)
    import core.supervisor as daemon
    from core.base.paths import ProfilePaths
    from core.chain.devnet import free_port
    from core.events.reader import read_events
    from core.identity import profiles
    from core.localnet import network as localnet
    from core.login.service import ensure_service, stop_service
    from tests.helpers.journey import stop_everything

    hog = subprocess.Popen([sys.executable, "-c", "while 1: pass"]) if busy else None
    out: dict = {"busy_loop": busy, "load_before": os.getloadavg()[0]}
    name = "me"
    try:
        t = time.monotonic()
        localnet.up(peers=2)
        out["network_up_s"] = round(time.monotonic() - t, 1)
        port = free_port()
        profiles.create_profile(name, network="local", login_port=port)
        paths = ProfilePaths(name)
        ensure_service(paths, port=port, network="local")
        url = f"http://127.0.0.1:{port}"
        acct = _post(f"{url}/api/login", {"email": "first-run@example.org"})
        key = _post(f"{url}/api/get-api-key", {"orgId": acct["orgId"]})["publicKey"]
        _post(f"{url}/api/set-api-key-activated", {"orgId": acct["orgId"], "apiKey": key})
        t0 = time.monotonic()
        daemon.spawn_detached(name)
        marks: dict = {}
        while time.monotonic() - t0 < 600:
            for ev in read_events(paths.events_file):
                if ev.type == "node.state" and getattr(ev, "state", "") not in marks:
                    marks[ev.state] = round(time.monotonic() - t0, 1)
                if ev.type == "round.finished":
                    marks.setdefault("first_reward", round(time.monotonic() - t0, 1))
                    marks.setdefault("reward", ev.reward)
            if "first_reward" in marks:
                break
            time.sleep(0.5)
        out.update(signin_to=marks, load_after=os.getloadavg()[0])
    finally:
        if hog:
            hog.kill()
            hog.wait()
        try:
            stop_service(ProfilePaths(name))
        except Exception:
            pass
        out["left_running"] = stop_everything([name, "local-peer-1", "local-peer-2"])
    print(json.dumps(out))
    return 0 if "first_reward" in out.get("signin_to", {}) else 1


if __name__ == "__main__":
    raise SystemExit(main())
