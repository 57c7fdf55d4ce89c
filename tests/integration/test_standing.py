"""Standing over days against a real anvil chain with the coordinator, for two profiles; the 429 back-off
against a real local HTTP server in front of that chain; the history surviving compaction."""

from __future__ import annotations

import base64
import json
import os
import subprocess
import sys
import threading
import time
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from core.base.errors import ChainError
from core.base.paths import ProfilePaths
from core.chain.web3_backend import Web3Coordinator
from core.config.settings import load_config
from core.events.log import compact_events
from core.events.types import ChainTotals, LogEvent, RoundFinished
from core.identity import files as identity
from core.identity import profiles as prof
from core.usecases import standing as S

REPO = Path(__file__).resolve().parents[2]
NOW = time.time()
H, D = 3600.0, 86400.0


def _two_profiles() -> dict[str, str]:
    cfg = load_config()
    if "default" in cfg.profile_names():
        cfg.remove_profile("default")
        cfg.set_current_profile("")
        cfg.save()
    out = {}
    for n in ("alpha", "beta"):
        prof.create_profile(n)
        out[n] = identity.peer_id_from_pem(ProfilePaths(n).swarm_pem)
    return out


def _write(name: str, events: list) -> Path:
    path = ProfilePaths(name).events_file
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a", encoding="utf-8") as f:
        for i, (ts, ev) in enumerate(sorted(events, key=lambda x: x[0]), 1):
            f.write(ev.stamped(i, ts, name).to_json() + "\n")
    return path


def _history(name: str, readings: list[tuple[float, float, int]], rounds: list[tuple[float, int, float]]) -> Path:
    evs = [(ts, ChainTotals(total_reward=r, total_wins=w)) for ts, r, w in readings]
    evs += [(ts, RoundFinished(round=rn, stage=0, reward=rew, n_local=4, n_external=2)) for ts, rn, rew in rounds]
    return _write(name, evs)


def _on_chain(chain, peers: dict[str, str]):
    """alpha: reward 7 (x1000 scale) and 2 wins; beta: reward 3 and 1 win; an outsider with 3 wins ranks first."""
    nodes = {n: Web3Coordinator(chain.rpc_url, chain.coordinator, chain.new_funded_account().key.hex())
             for n in ("alpha", "beta", "o1", "o2", "o3")}
    ids = {**peers, "o1": "QmOutsider1", "o2": "QmOutsider2", "o3": "QmOutsider3"}
    for n, c in nodes.items():
        assert c.register_peer(ids[n]).ok
    rnd = chain.current_round()
    assert nodes["alpha"].submit_reward(rnd, 0, 7000, ids["alpha"]).ok
    assert nodes["beta"].submit_reward(rnd, 0, 3000, ids["beta"]).ok
    assert nodes["o1"].submit_winners(rnd, [ids["alpha"], ids["o3"]], ids["o1"]).ok
    assert nodes["o2"].submit_winners(rnd, [ids["alpha"], ids["beta"], ids["o3"]], ids["o2"]).ok
    assert nodes["alpha"].submit_winners(rnd, [ids["o3"]], ids["alpha"]).ok
    for _ in range(5):
        chain.advance()
    return chain.current_round()


def test_standing_of_two_profiles_on_a_real_chain(chain, tmp_path):
    peers = _two_profiles()
    chain_round = _on_chain(chain, peers)
    # alpha: readings 2 h, 2 days and 8 days ago; rounds over three days, the last one 3 rounds ago
    _history("alpha", [(NOW - 8 * D, 1.0, 0), (NOW - 2 * D, 5.0, 1), (NOW - 2 * H, 6.5, 2)],
             [(NOW - 8 * D + 60, 0, 0.5), (NOW - 2 * D + 60, 1, 1.0), (NOW - 2 * D + 120, 1, 0.5),
              (NOW - 2 * H + 60, chain_round - 3, 0.25)])
    # beta: one reading 30 min ago: no window reaches back that far
    _history("beta", [(NOW - 1800, 2.0, 1)], [(NOW - 1800, chain_round, 0.75)])

    st = S.standing(now=NOW)
    a, b = (next(p for p in st.profiles if p.name == n) for n in ("alpha", "beta"))
    assert a.error is None and b.error is None
    assert (a.peer_id, b.peer_id) == (peers["alpha"], peers["beta"])
    assert a.registered and b.registered
    assert (a.total_reward, a.wins, a.votes) == (7.0, 2, 1)
    assert (b.total_reward, b.wins, b.votes) == (3.0, 1, 0)
    # leaderboard: o3 (3 wins), alpha (2), beta (1)
    assert (a.rank, b.rank) == (2, 3) and a.leaderboard_size == 3
    assert a.chain_round == chain_round and (a.behind, b.behind) == (3, 0)
    assert (a.deltas["hour"].reward, a.deltas["hour"].wins) == (0.5, 0)   # the 2-hour-old reading: 6.5 -> 7
    assert (a.deltas["day"].reward, a.deltas["day"].wins) == (2.0, 1)     # 2 days ago: 5.0, 1 win
    assert (a.deltas["week"].reward, a.deltas["week"].wins) == (6.0, 2)   # 8 days ago: 1.0, 0 wins
    assert all(d.since is None and d.reward is None for d in b.deltas.values())
    assert st.best == "alpha"
    days = {r.day: r for r in a.history}
    two_days_ago = time.strftime("%Y-%m-%d", time.gmtime(NOW - 2 * D))
    assert days[two_days_ago].rounds == 2 and days[two_days_ago].reward == 1.5
    assert len(a.history) == S.HISTORY_DAYS  # 14 days, the 8-day-old round among them
    assert sum(r.rounds for r in a.history) == 4
    assert st.backoff_waits == []

    # the CLI says the same, as text and as JSON (no secrets: peer ids and public numbers only)
    env = dict(os.environ)
    out = subprocess.run([sys.executable, "-m", "tui", "standing", "--json"], cwd=REPO, env=env,
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    data = json.loads(out.stdout)
    by = {p["name"]: p for p in data["profiles"]}
    assert by["alpha"]["total_reward"] == 7.0 and by["alpha"]["rank"] == 2 and by["beta"]["wins"] == 1
    assert data["best"] == "alpha"
    # no secret: no PEM block, no private key of any profile (display names like "… monkey" may say "key")
    assert "PRIVATE" not in out.stdout and '"private' not in out.stdout.lower()
    for n in ("alpha", "beta"):
        raw = ProfilePaths(n).swarm_pem.read_bytes()
        assert raw.hex()[40:80] not in out.stdout and base64.b64encode(raw).decode()[40:80] not in out.stdout
    text = subprocess.run([sys.executable, "-m", "tui", "standing", "-p", "beta"], cwd=REPO, env=env,
                          capture_output=True, text=True, timeout=120)
    assert text.returncode == 0, text.stderr
    assert "beta" in text.stdout and "alpha" not in text.stdout
    assert "rank #3 of 3" in text.stdout and "hour n/a" in text.stdout


def test_history_and_deltas_survive_compaction(chain):
    peers = _two_profiles()
    _on_chain(chain, peers)
    readings = [(NOW - 9 * D + i * 600, 1.0 + i * 0.001, 0) for i in range(50)]
    readings += [(NOW - 3 * H, 6.0, 2)]
    rounds = [(NOW - (9 - d) * D + i, d * 100 + i, 0.1) for d in range(9) for i in range(20)]
    path = _history("alpha", readings, rounds)
    # plenty of chatter after them, then a compaction down to a fraction of the file
    _write_logs = [(NOW - 60 + i * 0.001, LogEvent(level="info", message="x" * 200)) for i in range(3000)]
    with open(path, "a", encoding="utf-8") as f:
        for i, (ts, ev) in enumerate(_write_logs, 10_000):
            f.write(ev.stamped(i, ts, "alpha").to_json() + "\n")
    before = S.standing(["alpha"], now=NOW).profiles[0]
    size = path.stat().st_size
    assert compact_events(path, size // 4) is not None
    assert path.stat().st_size < size // 2
    # even with the backup gone (a second compaction replaces it), the kept events carry the history
    Path(str(path) + ".1").unlink()
    after = S.standing(["alpha"], now=NOW).profiles[0]
    assert [(r.day, r.rounds, round(r.reward, 6)) for r in after.history] == \
        [(r.day, r.rounds, round(r.reward, 6)) for r in before.history]
    assert sum(r.rounds for r in after.history) == 180
    assert after.deltas["week"].reward == before.deltas["week"].reward == pytest.approx(7.0 - 1.049)
    assert after.deltas["hour"].reward == 1.0


class _RateLimiting(BaseHTTPRequestHandler):
    """A real HTTP front of the chain's RPC: answers 429 to the first `limit` POSTs, then forwards."""

    upstream = ""
    limit = 0
    retry_after: list = []
    posts: list = []

    def log_message(self, *a):
        pass

    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        cls = type(self)
        cls.posts.append(body)
        if len(cls.posts) <= cls.limit:
            self.send_response(429)
            ra = cls.retry_after[len(cls.posts) - 1] if len(cls.posts) - 1 < len(cls.retry_after) else None
            if ra is not None:
                self.send_header("Retry-After", str(ra))
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        req = urllib.request.Request(cls.upstream, data=body, headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(req, timeout=10) as r:
            data = r.read()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)


@pytest.fixture
def limiter(chain):
    handler = type("H", (_RateLimiting,), {"upstream": chain.rpc_url, "limit": 0, "retry_after": [], "posts": []})
    srv = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    th = threading.Thread(target=srv.serve_forever, daemon=True)
    th.start()
    try:
        yield handler, f"http://127.0.0.1:{srv.server_address[1]}"
    finally:
        srv.shutdown()
        srv.server_close()


def test_reads_are_batched_and_back_off_on_429(chain, limiter):
    handler, url = limiter
    peers = _two_profiles()
    _on_chain(chain, peers)
    ids = [peers["alpha"], peers["beta"]]
    # no rate limit: two HTTP requests for everything (core views, then leaderboard + votes), whatever the peer count
    facts = S.read_chain(url, chain.coordinator, ids, backoff=S.Backoff(base=0.05))
    assert len(handler.posts) == 2
    assert [len(json.loads(b)) for b in handler.posts] == [3 + len(ids), 1 + len(ids)]  # one list per batch
    assert facts.totals == {peers["alpha"]: 7.0, peers["beta"]: 3.0}
    # two 429s (the first asks for 1 s with Retry-After, the second says nothing), then success
    handler.posts.clear()
    handler.limit, handler.retry_after = 2, [1, None]
    slept: list[float] = []
    bo = S.Backoff(base=0.05, sleep=lambda s: (slept.append(s), time.sleep(s)))
    t0 = time.monotonic()
    facts2 = S.read_chain(url, chain.coordinator, ids, backoff=bo)
    assert facts2 == facts
    assert slept == bo.waits == [1.0, 0.1]       # Retry-After honoured, then base * 2**1
    assert time.monotonic() - t0 >= 1.1
    assert len(handler.posts) == 4                # 2 refused + the two batches


def test_a_chain_that_keeps_rate_limiting_gives_up_with_a_fix(chain, limiter):
    handler, url = limiter
    handler.limit = 10_000
    bo = S.Backoff(attempts=3, base=0.01)
    with pytest.raises(ChainError) as e:
        S.read_chain(url, chain.coordinator, ["QmNobody"], backoff=bo)
    assert "rate limiting" in str(e.value) and "rpc_url" in e.value.fix
    assert len(handler.posts) == 3 and bo.waits == [0.01, 0.02]
