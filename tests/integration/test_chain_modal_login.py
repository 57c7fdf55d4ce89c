"""The modal-login backend through the real local login service to a real anvil; make_coordinator."""

from __future__ import annotations


import pytest

from core.chain import make_coordinator
from core.chain.devnet import free_port
from core.chain.modal_login_backend import ModalLoginCoordinator
from core.chain.queue import SubmissionQueue
from core.chain.web3_backend import Web3Coordinator
from core.base.errors import IdentityError
from core.login.service import LoginService, ServiceThread
from core.base.paths import ProfilePaths

from tests.helpers.chain import events
from tests.helpers.http import sign_in


def _signed_in(profile: str, email: str):
    paths = ProfilePaths(profile)
    svc = ServiceThread(LoginService(paths.identity_dir, port=free_port())).start()
    return svc, sign_in(svc.url, email)


def test_register_reward_winners_through_the_login_api(chain):
    svc, user = _signed_in("ml1", "ana@example.org")
    svc2, other = _signed_in("ml2", "bo@example.org")
    try:
        me = ModalLoginCoordinator(svc.url, user["orgId"], chain.rpc_url, chain.coordinator, eoa=user["address"])
        assert me.register_peer("QmML").status == "landed"
        assert me.get_eoa(["QmML"]) == [user["address"]]  # the account's own EOA sent it
        again = me.register_peer("QmML")
        assert again.status == "already"
        r1 = me.submit_reward(me.current_round(), 0, 900, "QmML")
        assert r1.status == "landed" and r1.tx.startswith("0x")
        n = chain.w3.eth.get_transaction_count(user["address"])
        r2 = me.submit_reward(me.current_round(), 0, 900, "QmML")
        assert r2.status == "already"
        assert chain.w3.eth.get_transaction_count(user["address"]) == n == 2
        assert len(events(chain, "RewardSubmitted", peerId="QmML")) == 1
        assert me.submit_reward(me.current_round() + 3, 0, 1, "QmML").error == "InvalidRoundNumber"
        assert me.submit_winners(0, ["QmML"], "QmML").status == "landed"
        assert me.submit_winners(0, ["QmML"], "QmML").status == "already"
        assert me.get_total_wins("QmML") == 1 and me.get_total_rewards(["QmML"]) == [900]
        thief = ModalLoginCoordinator(svc2.url, other["orgId"], chain.rpc_url, chain.coordinator,
                                      eoa=other["address"])
        with pytest.raises(IdentityError) as ei:
            thief.register_peer("QmML")
        assert user["address"] in str(ei.value)
        assert chain.w3.eth.get_transaction_count(other["address"]) == 0
    finally:
        svc.stop()
        svc2.stop()


def test_login_service_down_then_back_lands_once(chain):
    paths = ProfilePaths("ml3")
    port = free_port()
    svc = ServiceThread(LoginService(paths.identity_dir, port=port, strict_port=True)).start()
    user = sign_in(svc.url, "cy@example.org")
    url = svc.url
    me = ModalLoginCoordinator(url, user["orgId"], chain.rpc_url, chain.coordinator, eoa=user["address"], timeout=3)
    assert me.register_peer("QmDownML").status == "landed"
    svc.stop()
    q = SubmissionQueue(me, paths.queue_dir, base_delay=0.1, max_delay=0.3)
    q.reward(0, 0, 2.5, "QmDownML")
    assert q.process() == 1 and "unreachable" in q.pending()[0].reason
    svc = ServiceThread(LoginService(paths.identity_dir, port=port, strict_port=True)).start()
    try:
        assert q.flush(20)
        assert q.items()[0].status == "landed"
        evs = events(chain, "RewardSubmitted", peerId="QmDownML")
        assert len(evs) == 1 and evs[0]["args"]["reward"] == 2500
    finally:
        svc.stop()


def test_make_coordinator_for_profiles(chain):
    from core.identity.profiles import create_profile

    web = create_profile("w3", network="local", backend="web3")
    c = make_coordinator(web, chain=chain)
    assert isinstance(c, Web3Coordinator)
    assert c.register_peer("QmW3").status == "landed"
    assert (web.paths.secrets_dir / "eoa.key").stat().st_mode & 0o777 == 0o600
    again = make_coordinator(web)  # attaches to the running chain, same key file
    assert again.eoa == c.eoa and again.register_peer("QmW3").status == "already"

    ml = create_profile("ml", network="local", backend="modal-login")
    with pytest.raises(IdentityError) as ei:
        make_coordinator(ml, chain=chain)
    assert "swarmdeck login -p ml" in ei.value.fix
    with ServiceThread(LoginService(ml.paths.identity_dir, port=free_port())) as svc:
        user = sign_in(svc.url, "dee@example.org")
        mc = make_coordinator(ml, chain=chain, login_url=svc.url)
        assert isinstance(mc, ModalLoginCoordinator) and mc.eoa == user["address"]
        assert mc.register_peer("QmMLp").status == "landed"
