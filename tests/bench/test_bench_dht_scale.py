"""DHT scale benchmark: what one node's rollout fetch costs as the swarm grows (N = 4, 16, 64 peers).

N real SwarmDHT peers on 127.0.0.1 (hivemind 1.1.12 + p2pd each; the DHT layer only, no model).
Every round each peer publishes a realistic round (I=4 questions x G=8 completions x 512 tokens)
and then every peer fetches J=4 rollouts, as nodes do. Measured per round:
  - one observer's fetch (its SwarmDHT.last_fetch, the figures the dashboard shows): DHT gets
    issued, value bytes received (value_bytes), every DHT reply's bytes (bytes: what crossed the
    wire, issue 22), wall time, peers it could choose from;
  - the observer's wire-level find RPCs (hivemind's DHTProtocol.call_find, counted in its DHT process);
  - the busiest DHT node: find RPCs it answered and the bytes of those answers, while all N peers
    fetched (DHTProtocol.rpc_find, counted in every DHT process).
Round 1 is a warm-up (a new swarm starts with one bucket; nodes learn its size from what they read).
The goal (issue 14): per-node gets and bytes at N=16 and N=64 within 1.5x of N=4.

`just bench-dht-scale` runs it (several minutes: 64 DHT processes on loopback). Results go to the
"## DHT scale" section of tests/bench/RESULTS.md, next to the numbers of the version-1 exchange
measured with the same harness before the change.
"""

from __future__ import annotations

import math
import os
import platform
import statistics
import time
from pathlib import Path

import pytest
from hivemind.dht import protocol as hp
from hivemind.p2p import P2PContext
from hivemind.proto import dht_pb2

from core.swarm.dht import SwarmDHT
from tests.helpers.procs import shutdown_and_wait
from tests.helpers.swarm import make_round

from tests.bench.test_bench_dht import write_section

SIZES = [int(x) for x in os.environ.get("SWARMDECK_BENCH_DHT_SIZES", "4,16,64").split(",")]
ROUNDS = 4          # round 1 is the warm-up
J = 4

# Version-1 exchange (commit 2bdf0c2, before issue 14), same harness, one observer's fetch of round r
# plus r-1 as the node did; measured on this machine 2026-11-29 (phase 1 of issue 14).
OLD = {4: dict(gets=26, bytes=259_716, seconds=0.16, peers=3, finds=78, busiest=26, busiest_bytes=264_004),
       16: dict(gets=121, bytes=1_297_493, seconds=2.84, peers=15, finds=1815, busiest=121, busiest_bytes=705_337),
       64: dict(gets=498, bytes=5_445_228, seconds=18.56, peers=63, finds=9960, busiest=188, busiest_bytes=893_459)}


def _patch_protocol():
    """Count find RPCs answered (and their bytes) and issued, in every DHT process forked after this."""
    orig_find, orig_call = hp.DHTProtocol.rpc_find, hp.DHTProtocol.call_find

    def _stats(self) -> dict:
        return self.__dict__.setdefault("_bench", {"served": 0, "served_bytes": 0, "calls": 0})

    async def rpc_find(self, request: dht_pb2.FindRequest, context: P2PContext) -> dht_pb2.FindResponse:
        resp = await orig_find(self, request, context)
        s = _stats(self)
        s["served"] += 1
        s["served_bytes"] += resp.ByteSize()
        return resp

    async def call_find(self, peer, keys):
        _stats(self)["calls"] += 1
        return await orig_call(self, peer, keys)

    rpc_find.__name__ = "rpc_find"
    hp.DHTProtocol.rpc_find, hp.DHTProtocol.call_find = rpc_find, call_find
    return lambda: (setattr(hp.DHTProtocol, "rpc_find", orig_find), setattr(hp.DHTProtocol, "call_find", orig_call))


async def _take_counts(_dht, node) -> dict:
    s = dict(node.protocol.__dict__.get("_bench", {"served": 0, "served_bytes": 0, "calls": 0}))
    node.protocol.__dict__["_bench"] = {"served": 0, "served_bytes": 0, "calls": 0}
    return s


def _counts(nodes) -> list[dict]:
    return [n._dht.run_coroutine(_take_counts) for n in nodes]


def _run(n: int, tmp: Path) -> dict:
    nodes: list[SwarmDHT] = []
    pids: set[int] = set()
    t0 = time.perf_counter()
    try:
        nodes.append(SwarmDHT(tmp / f"n{n}" / "p0" / "swarm.pem", op_timeout=60))
        for k in range(1, n):
            boot = nodes[max(0, k - 1 - k % 5)].multiaddrs  # bootstrap through different earlier peers
            nodes.append(SwarmDHT(tmp / f"n{n}" / f"p{k}" / "swarm.pem", initial_peers=boot, op_timeout=60))
            pids.update(nodes[-1].child_pids())
        pids.update(nodes[0].child_pids())
        start_s = time.perf_counter() - t0
        obs = nodes[-1]
        rows = []
        for r in range(1, ROUNDS + 1):
            for x in nodes:
                x.publish_rollouts(r, make_round(x.peer_id, r))
            _counts(nodes)
            t = time.perf_counter()
            got = obs.fetch_rollouts(r, timeout=60, want=J)
            wall = time.perf_counter() - t
            st = obs.last_fetch
            one = _counts(nodes)
            for x in nodes[:-1]:
                x.fetch_rollouts(r, timeout=60, want=J)
            every = _counts(nodes)
            assert sum(map(len, got.values())) == J, (n, r, st)
            rows.append(dict(round=r, gets=st.requests, bytes=st.value_bytes, wire=st.bytes, seconds=wall,
                             peers=st.peers,
                             finds=one[-1]["calls"], busiest1=max(c["served"] for c in one),
                             busiest=max(c["served"] for c in every),
                             busiest_bytes=max(c["served_bytes"] for c in every),
                             level=obs._shards.level, estimate=obs.swarm_estimate))
            print(f"N={n} round {r}: {rows[-1]}", flush=True)
        return dict(n=n, start_s=start_s, rows=rows)
    finally:
        left = shutdown_and_wait(nodes, tmp, pids, timeout=30)
        assert not left, left


def _med(rows, k):
    return statistics.median(x[k] for x in rows)


@pytest.mark.timeout(3000)
def test_bench_dht_scale(tmp_path):
    restore = _patch_protocol()
    try:
        runs = [_run(n, tmp_path) for n in SIZES]
    finally:
        restore()
    table = []
    base = None
    for run in runs:
        m = run["rows"][1:]  # round 1 is the warm-up
        s = dict(n=run["n"], gets=_med(m, "gets"), bytes=_med(m, "bytes"), wire=_med(m, "wire"),
                 seconds=_med(m, "seconds"),
                 peers=_med(m, "peers"), finds=_med(m, "finds"), busiest1=_med(m, "busiest1"),
                 busiest=_med(m, "busiest"), busiest_bytes=_med(m, "busiest_bytes"),
                 warm_gets=run["rows"][0]["gets"], warm_bytes=run["rows"][0]["bytes"], start_s=run["start_s"],
                 level=m[-1]["level"], estimate=m[-1]["estimate"])
        base = base or s
        s["gets_x"], s["bytes_x"] = s["gets"] / base["gets"], s["bytes"] / base["bytes"]
        table.append(s)
    lines = ["| N | gets | value KB | wire KB | fetch s | peers choosable | find RPCs | busiest node: finds answered "
             "(1 fetch / all N fetch) | busiest node KB out (all N) | gets / N=4 | bytes / N=4 |",
             "|---|---|---|---|---|---|---|---|---|---|---|"]
    for s in table:
        lines.append(f"| {s['n']} | {s['gets']:.0f} | {s['bytes'] / 1000:.0f} | {s['wire'] / 1000:.0f} | "
                     f"{s['seconds']:.2f} | {s['peers']:.0f} | "
                     f"{s['finds']:.0f} | {s['busiest1']:.0f} / {s['busiest']:.0f} | {s['busiest_bytes'] / 1000:.0f} | "
                     f"**{s['gets_x']:.2f}** | **{s['bytes_x']:.2f}** |")
    old = ["| N | gets | value KB | fetch s | peers | find RPCs | busiest node finds / KB out (1 fetch) |",
           "|---|---|---|---|---|---|---|"]
    for n, o in OLD.items():
        old.append(f"| {n} | {o['gets']} | {o['bytes'] / 1000:.0f} | {o['seconds']:.2f} | {o['peers']} | {o['finds']} | "
                   f"{o['busiest']} / {o['busiest_bytes'] / 1000:.0f} |")
    big = table[-1]
    # Per node: constant gets/bytes once the level fits; a round's bucket count grows as N/16.
    extra = (f"Extrapolation to 1,000 peers: the level becomes ceil(log2(1000/{16})) = 6 (64 buckets of ~16 "
             f"manifests), so a node still reads 2 buckets (~{2 * 16 * 0.9:.0f} KB of manifests) and J={J} groups "
             f"(~{J * 22} KB): ~{big['gets']:.0f} gets and ~{big['bytes'] / 1000:.0f} KB per node per round, as at "
             f"N={big['n']}; each bucket key is read by ~16 nodes a round, so the busiest DHT node's load stays "
             f"near the N={big['n']} figure. Version 1 at 1,000 peers: ~980 gets and ~11 MB per node per round.")
    body = (f"{', '.join(str(s['n']) for s in table)} SwarmDHT peers on 127.0.0.1 (real hivemind 1.1.12 + p2pd, "
            f"no model); every round each publishes I=4 x G=8 x 512 tokens, then every peer fetches J={J}. "
            f"Medians over rounds 2..{ROUNDS} (round 1 is the warm-up: level 0 for everyone, "
            f"{', '.join(str(s['warm_gets']) for s in table)} gets). {platform.machine()}, {os.cpu_count()} CPUs "
            f"(shared, load avg {os.getloadavg()[0]:.1f}), {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}.\n\n"
            "Version 2 (sharded signed manifests, J chosen groups downloaded):\n\n" + "\n".join(lines) +
            "\n\nVersion 1 (every manifest and every chunk of every peer; same harness, before the change; its "
            "busiest-node figures are for one fetch, so a round where all N peers fetch costs about N times "
            "them):\n\n"
            + "\n".join(old) + "\n\n" + extra + "\n")
    print("\n" + body)
    write_section("DHT scale", body)
    for s in table[1:]:
        assert s["gets_x"] <= 1.5 and s["bytes_x"] <= 1.5, (s, base)
