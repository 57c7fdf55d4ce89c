"""SubmissionQueue on a real chain: at most once per (kind, round, stage), persisted, retried."""

from __future__ import annotations

import json
import time

import pytest

from core.chain.devnet import LocalChain
from core.chain.queue import SubmissionQueue
from core.chain.web3_backend import Web3Coordinator
from core.base.errors import IdentityError
from core.events.log import EventBus
from core.base.paths import ProfilePaths

from tests.helpers.chain import events
from tests.helpers.wait import wait_until


def test_enqueue_twice_one_transaction_and_persisted(chain):
    key = chain.new_funded_account().key.hex()
    coord = Web3Coordinator(chain.rpc_url, chain.coordinator, key)
    paths = ProfilePaths("q1")
    seen = []
    bus = EventBus("q1")
    bus.subscribe(lambda e: seen.append(e.to_wire()))
    q = SubmissionQueue(coord, paths.queue_dir, bus=bus)
    q.register("QmQ1")
    a = q.reward(0, 0, 0.5, "QmQ1")
    b = q.reward(0, 0, 0.5, "QmQ1")
    assert a is b and len(q.items()) == 2
    assert q.flush(30)
    assert q.counts() == {"pending": 0, "landed": 2, "failed": 0}
    assert chain.w3.eth.get_transaction_count(coord.eoa) == 2
    # a new queue (a restarted node) from the same dir does not submit again
    q2 = SubmissionQueue(coord, paths.queue_dir)
    assert q2.reward(0, 0, 0.5, "QmQ1").status == "landed"
    assert q2.process() == 0
    assert chain.w3.eth.get_transaction_count(coord.eoa) == 2
    evs = events(chain, "RewardSubmitted", peerId="QmQ1")
    assert len(evs) == 1 and evs[0]["args"]["reward"] == 500
    files = list(paths.queue_dir.glob("*.json"))
    assert len(files) == 2 and all(oct(f.stat().st_mode & 0o777) == "0o600" for f in files)
    kinds = [(e["kind"], e["status"]) for e in seen if e["type"] == "submission"]
    assert ("reward", "pending") in kinds and ("reward", "landed") in kinds
    assert all("privateKey" not in json.dumps(e) and key[2:] not in json.dumps(e) for e in seen)


def test_rpc_down_queued_then_lands_exactly_once(chain):
    key = chain.new_funded_account().key.hex()
    coord = Web3Coordinator(chain.rpc_url, chain.coordinator, key, timeout=2)
    assert coord.register_peer("QmDown").status == "landed"
    port = chain.port
    chain.stop()  # RPC down
    paths = ProfilePaths("q2")
    seen = []
    bus = EventBus("q2")
    bus.subscribe(lambda e: seen.append(e))
    q = SubmissionQueue(coord, paths.queue_dir, bus=bus, base_delay=0.2, max_delay=0.5)
    q.reward(0, 0, 1.0, "QmDown")
    assert q.process() == 1
    item = q.pending()[0]
    assert item.attempts == 1 and item.reason and item.next_try > time.time() - 0.01
    assert q.process() == 1 and q.pending()[0].attempts == 1  # backoff: not retried before next_try
    q.start(poll=0.1)  # background retries while the chain is down
    wait_until(lambda: q.pending() and q.pending()[0].attempts >= 2, 10, "a background retry while the RPC is down")
    back = LocalChain(port=port).start()  # same state file, same port: the RPC comes back
    try:
        wait_until(lambda: not q.pending(), 20, "the queued reward to land once the RPC is back", interval=0.1)
        q.stop()
        assert q.counts()["landed"] == 1
        assert len(events(back, "RewardSubmitted", peerId="QmDown")) == 1
        assert back.w3.eth.get_transaction_count(coord.eoa) == 2  # register + one reward
        q.process(now=float("inf"))
        q.reward(0, 0, 1.0, "QmDown")
        assert back.w3.eth.get_transaction_count(coord.eoa) == 2
        assert [e.status for e in seen if e.type == "submission"][-1] == "landed"
    finally:
        q.stop()
        back.stop()


def test_crash_after_send_counts_as_landed(chain):
    """The tx landed but the node died before recording it: the retry must not double-submit."""
    key = chain.new_funded_account().key.hex()
    coord = Web3Coordinator(chain.rpc_url, chain.coordinator, key)
    coord.register_peer("QmCrash")
    assert coord.submit_reward(0, 0, 250, "QmCrash").status == "landed"
    q = SubmissionQueue(coord, ProfilePaths("q3").queue_dir)
    q.reward(0, 0, 0.25, "QmCrash")
    assert q.flush(10)
    item = q.items()[0]
    assert item.status == "landed" and "already" in item.reason
    assert len(events(chain, "RewardSubmitted", peerId="QmCrash")) == 1


def test_someone_elses_peer_id_is_loud(chain):
    owner = Web3Coordinator(chain.rpc_url, chain.coordinator, chain.new_funded_account().key.hex())
    owner.register_peer("QmTaken")
    me = Web3Coordinator(chain.rpc_url, chain.coordinator, chain.new_funded_account().key.hex())
    seen = []
    bus = EventBus("q4")
    bus.subscribe(lambda e: seen.append(e))
    q = SubmissionQueue(me, ProfilePaths("q4").queue_dir, bus=bus)
    q.register("QmTaken")
    with pytest.raises(IdentityError):
        q.process()
    item = q.items()[0]
    assert item.status == "failed" and item.reason.startswith("identity:")
    assert q.process() == 0  # never retried
    assert chain.w3.eth.get_transaction_count(me.eoa) == 0
    # the background thread surfaces it as an error event instead of dying silently
    q.winners(0, ["QmTaken"], "QmTaken")
    q.start(poll=0.05)
    wait_until(lambda: q.identity_error is not None, 10, "the background thread to record the identity error")
    q.stop()
    assert isinstance(q.identity_error, IdentityError)
    assert any(e.type == "error" and e.where == "chain" for e in seen)


def test_rejected_is_failed_not_retried(chain):
    coord = Web3Coordinator(chain.rpc_url, chain.coordinator, chain.new_funded_account().key.hex())
    coord.register_peer("QmRej")
    q = SubmissionQueue(coord, ProfilePaths("q5").queue_dir)
    q.reward(99, 0, 1.0, "QmRej")
    assert q.flush(10)
    item = q.items()[0]
    assert item.status == "failed" and item.reason == "InvalidRoundNumber" and item.attempts == 1
