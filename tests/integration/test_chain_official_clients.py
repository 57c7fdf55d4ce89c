"""rl-swarm's own clients against swarmdeck's chain and login service.

rl-swarm's Python clients (as RLSWARM_FACTS.md describes them) load the public SwarmCoordinator 0.4.2
ABI, sign every transaction for chain id 685685 with a fixed 2,000,000 gas and 5 gwei, send it raw and
never look at a receipt; its modal client posts to the login app and swallows HTTP 500 from
submit-reward / submit-winner but raises on any other error code. `official_send` below behaves that
way (written from that description). The ABI is the genuine artifact (tests/fixtures/rl-swarm).
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from core.chain.devnet import OFFICIAL_CLIENT_CHAIN_ID, LocalChain, free_port, rpc_call
from core.login.service import LoginService, ServiceThread
from core.base.paths import ProfilePaths

from tests.helpers.chain import local_chain
from tests.helpers.http import http, sign_in
from tests.helpers.wait import wait_until

REPO = Path(__file__).resolve().parents[2]
PUBLIC_ABI = json.loads((REPO / "tests/fixtures/rl-swarm/SwarmCoordinator_0.4.2.json").read_text())["abi"]

pytestmark = pytest.mark.timeout(180)


def official_send(w3, key, fn) -> str:
    """What rl-swarm's wallet client does for a write: fixed gas, 5 gwei, chain id 685685, no receipt."""
    from eth_account import Account

    acct = Account.from_key(key)
    tx = fn.build_transaction({"gas": 2_000_000, "gasPrice": w3.to_wei("5", "gwei")}) | {
        "chainId": 685685, "nonce": w3.eth.get_transaction_count(acct.address)}
    return w3.eth.send_raw_transaction(acct.sign_transaction(tx).raw_transaction).hex()


def public(chain):
    return chain.w3.eth.contract(address=chain.coordinator, abi=PUBLIC_ABI)


def test_official_wallet_client_lands_on_a_685685_devnet():
    assert OFFICIAL_CLIENT_CHAIN_ID == 685685
    with local_chain(chain_id=685685) as chain:
        assert int(rpc_call(chain.rpc_url, "eth_chainId"), 16) == 685685
        c, w3 = public(chain), chain.w3
        key = chain.new_funded_account().key.hex()
        official_send(w3, key, c.functions.registerPeer("QmOfficial"))
        wait_until(lambda: c.functions.getEoa(["QmOfficial"]).call()[0] != "0x" + "00" * 20, 10,
                   "the official client's registerPeer to land")
        chain.advance()
        with w3.batch_requests() as batch:  # how the official client reads round and stage
            batch.add(c.functions.currentRound())
            batch.add(c.functions.currentStage())
            rnd, stage = batch.execute()
        assert (rnd, stage) == (1, 0)
        official_send(w3, key, c.functions.submitReward(rnd, 0, 7, "QmOfficial"))
        wait_until(lambda: c.functions.getTotalRewards(["QmOfficial"]).call() == [7], 10, "the reward to land")
        official_send(w3, key, c.functions.submitWinners(rnd, ["QmOfficial"], "QmOfficial"))
        wait_until(lambda: c.functions.getTotalWins("QmOfficial").call() == 1, 10, "the vote to land")
        # what indexers and exporters do: filter logs on the public ABI's indexed arguments
        evs = c.events.RewardSubmitted().get_logs(from_block=0, argument_filters={"roundNumber": rnd})
        assert [(e["args"]["peerId"], e["args"]["stageNumber"], e["args"]["reward"]) for e in evs] == [
            ("QmOfficial", 0, 7)]
        won = c.events.WinnerSubmitted().get_logs(from_block=0, argument_filters={"roundNumber": rnd})
        assert [list(e["args"]["winners"]) for e in won] == [["QmOfficial"]]
        assert [e["args"]["newRoundNumber"] for e in c.events.RoundAdvanced().get_logs(from_block=0)] == [1]
        assert c.functions.getRoundStageReward(rnd, 0, [w3.eth.account.from_key(key).address]).call() == [7]


def test_on_the_default_chain_id_the_official_writes_vanish():
    """Why --chain-id 685685 exists: on 31337 anvil takes the transaction and never mines it."""
    with local_chain() as chain:
        assert chain.chain_id == 31337
        c = public(chain)
        key = chain.new_funded_account().key.hex()
        h = official_send(chain.w3, key, c.functions.registerPeer("QmLost"))
        assert h  # accepted into the pool, no error for the client to see
        rpc_call(chain.rpc_url, "evm_mine")
        rpc_call(chain.rpc_url, "evm_mine")
        assert rpc_call(chain.rpc_url, "eth_getTransactionReceipt", [h if h.startswith("0x") else "0x" + h]) is None
        assert c.functions.getEoa(["QmLost"]).call() == ["0x" + "00" * 20]


def test_devnet_cli_chain_id_option():
    repo = Path(__file__).resolve().parents[2]
    for bad in ("0", "-5", "abc", str(2**53)):
        p = subprocess.run([sys.executable, "-m", "core.chain.devnet", "--chain-id", bad], cwd=repo,
                           capture_output=True, text=True, timeout=60)
        assert p.returncode == 2 and "--chain-id" in p.stderr, (bad, p.stderr)
    proc = subprocess.Popen([sys.executable, "-m", "core.chain.devnet", "--chain-id", "685685"], cwd=repo,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        info = json.loads(proc.stdout.readline())
        assert info["chain_id"] == 685685
        assert int(rpc_call(info["rpc_url"], "eth_chainId"), 16) == 685685
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(30) == 0


def test_login_service_answers_500_while_the_chain_is_down():
    """The official app answers 400 or 500 only; rl-swarm's modal client swallows 500 from submit-reward /
    submit-winner and crashes on anything else (a 503 used to kill it when the chain was down)."""
    paths = ProfilePaths("official")
    chain = LocalChain().start()
    try:
        with ServiceThread(LoginService(paths.identity_dir, port=free_port())) as svc:
            user = sign_in(svc.url, "off@example.org")
            org = user["orgId"]
            st, reply = http(f"{svc.url}/api/register-peer", {"orgId": org, "peerId": "QmDown"})
            assert st == 200 and reply["hash"]
            st, reply = http(f"{svc.url}/api/submit-winner", {"orgId": org, "peerId": "QmDown", "roundNumber": 0,
                                                               "winners": []})
            assert st == 200 and reply["hash"]  # a vote for nobody lands, as through the official app
            chain.stop()  # the real chain process ends
            for path, body in (("submit-reward", {"roundNumber": 0, "stageNumber": 0, "reward": 1}),
                               ("submit-winner", {"roundNumber": 0, "winners": ["QmDown"]}),
                               ("register-peer", {})):
                st, reply = http(f"{svc.url}/api/{path}", {"orgId": org, "peerId": "QmDown", **body})
                assert st == 500, (path, st, reply)
                assert reply["error"] and "api key" not in reply["error"] and reply.get("fix"), reply
            chain = LocalChain().start()  # back (same state): the same write now lands
            st, reply = http(f"{svc.url}/api/submit-reward", {"orgId": org, "peerId": "QmDown", "roundNumber": 0,
                                                               "stageNumber": 0, "reward": 1})
            assert st == 200 and reply["hash"]
    finally:
        chain.stop()


def test_login_service_answers_500_when_its_explicit_rpc_is_down():
    paths = ProfilePaths("official2")
    chain = LocalChain().start()
    rpc, coord = chain.rpc_url, chain.coordinator
    try:
        with ServiceThread(LoginService(paths.identity_dir, port=free_port(), rpc_url=rpc,
                                        coordinator=coord, fund_gas=True)) as svc:
            user = sign_in(svc.url, "off2@example.org")
            st, _ = http(f"{svc.url}/api/register-peer", {"orgId": user["orgId"], "peerId": "QmRpc"})
            assert st == 200
            chain.stop()
            st, reply = http(f"{svc.url}/api/submit-reward", {"orgId": user["orgId"], "peerId": "QmRpc",
                                                               "roundNumber": 0, "stageNumber": 0, "reward": 1})
            assert st == 500 and reply["error"], reply
    finally:
        chain.stop()
