"""The registered-peers-only gate (core.node.sharing.RegisteredGate) against a real anvil with our Coordinator:
a peer id that is not registered is refused, a registered one passes; lookups are batched, cached per round
and bounded, so a flood of fresh keys costs a fixed number of RPC calls."""

from __future__ import annotations

import pytest

from core.chain.web3_backend import Web3Coordinator
from core.node.sharing import RegisteredGate, VerifiedSharing
from tests.helpers.chain import chain_in

pytestmark = pytest.mark.timeout(300)


class CountingCoordinator:
    """The real chain client, with its getEoa calls counted (the gate's cost)."""

    def __init__(self, inner):
        self.inner = inner
        self.calls = 0

    def get_eoa(self, peer_ids):
        self.calls += 1
        return self.inner.get_eoa(peer_ids)


class _Dht:  # only what VerifiedSharing reads of a SwarmDHT here (the DHT itself has its own tests)
    peer_filter = None
    last_fetch = None
    last_manifests: dict = {}


@pytest.fixture(scope="module")
def chain(tmp_path_factory):
    with chain_in(tmp_path_factory.mktemp("gatechain")) as c:
        yield c


def test_unregistered_refused_registered_passes(chain):
    me = Web3Coordinator(chain.rpc_url, chain.coordinator, chain.new_funded_account().key.hex())
    other = Web3Coordinator(chain.rpc_url, chain.coordinator, chain.new_funded_account().key.hex())
    assert other.register_peer("QmRegisteredVerify").status == "landed"
    coord = CountingCoordinator(me)
    gate = RegisteredGate(coord, max_lookups=8, batch=4)
    gate.begin_round(5, ["QmRegisteredVerify", "QmNobodyVerify"])
    assert coord.calls == 1                        # one batched read for the peers known at round start
    assert gate.allowed("QmRegisteredVerify") is True
    assert gate.allowed("QmNobodyVerify") is False
    assert coord.calls == 1                        # cached within the round
    # through the node's sharing object: the DHT's peer_filter says the same
    dht = _Dht()
    sharing = VerifiedSharing(dht, verify=lambda c: None, trust=None, gate=gate)
    assert dht.peer_filter("QmRegisteredVerify") and not dht.peer_filter("QmNobodyVerify")
    # a peer that registers later passes once a new round looks again (unregistered verdicts last one round)
    assert other.register_peer("QmNobodyVerify").status == "landed"
    assert gate.allowed("QmNobodyVerify") is False
    gate.begin_round(6, ["QmNobodyVerify"])
    assert gate.allowed("QmNobodyVerify") is True
    assert sharing.trust_event(6) is None          # no trust ledger here: nothing to report


def test_a_flood_of_fresh_keys_costs_a_bounded_number_of_reads(chain):
    me = Web3Coordinator(chain.rpc_url, chain.coordinator, chain.new_funded_account().key.hex())
    coord = CountingCoordinator(me)
    gate = RegisteredGate(coord, max_lookups=8, batch=4)
    sybils = [f"QmSybilVerify{i}" for i in range(20)]
    gate.begin_round(9, sybils)
    assert not any(gate.allowed(p) for p in sybils)
    assert coord.calls == 2 and gate.lookups == 8  # 8 looked up in 2 batches; the other 12 refused unchecked
    assert gate.refused == 20


def test_chain_down_fails_closed_but_keeps_known_registered_peers(chain):
    me = Web3Coordinator(chain.rpc_url, chain.coordinator, chain.new_funded_account().key.hex())
    assert me.register_peer("QmKnownVerify").status in ("landed", "already")

    class Flaky(CountingCoordinator):
        down = False

        def get_eoa(self, peer_ids):
            if self.down:
                raise ConnectionError("RPC down")
            return super().get_eoa(peer_ids)

    coord = Flaky(me)
    gate = RegisteredGate(coord)
    gate.begin_round(1, ["QmKnownVerify"])
    coord.down = True
    gate.begin_round(2, ["QmUnknownVerify"])
    assert gate.allowed("QmKnownVerify") and not gate.allowed("QmUnknownVerify") and gate.errors >= 1
