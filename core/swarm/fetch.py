"""Fetching: read one bucket of a round's manifests (and of the round before), verify them, draw J
groups among the useful ones, download and check only those groups' chunks; what it cost in FetchStats.

A fetch reads ONE random bucket of round r and of r-1 (a peer one round behind still contributes
its newest round), draws J groups among the useful ones described there (SAPO: groups with a
nonzero advantage; every peer of the round is equally likely to be in the bucket drawn, and the
draw changes each round), and downloads only those groups' chunks: about 2 bucket reads +
J x chunks-per-group gets, whatever N is.
"""

from __future__ import annotations

import copy
import dataclasses
import hashlib
import logging
import math
import os
import random
import secrets
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from core.base.draw import draw_per_peer, peer_share
from core.base.errors import SwarmError
from core.base.rollouts import Rollout
from core.swarm import records, traffic
from core.swarm.replies import subkey_entries, value_bytes
from core.swarm.shards import MAX_LEVEL
from core.swarm.wire import WireError, decode_rollouts

log = logging.getLogger("core.swarm.dht")

CACHE_ENTRIES = 512                # verified manifests / groups kept; a few rounds of what a node reads
# A bucket read (latest=True) receives the whole bucket from every replica its search visits: with
# hivemind's default beam (20 nodes) that is every replica (num_replicas = 5) and the nodes that
# cached it. The READ_BEAM nodes nearest the key hold what was stored there (a store goes to the
# nearest nodes), and more than one so that one replica missing a record or lying does not hide it.
READ_BEAM = int(os.environ.get("SWARMDECK_DHT_READ_BEAM", "3"))


@dataclass
class FetchSession:
    """What one node has read and chosen for one round (polls of the same round add to it)."""

    round: int
    rng: random.Random
    tried: set = field(default_factory=set)      # (peer, round, chunk digests) chosen once
    got: dict = field(default_factory=dict)      # (peer, round, chunk digests) -> Rollout | None (failed)
    manifests: dict = field(default_factory=dict)  # (peer, round) -> the manifest read last
    estimated: bool = False
    searched: bool = False
    base: int = 0

    def __post_init__(self) -> None:
        self.base = self.rng.getrandbits(MAX_LEVEL)

    def bucket(self, level: int) -> int:
        return self.base & ((1 << level) - 1)

    def current(self) -> list[tuple[tuple, Rollout]]:
        """Verified groups still listed by their peer's manifest (a republish drops the older ones), in order."""
        out = []
        for k, r in self.got.items():
            m = self.manifests.get((k[0], k[1]))
            idx = next((g.index for g in m.groups if g.chunks == k[2]), None) if m is not None else None
            if r is not None and idx is not None:
                out.append(((k[0], k[1], idx), k, r))
        return [(k, r) for _, k, r in sorted(out, key=lambda x: x[0])]



@dataclass
class FetchStats:
    """One fetch_rollouts call, as the benchmark and the dashboard read it."""

    round: int
    requests: int = 0              # DHT gets issued (bucket reads + chunk reads)
    bytes: int = 0                 # bytes received: every DHT reply of the fetch (core.swarm.traffic), else values
    value_bytes: int = 0           # of which values (what the fetch keeps: manifests and chunks)
    replies: int = 0               # DHT replies received (every replica and hop of every get)
    seconds: float = 0.0
    peers: int = 0                 # peers it could choose from (valid manifests in the buckets read)
    offered: int = 0               # question groups those manifests describe (useful or not)
    useful: int = 0                # of which have a nonzero advantage (what a J draw chooses among)
    sources: int = 0               # peers the returned rollouts came from
    rollouts: int = 0              # rollouts returned (this round's session so far)
    rejected: int = 0              # records rejected as forged/malformed/tampered this call
    filtered: int = 0              # groups of peers the node's peer_filter refused (not downloaded)
    missing: int = 0               # chosen groups whose chunks did not arrive in time
    cached: int = 0                # chosen groups served from the verified cache
    complete: bool = False         # enough rollouts, or nothing left to choose: stop polling



class Fetcher:
    """Mixin of SwarmDHT: fetch_rollouts, the verified caches and the refusal counts."""

    @property
    def swarm_estimate(self) -> int:
        """Peers in the swarm as this node estimates them from its bucket reads (0 before the first)."""
        return self._shards.estimate

    def fetch_rollouts(self, round: int, timeout: float = 10.0, want: int | None = None,
                       previous: bool = True) -> dict[str, list[Rollout]]:
        """Other peers' rollouts for `round`, each group verified; bad records rejected and counted.

        Reads one bucket of the round's manifests (and of round-1: a peer one round behind still
        contributes with its newest round) and picks among the question groups they describe:
        `want` = J draws `want` groups uniformly among the groups with a nonzero advantage (the
        useful ones), over every peer in the buckets read; None takes every group there. Only the
        chosen groups' chunks are downloaded. Repeated calls for the same round (polling) keep what
        was already chosen and verified and add to it; `last_fetch.complete` says when nothing more
        can come. Returns within about `timeout` seconds.
        """
        deadline = time.monotonic() + float(timeout)
        return self._guarded(self._fetch, int(round), deadline, want, previous)

    def _fetch(self, round: int, deadline: float, want: int | None, previous: bool) -> dict[str, list[Rollout]]:
        t0 = time.monotonic()
        stats = FetchStats(round=round)
        self.last_fetch = stats
        wire0 = self._traffic(deadline)
        sess = self._sessions.get(round)
        if sess is None:
            sess = FetchSession(round, random.Random(f"{self.peer_id}/{round}/{secrets.randbits(32)}"))
            self._sessions[round] = sess
            while len(self._sessions) > 4:
                self._sessions.pop(min(self._sessions))
        try:
            rounds = [round] + ([round - 1] if previous and round > 0 else [])
            newest: dict[str, tuple[records.Manifest, int]] = {}
            allow = self.peer_filter
            for rnd in reversed(rounds):  # the newer round's manifest of a peer wins
                for peer, m in self._read_manifests(sess, rnd, stats, deadline).items():
                    if allow is not None and not allow(peer):
                        stats.filtered += len(m.groups)  # ignored or unregistered: nothing downloaded
                        continue
                    newest[peer] = (m, rnd)
                    sess.manifests[(peer, rnd)] = m  # a republished round replaces the earlier manifest
            stats.peers = len(newest)
            stats.offered = sum(len(m.groups) for m, _ in newest.values())
            stats.useful = sum(1 for m, _ in newest.values() for g in m.groups if g.signal)
            self.last_manifests = {p: m for p, (m, _) in newest.items()}
            pool = [(p, rnd, g) for p, (m, rnd) in sorted(newest.items()) for g in m.groups
                    if (want is None or g.signal) and (p, rnd, g.chunks) not in sess.tried]
            left = 0  # groups still choosable after this call (a peer at its share has none)
            if want is None:
                chosen = pool
            else:
                # Peers first, then groups, at most one peer's share each (core.base.draw): a peer listing
                # 64 tiny groups takes no more of the J than a peer listing 4.
                offering = {p for p, (m, _) in newest.items() if any(g.signal for g in m.groups)}
                taken = Counter(p for p, _rnd, _chunks in sess.tried)
                need = max(0, want - len(sess.current()))
                cap = peer_share(want, len(offering))
                chosen = draw_per_peer(sess.rng, pool, need, lambda c: c[0], taken=taken, cap=cap)
                taken.update(c[0] for c in chosen)
                left = sum(1 for c in pool if c not in chosen and taken[c[0]] < cap)
            self._download(sess, chosen, stats, deadline)
            have = len(sess.current())
            stats.complete = (want is not None and have >= want) or left == 0
        finally:
            budget = deadline - time.monotonic()
            if budget > 0.05:  # never past the caller's deadline (a stuck process answers nothing)
                self._merge_refusals(min(1.0, budget))
            wire1 = self._traffic(deadline) if wire0 is not None else None
            if wire0 is not None and wire1:
                stats.bytes = wire1.get("find_reply_bytes", 0) - wire0.get("find_reply_bytes", 0)
                stats.replies = wire1.get("find_replies", 0) - wire0.get("find_replies", 0)
            else:
                stats.bytes = stats.value_bytes
            stats.seconds = time.monotonic() - t0
        out: dict[str, list[Rollout]] = {}
        for (peer, _rnd, _chunks), r in sess.current():
            out.setdefault(peer, []).append(copy_rollout(r))
        stats.sources = len(out)
        stats.rollouts = sum(map(len, out.values()))
        return out

    def _read_manifests(self, sess: "FetchSession", rnd: int, stats: FetchStats,
                        deadline: float) -> dict[str, records.Manifest]:
        """Verified manifests of round `rnd` in this session's bucket (self excluded); learns the swarm size."""
        level = self._shards.read_level()
        got, count = self._read_bucket(sess, rnd, level, stats, deadline)
        if not got and level > 0:  # an estimate one step off, or a thin bucket: the parent holds more
            level -= 1
            got, count = self._read_bucket(sess, rnd, level, stats, deadline)
        if not got and self._shards.read_level() == 0 and rnd == sess.round and not sess.searched:
            sess.searched = True
            # Nobody else at level 0: a node new to a swarm settled at finer levels (its level-0 bucket
            # holds only its own manifest, if any). Counting itself there, it would estimate a swarm of
            # one and stay at level 0, seeing no one and seen by no one. Look at finer levels once a round.
            found, n, lv = self._search_levels(sess, rnd, stats, deadline)
            if found:
                got, count, level = found, n, lv
        # Peers the node refuses (peer_filter: ignored by peer trust, or not registered where the gate is on)
        # do not count towards the swarm's size either: a flood of fresh keys cannot move the level.
        allow = self.peer_filter
        refused = sum(1 for p in got if not allow(p)) if allow is not None else 0
        if count - refused > 0 and not sess.estimated:  # once a session, from the older (complete) round
            self._shards.observe(count - refused, level)
            sess.estimated = True
        for peer in got:
            self._saw(peer)
        return got

    def _read_bucket(self, sess, rnd, level, stats, deadline):
        bucket = sess.bucket(level)
        found = self._get_counted(records.manifest_key(rnd, level, bucket), stats, deadline, beam=READ_BEAM)
        return self._parse_bucket(found, rnd, level, bucket, stats)

    def _search_levels(self, sess, rnd, stats, deadline):
        """A node new to a big swarm: level 0 is empty there; look at finer levels (every other one: a
        peer stores at its level and the two beside it) for the first bucket holding other peers."""
        for level in range(2, MAX_LEVEL + 1, 2):
            if time.monotonic() >= deadline:
                break
            got, count = self._read_bucket(sess, rnd, level, stats, deadline)
            if got:
                return got, count, level
        return {}, 0, 0

    def _find_level(self, round: int, timeout: float | None = None) -> None:
        """Before a node's first publish: find where the swarm's peers are (the previous round's manifests,
        level 0 then finer levels) so the node publishes where they read, from its first round on."""
        if self._shards.level is not None or round <= 0:
            return
        deadline = time.monotonic() + (self.op_timeout if timeout is None else timeout)
        sess = FetchSession(round - 1, random.Random(f"{self.peer_id}/probe/{round}/{secrets.randbits(32)}"))
        stats = FetchStats(round=round - 1)
        got, count = self._read_bucket(sess, round - 1, 0, stats, deadline)
        level = 0
        if not got:
            got, count, level = self._search_levels(sess, round - 1, stats, deadline)
        if got:
            self._shards.observe(count, level)

    def _get_counted(self, key: str, stats: FetchStats, deadline: float, latest: bool = True,
                     beam: int | None = None):
        stats.requests += 1
        try:
            found = self._wait(self._get(key, latest=latest, beam=beam), deadline - time.monotonic())
        except SwarmError:
            return None
        stats.value_bytes += value_bytes(found)
        return found

    def _parse_bucket(self, found, rnd: int, level: int, bucket: int,
                      stats: FetchStats) -> tuple[dict[str, records.Manifest], int]:
        kid = records.key_id(records.manifest_key(rnd, level, bucket))
        out: dict[str, records.Manifest] = {}
        count = 0
        for subkey, raw, exp in subkey_entries(found):
            try:
                if not records.is_ours(subkey):
                    raise records.RecordError("foreign", f"subkey {str(subkey)[:40]!r} is not a swarmdeck record")
                ck = (kid, subkey, hashlib.sha256(raw if isinstance(raw, bytes) else b"").digest(), exp)
                m = self._verified.get(ck)
                if m is None:
                    rec = records.open_signed(kid, subkey, raw, exp)
                    m = records.parse_manifest(rec, rnd, self.limits.max_wire_bytes, self.limits.max_completions)
                    self._verified[ck] = m
                    while len(self._verified) > CACHE_ENTRIES:
                        self._verified.pop(next(iter(self._verified)))
            except records.RecordError as e:
                self._reject(e, subkey)
                stats.rejected += 1
                continue
            count += 1
            if m.peer_id != self.peer_id:
                out[m.peer_id] = m
        return out, count

    def _reject(self, e: records.RecordError, subkey: Any) -> None:
        self.rejected.add(e.reason)
        if e.reason == "version" and str(e) not in self._logged_versions:
            self._logged_versions.add(str(e))
            log.warning("ignoring DHT records from %s: %s (a peer on another swarmdeck release; update both to "
                        "exchange rollouts)", str(subkey)[:60], e)

    def _download(self, sess: "FetchSession", chosen, stats: FetchStats, deadline: float) -> None:
        futs = []
        for peer, rnd, g in chosen:
            sess.tried.add((peer, rnd, g.chunks))
            hit = self._groups.get((peer, rnd, g.chunks))
            if hit is not None:
                sess.got[(peer, rnd, g.chunks)] = hit
                stats.cached += 1
                continue
            fl = [self._get(records.chunk_key(d), latest=False) for d in g.chunks]
            stats.requests += len(fl)
            futs.append((peer, rnd, g, fl))
        for peer, rnd, g, fl in futs:
            parts: list[bytes] = []
            bad = None
            for d, fut in zip(g.chunks, fl):
                try:
                    v = self._wait(fut, deadline - time.monotonic())
                except SwarmError:
                    bad = "missing"
                    break
                stats.value_bytes += value_bytes(v)
                entry = dict((k, x) for k, x, _ in subkey_entries(v)).get(records.CHUNK_SUBKEY)
                if entry is None:
                    bad = "missing"
                    break
                try:
                    parts.append(records.check_chunk(records.key_id(records.chunk_key(d)), records.CHUNK_SUBKEY,
                                                     entry))
                except records.RecordError as e:
                    self._reject(e, records.CHUNK_SUBKEY)
                    bad = e.reason
                    break
            if bad == "missing":
                for f in fl:
                    f.cancel()
                stats.missing += 1
                sess.got[(peer, rnd, g.chunks)] = None
                continue
            if bad is not None:
                stats.rejected += 1
                sess.got[(peer, rnd, g.chunks)] = None
                continue
            blob = b"".join(parts)
            r = self._check_group(blob, peer, rnd, g)
            if r is None:
                stats.rejected += 1
                sess.got[(peer, rnd, g.chunks)] = None
                continue
            self._groups[(peer, rnd, g.chunks)] = r
            while len(self._groups) > CACHE_ENTRIES:
                self._groups.pop(next(iter(self._groups)))
            sess.got[(peer, rnd, g.chunks)] = r

    def _check_group(self, blob: bytes, peer: str, rnd: int, g: records.GroupInfo) -> Rollout | None:
        if len(blob) != g.size:
            self.rejected.add("checksum")
            return None
        try:
            rs = decode_rollouts(blob, self.limits, self.rejected)
        except WireError:
            return None
        if len(rs) != 1:
            self.rejected.add("schema")
            return None
        r = rs[0]
        if r.round != rnd or (r.peer_id and r.peer_id != peer):
            self.rejected.add("foreign")  # someone else's (or another round's) rollout under this manifest
            return None
        rw = r.rewards
        mean = sum(rw) / len(rw)
        std = math.sqrt(sum((x - mean) ** 2 for x in rw) / len(rw))
        if (len(r.completions) != g.completions or r.has_signal() != g.signal
                or abs(mean - g.mean) > 1e-4 * max(1.0, abs(mean)) or abs(std - g.std) > 1e-4 * max(1.0, std)):
            self.rejected.add("summary")  # a manifest that lies about its groups to be chosen
            return None
        r.peer_id = peer
        return r

    def _traffic(self, deadline: float) -> dict[str, int] | None:
        """The DHT process's find traffic so far (core.swarm.traffic), or None when it cannot say in time."""
        d = self._dht
        budget = min(1.0, deadline - time.monotonic())
        if d is None or budget <= 0.05:
            return None
        try:
            return self._call(lambda: d.run_coroutine(traffic.read, return_future=True), timeout=budget) or None
        except (SwarmError, OSError, EOFError):
            return None

    def _merge_refusals(self, timeout: float = 1.0) -> None:
        """Add the DHT process's validator refusals (stores and answers it refused) to `rejected`."""
        d = self._dht
        if d is None:
            return
        try:
            now = self._call(lambda: d.run_coroutine(validator_counts, return_future=True), timeout=timeout)
        except (SwarmError, OSError, EOFError):
            return
        for reason, n in (now or {}).items():
            delta = n - self._refusals_seen.get(reason, 0)
            if delta > 0 and not reason.startswith("version_"):  # version_<n> details "version"
                self.rejected.add(f"refused_{reason}", delta)
            if delta > 0 and reason.startswith("version_") and reason not in self._logged_versions:
                self._logged_versions.add(reason)
                log.warning("refused DHT records of record %s: this node speaks record version %d (a peer "
                            "runs another swarmdeck release; its records are ignored; update both to exchange "
                            "rollouts)", reason.replace("_", " "), records.VERSION)
        self._refusals_seen = dict(now or {})

    def peer_rewards(self) -> dict[str, float]:
        """Mean reward of each peer in the last fetch's manifests (all its groups, not only the ones chosen)."""
        out = {}
        for p, m in self.last_manifests.items():
            n = sum(g.completions for g in m.groups)
            out[p] = sum(g.mean * g.completions for g in m.groups) / n if n else 0.0
        return out


def copy_rollout(r: Rollout) -> Rollout:
    """A copy the caller may mutate without touching the cache (strings are shared, being immutable)."""
    return dataclasses.replace(r, completions=list(r.completions), rewards=list(r.rewards),
                               metadata=copy.deepcopy(r.metadata))


async def validator_counts(dht, node) -> dict[str, int]:
    from core.swarm.validator import counts

    return await counts(dht, node)
