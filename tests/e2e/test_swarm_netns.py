"""A swarm across three machines: `swarm host` in one network namespace, `swarm join` in two others.

Real parts throughout: the `swarmdeck` CLI as a user types it, with the host's DEFAULT options (no
--model: the bootnode runs no model at all), the detached host (keeper, host process: anvil on the
host's loopback + coordinator + round advancer + RPC guard + faucet + the DHT-only bootnode),
supervisors, member nodes with the tiny model (members only), hivemind DHTs + p2pd listening on the
namespaces' TEST-NET-1 addresses. Nothing is mocked. Needs root for `ip netns`; skipped otherwise.

Checks, in order:
  * `swarm host` says each readiness step and prints the invite; no secret in its output
  * a tampered invite and a garbage one are refused with a clear error; nothing is written
  * both members join (key made, faucet gas), start, and reach each other directly (a TCP
    connection between the two members' addresses, not only through the host)
  * from a member's namespace, anvil_setBalance / anvil_impersonateAccount / evm_increaseTime /
    eth_sendTransaction against the host's endpoint are refused, and nothing changed
  * both members finish >= 2 rounds hearing each other, with their rewards on chain
  * the host's bootnode part killed (kill -9): back by itself within 30 s with the same peer id;
    the members go on finishing rounds, and a DHT ping from a member's machine answers again
"""

from __future__ import annotations

import base64
import json
import os
import signal
import time
from functools import partial
from pathlib import Path

import pytest

from tests.helpers.netns import Machines, cannot_make_namespaces
from tests.helpers.procs import ok
from tests.helpers.wait import wait_until

pytestmark = [pytest.mark.slow, pytest.mark.timeout(900)]

ROUND_S = 12
SWARM = "tsw"
ROUNDS = 2


def _events(home: Path, profile: str) -> list[dict]:
    f = home / "sd" / "data" / "profiles" / profile / "events.jsonl"
    if not f.exists():
        found = list(home.glob(f"**/profiles/{profile}/events.jsonl"))
        if not found:
            return []
        f = found[0]
    out = []
    for line in f.read_text(errors="replace").splitlines():
        try:
            out.append(json.loads(line))
        except ValueError:
            pass
    return out


def _of(evs: list[dict], type_: str, after: float = 0.0) -> list[dict]:
    return [e for e in evs if e.get("type") == type_ and e.get("ts", 0) > after]


# each poll runs a command (often over SSH or in a namespace): poll every 2.0 s, not every 50 ms
_wait = partial(wait_until, interval=2.0, ignore=())


CHAIN_PROBE = r'''
import json, sys, urllib.request
url, coord, peers, probe_addr = sys.argv[1], sys.argv[2], json.loads(sys.argv[3]), sys.argv[4]
def rpc(method, params):
    body = json.dumps({"jsonrpc": "2.0", "id": 1, "method": method, "params": params}).encode()
    req = urllib.request.Request(url, data=body, headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=10) as r:
        return json.loads(r.read())
from web3 import Web3
from core.chain.compile import load_artifact
w3 = Web3(Web3.HTTPProvider(url))
c = w3.eth.contract(address=Web3.to_checksum_address(coord), abi=load_artifact()["abi"])
fns = {f.get("name") for f in c.abi}
who = json.loads(sys.argv[6])  # the host's role addresses (its deployment.json: public)
def roles():
    if "hasRole" in fns:  # AccessControl roles, as the public SwarmCoordinator has them
        names = [n for n in ("OWNER_ROLE", "STAGE_MANAGER_ROLE", "BOOTNODE_MANAGER_ROLE") if n in fns]
        return {n: {a: c.functions.hasRole(getattr(c.functions, n)().call(), Web3.to_checksum_address(a)).call()
                    for a in list(who.values()) + [probe_addr]} for n in names}
    return [getattr(c.functions, n)().call() for n in ("owner", "stageManager", "bootnodeManager") if n in fns]
def state():
    latest = w3.eth.get_block("latest")
    return {"balance": w3.eth.get_balance(Web3.to_checksum_address(probe_addr)), "roles": roles(),
            "bootnodes": c.functions.getBootnodes().call(), "round": c.functions.currentRound().call(),
            "ts": latest["timestamp"], "dev": w3.eth.get_balance("0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266")}
out = {}
if sys.argv[5] == "attack":
    before = state()
    owner = who["owner"]
    tries = {
        "anvil_setBalance": [probe_addr, hex(10**24)],
        "anvil_impersonateAccount": [owner],
        "evm_increaseTime": [10**6],
        "eth_sendTransaction": [{"from": owner, "to": coord, "data": "0x"}],
    }
    out["answers"] = {m: rpc(m, p) for m, p in tries.items()}
    rpc("evm_mine", [])
    out["before"], out["after"] = before, state()
logs = c.events.RewardSubmitted().get_logs(from_block=0)
out["rewards"] = {p: sum(1 for e in logs if e.args.peerId == p) for p in peers}
print(json.dumps(out))
'''


@pytest.fixture
def machines(tmp_path):
    why = cannot_make_namespaces()
    if why:
        pytest.skip(f"cannot make network namespaces here: {why}")
    with Machines(f"host{os.getpid() % 1000}n") as m:
        yield m


def _hears(home: Path, profile: str, others: list[str], after: float = 0.0) -> bool:
    """The node's latest peers.update lists every one of `others` as heard from after `after`."""
    ups = _of(_events(home, profile), "peers.update", after=after)
    if not ups:
        return False
    seen = {p["peer_id"]: p["last_seen"] for p in ups[-1].get("peers", [])}
    return all(seen.get(o, 0) > after for o in others)


def _kill_bootnode(m: Machines, i: int) -> int:
    """SIGKILL the host's bootnode part (its process group: the DHT process and p2pd) inside machine i."""
    import psutil

    killed = 0
    for pid in m.pids(i):
        try:
            cmd = psutil.Process(pid).cmdline()
        except psutil.Error:
            continue
        if cmd[1:4] == ["-m", "core.hosting", "bootnode"]:
            try:
                os.killpg(os.getpgid(pid), signal.SIGKILL)
                killed += 1
            except (ProcessLookupError, PermissionError):
                pass
    return killed


PING = r'''
import sys
from core.hosting.bootnode import ping
ok, why = ping(sys.argv[1], timeout=60)
print("PING", ok, why)
'''


def test_host_invite_join_across_namespaces(machines, tmp_path):
    m = machines
    homes = {i: tmp_path / f"machine{i}" for i in (1, 2, 3)}
    for h in homes.values():
        h.mkdir()

    # --- machine 1 hosts, with the default options (no model anywhere on the host)
    out = ok(m.run(1, ["swarm", "host", "--name", SWARM, "--public-addr", m.addr(1), "--round-seconds",
                        str(ROUND_S), "--no-qr"], homes[1], timeout=400), "swarm host")
    invite = next(line.strip() for line in out.splitlines() if line.startswith("swarmdeck-invite1."))
    for step in ("answers at", "coordinator deployed", f"accepts TCP on {m.addr(1)}:38331", "DHT ping",
                 "published on the coordinator", "faucet answers"):
        assert step in out.split("swarmdeck-invite1.")[0], (step, out)
    for secret in ("private", "keys.json", "BEGIN"):
        assert secret not in out
    assert not list(homes[1].glob("**/profiles/*/identity"))  # the bootnode is no profile: no model to load
    again = ok(m.run(1, ["swarm", "invite", "--no-qr"], homes[1]), "swarm invite")
    assert invite in again  # the host hands out the same invite
    boot_peer = json.loads(next(homes[1].glob(f"**/networks/{SWARM}/host.json")).read_text())["bootnode_peer_id"]
    boot_maddr = f"/ip4/{m.addr(1)}/tcp/38331/p2p/{boot_peer}"

    # --- bad invites: clear errors, nothing written
    body, sig = invite[len("swarmdeck-invite1."):].split(".")
    payload = json.loads(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)))
    payload["bootnodes"] = [payload["bootnodes"][0].replace("/tcp/38331/", "/tcp/38332/")]
    forged_body = base64.urlsafe_b64encode(json.dumps(payload, sort_keys=True, separators=(",", ":")).encode())
    forged = f"swarmdeck-invite1.{forged_body.decode().rstrip('=')}.{sig}"
    for bad, says in ((forged, "not signed by this swarm's host"), ("swarmdeck-invite1.abc", "cut or has extra")):
        r = m.run(2, ["swarm", "join", bad, "-p", "m2"], homes[2])
        assert r.returncode != 0 and says in r.stderr, r.stderr
        assert "Traceback" not in r.stderr
    cfg2 = homes[2] / "sd" / "config" / "config.toml"
    assert not cfg2.exists() or "tsw" not in cfg2.read_text()
    assert not list(homes[2].glob("**/profiles/m2"))

    # --- machines 2 and 3 join and start
    for i in (2, 3):
        out = ok(m.run(i, ["swarm", "join", invite, "-p", f"m{i}", "--model", "tiny"], homes[i]), f"join on {i}")
        assert "funded by the host's faucet" in out
        key = next(homes[i].glob(f"**/profiles/m{i}/secrets/eoa.key"))
        assert key.stat().st_mode & 0o777 == 0o600
        ok(m.run(i, ["start", "-p", f"m{i}"], homes[i]), f"start on {i}")

    nodes = {2: "m2", 3: "m3"}

    def peer_ids():
        got = {i: [e["peer_id"] for e in _of(_events(homes[i], p), "node.identity")] for i, p in nodes.items()}
        return got if all(got.values()) else None

    pids = {i: v[0] for i, v in _wait(peer_ids, 300, "every node's identity").items()}
    rt = json.loads(next(homes[1].glob(f"**/networks/{SWARM}/host-runtime.json")).read_text())
    dep = json.loads(next(homes[1].glob(f"**/networks/{SWARM}/deployment.json")).read_text())
    who = {k: dep[k] for k in ("owner", "stage_manager", "bootnode_manager")}
    rpc_url = f"http://{m.addr(1)}:8545"

    # --- a member tries the host's chain endpoint: refused, nothing changed
    from eth_account import Account

    member = Account.create().address  # a bystander: the member's own balance moves with its node's gas
    res = ok(_probe(m, 2, rpc_url, rt["coordinator"], list(pids.values()), member, "attack", homes[2], who),
              "attack")
    res = json.loads(res.strip().splitlines()[-1])
    for method, ans in res["answers"].items():
        assert ans.get("error", {}).get("code") == -32601, (method, ans)
        assert "refused" in ans["error"]["message"]
    b, a = res["before"], res["after"]
    assert a["balance"] == b["balance"] and a["roles"] == b["roles"] and a["bootnodes"] == b["bootnodes"]
    assert a["ts"] - b["ts"] < 10**5, "evm_increaseTime went through"
    assert a["dev"] == 0, "anvil's well-known dev account still holds ether"

    # --- both members finish >= ROUNDS rounds, rewards on chain
    def rounds_done():
        return all(len(_of(_events(homes[i], p), "round.finished")) >= ROUNDS for i, p in nodes.items())

    _wait(rounds_done, 420, f"{ROUNDS} finished rounds on every member", interval=3)

    def on_chain():
        r = _probe(m, 3, rpc_url, rt["coordinator"], list(pids.values()), member, "read", homes[3], who)
        counts = json.loads(r.stdout.strip().splitlines()[-1])["rewards"] if r.returncode == 0 else {}
        return counts if counts and all(n >= ROUNDS for n in counts.values()) else None

    _wait(on_chain, 120, f"{ROUNDS} rewards per member on chain", interval=3)
    # each member heard from the other (heartbeats over the DHT): rounds with peers
    for i, p in nodes.items():
        _wait(lambda i=i, p=p: _hears(homes[i], p, [pids[j] for j in nodes if j != i]), 120,
              f"{p} hearing from the other member")

    # --- the members reach each other directly (not only through the host) and listen on their address
    def direct():
        a = m.sh(2, ["ss", "-Htn", "state", "established", "dst", m.addr(3)])
        b = m.sh(3, ["ss", "-Htn", "state", "established", "dst", m.addr(2)])
        return (a + b).strip()

    _wait(direct, 120, "a direct TCP connection between the two members")
    listening = m.sh(2, ["ss", "-Hltn"])
    assert "127.0.0.1:38331" not in listening and ("0.0.0.0:38331" in listening or f"{m.addr(2)}:38331" in listening)

    # --- the host's bootnode part dies (kill -9): the host brings it back, same peer id; members go on
    assert _kill_bootnode(m, 1) >= 1
    t_kill = time.time()
    status_file = next(homes[1].glob(f"**/networks/{SWARM}")) / "bootnode-status.json"

    def boot_back():
        st = json.loads(ok(m.run(1, ["swarm", "status", "--json"], homes[1]), "swarm status"))[0]
        part = st["parts"].get("bootnode") or {}
        return part.get("state") == "running" and part.get("restarts", 0) >= 1 and status_file.exists()

    _wait(boot_back, 30, "the bootnode part back after kill -9", interval=1)
    assert time.time() - t_kill < 35
    assert json.loads(status_file.read_text())["peer_id"] == boot_peer
    for i in (2, 3):
        _wait(lambda i=i: len(_of(_events(homes[i], nodes[i]), "round.finished", after=t_kill)) >= 1, 240,
              f"m{i} finishing rounds after the bootnode's kill", interval=3)
    ping = m.python(2, "import sys\nsys.argv = ['ping', %r]\n" % boot_maddr + PING, homes[2], timeout=120)
    assert "PING True" in ping.stdout, ping.stdout + ping.stderr

    # `swarmdeck status` on a member: its node runs (not a crash loop)
    st = json.loads(ok(m.run(2, ["status", "--json"], homes[2]), "status"))
    assert {p["name"]: p["node_state"] for p in st["profiles"]}["m2"] == "running"
    # doctor --network tries the bootnodes (reachable again)
    doc = json.loads(m.run(2, ["doctor", "--json", "--no-torch", "--network", SWARM], homes[2]).stdout)
    reach = [c for c in doc["checks"] if c["id"].endswith("bootnode_reach")]
    assert reach and reach[0]["status"] == "ok", reach


def _probe(m: Machines, i: int, url: str, coord: str, peers: list[str], addr: str, mode: str, home: Path,
           who: dict):
    """CHAIN_PROBE run inside machine i (a member's namespace) against the host's public RPC."""
    code = ("import sys\nsys.argv = ['probe', %r, %r, %r, %r, %r, %r]\n"
            % (url, coord, json.dumps(peers), addr, mode, json.dumps(who)) + CHAIN_PROBE)
    return m.python(i, code, home)
