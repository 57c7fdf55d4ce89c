"""A real node (`python -m core.node`) with a stale session key keeps training, and loses nothing.

Local chain (anvil) with a round advancer, the profile's real login service (the background
process the node itself relies on), the tiny model. The key goes stale the way a half-finished
re-login leaves it (a new, never activated session key is the newest entry); the node must
finish its rounds (exit 0: no crash loop for the supervisor), say "sign in again" once, and keep
every write pending; after the sign-in is finished, the next run lands them all and clears it.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from core.localnet import network as localnet
from core.identity import profiles
from core.identity import signin
from core.chain.devnet import LocalChain, free_port
from core.login.service import ensure_service, stop_service

from tests.helpers.chain import events, require_anvil
from tests.helpers.http import http, sign_in

pytestmark = [pytest.mark.slow, pytest.mark.timeout(600)]

ROOT = Path(__file__).resolve().parents[2]
TRAINING = {"questions_local": 1, "questions_external": 1, "generations": 2, "max_new_tokens": 8}


def _node(name: str, rounds: int) -> tuple[int, list[dict], float]:
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    t0 = time.monotonic()
    out = subprocess.run([sys.executable, "-m", "core.node", "--profile", name, "--max-rounds", str(rounds),
                          "--share-wait", "1"], capture_output=True, text=True, env=env, cwd=ROOT, timeout=400)
    evs = [json.loads(ln) for ln in out.stdout.splitlines() if ln.startswith("{")]
    assert out.returncode == 0, out.stderr[-3000:]
    return out.returncode, evs, time.monotonic() - t0


def test_node_with_a_stale_key_trains_on_and_lands_everything_after_a_new_sign_in():
    require_anvil()
    chain = LocalChain("local").start()
    adv = chain.start_advancer(4.0)
    prof = None
    try:
        prof = profiles.create_profile("sn", make_current=False, network="local", backend="modal-login",
                                       model="tiny", login_port=free_port(), training=TRAINING)
        localnet.bootnode_file().write_text("sn\n")
        svc = ensure_service(prof.paths, port=prof.settings.login_port, network="local")
        user = sign_in(svc.url, "nia@example.org")
        st, newkey = http(f"{svc.url}/api/get-api-key", {"whoamiStamp": {"orgId": user["orgId"]}})
        assert st == 200  # the newest key is not activated: every write is answered 500 "api key not found"

        _, evs, _ = _node("sn", 2)
        kinds = [e["type"] for e in evs]
        assert kinds.count("round.finished") == 2, kinds
        assert "crashed" not in {e.get("state") for e in evs if e["type"] == "node.state"}
        req = [e for e in evs if e["type"] == "login.required"]
        assert len(req) == 1 and req[0]["fix"] == "swarmdeck login -p sn" and "api key not found" in req[0]["reason"]
        assert any("wait for a new sign-in" in e.get("message", "") for e in evs if e["type"] == "log")
        assert "api key not found" in signin.required("sn")["reason"]
        queued = [json.loads(p.read_text()) for p in prof.paths.queue_dir.glob("*.json")]
        assert len(queued) == 5 and {q["status"] for q in queued} == {"pending"}, queued  # register + 2x2
        assert max(q["attempts"] for q in queued) <= 1  # one probe: no hammering, not even at shutdown
        assert not events(chain, "RewardSubmitted")

        # The sign-in is finished; the next run resumes the episode, probes at once and lands it all.
        st, act = http(f"{svc.url}/api/set-api-key-activated", {
            "orgId": user["orgId"], "apiKey": newkey["publicKey"], "deferredActionDigest": "",
            "accountAddress": user["address"], "initCode": ""})
        assert st == 200 and act == {"activated": True}
        _, evs2, _ = _node("sn", 1)
        assert [e["type"] for e in evs2].count("login.ok") == 1
        assert not [e for e in evs2 if e["type"] == "login.required"]
        assert signin.required("sn") is None
        queued = [json.loads(p.read_text()) for p in prof.paths.queue_dir.glob("*.json")]
        assert len(queued) == 7 and {q["status"] for q in queued} == {"landed"}, queued
        peer = next(e for e in evs if e["type"] == "node.identity")["peer_id"]
        landed = {(e["args"]["roundNumber"]) for e in events(chain, "RewardSubmitted", peerId=peer)}
        first_rounds = {e["round"] for e in evs if e["type"] == "round.finished"}
        assert first_rounds <= landed  # the rounds trained while the key was stale count too
    finally:
        if prof is not None:
            stop_service(prof.paths)
        adv.stop()
        chain.stop()
