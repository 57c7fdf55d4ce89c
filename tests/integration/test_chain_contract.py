"""The committed artifact is exactly what solc-js makes of the source, and anvil comes from npm."""

from __future__ import annotations

import json
import subprocess

from core.chain import compile as cc
from core.chain.devnet import anvil_binary


def test_artifact_matches_fresh_compile():
    fresh = cc.compile_coordinator()
    committed = cc.load_artifact()
    assert committed["compiler"]["version"].startswith(cc.SOLC_VERSION + "+")
    assert fresh["abi"] == committed["abi"]
    assert fresh["bytecode"] == committed["bytecode"]
    assert fresh["deployedBytecode"] == committed["deployedBytecode"]
    assert cc.render(fresh) == cc.ARTIFACT.read_text(), "run `python -m core.chain.compile` and commit the artifact"


def test_abi_has_the_public_interface():
    abi = cc.load_artifact()["abi"]
    names = {(i["type"], i.get("name")) for i in abi}
    for fn in ["registerPeer", "submitReward", "submitWinners", "currentRound", "currentStage", "stageCount",
               "updateStageAndRound", "getBootnodes", "addBootnodes", "removeBootnode", "clearBootnodes",
               "getPeerId", "getEoa", "getTotalRewards", "getTotalWins", "hasSubmittedRoundStageReward",
               "winnerLeaderboard", "voterLeaderboard"]:
        assert ("function", fn) in names, fn
    for ev in ["PeerRegistered", "RewardSubmitted", "WinnerSubmitted", "CumulativeRewardsUpdated", "RoundAdvanced",
               "StageAdvanced"]:
        assert ("event", ev) in names, ev
    for err in ["PeerIdAlreadyRegistered", "RewardAlreadySubmitted", "WinnerAlreadyVoted", "InvalidRoundNumber",
                "InvalidStageNumber", "InvalidVote", "InvalidVoterPeerId", "StageOutOfBounds", "OnlyStageManager"]:
        assert ("error", err) in names, err
    sig = {i["name"]: [x["type"] for x in i["inputs"]] for i in abi if i["type"] == "function"}
    assert sig["submitReward"] == ["uint256", "uint256", "int256", "string"]
    assert sig["submitWinners"] == ["uint256", "string[]", "string"]
    assert sig["getPeerId"] == ["address[]"]


def test_anvil_is_the_pinned_npm_binary():
    path = anvil_binary()
    assert "node_modules/@foundry-rs/anvil-" in str(path)
    out = subprocess.run([str(path), "--version"], capture_output=True, text=True, timeout=30).stdout
    assert "1.7.1" in out
    pkg = json.loads((cc.REPO_ROOT / "package.json").read_text())
    deps = pkg["dependencies"]
    assert (deps["@foundry-rs/anvil"], deps["solc"]) == ("1.7.1", "0.8.37")
    assert all(v[0].isdigit() for v in deps.values()), f"npm parts must be exact pins: {deps}"
