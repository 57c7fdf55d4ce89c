"""Standing over days: each profile's on-chain totals, wins, votes and leaderboard rank, how they moved
over the last hour / day / week, how far its node is behind the chain's round, and its history per day.

What operators otherwise get from monitor bots (hourly deltas, "top performer"), computed from what
swarmdeck already has:
  - the chain, read in one JSON-RPC batch per network (web3's batch_requests): currentRound,
    getTotalRewards / getEoa for every profile's peer at once, winnerLeaderboard, and per peer
    getTotalWins and getVoterVoteCount. The public RPC rate-limits: an HTTP 429 (or a JSON-RPC
    rate-limit error) waits (Retry-After when the server sends one, else 1, 2, 4 ... s, capped) and
    tries again, a bounded number of times;
  - each profile's events.jsonl through core.events.reader, the compaction backup (events.jsonl.1)
    first, so the history survives restarts and compaction: round.finished (kept by compaction)
    gives rounds and rewards per day, chain.totals (the node's reading of the chain after each round)
    gives the totals an hour / a day / a week ago, hence the deltas.
No secrets are read or returned (peer ids and public totals only).
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable

from core.base import paths
from core.base.errors import ChainError, SwarmdeckError, block_of
from core.base.constants import is_demo_peer
from core.base.i18n import M
from core.chain import reward_from_chain
from core.chain.devnet import LocalChain
from core.chain.web3_backend import ChainReader, read_failure
from core.events.reader import BACKUP_SUFFIX, read_events
from core.events.types import ChainTotals, RoundFinished
from core.identity import files as identity
from core.identity import profiles as _profiles

WINDOWS = {"hour": 3600, "day": 86400, "week": 7 * 86400}
LEADERBOARD_SIZE = 100
HISTORY_DAYS = 14
BACKOFF_BASE = 1.0
BACKOFF_CAP = 30.0
ATTEMPTS = 6
ZERO = "0x" + "00" * 20


# --------------------------------------------------------------------------- back-off on HTTP 429

def rate_limit_wait(e: BaseException) -> float | None:
    """Seconds the server asks to wait (Retry-After), 0.0 for a rate limit without one; None when `e`
    is not a rate limit."""
    import requests

    if isinstance(e, requests.exceptions.HTTPError):
        resp = getattr(e, "response", None)
        if getattr(resp, "status_code", None) != 429:
            return None
        try:
            return max(0.0, float(resp.headers.get("Retry-After", "")))
        except (TypeError, ValueError):
            return 0.0
    failure = read_failure(e)
    if failure and "rate limit" in failure[0]:
        return 0.0
    return None


@dataclass
class Backoff:
    """Calls fn again after a rate limit: Retry-After if given, else base * 2**i; at most cap seconds."""

    attempts: int = ATTEMPTS
    base: float = BACKOFF_BASE
    cap: float = BACKOFF_CAP
    sleep: Callable[[float], None] = time.sleep
    waits: list[float] = field(default_factory=list)  # what it waited, for reports and tests

    def call(self, fn: Callable[[], Any], what: str, where: str) -> Any:
        for i in range(self.attempts):
            try:
                return fn()
            except Exception as e:
                asked = rate_limit_wait(e)
                if asked is None:
                    raise
                if i == self.attempts - 1:
                    raise ChainError(f"the RPC kept rate limiting {what} ({self.attempts} attempts, "
                                     f"{sum(self.waits):.0f} s of back-off)", where=where,
                                     fix="try again in a minute, or set rpc_url under [networks.NAME] in "
                                         "config.toml to a less busy RPC") from None
                delay = min(self.cap, asked if asked > 0 else self.base * 2 ** i)
                self.waits.append(delay)
                self.sleep(delay)
        raise AssertionError("unreachable")


# --------------------------------------------------------------------------- what is reported

@dataclass
class Delta:
    reward: float | None = None   # change of the on-chain total reward over the window
    wins: int | None = None
    since: float | None = None    # ts of the reading it compares with


@dataclass
class DayRow:
    day: str                      # YYYY-MM-DD (UTC)
    rounds: int = 0
    reward: float = 0.0           # sum of the node's mean round rewards that day (local)
    chain_total: float | None = None  # on-chain total at the day's last reading
    wins: int | None = None


@dataclass
class ProfileStanding:
    name: str
    network: str
    peer_id: str | None = None
    display_name: str | None = None
    registered: bool | None = None
    total_reward: float | None = None
    wins: int | None = None
    votes: int | None = None
    rank: int | None = None           # 1-based on the winner leaderboard; None when not in its top
    leaderboard_size: int | None = None
    chain_round: int | None = None
    last_round: int | None = None     # the node's newest finished round (events)
    behind: int | None = None         # chain_round - last_round
    deltas: dict[str, Delta] = field(default_factory=dict)
    history: list[DayRow] = field(default_factory=list)
    history_since: float | None = None  # the oldest event the history has
    error: str | None = None          # the chain could not be read (history is still there)

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass
class Standing:
    profiles: list[ProfileStanding]
    best: str | None                  # the best of the user's own nodes (chain total, then wins)
    read_at: float
    backoff_waits: list[float] = field(default_factory=list)

    def to_dict(self) -> dict:
        return {"profiles": [p.to_dict() for p in self.profiles], "best": self.best, "read_at": self.read_at,
                "backoff_waits": self.backoff_waits}


# --------------------------------------------------------------------------- events history

def _events(path: Path, types: Iterable[str]) -> list:
    """The backup of the last compaction first, then the file; each seq once (the backup holds what the
    compaction dropped; both hold what it kept)."""
    types = tuple(types)
    seen: set[int] = set()
    out = []
    for f in (path.with_name(path.name + BACKUP_SUFFIX), path):
        for ev in read_events(f, types):
            if ev.seq and ev.seq in seen:
                continue
            seen.add(ev.seq)
            out.append(ev)
    out.sort(key=lambda e: (e.ts, e.seq))
    return out


def _day(ts: float) -> str:
    return time.strftime("%Y-%m-%d", time.gmtime(ts))


def history_of(name: str, now: float, days: int = HISTORY_DAYS) -> tuple[list[DayRow], list[ChainTotals], int | None, float | None]:
    """(rows per day for the last `days` days, chain.totals readings, newest finished round, oldest ts)."""
    evs = _events(paths.ProfilePaths(name).events_file, ("round.finished", "chain.totals"))
    rows: dict[str, DayRow] = {}
    for i in range(days - 1, -1, -1):
        d = _day(now - i * 86400)
        rows[d] = DayRow(d)
    totals: list[ChainTotals] = []
    last_round = None
    for ev in evs:
        row = rows.get(_day(ev.ts))
        if isinstance(ev, RoundFinished):
            last_round = ev.round if last_round is None else max(last_round, ev.round)
            if row is not None:
                row.rounds += 1
                row.reward += float(ev.reward)
        elif isinstance(ev, ChainTotals):
            totals.append(ev)
            if row is not None:
                row.chain_total, row.wins = float(ev.total_reward), ev.total_wins
    oldest = evs[0].ts if evs else None
    return list(rows.values()), totals, last_round, oldest


def deltas_from(totals: list[ChainTotals], reward_now: float | None, wins_now: int | None, now: float) -> dict[str, Delta]:
    """Change over each window: now minus the newest reading at or before now - window. A window the
    history does not reach back to has no delta (None), never a made-up one."""
    out: dict[str, Delta] = {}
    for label, secs in WINDOWS.items():
        then = None
        for ev in totals:  # oldest first
            if ev.ts <= now - secs:
                then = ev
            else:
                break
        d = Delta()
        if then is not None:
            d.since = then.ts
            if reward_now is not None:
                d.reward = round(reward_now - float(then.total_reward), 6)
            if wins_now is not None and then.total_wins is not None:
                d.wins = int(wins_now) - int(then.total_wins)
        out[label] = d
    return out


# --------------------------------------------------------------------------- chain reads, batched

@dataclass
class ChainFacts:
    round: int
    totals: dict[str, float]
    eoas: dict[str, str]
    wins: dict[str, int]
    votes: dict[str, int | None]
    leaderboard: list[tuple[str, int]] | None  # None: the coordinator has no leaderboard view


def _endpoint(network) -> tuple[str, str]:
    """(rpc_url, coordinator) of a profile's network; a local network's come from its running chain."""
    if network.kind == "local" and (not network.rpc_url or not network.coordinator):
        chain = LocalChain.attach(network.name)
        return chain.rpc_url, chain.coordinator
    if not network.rpc_url or not network.coordinator:
        raise ChainError(f"network {network.name!r} has no rpc_url or coordinator", where=f"[networks.{network.name}]",
                         fix="set both in config.toml (`swarmdeck config path`)")
    return network.rpc_url, network.coordinator


def read_chain(rpc_url: str, coordinator: str, peer_ids: list[str], *, backoff: Backoff | None = None,
               network: str | None = None, timeout: float = 10.0) -> ChainFacts:
    """Everything standing needs from one coordinator in two JSON-RPC batches (each retried on rate limits):
    the node-facing views every coordinator has (round, totals, owners, wins), then the leaderboard and
    vote counts, views an older coordinator may lack: when that batch fails they are asked one by one
    and a missing one is None, never a failure of the whole reading."""
    backoff = backoff or Backoff()
    reader = ChainReader(rpc_url, coordinator, timeout=timeout, attempts=1, network=network)
    fns = reader.contract.functions
    ids = list(peer_ids)

    def run(calls: list) -> list:
        with reader.w3.batch_requests() as b:
            for c in calls:
                b.add(c)
            return list(b.execute())

    def core_calls() -> list:
        return [fns.currentRound(), fns.getTotalRewards(ids), fns.getEoa(ids), *(fns.getTotalWins(p) for p in ids)]

    try:
        res = backoff.call(lambda: run(core_calls()), "the standing batch", rpc_url)
        rnd, totals, eoas, wins = res[0], res[1], res[2], res[3:3 + len(ids)]
    except ChainError:
        raise
    except Exception as e:
        failure = read_failure(e, timeout)
        raise ChainError(f"cannot read the chain at {rpc_url}: {failure[0] if failure else e}", where=rpc_url,
                         fix="check that the chain is up (`swarmdeck doctor`); a local network: `swarmdeck network up`") from None

    def optional_calls() -> list:
        return [fns.winnerLeaderboard(0, LEADERBOARD_SIZE), *(fns.getVoterVoteCount(p) for p in ids)]

    try:
        extra: list = backoff.call(lambda: run(optional_calls()), "the leaderboard and votes", rpc_url)
    except ChainError:
        raise
    except Exception:
        extra = []
        for c in optional_calls():
            try:
                extra.append(backoff.call(lambda c=c: run([c])[0], "one view", rpc_url))
            except ChainError:
                raise
            except Exception:
                extra.append(None)
    board = extra[0] if extra else None
    votes = {p: (None if v is None else int(v)) for p, v in zip(ids, extra[1:])}
    leaderboard = None
    if isinstance(board, (list, tuple)) and len(board) == 2:
        leaderboard = list(zip(board[0], (int(w) for w in board[1])))
    return ChainFacts(round=int(rnd), totals={p: reward_from_chain(int(v)) for p, v in zip(ids, totals)},
                      eoas={p: str(a) for p, a in zip(ids, eoas)}, wins={p: int(w) for p, w in zip(ids, wins)},
                      votes=votes, leaderboard=leaderboard)


# --------------------------------------------------------------------------- the use case

def standing(names: list[str] | None = None, *, now: float | None = None, backoff: Backoff | None = None,
             timeout: float = 10.0) -> Standing:
    """Standing of the given profiles (default: all), chain reads batched per network."""
    now = time.time() if now is None else now
    backoff = backoff or Backoff()
    names = [p.name for p in _profiles.list_profiles()] if names is None else list(names)
    out: list[ProfileStanding] = []
    groups: dict[tuple[str, str], list[ProfileStanding]] = {}
    totals_of: dict[str, list[ChainTotals]] = {}
    for name in names:
        ps = ProfileStanding(name=name, network="?")
        out.append(ps)
        try:
            prof = _profiles.load_profile(name)
        except SwarmdeckError as e:
            ps.error = block_of(e)
            continue
        ps.network = prof.network.name
        ps.history, totals_of[name], ps.last_round, ps.history_since = history_of(name, now)
        pem = paths.ProfilePaths(name).swarm_pem
        try:
            ps.peer_id = identity.peer_id_from_pem(pem)
            ps.display_name = identity.display_name(ps.peer_id)
        except (SwarmdeckError, OSError) as e:
            ps.error = M("standing.no_identity_lookup", error=block_of(e))
            continue
        try:
            key = _endpoint(prof.network)
        except SwarmdeckError as e:
            ps.error = block_of(e)
            continue
        groups.setdefault(key, []).append(ps)
    for (rpc, coord), members in groups.items():
        try:
            facts = read_chain(rpc, coord, [m.peer_id for m in members], backoff=backoff,
                               network=members[0].network, timeout=timeout)
        except SwarmdeckError as e:
            for m in members:
                m.error = block_of(e)
            continue
        board = facts.leaderboard
        ranks = {pid: i + 1 for i, (pid, _) in enumerate(board or [])}
        for m in members:
            pid = m.peer_id
            m.registered = int(facts.eoas.get(pid, ZERO), 16) != 0
            m.total_reward, m.wins, m.votes = facts.totals.get(pid), facts.wins.get(pid), facts.votes.get(pid)
            m.rank, m.leaderboard_size = ranks.get(pid), None if board is None else len(board)
            m.chain_round = facts.round
            if m.last_round is not None:
                m.behind = max(0, facts.round - m.last_round)
    for ps in out:
        ps.deltas = deltas_from(totals_of.get(ps.name, []), ps.total_reward, ps.wins, now)
    return Standing(out, best_own_node(out), now, list(backoff.waits))


def best_own_node(profiles: Iterable[ProfileStanding]) -> str | None:
    """The best of the user's own registered nodes (chain total, then wins). The local network's demo
    peers are swarmdeck's, not the user's: never the best (issue 20)."""
    ranked = [p for p in profiles if p.total_reward is not None and p.registered and not is_demo_peer(p.name)]
    return max(ranked, key=lambda p: (p.total_reward or 0.0, p.wins or 0)).name if ranked else None
