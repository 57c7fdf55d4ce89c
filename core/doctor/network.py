"""`swarmdeck doctor --network NAME`: the network's RPC and coordinator, read-only.

Reachable (eth_chainId), the expected chain id, contract code at the coordinator address,
getBootnodes() and currentRound(). Every RPC call has a timeout and a bounded retry, and the
whole network check a deadline, so it never hangs on a dead or paused RPC.
"""

from __future__ import annotations

import time

from core.base import paths as _paths
from core.base.errors import ChainError, SwarmdeckError
from core.chain.devnet import LocalChain
from core.chain.web3_backend import READ_ATTEMPTS, ChainReader
from core.config import settings as _config
from core.doctor.checks import Check

NETWORK_TIMEOUT = 5.0     # seconds one RPC request may take
NETWORK_DEADLINE = 20.0   # seconds all network checks together may take (roughly)
KNOWN_TESTNET_COORDINATORS = {
    "0x2fC68a233EF9E9509f034DD551FF90A79a0B8F82": "seed guide default",
    "0x69C6e1D608ec64885E7b185d39b04B491a71768C": "era A, Math",
    "0x6947c6E196a48B77eFa9331EC1E3e45f3Ee5Fd58": "era A, Math Hard",
    "0xFaD7C5e93f28257429569B854151A1B8DCD404c2": "era B",
    "0x7745a8FE4b8D2D2c3BB103F8dCae822746F35Da0": "era C",
}


MAX_BOOTNODES_TRIED = 4


LOG_LOOKBACK_BLOCKS = 2000  # blocks searched for the coordinator's last StageAdvanced log


def chain_advancing(rpc_url: str, coordinator: str, round_seconds: float, timeout: float) -> tuple[bool | None, str]:
    """Whether the coordinator's rounds still move: the age of its last StageAdvanced log (recent blocks only).
    (True/False, words) or (None, why) when it cannot tell."""
    from web3 import Web3

    from core.chain.devnet import rpc_call

    try:
        topic = "0x" + Web3.keccak(text="StageAdvanced(uint256,uint256)").hex().removeprefix("0x")
        head = int(rpc_call(rpc_url, "eth_blockNumber", timeout=timeout), 16)
        logs = rpc_call(rpc_url, "eth_getLogs", [{"address": coordinator, "topics": [topic],
                                                  "fromBlock": hex(max(0, head - LOG_LOOKBACK_BLOCKS)),
                                                  "toBlock": "latest"}], timeout=timeout)
        if not logs:
            return False, f"no stage change in the last {LOG_LOOKBACK_BLOCKS} blocks"
        blk = rpc_call(rpc_url, "eth_getBlockByNumber", [logs[-1]["blockNumber"], False], timeout=timeout)
        age = time.time() - int(blk["timestamp"], 16)
    except Exception as e:  # noqa: BLE001 - doctor reports, never raises
        return None, f"could not tell ({type(e).__name__})"
    limit = 3 * float(round_seconds) + 30
    if age <= limit:
        return True, f"the chain still advances (last stage change {age:.0f} s ago)"
    return False, f"the chain has not advanced for {age:.0f} s (rounds are {round_seconds:g} s)"


def _bootnode_reach(name: str, targets: list[str], where_cfg: str, timeout: float,
                    advancing=None) -> Check:
    """Try a TCP connection to the bootnodes (a listed bootnode nobody can reach is as good as none).
    `advancing()` -> (bool|None, words): asked only when none answers, to tell a dead bootnode part on a
    live host from a host that is down altogether."""
    from core.swarm.addrs import tcp_reachable

    tried = {m: tcp_reachable(m, timeout=timeout) for m in targets[:MAX_BOOTNODES_TRIED]}
    ok = [m for m, (good, _) in tried.items() if good]
    dead = [f"{m}: {reason}" for m, (good, reason) in tried.items() if not good]
    if ok:
        return _net_check("bootnode_reach", name, "bootnode reachable", "ok",
                          f"{len(ok)} of {len(tried)} tried answer, e.g. {ok[0]}"
                          + (f"; unreachable: {'; '.join(dead)}" if dead else ""))
    moving, words = advancing() if advancing is not None else (None, "")
    if moving:
        hint = (f"{words}: the host runs but its bootnode part is down; on the host run `swarmdeck swarm status` "
                "(the bootnode part's state and log), or a firewall blocks its DHT port")
    elif moving is False:
        hint = (f"{words}: the whole host may be down; on the host run `swarmdeck swarm status` "
                "(and `swarmdeck swarm host` to start it again)")
    else:
        hint = ("the bootnode may be down (on its host: `swarmdeck swarm status`) or a firewall blocks its "
                "DHT port")
    return _net_check("bootnode_reach", name, "bootnode reachable", "fail",
                      f"no bootnode answers ({'; '.join(dead)}): nodes cannot join the swarm"
                      + (f"; {words}" if words else ""),
                      f"{hint}; check the addresses (getBootnodes(), or bootnodes under {where_cfg})")


def _net_check(suffix: str, name: str, title: str, status: str, detail: str, fix: str | None = None) -> Check:
    return Check(f"net_{suffix}", f"{name} {title}", status, detail, fix)


def check_network(name: str, *, timeout: float = NETWORK_TIMEOUT, deadline: float = NETWORK_DEADLINE,
                  attempts: int | None = None, progress=None) -> list[Check]:
    """The network's RPC and coordinator, read-only: reachable, chain id, contract code, bootnodes, round.

    Checks after an unreachable RPC are left out (they would only repeat it). Bounded: each
    request waits at most `timeout` s (a few attempts), and once `deadline` s have passed the
    remaining checks are reported as skipped instead of run.
    """
    say = progress or (lambda msg: None)
    start = time.monotonic()
    table = f"[networks.{name}]"
    try:
        cfgfile = str(_paths.config_file())
    except Exception:  # pragma: no cover - paths never fail in practice
        cfgfile = "config.toml"
    where_cfg = f"{table} in {cfgfile}"
    try:
        net = _config.load_config(strict=False).network(name)
    except SwarmdeckError as e:
        return [_net_check("config", name, "network", "fail", e.what, e.fix)]

    rpc_url, coordinator, expected = net.rpc_url, net.coordinator, net.chain_id
    if net.kind == "local" and not (rpc_url and coordinator):
        try:
            chain = LocalChain.attach(name)
        except SwarmdeckError as e:
            return [_net_check("rpc", name, "RPC", "fail", f"the {name} chain is not running ({e.what})",
                               "start the local network: `swarmdeck network up` (or just `swarmdeck`)")]
        rpc_url, coordinator = rpc_url or chain.rpc_url, coordinator or chain.coordinator
        expected = chain.chain_id or expected
    if not rpc_url:
        return [_net_check("rpc", name, "RPC", "fail", f"network {name!r} has no rpc_url",
                           f"set rpc_url = \"https://...\" under {where_cfg}")]
    testnet = net.kind == "testnet"
    down_hint = ("The public testnet may be down or paused (RL Swarm is marked paused), or this machine cannot "
                 "reach it." if testnet else "The chain may be down, or this machine cannot reach it.")
    rpc_fix = (f"check this machine's connection to {rpc_url} (e.g. curl -sS -X POST {rpc_url}); or set "
               f"rpc_url under {where_cfg} to another {name} RPC")
    coord_fix = (f"set coordinator = \"0x...\" under {where_cfg} (`swarmdeck config path` shows the file)"
                 + ("; known gensyn-testnet addresses: "
                    + ", ".join(f"{a} ({w})" for a, w in KNOWN_TESTNET_COORDINATORS.items())
                    + " (listed in config.example.toml); the official login app must use the same address "
                      "(swarmdeck writes it into the app's .env)" if testnet else ""))

    try:
        reader = ChainReader(rpc_url, coordinator or "0x" + "00" * 20, timeout=timeout,
                             attempts=attempts or READ_ATTEMPTS, network=name)
    except ValueError as e:  # a malformed coordinator address (config validate reports it too)
        return [_net_check("coordinator", name, "coordinator", "fail", f"bad coordinator address: {e}", coord_fix)]

    def over() -> bool:
        return time.monotonic() - start > deadline

    def skipped(suffix: str, title: str) -> Check:
        return _net_check(suffix, name, title, "warn", f"skipped: the RPC at {rpc_url} is too slow "
                          f"(the checks took over {deadline:g} s)", rpc_fix)

    out: list[Check] = []
    say(f"asking the {name} RPC at {rpc_url} (timeout {timeout:g} s)")
    asked = time.monotonic()
    try:
        actual = reader.chain_id()
    except ChainError as e:
        reason = getattr(e, "reason", None) or e.what
        out.append(_net_check("rpc", name, "RPC", "fail",
                              f"cannot reach the {name} RPC at {rpc_url}: {reason}. {down_hint}", rpc_fix))
        return out
    took = time.monotonic() - asked
    out.append(_net_check("rpc", name, "RPC", "ok", f"{rpc_url} answers (eth_chainId in {took:.1f} s)"))

    if not expected:
        out.append(_net_check("chain_id", name, "chain id", "info", f"{actual} (no chain_id set in {table})",
                              f"set chain_id = {actual} under {where_cfg} so a wrong RPC is caught"))
    elif actual != expected:
        out.append(_net_check("chain_id", name, "chain id", "fail",
                              f"the RPC at {rpc_url} is chain {actual}, but {name} expects chain id {expected} "
                              f"(chain_id in {table})",
                              f"point rpc_url under {where_cfg} at a {name} RPC (chain id {expected}); if this "
                              f"RPC is the right one, set chain_id = {actual} there"))
    else:
        out.append(_net_check("chain_id", name, "chain id", "ok", str(actual)))

    if not coordinator:
        out.append(_net_check("coordinator", name, "coordinator", "fail", f"network {name!r} has no coordinator "
                              "address", coord_fix))
        return out
    if over():
        return out + [skipped("coordinator", "coordinator")]
    try:
        size = reader.code_size()
    except ChainError as e:
        out.append(_net_check("coordinator", name, "coordinator", "fail",
                              f"could not read the code at {reader.coordinator_address}: "
                              f"{getattr(e, 'reason', None) or e.what}", rpc_fix))
        return out
    if size == 0:
        known = KNOWN_TESTNET_COORDINATORS.get(reader.coordinator_address)
        out.append(_net_check("coordinator", name, "coordinator", "fail",
                              f"no contract at {reader.coordinator_address} on chain {actual}"
                              + (f" ({known})" if known else "")
                              + ": the address is wrong, or an old deployment that is gone", coord_fix))
        return out
    out.append(_net_check("coordinator", name, "coordinator", "ok",
                          f"{reader.coordinator_address} has contract code ({size} bytes)"))

    if over():
        return out + [skipped("bootnodes", "bootnodes")]
    say("reading getBootnodes() and currentRound()")
    not_coord = (f"the contract at {reader.coordinator_address} does not answer as a coordinator", coord_fix)
    try:
        boot = reader.get_bootnodes()
    except ChainError as e:
        out.append(_net_check("bootnodes", name, "bootnodes", "fail",
                              f"getBootnodes() failed: {getattr(e, 'reason', None) or e.what}", rpc_fix))
        return out
    except Exception as e:  # revert / ABI mismatch: not our coordinator
        out.append(_net_check("bootnodes", name, "bootnodes", "fail",
                              f"{not_coord[0]} (getBootnodes(): {type(e).__name__})", not_coord[1]))
        return out
    if boot:
        out.append(_net_check("bootnodes", name, "bootnodes", "ok",
                              f"{len(boot)} from getBootnodes(), e.g. {boot[0]}"))
    elif net.bootnodes:
        out.append(_net_check("bootnodes", name, "bootnodes", "info",
                              f"the contract lists none; {len(net.bootnodes)} set in {table}"))
    elif net.kind == "local":
        out.append(_net_check("bootnodes", name, "bootnodes", "info",
                              "the contract lists none yet: the first local node becomes the bootnode"))
    else:
        out.append(_net_check("bootnodes", name, "bootnodes", "warn",
                              "the contract lists no bootnodes (getBootnodes() is empty): a node has no peer to "
                              "join through",
                              f"set bootnodes = [\"/ip4/HOST/tcp/PORT/p2p/PEERID\"] under {where_cfg} (a running "
                              "peer's multiaddr), or wait until the network's operators add bootnodes"))
    targets = list(net.bootnodes) or boot
    if targets and not over():
        say(f"trying {min(len(targets), MAX_BOOTNODES_TRIED)} bootnode(s)")
        out.append(_bootnode_reach(name, targets, where_cfg, timeout=min(timeout, 3.0),
                                   advancing=lambda: chain_advancing(rpc_url, reader.coordinator_address,
                                                                     net.round_seconds, timeout)))

    if over():
        return out + [skipped("round", "round")]
    try:
        rnd, stage = reader.current_round(), reader.current_stage()
    except ChainError as e:
        out.append(_net_check("round", name, "round", "warn",
                              f"currentRound() failed: {getattr(e, 'reason', None) or e.what}", rpc_fix))
        return out
    except Exception as e:
        out.append(_net_check("round", name, "round", "fail",
                              f"{not_coord[0]} (currentRound(): {type(e).__name__})", not_coord[1]))
        return out
    out.append(_net_check("round", name, "round", "info", f"round {rnd}, stage {stage}"))
    return out
