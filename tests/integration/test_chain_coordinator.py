"""Web3Coordinator against a real anvil with our Coordinator deployed."""

from __future__ import annotations

import pytest
from web3 import Web3

from core.chain import reward_from_chain, reward_to_chain
from core.chain.web3_backend import Web3Coordinator
from core.base.errors import IdentityError

from tests.helpers.chain import chain_in, events


@pytest.fixture(scope="module")
def chain(tmp_path_factory):
    with chain_in(tmp_path_factory.mktemp("chainhome")) as c:
        yield c


def node(chain) -> Web3Coordinator:
    return Web3Coordinator(chain.rpc_url, chain.coordinator, chain.new_funded_account().key.hex())


def nonce(chain, addr) -> int:
    return chain.w3.eth.get_transaction_count(addr)


def test_deploy_roles_and_initial_state(chain):
    c = chain.contract.functions
    assert len(chain.w3.eth.get_code(chain.coordinator)) > 100
    assert chain.deployed_now
    assert c.stageCount().call() == 3  # the public contract's constant
    from eth_account import Account

    from core.chain.deploy import ROLES

    # each role on its own key, and only there (AccessControl-style roles of the public interface)
    holders = {name: Account.from_key(getattr(chain, f"{name}_key")).address for name in ROLES}
    for role_name, role in ROLES.items():
        assert c.hasRole(role, holders[role_name]).call() is True
        others = [a for n, a in holders.items() if n != role_name]
        assert [c.hasRole(role, a).call() for a in others] == [False, False], role_name
    n = node(chain)
    assert n.stage_count() == 3 and n.current_round() >= 0


def test_register_same_eoa_is_already_other_eoa_is_identity_error(chain):
    a, b = node(chain), node(chain)
    r = a.register_peer("QmRegA")
    assert r.status == "landed" and r.tx
    assert a.get_eoa(["QmRegA"]) == [a.eoa]
    assert a.get_peer_ids([a.eoa]) == [["QmRegA"]]
    before = nonce(chain, a.eoa)
    again = a.register_peer("QmRegA")
    assert again.status == "already" and again.ok and again.tx is None
    assert nonce(chain, a.eoa) == before  # no second transaction
    with pytest.raises(IdentityError) as ei:
        b.register_peer("QmRegA")
    assert a.eoa in str(ei.value) and "QmRegA" in str(ei.value) and ei.value.fix
    assert nonce(chain, b.eoa) == 0
    assert len(events(chain, "PeerRegistered", peerId="QmRegA")) == 1


def test_reward_twice_is_one_transaction(chain):
    a = node(chain)
    a.register_peer("QmRew")
    rnd, stage = a.current_round(), a.current_stage()
    first = a.submit_reward(rnd, stage, reward_to_chain(0.8125), "QmRew")
    assert first.status == "landed"
    n1 = nonce(chain, a.eoa)
    second = a.submit_reward(rnd, stage, reward_to_chain(0.8125), "QmRew")
    assert second.status == "already" and second.error == "RewardAlreadySubmitted"
    assert nonce(chain, a.eoa) == n1
    evs = events(chain, "RewardSubmitted", peerId="QmRew")
    assert len(evs) == 1
    assert evs[0]["args"]["reward"] == 813 and evs[0]["args"]["account"] == a.eoa
    assert a.has_submitted_reward(rnd, stage, a.eoa)
    assert reward_from_chain(a.get_total_rewards(["QmRew"])[0]) == pytest.approx(0.813)


def test_wrong_round_and_stage_are_rejected(chain):
    a = node(chain)
    a.register_peer("QmWrong")
    rnd = a.current_round()
    n0 = nonce(chain, a.eoa)
    r = a.submit_reward(rnd + 5, 0, 1, "QmWrong")
    assert r.status == "rejected" and r.error == "InvalidRoundNumber"
    r = a.submit_reward(rnd, 7, 1, "QmWrong")
    assert r.status == "rejected" and r.error == "InvalidStageNumber"
    r = a.submit_winners(rnd + 1, ["QmWrong"], "QmWrong")
    assert r.status == "rejected" and r.error == "InvalidRoundNumber"
    assert nonce(chain, a.eoa) == n0


def test_unregistered_peer_and_someone_elses_peer(chain):
    a, b = node(chain), node(chain)
    r = a.submit_reward(0, 0, 1, "QmNobody")
    assert r.status == "rejected" and "not registered" in r.error
    b.register_peer("QmOfB")
    with pytest.raises(IdentityError):
        a.submit_reward(0, 0, 1, "QmOfB")


def test_winners_totals_and_leaderboard(chain):
    a, b, c = node(chain), node(chain), node(chain)
    for n, pid in ((a, "QmWa"), (b, "QmWb"), (c, "QmWc")):
        n.register_peer(pid)
    rnd = a.current_round()
    assert a.submit_winners(rnd, ["QmWb", "QmWc"], "QmWa").status == "landed"
    assert b.submit_winners(rnd, ["QmWc"], "QmWb").status == "landed"
    n1 = nonce(chain, a.eoa)
    dup = a.submit_winners(rnd, ["QmWb"], "QmWa")
    assert dup.status == "already" and dup.error == "WinnerAlreadyVoted"
    assert nonce(chain, a.eoa) == n1
    assert c.submit_winners(rnd, ["QmWa", "QmWa"], "QmWc").error == "InvalidVote"
    assert c.submit_winners(rnd, [], "QmWc").status == "landed"  # as on the public contract: a vote for nobody
    assert a.get_total_wins("QmWc") == 2 and a.get_total_wins("QmWb") == 1 and a.get_total_wins("QmWa") == 0
    board = dict(a.winner_leaderboard(0, 100))
    assert board["QmWc"] == 2 and board["QmWb"] == 1
    ranked = a.winner_leaderboard(0, 100)
    assert [w for _, w in ranked] == sorted((w for _, w in ranked), reverse=True)
    ev = events(chain, "WinnerSubmitted", peerId="QmWa")
    assert len(ev) == 1 and list(ev[0]["args"]["winners"]) == ["QmWb", "QmWc"] and ev[0]["args"]["roundNumber"] == rnd


def test_bootnodes_only_by_the_manager(chain):
    a = node(chain)
    mgr = Web3Coordinator(chain.rpc_url, chain.coordinator, chain.bootnode_manager_key)
    addrs = ["/ip4/127.0.0.1/tcp/38331/p2p/QmBoot1", "/ip4/127.0.0.1/tcp/38332/p2p/QmBoot2"]
    assert mgr.add_bootnodes(addrs).status == "landed"
    assert a.get_bootnodes() == addrs
    r = a.add_bootnodes(["/ip4/6.6.6.6/tcp/1/p2p/QmEvil"])
    assert r.status == "rejected" and r.error == "OnlyBootnodeManager"
    mgr.writer.send("removeBootnode", 0)
    assert a.get_bootnodes() == addrs[1:]
    assert mgr.writer.send("removeBootnode", 5).error == "InvalidBootnodeIndex"
    mgr.writer.send("clearBootnodes")
    assert a.get_bootnodes() == []


def test_rounds_stages_totals_and_decoded_events(chain):
    a = node(chain)
    a.register_peer("QmTot")
    outsider = node(chain)
    assert outsider.writer.send("updateStageAndRound").error == "OnlyStageManager"
    skipped = (a.current_round(), a.current_stage())  # a position we do not submit in time
    seen = [chain.advance_stage()]
    total = 0
    for i in range(3):  # three stages per round: stage-by-stage advances cross a round
        rnd, stg = a.current_round(), a.current_stage()
        rew = reward_to_chain(-0.25 if i == 1 else 1.5)
        assert a.submit_reward(rnd, stg, rew, "QmTot").status == "landed"
        total += rew
        seen.append(chain.advance_stage())
    # a past round's reward still lands (the queue may deliver late), exactly once
    assert a.submit_reward(*skipped, 7, "QmTot").status == "landed"
    assert a.submit_reward(*skipped, 7, "QmTot").status == "already"
    total += 7
    assert a.get_total_rewards(["QmTot", "QmNever"]) == [total, 0]
    cum = events(chain, "CumulativeRewardsUpdated", peerId="QmTot")
    assert cum[-1]["args"]["totalRewards"] == total and len(cum) == 4
    stage_evs = {(e["args"]["roundNumber"], e["args"]["newStage"]) for e in events(chain, "StageAdvanced")}
    round_evs = {e["args"]["newRoundNumber"] for e in events(chain, "RoundAdvanced")}
    for rnd, stg in seen:
        assert (rnd, stg) in stage_evs
        if stg == 0:
            assert rnd in round_evs
    assert len({r for r, _ in seen}) >= 2
    # a whole round at a time (what the round advancer does): lands on the next round's stage 0
    r0 = chain.current_round()
    assert chain.advance() == (r0 + 1, 0)
    # a past round is accepted only up to the current stage (the public contract's rule)
    late = a.submit_reward(r0, 1, 1, "QmTot")
    assert late.status == "rejected" and late.error == "InvalidStageNumber"


def test_reward_scaling_is_one_rule():
    assert reward_to_chain(0.8125) == 813
    assert reward_to_chain(-0.0005) == -1
    assert reward_to_chain(3) == 3000
    assert reward_from_chain(813) == 0.813
    for bad in (float("nan"), float("inf")):
        with pytest.raises(ValueError):
            reward_to_chain(bad)
    with pytest.raises(TypeError):
        reward_to_chain("1")
