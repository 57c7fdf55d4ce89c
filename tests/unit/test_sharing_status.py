"""`swarmdeck status --json` shows verified sharing as the node last reported it (the peers.trust event)."""

from __future__ import annotations

import json

from core.base.paths import ProfilePaths, ensure_private_dir
from core.events.types import PeerTrust, RoundFinished
from core.identity import profiles
from core.usecases.profile_state import build_status, sharing_status


def test_status_json_carries_refusals_and_ignored_peers():
    profiles.create_profile("vfy", make_current=False, network="local", backend="web3")
    assert sharing_status("vfy") is None  # before the node's first round
    pp = ProfilePaths("vfy")
    ensure_private_dir(pp.events_file.parent)
    liar = {"peer_id": "QmLiar", "reason": "disagree", "since_round": 3, "until_round": 23}
    with open(pp.events_file, "a") as f:
        for i, ev in enumerate([PeerTrust(round=2, refused={"disagree": 1}),
                                PeerTrust(round=3, refused={"disagree": 2, "unverifiable": 1},
                                          by_peer={"QmLiar": {"disagree": 2}, "QmOld": {"unverifiable": 1}},
                                          ignored=(liar,)),
                                RoundFinished(round=3, stage=0, reward=0.5, n_local=4, n_external=4,
                                              verify_seconds=0.02, verify_pct=0.1)]):
            f.write(ev.stamped(seq=i + 1, ts=1.0, profile="vfy").to_json() + "\n")
    st = next(p for p in build_status()["profiles"] if p["name"] == "vfy")
    sh = json.loads(json.dumps(st))["sharing"]  # what --json prints
    assert sh == {"round": 3, "refused": {"disagree": 2, "unverifiable": 1}, "refused_total": 3,
                  "refused_by_peer": {"QmLiar": {"disagree": 2}, "QmOld": {"unverifiable": 1}},
                  "ignored": [liar]}
