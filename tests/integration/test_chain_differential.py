"""Differential tests: swarmdeck's Coordinator against the genuine SwarmCoordinator 0.4.2.

Both contracts run on one real anvil. The genuine one is rl-swarm's published artifact (bytecode and
ABI, MIT; tests/fixtures/rl-swarm/README.md says where it comes from), deployed as its implementation
contract and initialized directly (no proxy: the upgrade plumbing is not part of the comparison).
Every step runs the same call, encoded with the PUBLIC ABI, from the same account against both, and
requires the same outcome:
  - a write: the same revert data byte for byte (custom error, Error(string) or Panic), or success with
    the same logs (topics and data byte for byte; each one also decoded with the public ABI);
  - a read, or a write simulated with eth_call first: the same return data byte for byte.
A test fails on the first step where the two contracts differ, naming the step.
"""

from __future__ import annotations

import hashlib
import json
import random
import subprocess
import time
from pathlib import Path

import pytest
from eth_utils import keccak

from core.chain.devnet import anvil_binary, free_port, rpc_call

REPO = Path(__file__).resolve().parents[2]
FIXTURE_DIR = REPO / "tests" / "fixtures" / "rl-swarm"
GENUINE_PATH = FIXTURE_DIR / "SwarmCoordinator_0.4.2.json"
GENUINE_SHA256 = "73dfed6efb9f59d81e6293d695615093a46ca148a10ffee40925b3d3946e8d43"  # as published (README)
OURS_PATH = REPO / "core" / "chain" / "contracts" / "Coordinator.json"

# Proxy / upgrade plumbing of the genuine contract (UUPS + Initializable): out of scope by design.
PROXY_PLUMBING = {"initialize", "proxiableUUID", "upgradeToAndCall", "UPGRADE_INTERFACE_VERSION", "Initialized",
                  "Upgraded", "AddressEmptyCode", "ERC1967InvalidImplementation", "ERC1967NonPayable", "FailedCall",
                  "InvalidInitialization", "NotInitializing", "UUPSUnauthorizedCallContext",
                  "UUPSUnsupportedProxiableUUID"}

pytestmark = pytest.mark.timeout(300)


def _load(path: Path) -> dict:
    return json.loads(path.read_text(encoding="utf-8"))


GENUINE = _load(GENUINE_PATH)
OURS = _load(OURS_PATH)


def _bytecode(art: dict) -> str:
    b = art["bytecode"]
    return b["object"] if isinstance(b, dict) else b


def _entry_key(e: dict) -> str:
    return json.dumps(e, sort_keys=True)


# ---------------------------------------------------------------------------- harness
class Anvil:
    """A bare anvil (its unlocked dev accounts send the transactions) on a free loopback port."""

    def __init__(self):
        from web3 import Web3

        self.port = free_port()
        self.proc = subprocess.Popen([str(anvil_binary()), "--host", "127.0.0.1", "--port", str(self.port),
                                      "--accounts", "8", "--gas-limit", "100000000", "--silent"],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                     stdin=subprocess.DEVNULL, start_new_session=True)
        self.url = f"http://127.0.0.1:{self.port}"
        deadline = time.monotonic() + 20
        while True:
            try:
                rpc_call(self.url, "eth_chainId", timeout=1)
                break
            except Exception:
                if self.proc.poll() is not None or time.monotonic() > deadline:
                    self.stop()
                    raise RuntimeError("anvil did not start")
                time.sleep(0.05)
        self.w3 = Web3(Web3.HTTPProvider(self.url, request_kwargs={"timeout": 60}))
        self.accounts = list(self.w3.eth.accounts)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)

    def rpc(self, method: str, params: list):
        """(result, None) or (None, error object) of one JSON-RPC call."""
        import urllib.request

        body = json.dumps({"jsonrpc": "2.0", "id": 1, "method": method, "params": params}).encode()
        req = urllib.request.Request(self.url, data=body, headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(req, timeout=60) as r:
            resp = json.loads(r.read())
        return resp.get("result"), resp.get("error")

    def deploy(self, bytecode: str, frm: str):
        h = self.w3.eth.send_transaction({"from": frm, "data": bytecode, "gas": 30_000_000})
        rcpt = self.w3.eth.wait_for_transaction_receipt(h, timeout=30)
        assert rcpt["status"] == 1, "deploy failed"
        return rcpt


def _revert_data(err: dict | None) -> str:
    """The revert data of a JSON-RPC error ('' when there is none, e.g. out of gas)."""
    if not err:
        return ""
    data = err.get("data")
    if isinstance(data, dict):
        data = data.get("data")
    return data if isinstance(data, str) else ""


class Twin:
    """The genuine contract and ours, deployed fresh on one anvil, driven with the public ABI."""

    def __init__(self, anvil: Anvil):
        from web3 import Web3

        self.anvil = anvil
        self.w3 = anvil.w3
        self.owner = anvil.accounts[0]
        g_deploy = anvil.deploy(_bytecode(GENUINE), self.owner)
        o_deploy = anvil.deploy(OURS["bytecode"], self.owner)
        self.genuine = self.w3.eth.contract(address=g_deploy["contractAddress"], abi=GENUINE["abi"])
        # Ours is driven and decoded with the PUBLIC ABI: that is the compatibility being tested.
        self.ours = self.w3.eth.contract(address=o_deploy["contractAddress"], abi=GENUINE["abi"])
        init = self.genuine.functions.initialize(self.owner).transact({"from": self.owner})
        g_init = self.w3.eth.wait_for_transaction_receipt(init)
        # What each one emitted when it came up: the role grants (Initialized is proxy plumbing).
        self.setup_logs = (
            [self._norm(lg) for lg in g_init["logs"] if self._name(lg) != "Initialized"],
            [self._norm(lg) for lg in o_deploy["logs"]])
        self.selectors = {}
        for item in GENUINE["abi"]:
            if item["type"] == "error":
                sig = f"{item['name']}({','.join(i['type'] for i in item['inputs'])})"
                self.selectors["0x" + keccak(text=sig)[:4].hex()] = item["name"]
        self.log: list[str] = []
        self._Web3 = Web3

    # ---- decoding, for readable failures and assertions
    def _name(self, log) -> str:
        for ev in self.genuine.events:
            try:
                ev().process_log(log)
                return ev.event_name
            except Exception:
                continue
        return "?"

    def _norm(self, log) -> tuple:
        topics = tuple(bytes(t).hex() for t in log["topics"])
        return (self._name(log), topics, bytes(log["data"]).hex())

    def decode_error(self, data: str) -> str:
        if not data or data == "0x":
            return "revert without data"
        sel = data[:10]
        if sel == "0x08c379a0":  # Error(string)
            from eth_abi import decode

            return "Error: " + decode(["string"], bytes.fromhex(data[10:]))[0]
        if sel == "0x4e487b71":  # Panic(uint256)
            return f"Panic(0x{int(data[10:], 16):x})"
        return self.selectors.get(sel, data)

    def decoded_events(self, outcome) -> list[tuple[str, dict]]:
        """Decode the logs of a successful write with the public ABI (raises if it cannot)."""
        assert outcome[0] == "ok", outcome
        out = []
        for name, topics, data in outcome[2]:
            log = {"topics": [bytes.fromhex(t) for t in topics], "data": bytes.fromhex(data), "address":
                   self.ours.address, "logIndex": 0, "transactionIndex": 0, "transactionHash": b"\0" * 32,
                   "blockHash": b"\0" * 32, "blockNumber": 0}
            ev = getattr(self.ours.events, name)().process_log(log)
            out.append((name, dict(ev["args"])))
        return out

    # ---- one step on both
    def _call(self, contract, data: str, frm: str):
        res, err = self.anvil.rpc("eth_call", [{"from": frm, "to": contract.address, "data": data}, "latest"])
        return ("ok", res) if err is None else ("revert", _revert_data(err))

    def call(self, fn: str, *args, frm: str | None = None, step: str = ""):
        """Run a view (or simulate a write) on both; same return data required. Returns the decoded value."""
        frm = frm or self.owner
        data = getattr(self.genuine.functions, fn)(*args)._encode_transaction_data()
        g = self._call(self.genuine, data, frm)
        o = self._call(self.ours, data, frm)
        label = step or f"{fn}{args!r}"
        if o != g:
            raise AssertionError(f"{label}: genuine {self._show(g, fn)} vs ours {self._show(o, fn)}")
        self.log.append(f"call {label} -> {self._show(g)}")
        if g[0] == "revert":
            return ("revert", self.decode_error(g[1]))
        return getattr(self.genuine.functions, fn)(*args).call({"from": frm})

    def send(self, fn: str, *args, frm: str | None = None, step: str = ""):
        """Simulate, then (if it does not revert) send, on both. Same revert data, or same return data and
        the same logs. Returns ("revert", error name) or ("ok", return data, [(event, topics, data)])."""
        frm = frm or self.owner
        data = getattr(self.genuine.functions, fn)(*args)._encode_transaction_data()
        label = step or f"{fn}{tuple(a if not isinstance(a, list) or len(a) < 6 else f'<{len(a)} items>' for a in args)!r}"
        g_sim, o_sim = self._call(self.genuine, data, frm), self._call(self.ours, data, frm)
        assert o_sim == g_sim, f"{label} (simulated): genuine {self._show(g_sim)} vs ours {self._show(o_sim)}"
        if g_sim[0] == "revert":
            self.log.append(f"send {label} -> {self._show(g_sim)}")
            return ("revert", self.decode_error(g_sim[1]))
        outs = []
        for c in (self.genuine, self.ours):
            h = self.w3.eth.send_transaction({"from": frm, "to": c.address, "data": data, "gas": 30_000_000})
            rcpt = self.w3.eth.wait_for_transaction_receipt(h, timeout=30)
            assert rcpt["status"] == 1, f"{label}: simulated fine but the transaction reverted"
            outs.append([self._norm(lg) for lg in rcpt["logs"]])
        assert outs[1] == outs[0], f"{label}: logs differ\n genuine {outs[0]}\n ours    {outs[1]}"
        self.log.append(f"send {label} -> ok {[n for n, _, _ in outs[0]]}")
        return ("ok", g_sim[1], outs[0])

    def _show(self, r, fn: str | None = None) -> str:
        if r[0] == "revert":
            return f"revert {self.decode_error(r[1])}"
        if fn is not None:  # decoded, so a difference deep in a leaderboard is readable
            from eth_abi import decode

            outs = [o["type"] for o in getattr(self.genuine.functions, fn).abi["outputs"]]
            try:
                return "ok " + repr(decode(outs, bytes.fromhex(r[1][2:])))[:1500]
            except Exception:
                pass
        return f"ok {r[1][:74]}"

    def expect(self, fn: str, *args, error: str | None = None, frm: str | None = None, step: str = ""):
        """send() on both, and also require the outcome named: error=None means success."""
        out = self.send(fn, *args, frm=frm, step=step)
        if error is None:
            assert out[0] == "ok", f"{step or fn}: expected success, both gave {out}"
        else:
            assert out == ("revert", error), f"{step or fn}: expected {error}, both gave {out}"
        return out

    def state(self, peers: list[str], accounts: list[str], rounds: range) -> None:
        """Every view of the public interface over the given peers/accounts/rounds: same on both."""
        self.call("currentRound")
        self.call("currentStage")
        self.call("stageCount")
        self.call("getBootnodes")
        self.call("getBootnodesCount")
        self.call("uniqueVoters")
        self.call("uniqueVotedPeers")
        self.call("getEoa", peers)
        self.call("getPeerId", accounts)
        self.call("getTotalRewards", peers)
        for p in peers:
            self.call("getTotalWins", p)
            self.call("getVoterVoteCount", p)
        for r in rounds:
            for p in peers:
                self.call("getPeerVoteCount", r, p)
                self.call("getVoterVotes", r, p)
            for s in range(3):
                self.call("getRoundStageReward", r, s, accounts)
                for a in accounts:
                    self.call("hasSubmittedRoundStageReward", r, s, a)
        self.call("winnerLeaderboard", 0, 1000)
        self.call("voterLeaderboard", 0, 1000)


@pytest.fixture(scope="module")
def anvil():
    a = Anvil()
    try:
        yield a
    finally:
        a.stop()


@pytest.fixture
def twin(anvil):
    return Twin(anvil)


def roles(t: Twin) -> dict[str, bytes]:
    return {n: t.call(n) for n in ("OWNER_ROLE", "STAGE_MANAGER_ROLE", "BOOTNODE_MANAGER_ROLE")}


def advance(t: Twin, n: int) -> None:
    for _ in range(n):
        t.expect("updateStageAndRound")


# ---------------------------------------------------------------------------- the interface
def test_fixture_is_the_published_artifact():
    assert hashlib.sha256(GENUINE_PATH.read_bytes()).hexdigest() == GENUINE_SHA256
    assert GENUINE_SHA256 in (FIXTURE_DIR / "README.md").read_text()
    assert GENUINE["metadata"]["compiler"]["version"].startswith("0.8.29+")


def test_public_abi_is_exactly_the_genuine_one_without_proxy_plumbing():
    public = [e for e in GENUINE["abi"] if e.get("name") not in PROXY_PLUMBING]
    assert len(public) == 54
    ours = {_entry_key(e) for e in OURS["abi"] if e["type"] != "constructor"}
    missing = [e["name"] for e in public if _entry_key(e) not in ours]
    extra = sorted(json.loads(k).get("name") for k in ours - {_entry_key(e) for e in public})
    assert not missing and not extra, f"missing or different: {missing}; not in the public ABI: {extra}"
    assert [e for e in OURS["abi"] if e["type"] == "constructor"] == [
        {"inputs": [], "stateMutability": "nonpayable", "type": "constructor"}]


def test_coming_up_grants_the_same_roles_with_the_same_events(twin):
    g, o = twin.setup_logs
    assert [n for n, _, _ in g] == ["RoleGranted"] * 3
    assert o == g
    r = roles(twin)
    assert r["OWNER_ROLE"] == keccak(text="OWNER_ROLE")
    for role in r.values():
        assert twin.call("hasRole", role, twin.owner) is True
        assert twin.call("hasRole", role, twin.anvil.accounts[1]) is False
    assert twin.call("stageCount") == 3  # genuine: a pure constant
    assert twin.call("currentRound") == 0 and twin.call("currentStage") == 0
    twin.state(["", "QmA"], twin.anvil.accounts[:2], range(1))


# ---------------------------------------------------------------------------- roles
def test_roles_grant_revoke_and_every_refusal(twin):
    a = twin.anvil.accounts
    owner, x, y = a[0], a[1], a[2]
    r = roles(twin)
    twin.expect("grantRole", r["STAGE_MANAGER_ROLE"], x, frm=x, error="OnlyOwner", step="grant by a non-owner")
    twin.expect("revokeRole", r["OWNER_ROLE"], owner, frm=x, error="OnlyOwner", step="revoke by a non-owner")
    twin.expect("updateStageAndRound", frm=x, error="OnlyStageManager", step="advance by a non-manager")
    twin.expect("addBootnodes", ["/ip4/1.2.3.4/tcp/1"], frm=x, error="OnlyBootnodeManager")
    twin.expect("removeBootnode", 0, frm=x, error="OnlyBootnodeManager")
    twin.expect("clearBootnodes", frm=x, error="OnlyBootnodeManager")
    twin.expect("grantRole", r["STAGE_MANAGER_ROLE"], x, step="grant SM")
    twin.expect("grantRole", r["STAGE_MANAGER_ROLE"], x, step="grant SM again (emits again)")
    twin.expect("grantRole", b"\x01" * 32, y, step="grant an unknown role")
    twin.expect("revokeRole", r["BOOTNODE_MANAGER_ROLE"], y, step="revoke a role not held (emits)")
    twin.expect("updateStageAndRound", frm=x, step="the new stage manager advances")
    twin.expect("updateStageAndRound", frm=owner, step="the owner still holds the role too")
    twin.expect("revokeRole", r["STAGE_MANAGER_ROLE"], owner, step="owner drops its own SM role")
    twin.expect("updateStageAndRound", frm=owner, error="OnlyStageManager")
    twin.expect("grantRole", r["BOOTNODE_MANAGER_ROLE"], y, step="grant BM")
    twin.expect("addBootnodes", ["/ip4/1.2.3.4/tcp/1"], frm=y)
    twin.expect("grantRole", r["OWNER_ROLE"], x, step="a second owner")
    twin.expect("revokeRole", r["OWNER_ROLE"], owner, frm=x, step="the second owner removes the first")
    twin.expect("grantRole", r["STAGE_MANAGER_ROLE"], owner, frm=owner, error="OnlyOwner")
    twin.expect("revokeRole", r["OWNER_ROLE"], x, frm=x, step="the last owner renounces")
    twin.expect("grantRole", r["OWNER_ROLE"], x, frm=x, error="OnlyOwner", step="no owner left")
    for role in list(r.values()) + [b"\x01" * 32]:
        for acct in (owner, x, y):
            twin.call("hasRole", role, acct)


# ---------------------------------------------------------------------------- rounds
def test_rounds_and_stages_with_return_values_and_events(twin):
    seen = []
    for i in range(8):
        out = twin.expect("updateStageAndRound", step=f"advance #{i + 1}")
        seen.append((twin.call("currentRound"), twin.call("currentStage")))
        evs = twin.decoded_events(out)
        if seen[-1][1] == 0:
            assert [n for n, _ in evs] == ["RoundAdvanced", "StageAdvanced"]
            assert evs[0][1] == {"newRoundNumber": seen[-1][0]}
        else:
            assert [n for n, _ in evs] == ["StageAdvanced"]
        assert evs[-1][1] == {"roundNumber": seen[-1][0], "newStage": seen[-1][1]}
        from eth_abi import decode

        assert tuple(decode(["uint256", "uint256"], bytes.fromhex(out[1][2:]))) == seen[-1]
    assert seen == [(0, 1), (0, 2), (1, 0), (1, 1), (1, 2), (2, 0), (2, 1), (2, 2)]


# ---------------------------------------------------------------------------- peers
def test_register_peer_any_string_once(twin):
    a = twin.anvil.accounts
    twin.expect("registerPeer", "", frm=a[1], step='registerPeer("") succeeds on both')
    twin.expect("registerPeer", "", frm=a[2], error="PeerIdAlreadyRegistered")
    twin.expect("registerPeer", "QmA", frm=a[1])
    twin.expect("registerPeer", "QmA", frm=a[1], error="PeerIdAlreadyRegistered", step="again by its owner")
    twin.expect("registerPeer", "QmA", frm=a[2], error="PeerIdAlreadyRegistered", step="by someone else")
    twin.expect("registerPeer", "Q" * 300, frm=a[1], step="a 300-character id")
    twin.expect("registerPeer", "пир-🐝", frm=a[2], step="non-ASCII")
    out = twin.expect("registerPeer", "QmB", frm=a[2])
    assert twin.decoded_events(out) == [("PeerRegistered", {"eoa": a[2], "peerId": "QmB"})]
    assert twin.call("getPeerId", [a[1], a[2], a[3]]) == [["", "QmA", "Q" * 300], ["пир-🐝", "QmB"], []]
    twin.call("getEoa", ["", "QmA", "qma", "nobody", "QmB"])
    twin.call("getEoa", [])
    twin.call("getPeerId", [])


# ---------------------------------------------------------------------------- rewards
def test_submit_reward_every_rule_and_its_order(twin):
    a = twin.anvil.accounts
    me, other, stranger = a[1], a[2], a[3]
    twin.expect("registerPeer", "QmMe", frm=me)
    twin.expect("registerPeer", "QmMe2", frm=me)
    twin.expect("registerPeer", "QmOther", frm=other)
    E = twin.expect
    E("submitReward", 0, 0, 5, "QmMe", frm=me, step="round 0 stage 0")
    E("submitReward", 0, 0, 5, "QmMe", frm=me, error="RewardAlreadySubmitted")
    E("submitReward", 0, 0, 7, "QmMe2", frm=me, error="RewardAlreadySubmitted", step="keyed by account, not peer")
    E("submitReward", 1, 0, 5, "QmMe", frm=me, error="InvalidRoundNumber")
    E("submitReward", 0, 1, 5, "QmMe", frm=me, error="InvalidStageNumber", step="stage above the current")
    E("submitReward", 0, 0, 5, "QmOther", frm=stranger, error="InvalidVoterPeerId", step="not the peer's account")
    E("submitReward", 0, 0, 5, "QmNobody", frm=stranger, error="InvalidVoterPeerId", step="unregistered peer")
    advance(twin, 4)  # round 1, stage 1
    E("submitReward", 1, 1, -3, "QmMe", frm=me, step="negative reward at the current stage")
    E("submitReward", 1, 0, 0, "QmMe", frm=me, step="zero reward, earlier stage of this round")
    E("submitReward", 0, 1, 9, "QmMe", frm=me, step="a past round at stage <= current")
    E("submitReward", 0, 2, 9, "QmMe", frm=me, error="InvalidStageNumber", step="a past round, stage > current")
    E("submitReward", 1, 3, 9, "QmMe", frm=me, error="InvalidStageNumber", step="stage >= stageCount")
    E("submitReward", 1, 2**255, 9, "QmMe", frm=me, error="InvalidStageNumber")
    E("submitReward", 2**256 - 1, 0, 9, "QmMe", frm=me, error="InvalidRoundNumber")
    # which rule wins when several fail: round, then stage, then already-submitted, then peer ownership
    E("submitReward", 2, 2, 1, "QmOther", frm=me, error="InvalidRoundNumber", step="round+stage+owner")
    E("submitReward", 1, 2, 1, "QmOther", frm=me, error="InvalidStageNumber", step="stage+owner")
    E("submitReward", 1, 1, 1, "QmOther", frm=me, error="RewardAlreadySubmitted", step="already+owner")
    E("submitReward", 1, 1, 1, "QmNobody", frm=me, error="RewardAlreadySubmitted", step="already+unregistered")
    E("submitReward", 1, 1, 2**255 - 1, "QmOther", frm=other, step="int256 max")
    E("submitReward", 1, 0, 1, "QmOther", frm=other, step="overflowing the total", error="Panic(0x11)")
    E("submitReward", 0, 0, -(2**255), "QmOther", frm=other, step="int256 min")
    out = E("submitReward", 0, 1, 11, "QmOther", frm=other)
    assert twin.decoded_events(out) == [
        ("RewardSubmitted", {"account": other, "roundNumber": 0, "stageNumber": 1, "reward": 11, "peerId": "QmOther"}),
        ("CumulativeRewardsUpdated", {"account": other, "peerId": "QmOther", "totalRewards": 10})]
    twin.state(["QmMe", "QmMe2", "QmOther", "QmNobody"], [me, other, stranger], range(3))
    assert twin.call("getRoundStageReward", 1, 1, [me, other]) == [-3, 2**255 - 1]


# ---------------------------------------------------------------------------- winners
def test_submit_winners_every_rule_and_its_order(twin):
    a = twin.anvil.accounts
    me, other = a[1], a[2]
    for i, acct in enumerate([me, other, a[3], a[4]]):
        twin.expect("registerPeer", f"Qm{i}", frm=acct)
    E = twin.expect
    E("submitWinners", 0, ["Qm1", "Qm2"], "Qm0", frm=me)
    E("submitWinners", 0, ["Qm1"], "Qm0", frm=me, error="WinnerAlreadyVoted")
    E("submitWinners", 1, ["Qm1"], "Qm1", frm=other, error="InvalidRoundNumber")
    E("submitWinners", 0, ["Qm2"], "Qm0", frm=other, error="WinnerAlreadyVoted", step="voted + not the owner")
    E("submitWinners", 0, ["Qm2"], "Qm1", frm=me, error="InvalidVoterPeerId", step="not the voter's account")
    E("submitWinners", 0, ["Qm2"], "QmNobody", frm=me, error="InvalidVoterPeerId", step="unregistered voter")
    E("submitWinners", 0, ["Qm2", "Qm2"], "Qm1", frm=other, error="InvalidVote", step="duplicate")
    E("submitWinners", 0, ["Qm2", "Qm3", "Qm2"], "Qm1", frm=other, error="InvalidVote", step="non-adjacent dup")
    E("submitWinners", 0, ["", ""], "Qm1", frm=other, error="InvalidVote", step="empty-string dup")
    E("submitWinners", 2, ["Qm2", "Qm2"], "QmNobody", frm=me, error="InvalidRoundNumber", step="round first")
    E("submitWinners", 0, ["Qm2", "Qm2"], "Qm0", frm=other, error="WinnerAlreadyVoted", step="voted before dup")
    E("submitWinners", 0, ["Qm2", "Qm2"], "Qm2", frm=me, error="InvalidVoterPeerId", step="owner before dup")
    out = E("submitWinners", 0, [], "Qm1", frm=other, step="an empty vote lands")
    assert twin.decoded_events(out) == [
        ("WinnerSubmitted", {"account": other, "peerId": "Qm1", "roundNumber": 0, "winners": []})]
    E("submitWinners", 0, ["Qm3", "nobody", ""], "Qm1", frm=other, step="and does not use up the round")
    E("submitWinners", 0, ["Qm2"], "Qm2", frm=a[3], step="a self vote")
    advance(twin, 3)
    E("submitWinners", 0, ["Qm0"], "Qm3", frm=a[4], step="a past round")
    E("submitWinners", 1, ["Qm2", "Qm0"], "Qm0", frm=me)
    E("submitWinners", 1, [f"W{i}" for i in range(40)], "Qm1", frm=other, step="40 winners in one vote")
    twin.state(["Qm0", "Qm1", "Qm2", "Qm3", "nobody", "", "W39", "QmNobody"], a[1:5], range(3))
    assert twin.call("getVoterVotes", 0, "Qm1") == ["Qm3", "nobody", ""]
    assert twin.call("uniqueVoters") == 4


def test_leaderboard_ranges(twin):
    a = twin.anvil.accounts
    twin.expect("registerPeer", "V", frm=a[1])
    twin.expect("submitWinners", 0, ["A", "B", "C"], "V", frm=a[1])
    for fn in ("winnerLeaderboard", "voterLeaderboard"):
        for start, end in ((0, 0), (0, 2), (1, 3), (2, 2), (3, 3), (5, 9), (0, 2**256 - 1), (2**256 - 1, 2**256 - 1)):
            twin.call(fn, start, end)
        assert twin.call(fn, 2, 1) == ("revert", "Error: Start index must be less than or equal to end index")
        twin.call(fn, 2**256 - 1, 0)


def test_leaderboards_under_random_votes_past_their_size(twin):
    """Seeded random votes: ties, overtakes and more than 100 distinct winners and voters, so the
    boards' tie order and the rule for entering a full board are compared after every vote."""
    rnd = random.Random(1505)
    a = twin.anvil.accounts
    voters = [f"QmVoter{i:03d}" for i in range(104)]
    owner_of = {}
    for i, v in enumerate(voters):
        acct = a[1 + i % 6]
        owner_of[v] = acct
        twin.expect("registerPeer", v, frm=acct)
    pool = [f"QmPeer{i:03d}" for i in range(110)]
    voted = set()
    round_no = 0
    for step in range(60):
        if step and step % 20 == 0:
            advance(twin, 3)
            round_no += 1
            voted.clear()
        v = rnd.choice([x for x in voters if (round_no, x) not in voted])
        if rnd.random() < 0.3:
            winners = []  # an empty vote: moves the voter board only, and does not use up the round
        else:
            k = rnd.choice([1, 1, 2, 3, 5, 20])
            hot = pool[:8] if rnd.random() < 0.6 else pool  # a few peers win often: ties and overtakes
            winners = rnd.sample(hot, min(k, len(hot)))
            voted.add((round_no, v))
        twin.expect("submitWinners", round_no, winners, v, frm=owner_of[v], step=f"vote {step} by {v}")
        if step % 10 == 9:
            twin.call("winnerLeaderboard", 0, 1000, step=f"winner board after vote {step}")
            twin.call("voterLeaderboard", 0, 1000, step=f"voter board after vote {step}")
    # fill both boards past 100 entries; then entries from outside the full boards overtake
    advance(twin, 3)
    round_no += 1
    for v in voters:
        twin.expect("submitWinners", round_no, [], v, frm=owner_of[v], step=f"empty vote by {v}")
    twin.call("voterLeaderboard", 0, 1000, step="voter board after everyone voted")
    for i in range(0, len(pool), 25):
        v = voters[-1 - i // 25]
        twin.expect("submitWinners", round_no, pool[i:i + 25][::-1], v, frm=owner_of[v])
        twin.call("winnerLeaderboard", 0, 1000, step=f"winner board after naming pool[{i}:{i + 25}]")
    twin.call("voterLeaderboard", 0, 1000, step="voter board after the named votes")
    for v in voters[:90:9]:
        twin.expect("submitWinners", round_no, [], v, frm=owner_of[v])
    advance(twin, 3)
    twin.expect("submitWinners", round_no + 1, pool[-15:], voters[0], frm=owner_of[voters[0]],
                step="peers outside the full board enter it")
    w = twin.call("winnerLeaderboard", 0, 1000)
    v = twin.call("voterLeaderboard", 0, 1000)
    assert len(w[0]) == 100 and len(v[0]) == 100
    assert twin.call("uniqueVotedPeers") == 110 and twin.call("uniqueVoters") == 104
    for p in pool[::5] + voters[::9]:
        twin.call("getTotalWins", p)
        twin.call("getVoterVoteCount", p)
    for r in range(round_no + 2):
        for p in pool[:10] + voters[:10]:
            twin.call("getPeerVoteCount", r, p)
            twin.call("getVoterVotes", r, p)


# ---------------------------------------------------------------------------- bootnodes
def test_bootnodes_add_remove_clear(twin):
    E = twin.expect
    E("addBootnodes", [])
    E("addBootnodes", ["/ip4/10.0.0.1/tcp/1/p2p/QmA", "/ip4/10.0.0.2/tcp/2/p2p/QmB", "b3", "b4"])
    E("removeBootnode", 0, step="swap-and-pop from the front")
    twin.call("getBootnodes")
    E("removeBootnode", 2, step="the last one")
    E("removeBootnode", 2, error="InvalidBootnodeIndex")
    E("removeBootnode", 2**256 - 1, error="InvalidBootnodeIndex")
    twin.call("getBootnodes")
    twin.call("getBootnodesCount")
    E("clearBootnodes")
    E("clearBootnodes", step="clearing an empty list")
    E("removeBootnode", 0, error="InvalidBootnodeIndex")
    assert twin.call("getBootnodes") == [] and twin.call("getBootnodesCount") == 0
