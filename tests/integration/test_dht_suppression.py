"""Replicas without the validator cannot make a genuine record disappear (issue 22, part 5).

Real hivemind on 127.0.0.1. Five raw hivemind DHT nodes without swarmdeck's validator (old nodes
during an upgrade, or an attacker's nodes) take node ids next to a round's predictable bucket key,
so they are the replicas a publisher stores its manifest on. The attacker then puts forged records
there: on one replica a forgery under the publisher's own subkey with a later expiration (which
replaces the genuine record on that replica), on the others a forged record of a made-up peer.
A reader that joins afterwards (so it holds no copy itself) must still find the genuine manifest
and download the publisher's groups. Before, hivemind refused each replica's answer whole for
its one bad entry, and the genuine record was gone for every reader.
"""

from __future__ import annotations

import pytest

from core.swarm import records
from tests.helpers.dht_hostile import Forger
from tests.helpers.swarm import make_round

pytestmark = [pytest.mark.slow, pytest.mark.timeout(400)]
R = 7


async def _put(_dht, node, kid: bytes, subkey: str, value: bytes, exp: float) -> bool:
    """Store straight into this (raw, validator-less) node's own storage: what it would accept from anyone."""
    from hivemind.dht.routing import DHTID
    from hivemind.utils.serializer import MSGPackSerializer

    return node.protocol.storage.store_subkey(DHTID.from_bytes(kid), subkey, MSGPackSerializer.dumps(value), exp)


async def _holds(_dht, node, kid: bytes) -> list[str]:
    from hivemind.dht.routing import DHTID

    v = node.protocol.storage.get(DHTID.from_bytes(kid))
    return [] if v is None else [str(k) for k, _ in v.value.items()]


def test_forged_records_on_validator_less_replicas_do_not_hide_a_genuine_manifest(swarm, tmp_path):
    import functools

    from hivemind import DHT
    from hivemind.dht.routing import DHTID
    from hivemind.utils import get_dht_time
    import psutil

    boot = swarm("boot")
    key = records.manifest_key(R, 0, 0)
    kid = records.key_id(key)
    target = DHTID.from_bytes(kid)
    raw: list = []
    try:
        for i in range(5):  # the five nodes nearest the key: hivemind stores each value on 5 replicas
            d = DHT(start=True, initial_peers=boot.multiaddrs, host_maddrs=["/ip4/127.0.0.1/tcp/0"],
                    node_id=DHTID(target ^ (i + 1)))
            raw.append(d)
            swarm.pids.update([d.pid] + [c.pid for c in psutil.Process(d.pid).children(recursive=True)])
        pub = swarm("publisher", initial_peers=boot.multiaddrs)
        sent = make_round(pub.peer_id, R, questions=2, generations=4, tokens=64)
        pub.publish_rollouts(R, sent)
        holders = [d for d in raw if records.peer_subkey(pub.peer_id) in d.run_coroutine(
            functools.partial(_holds, kid=kid))]
        assert len(holders) >= 3, "the publisher's manifest should be on the validator-less replicas"

        exp = get_dht_time() + 3600  # later than the genuine record's
        forger = Forger(tmp_path / "forger" / "swarm.pem")
        fake = records.manifest_body(pub.peer_id, R, [])
        victim = records.peer_subkey(pub.peer_id)
        raw[0].run_coroutine(functools.partial(_put, kid=kid, subkey=victim, value=forger.sign(
            "m", key, victim, exp, fake), exp=exp))  # replaces the genuine record on this replica
        made_up = Forger(tmp_path / "made-up" / "swarm.pem")
        for d in raw[1:]:
            body = records.manifest_body(made_up.peer_id, R, [])
            d.run_coroutine(functools.partial(_put, kid=kid, subkey=made_up.subkey, value=forger.sign(
                "m", key, made_up.subkey, exp, body), exp=exp))

        reader = swarm("reader", initial_peers=boot.multiaddrs)  # joins now: holds no copy of the bucket
        got = reader.fetch_rollouts(R, timeout=60, previous=False)
        print(f"reader found {sorted(reader.last_manifests)} (publisher {pub.peer_id}); refused so far: "
              f"{reader.rejected.by_reason()}")
        assert pub.peer_id in reader.last_manifests
        assert [r.question for r in got.get(pub.peer_id, [])] == [r.question for r in sent]
        assert made_up.peer_id not in reader.last_manifests
        assert reader.rejected.total > 0  # the forged entries were seen, refused and counted
    finally:
        for d in raw:  # the swarm fixture then checks that none of their processes is left
            d.shutdown()
