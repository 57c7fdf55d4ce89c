"""SwarmDHT against real hivemind DHT nodes on 127.0.0.1 (p2pd included). No mocks.

Every test checks afterwards that no DHT process or p2pd it started is left running.
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
import signal
import socket
import time
import zlib
from pathlib import Path

import psutil
import pytest

from core.identity import files as identity
from core.base.errors import SwarmError
from core.base.rollouts import Rollout
from core.swarm import records
from core.swarm.dht import CHUNK_BYTES, SwarmDHT
from tests.helpers.swarm import make_round
from tests.helpers.wait import wait_until
from core.swarm.wire import MAGIC, VERSION, encode_rollouts
from tests.helpers.dht_hostile import HostilePeer

pytestmark = [pytest.mark.slow, pytest.mark.timeout(240)]


def _three(swarm):
    a = swarm("a")
    b = swarm("b", initial_peers=a.multiaddrs)
    c = swarm("c", initial_peers=a.multiaddrs)
    return a, b, c


def test_bootstrap_identity_and_peers(swarm, tmp_path):
    a, b, c = _three(swarm)
    for n, name in ((a, "a"), (b, "b"), (c, "c")):
        pem = tmp_path / name / "swarm.pem"
        # The running libp2p peer id equals the foundation's offline computation from swarm.pem.
        assert n.peer_id == identity.peer_id_from_pem(pem)
        assert n.display_name == identity.display_name(n.peer_id)
        assert oct(pem.stat().st_mode & 0o777) == "0o600"
    assert len({a.peer_id, b.peer_id, c.peer_id}) == 3
    assert a.multiaddrs and all(m.startswith("/ip4/127.0.0.1/tcp/") and m.endswith("/p2p/" + a.peer_id)
                                for m in a.multiaddrs)
    for n in (a, b, c):
        n.heartbeat()
    seen = {p["peer_id"]: p for p in a.peers()}
    assert set(seen) == {b.peer_id, c.peer_id}  # self excluded
    assert seen[b.peer_id]["name"] == b.display_name
    assert abs(seen[c.peer_id]["last_seen"] - time.time()) < 60


def test_full_round_three_peers_receive_everything_intact(swarm):
    a, b, c = _three(swarm)
    nodes = (a, b, c)
    sent = {n.peer_id: make_round(n.peer_id, 3) for n in nodes}  # I=4 x G=8 x 512 tokens each
    chunks = {}
    for n in nodes:
        res = n.publish_rollouts(3, sent[n.peer_id])
        chunks[n.peer_id] = res.chunks
        # Several hundred KiB of text per round: every group chunked well below hivemind's pipe limit.
        raw = sum(len(x) for r in sent[n.peer_id] for x in r.completions)
        assert raw > 100 * 1024 and res.chunks >= 4 and res.bytes <= res.chunks * CHUNK_BYTES
        print(f"peer {n.peer_id[:10]} published {raw} chars as {res.bytes} B in {res.chunks} chunks "
              f"({res.seconds * 1000:.0f} ms)")
    for n in nodes:
        got = n.fetch_rollouts(3, timeout=30, previous=False)
        others = {p: r for p, r in sent.items() if p != n.peer_id}
        assert set(got) == set(others)
        for p, rs in others.items():
            assert got[p] == rs  # every field of every rollout, bit for bit
        st = n.last_fetch
        assert st.peers == 2 and st.sources == 2 and st.rejected == 0 and n.rejected.total == 0, st
        assert st.requests == 1 + sum(chunks[p] for p in others), st  # one bucket read + every chunk once
        # Polling the same round again downloads nothing more (one bucket read), still equal.
        assert n.fetch_rollouts(3, timeout=30, previous=False) == got and n.last_fetch.requests == 1
    # A round nobody published is empty, not an error; a republish replaces the earlier one.
    assert a.fetch_rollouts(4, timeout=5, previous=False) == {}
    newer = make_round(b.peer_id, 3, questions=1, seed=9)
    b.publish_rollouts(3, newer)
    assert a.fetch_rollouts(3, timeout=30, previous=False)[b.peer_id] == newer


def test_a_node_downloads_only_the_j_groups_it_draws_among_useful_ones(swarm):
    a, b, c = _three(swarm)
    r = 6
    sent = {}
    for n in (b, c):
        rs = make_round(n.peer_id, r, questions=4, tokens=128)
        for x in rs[:2]:  # two groups per peer without signal (all rewards equal): never drawn
            x.rewards = [1.0] * len(x.rewards)
        sent[n.peer_id] = rs
        n.publish_rollouts(r, rs)
    useful = {(p, x.question) for p, rs in sent.items() for x in rs if x.has_signal()}
    got = a.fetch_rollouts(r, timeout=30, want=3, previous=False)
    st = a.last_fetch
    picked = [(p, x.question) for p, rs in got.items() for x in rs]
    assert len(picked) == 3 and set(picked) <= useful, picked
    for p, rs in got.items():
        assert all(x in sent[p] for x in rs)
    # One bucket read + the chunks of the 3 groups drawn; bytes ~ 3 groups, not both peers' rounds.
    whole = sum(len(encode_rollouts([x])) for rs in sent.values() for x in rs)
    assert st.requests == 1 + 3 * math.ceil(len(encode_rollouts([sent[b.peer_id][2]])) / CHUNK_BYTES), st
    assert st.bytes < whole * 0.6 and st.peers == 2 and st.complete, (st, whole)
    # The next poll of the round reads the bucket again, adds nothing (J in hand).
    assert a.fetch_rollouts(r, timeout=30, want=3, previous=False) == got and a.last_fetch.requests == 1
    # A peer one round behind still contributes: round r+1 has nothing yet, round r is read too.
    later = a.fetch_rollouts(r + 1, timeout=30, want=2)
    assert sum(map(len, later.values())) == 2 and all(x.round == r for rs in later.values() for x in rs)
    # peer_rewards: every choosable peer's mean reward from its manifest (for the winner vote).
    means = a.peer_rewards()
    for p, rs in sent.items():
        vals = [v for x in rs for v in x.rewards]
        assert abs(means[p] - sum(vals) / len(vals)) < 1e-4


def test_hostile_values_rejected_counted_and_node_keeps_working(swarm, tmp_path):
    """Validly signed records (each from an identity of its own) whose content is broken: the reader
    refuses each, counts it by reason, and still takes the honest peer's rollouts."""
    from hivemind.utils import get_dht_time

    a = swarm("a")
    good = swarm("good", initial_peers=a.multiaddrs)
    h = HostilePeer(tmp_path, a.multiaddrs, swarm.pids)
    try:
        r = 5
        good_rs = make_round(good.peer_id, r, questions=2, tokens=64)
        good.publish_rollouts(r, good_rs)
        exp = get_dht_time() + 300
        bucket = records.manifest_key(r, 0, 0)

        def wire(doc, version=VERSION) -> bytes:
            return MAGIC + bytes([version]) + zlib.compress(json.dumps(doc).encode())

        ok = {"task": "t", "question": "q", "answer": "a", "completions": ["x", "y"], "rewards": [0.0, 1.0],
              "truncated": [False, False], "round": r, "peer_id": "", "metadata": {}, "source": {}}
        like = Rollout(task="t", question="q", answer="a", completions=["x", "y"], rewards=[0.0, 1.0], round=r)
        # name -> (blob of the one group, expected reason, manifest body override)
        cases = {
            "wrong_version": (MAGIC + b"\x09" + zlib.compress(b'{"rollouts":[]}'), "version"),
            "pickle": (b"\x80\x04\x95" + b"cos\nsystem\n" * 10, "magic"),
            "zip_bomb": (MAGIC + bytes([VERSION]) + zlib.compress(b"\0" * (24 * 1024 * 1024), 9), "bomb"),
            "bad_schema": (wire({"rollouts": [dict(ok, rewards=[0.0])]}), "schema"),
            "wrong_round": (wire({"rollouts": [dict(ok, round=r + 1)]}), "foreign"),
            "impersonator": (wire({"rollouts": [dict(ok, peer_id=good.peer_id)]}), "foreign"),
            "lying_summary": (wire({"rollouts": [dict(ok, rewards=[1.0, 1.0])]}), "summary"),
        }
        for name, (blob, _reason) in cases.items():
            f = h.forger(name)
            g = h.group(blob, exp, like=like)
            h.store(bucket, f.sign("m", bucket, f.subkey, exp, records.manifest_body(f.peer_id, r, [g])), f.subkey, exp)
        # Manifests that are signed but malformed, or lie about their size.
        g = h.group(wire({"rollouts": [ok]}), exp, like=like)
        bad_bodies = {
            "not_a_manifest": lambda pid: {"x": 1},
            "bad_group": lambda pid: dict(records.manifest_body(pid, r, [g]), groups=[[1, 2, 3]]),
            "huge_claim": lambda pid: records.manifest_body(pid, r, [dataclasses.replace(g, size=10**9)]),
            "flood_claim": lambda pid: records.manifest_body(pid, r, [dataclasses.replace(g, size=2000,
                                                                                            chunks=g.chunks * 50)]),
            "size_mismatch": lambda pid: records.manifest_body(pid, r, [dataclasses.replace(g, size=g.size + 1)]),
        }
        for name, body in bad_bodies.items():
            f = h.forger(name)
            h.store(bucket, f.sign("m", bucket, f.subkey, exp, body(f.peer_id)), f.subkey, exp)
        # Junk under subkeys that are not ours, and a broken heartbeat.
        h.store(bucket, b"\x00not a record", "QmJunk", exp)
        h.store(bucket, 12345, "QmInt", exp)
        f = h.forger("beat")
        hb = records.heartbeat_key(0, 0)
        h.store(hb, f.sign("h", hb, f.subkey, exp, {"peer": f.peer_id}), f.subkey, exp)
        n_bad = len(cases) + len(bad_bodies) + 2

        got = a.fetch_rollouts(r, timeout=60, previous=False)
        assert set(got) == {good.peer_id}
        assert got[good.peer_id] == good_rs
        assert a.last_fetch.rejected == n_bad, (a.last_fetch, a.rejected.by_reason())
        reasons = a.rejected.by_reason()
        for reason in ("manifest", "version", "magic", "bomb", "schema", "foreign", "summary", "checksum"):
            assert reasons.get(reason), (reason, reasons)
        peers = {p["peer_id"] for p in a.peers()}
        assert good.peer_id in peers and f.peer_id not in peers
        assert a.rejected.by_reason().get("heartbeat") == 1
        # Still healthy after all that: publish and fetch work.
        mine = make_round(a.peer_id, r, questions=1, tokens=32)
        a.publish_rollouts(r, mine)
        assert good.fetch_rollouts(r, timeout=30, previous=False)[a.peer_id] == mine
        assert a.is_alive() and a.restarts == 0
    finally:
        h.shutdown()


def test_dead_dht_process_is_restarted_with_same_identity(swarm):
    a = swarm("a")
    b = swarm("b", initial_peers=a.multiaddrs)
    for n in (a, b):
        n.heartbeat()
    b.peers()
    before = make_round(b.peer_id, 1, questions=1, tokens=32)
    b.publish_rollouts(1, before)
    old_pids = b.child_pids()
    swarm.pids.update(old_pids)
    port, peer_id, maddrs = b.port, b.peer_id, b.multiaddrs
    os.kill(old_pids[0], signal.SIGKILL)  # the DHT child process dies; its p2pd survives it
    wait_until(lambda: not b.is_alive(), 10, "the killed DHT process to be seen dead")

    after = make_round(b.peer_id, 2, questions=2, tokens=64)
    b.publish_rollouts(2, after)  # detects the dead process, restarts it, then publishes
    assert b.restarts == 1 and b.is_alive()
    assert b.peer_id == peer_id and b.port == port and b.multiaddrs == maddrs
    assert not any(psutil.pid_exists(p) and psutil.Process(p).status() != psutil.STATUS_ZOMBIE
                   for p in old_pids), "old p2pd must be reaped (it holds the port and the identity)"
    swarm.pids.update(b.child_pids())
    assert a.fetch_rollouts(2, timeout=30)[b.peer_id] == after
    mine = make_round(a.peer_id, 2, questions=1, tokens=32)
    a.publish_rollouts(2, mine)
    assert b.fetch_rollouts(2, timeout=30)[a.peer_id] == mine

    # Killing the bootnode's process works the same (it rejoins through peers it has seen).
    a.peers()
    os.kill(a.child_pids()[0], signal.SIGKILL)
    wait_until(lambda: not a.is_alive(), 10, "the bootnode's killed DHT process to be seen dead")
    swarm.pids.update(a.child_pids())
    assert a.fetch_rollouts(2, timeout=30)[b.peer_id] == after
    assert a.restarts == 1


def test_port_busy_is_a_clear_swarm_error(swarm):
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    s.listen()
    port = s.getsockname()[1]
    try:
        t0 = time.monotonic()
        with pytest.raises(SwarmError) as ei:
            swarm("busy", port=port, start_retries=3, backoff=30.0)
        e = ei.value
        assert e.cause == "port_busy"
        assert str(port) in e.what and "already in use" in e.what
        assert "dht_port" in e.fix and str(port) in e.where
        # not retried (retrying cannot free the port): a retry would sleep 30 s first; one start attempt
        # takes a few seconds, more on a loaded machine (6.3 s seen with a 5 s limit)
        assert time.monotonic() - t0 < 25.0
    finally:
        s.close()


def test_unreachable_bootnodes_retry_with_backoff_then_clear_error(swarm, tmp_path):
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    dead = s.getsockname()[1]
    s.close()
    fake = f"/ip4/127.0.0.1/tcp/{dead}/p2p/{identity.peer_id_from_pem(_pem(tmp_path / 'x'))}"
    t0 = time.monotonic()
    with pytest.raises(SwarmError) as ei:
        swarm("lonely", initial_peers=[fake], start_retries=3, backoff=0.4)
    assert ei.value.cause == "bootnodes"
    assert fake in ei.value.where and "bootnode" in ei.value.fix
    assert time.monotonic() - t0 >= 0.4 + 0.8  # two backoff sleeps happened


def _pem(d: Path) -> Path:
    return identity.load_or_create_swarm_pem(d / "swarm.pem").path


def test_timeouts_are_honoured_on_a_stuck_dht(swarm):
    a = swarm("a", op_timeout=1.5)
    b = swarm("b", initial_peers=a.multiaddrs, op_timeout=1.5)
    rs = make_round(b.peer_id, 1, questions=1, tokens=16)
    b.publish_rollouts(1, rs)
    a.peers()  # learn b's address: a is the bootnode and rejoins through the peers it has seen
    pid = a.child_pids()[0]
    os.kill(pid, signal.SIGSTOP)  # alive but answering nothing
    try:
        t0 = time.monotonic()
        assert a.fetch_rollouts(1, timeout=1.0) == {}  # gives up on time, trains local-only
        assert time.monotonic() - t0 < 3.0
        t0 = time.monotonic()
        with pytest.raises(SwarmError) as ei:
            a.publish_rollouts(1, make_round(a.peer_id, 1, questions=1, tokens=16))
        assert ei.value.cause == "timeout"
        assert time.monotonic() - t0 < 4.0
        with pytest.raises(SwarmError):
            a.heartbeat()
        # After repeated unanswered requests the stuck process is replaced, and work resumes.
        got = a.fetch_rollouts(1, timeout=30)
        assert a.restarts == 1 and got[b.peer_id] == rs
        swarm.pids.update(a.child_pids())
    finally:
        if psutil.pid_exists(pid):
            try:
                os.kill(pid, signal.SIGCONT)
            except ProcessLookupError:
                pass


def test_from_profile_uses_the_profiles_identity_and_port(swarm):
    from core.identity.profiles import create_profile

    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    prof = create_profile("dhtnode", dht_port=port)
    node = SwarmDHT.from_profile(prof, bootnodes=[], op_timeout=15)
    swarm.nodes.append(node)  # shut down (and checked for leftovers) by the fixture
    swarm.pids.update(node.child_pids())
    assert node.identity_path == prof.paths.swarm_pem
    assert node.peer_id == identity.peer_id_from_pem(prof.paths.swarm_pem)
    assert node.port == port and all(f"/tcp/{port}/" in m for m in node.multiaddrs)
