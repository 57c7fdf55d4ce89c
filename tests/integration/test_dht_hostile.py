"""Signed DHT records against a hostile peer built from raw hivemind (no swarmdeck validator).

Real SwarmDHT nodes and a raw hivemind DHT on 127.0.0.1. The hostile peer (a) stores a manifest and a
heartbeat under another peer's id, (b) replays an old round's manifest into another round, (c) replaces
a peer's chunks with its own content of the same size and summary, (d) floods the round's bucket with
junk subkeys and made-up peers. Nothing of it may reach the rollouts a node trains on, and the honest
peers' rollouts must still arrive. The same scenario with the record checks switched off (the negative
control) must let the attacks through, so the test can fail.
"""

from __future__ import annotations

import logging
import math
import random
import string

import msgpack
import psutil
import pytest

from core.base.rollouts import Rollout
from core.swarm import records
from core.swarm.dht import SwarmDHT
from tests.helpers.swarm import make_round
from core.swarm.wire import encode_rollouts
from tests.helpers.dht_hostile import HostilePeer

pytestmark = [pytest.mark.slow, pytest.mark.timeout(300)]
R = 10


def _hostile_rollout(tag: str, like: Rollout | None = None, pad: int = 0) -> Rollout:
    g = len(like.completions) if like else 4
    return Rollout(task="basic_arithmetic", question=f"HOSTILE-{tag} {'x' * pad}", answer="6",
                   completions=[f"<answer>{k}</answer>" for k in range(g)],
                   rewards=list(like.rewards) if like else [0.0, 1.0, 0.0, 1.0], round=R, peer_id="")


def _same_size(tag: str, like: Rollout, size: int) -> tuple[Rollout, bytes]:
    """Hostile content whose encoded size and reward summary equal a victim's group (for a silent swap).
    zlib level 0 (stored blocks, a valid stream) makes the size grow by exactly one byte per character."""
    base = len(encode_rollouts([_hostile_rollout(tag, like)], level=0))
    r = _hostile_rollout(tag, like, size - base)
    blob = encode_rollouts([r], level=0)
    assert len(blob) == size, (len(blob), size)
    return r, blob


def _permissive(monkeypatch):
    """Negative control: the record checks (signature, owner, chunk address) switched off everywhere."""
    def open_signed(kid, subkey, value, exp):
        kind, body, _der, _sig = msgpack.unpackb(bytes(value)[4:], raw=False)
        return records.SignedRecord(kind, subkey[len(records.SUBKEY_PREFIX):], msgpack.unpackb(body, raw=False),
                                    float(exp))

    monkeypatch.setattr(records, "open_signed", open_signed)
    monkeypatch.setattr(records, "check_chunk", lambda kid, subkey, value: bytes(value)[4:])
    monkeypatch.setattr(records, "check_record", lambda *a: None)


@pytest.mark.parametrize("checks", ["on", "off"])
def test_hostile_peer_cannot_forge_replay_swap_or_flood(swarm, tmp_path, monkeypatch, checks):
    from hivemind.utils import get_dht_time

    if checks == "off":
        _permissive(monkeypatch)  # before any DHT process forks: they inherit it
    a = swarm("a")
    good = swarm("good", initial_peers=a.multiaddrs)
    other = swarm("other", initial_peers=a.multiaddrs)
    h = HostilePeer(tmp_path, a.multiaddrs, swarm.pids)
    try:
        old = make_round(good.peer_id, R - 2, questions=2, tokens=64, seed=1)
        good.publish_rollouts(R - 2, old)
        sent = {n.peer_id: make_round(n.peer_id, R, questions=3, tokens=200, seed=2) for n in (good, other)}
        for n in (good, other):
            n.publish_rollouts(R, sent[n.peer_id])
        exp = get_dht_time() + 900  # later than the honest records: replaces them where nothing checks
        bucket = records.manifest_key(R, 0, 0)

        # (a) a manifest under other's id signed by the hostile key, and one claiming other's public key
        fake = h.rollout_group(_hostile_rollout("a"), exp)
        body = records.manifest_body(other.peer_id, R, [fake])
        h.store(bucket, h.me.sign("m", bucket, records.peer_subkey(other.peer_id), exp, body),
                records.peer_subkey(other.peer_id), exp)
        h.store(bucket, h.me.sign("m", bucket, records.peer_subkey(other.peer_id), exp + 1, body,
                                  public_der=other._signer.public_der),
                records.peer_subkey(other.peer_id), exp + 1)
        hb_key = records.heartbeat_key(0, 0)
        h.store(hb_key, h.me.sign("h", hb_key, records.peer_subkey(good.peer_id), exp,
                                {"peer": good.peer_id, "t": 4e9, "maddrs": ["/ip4/6.6.6.6/tcp/6/p2p/" + h.me.peer_id]}),
                records.peer_subkey(good.peer_id), exp)

        # (b) good's manifest of round R-2, replayed as is (same signature and expiration) into round R-1
        found = a._dht.get(records.manifest_key(R - 2, 0, 0), latest=True, return_future=True).result(30)
        entry = found.value[records.peer_subkey(good.peer_id)]
        h.store(records.manifest_key(R - 1, 0, 0), entry.value, records.peer_subkey(good.peer_id),
                entry.expiration_time)

        # (c) good's first group: its chunks replaced by hostile content of the same size and rewards
        found = a._dht.get(bucket, latest=True, return_future=True).result(30)
        gm = msgpack.unpackb(msgpack.unpackb(found.value[records.peer_subkey(good.peer_id)].value[4:],
                                             raw=False)[1], raw=False)
        size, digests = gm["groups"][0][0], gm["groups"][0][1]
        _r, blob = _same_size("c", sent[good.peer_id][0], size)
        for i, d in enumerate(digests):
            piece = blob[i * 12 * 1024:(i + 1) * 12 * 1024]
            h.store(records.chunk_key(d), records.CHUNK_MAGIC + bytes([records.VERSION]) + piece,
                    records.CHUNK_SUBKEY, exp)

        # (d) 120 made-up peers (signed by the hostile key) and 80 junk subkeys in the round's bucket
        flood = h.rollout_group(_hostile_rollout("d"), exp)
        for k in range(120):
            fake_id = "Qm" + "".join(random.Random(k).choice(string.ascii_letters) for _ in range(44))
            sk = records.peer_subkey(fake_id)
            h.store(bucket, h.me.sign("m", bucket, sk, exp, records.manifest_body(fake_id, R, [flood])), sk, exp)
        for k in range(80):
            h.store(bucket, b"\x00junk" * 20, f"junk{k}", exp)

        breaches = set()
        a.fetch_rollouts(R - 1, timeout=30, previous=False)
        if good.peer_id in a.last_manifests:  # the replay counted as good's manifest of round R-1
            breaches.add("b")
        a.peers()
        seen = a._seen.get(good.peer_id)
        if seen is not None and any("6.6.6.6" in m for m in seen.maddrs):
            breaches.add("a-heartbeat")
        got = a.fetch_rollouts(R, timeout=60, previous=False)
        stats = a.last_fetch
        questions = {r.question.split(" ")[0] for rs in got.values() for r in rs}
        for tag in "acd":
            if f"HOSTILE-{tag}" in questions:
                breaches.add(tag)

        if checks == "off":
            # Without the checks the attacks go through: this is what the validator prevents.
            assert {"a", "a-heartbeat", "b", "c", "d"} <= breaches, (breaches, questions)
            return
        assert not breaches, (breaches, questions, a.rejected.by_reason())
        # Honest peers' rollouts still arrive, every field intact.
        assert got.get(good.peer_id) == sent[good.peer_id]
        assert got.get(other.peer_id) == sent[other.peer_id]
        assert stats.peers == 2, stats  # choosable: the two honest peers, none of the 120 made-up ones
        reasons = a.rejected.by_reason()
        assert reasons.get("foreign", 0) >= 80, reasons  # the junk subkeys, dropped and counted
        assert a.rejected.total >= 80
        # The honest replicas refused the forged records when the hostile peer stored them.
        refused = {}
        for n in (a, good, other):
            n._merge_refusals()
            for k, v in n.rejected.by_reason().items():
                if k.startswith("refused_"):
                    refused[k] = refused.get(k, 0) + v
        assert refused.get("refused_impostor", 0) >= 1 and refused.get("refused_signature", 0) >= 1, refused
        assert refused.get("refused_checksum", 0) >= 1, refused
        # And a J draw over the flooded round takes honest groups only.
        b = swarm("b", initial_peers=a.multiaddrs)
        picked = b.fetch_rollouts(R, timeout=60, want=4, previous=False)
        assert sum(map(len, picked.values())) == 4 and set(picked) <= {good.peer_id, other.peer_id}
    finally:
        h.shutdown()


def test_records_of_another_version_are_refused_with_a_clear_reason(swarm, tmp_path, caplog):
    from hivemind.utils import get_dht_time

    a = swarm("a")
    good = swarm("good", initial_peers=a.multiaddrs)
    h = HostilePeer(tmp_path, a.multiaddrs, swarm.pids)
    try:
        sent = make_round(good.peer_id, R, questions=2, tokens=64)
        good.publish_rollouts(R, sent)
        exp = get_dht_time() + 300
        bucket = records.manifest_key(R, 0, 0)
        grp = h.rollout_group(_hostile_rollout("v"), exp)
        sk = h.me.subkey  # its own id, validly signed, but record version 3
        h.store(bucket, h.me.sign("m", bucket, sk, exp, records.manifest_body(h.me.peer_id, R, [grp]), version=3),
                sk, exp)
        with caplog.at_level(logging.WARNING, logger="core.swarm.dht"):
            got = a.fetch_rollouts(R, timeout=30)
        assert set(got) == {good.peer_id} and got[good.peer_id] == sent
        text = caplog.text
        assert "record version 3" in text and "speaks record version 2" in text, text
        assert a.rejected.by_reason().get("refused_version", 0) >= 1
    finally:
        h.shutdown()


def test_version1_records_are_ignored_and_version1_peers_keep_working(swarm, tmp_path):
    """Rolling upgrade: old (version-1) nodes keep their own key space working on a DHT whose other
    nodes run version 2 (the validator passes records that are not "sd2:"), and version-2 nodes never
    take their records."""
    import hashlib
    import json

    from hivemind import DHT
    from hivemind.utils import get_dht_time

    a = swarm("a")
    good = swarm("good", initial_peers=a.multiaddrs)
    olds = []
    for k in range(2):
        d = DHT(start=True, initial_peers=a.multiaddrs, host_maddrs=["/ip4/127.0.0.1/tcp/0"])
        swarm.pids.update([d.pid] + [c.pid for c in psutil.Process(d.pid).children(recursive=True)])
        olds.append(d)
    try:
        exp = get_dht_time() + 300
        v1 = encode_rollouts(make_round("QmOldPeer", R, questions=1, tokens=32))  # any payload
        manifest = json.dumps({"v": 1, "n": 1, "size": len(v1), "nonce": "n0",
                               "sha256": hashlib.sha256(v1).hexdigest()}).encode()
        assert olds[0].store(f"swarmdeck/chunk/{R}/QmOldPeer/n0/0", v1, exp, return_future=True).result(30)
        assert olds[0].store(f"swarmdeck/rollouts/{R}", manifest, exp, subkey="QmOldPeer",
                             return_future=True).result(30)
        sent = make_round(good.peer_id, R, questions=2, tokens=64)
        good.publish_rollouts(R, sent)
        # The old peer's records are stored and readable by another old peer...
        found = olds[1].get(f"swarmdeck/rollouts/{R}", latest=True, return_future=True).result(30)
        assert found.value["QmOldPeer"].value == manifest
        assert olds[1].get(f"swarmdeck/chunk/{R}/QmOldPeer/n0/0", return_future=True).result(30).value == v1
        # ...and a version-2 node takes the version-2 peer's rollouts only.
        got = a.fetch_rollouts(R, timeout=30)
        assert got == {good.peer_id: sent}
        assert a.rejected.total == 0, a.rejected.by_reason()
    finally:
        for d in olds:
            d.shutdown()
