"""`swarmdeck doctor --network NAME`: the network's RPC and coordinator, read-only.

Reachable (eth_chainId), the expected chain id, contract code at the coordinator address,
getBootnodes() and currentRound(). Every RPC call has a timeout and a bounded retry, and the
whole network check a deadline, so it never hangs on a dead or paused RPC.
"""

from __future__ import annotations

import time

from core.base import paths as _paths
from core.base.errors import ChainError, SwarmdeckError
from core.base.i18n import M
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
            return False, M("doctor.net.no_stage_change", blocks=LOG_LOOKBACK_BLOCKS)
        blk = rpc_call(rpc_url, "eth_getBlockByNumber", [logs[-1]["blockNumber"], False], timeout=timeout)
        age = time.time() - int(blk["timestamp"], 16)
    except Exception as e:  # noqa: BLE001 - doctor reports, never raises
        return None, M("doctor.net.cannot_tell", error=type(e).__name__)
    limit = 3 * float(round_seconds) + 30
    if age <= limit:
        return True, M("doctor.net.advances", age=f"{age:.0f}")
    return False, M("doctor.net.stuck", age=f"{age:.0f}", round=f"{round_seconds:g}")


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
        return _net_check("bootnode_reach", name, "bootnode_reach", "ok",
                          M("doctor.net.reach_some", ok=len(ok), n=len(tried), example=ok[0]) if not dead else
                          M("doctor.net.reach_some_dead", ok=len(ok), n=len(tried), example=ok[0], dead="; ".join(dead)))
    moving, words = advancing() if advancing is not None else (None, "")
    if moving:
        hint = M("doctor.net.hint_part_down", words=words)
    elif moving is False:
        hint = M("doctor.net.hint_host_down", words=words)
    else:
        hint = M("doctor.net.hint_unknown")
    return _net_check("bootnode_reach", name, "bootnode_reach", "fail",
                      M("doctor.net.no_answer_words", dead="; ".join(dead), words=words) if words
                      else M("doctor.net.no_answer", dead="; ".join(dead)),
                      M("doctor.net.no_answer_fix", hint=hint, where=where_cfg))


def _net_check(suffix: str, name: str, title: str, status: str, detail: str, fix: str | None = None) -> Check:
    """title: the key under doctor.net.t ("rpc", "chain_id", ...); the check's title is "<network> <title>"."""
    return Check(f"net_{suffix}", M("doctor.net.title", network=name, title=M("doctor.net.t." + title)), status,
                 detail, fix)


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
        return [_net_check("config", name, "network", "fail", e.part("what"), e.part("fix"))]

    rpc_url, coordinator, expected = net.rpc_url, net.coordinator, net.chain_id
    if net.kind == "local" and not (rpc_url and coordinator):
        try:
            chain = LocalChain.attach(name)
        except SwarmdeckError as e:
            return [_net_check("rpc", name, "rpc", "fail", M("doctor.net.local_down", network=name, error=e.part("what")),
                               M("doctor.net.local_down_fix"))]
        rpc_url, coordinator = rpc_url or chain.rpc_url, coordinator or chain.coordinator
        expected = chain.chain_id or expected
    if not rpc_url:
        return [_net_check("rpc", name, "rpc", "fail", M("doctor.net.no_rpc", network=repr(name)),
                           M("doctor.net.no_rpc_fix", where=where_cfg))]
    testnet = net.kind == "testnet"
    down_hint = M("doctor.net.down_testnet") if testnet else M("doctor.net.down_chain")
    rpc_fix = M("doctor.net.rpc_fix", rpc_url=rpc_url, where=where_cfg, network=name)
    coord_fix = (M("doctor.net.coord_fix_testnet", where=where_cfg,
                   known=", ".join(f"{a} ({w})" for a, w in KNOWN_TESTNET_COORDINATORS.items()))
                 if testnet else M("doctor.net.coord_fix", where=where_cfg))

    try:
        reader = ChainReader(rpc_url, coordinator or "0x" + "00" * 20, timeout=timeout,
                             attempts=attempts or READ_ATTEMPTS, network=name)
    except ValueError as e:  # a malformed coordinator address (config validate reports it too)
        return [_net_check("coordinator", name, "coordinator", "fail", M("doctor.net.bad_coord", error=str(e)), coord_fix)]

    def over() -> bool:
        return time.monotonic() - start > deadline

    def skipped(suffix: str, title: str) -> Check:
        return _net_check(suffix, name, title, "warn", M("doctor.net.skipped", rpc_url=rpc_url, deadline=f"{deadline:g}"),
                          rpc_fix)

    out: list[Check] = []
    say(M("doctor.net.asking", network=name, rpc_url=rpc_url, timeout=f"{timeout:g}"))
    asked = time.monotonic()
    try:
        actual = reader.chain_id()
    except ChainError as e:
        reason = getattr(e, "reason", None) or e.what
        out.append(_net_check("rpc", name, "rpc", "fail",
                              M("doctor.net.unreachable", network=name, rpc_url=rpc_url, reason=reason, hint=down_hint),
                              rpc_fix))
        return out
    took = time.monotonic() - asked
    out.append(_net_check("rpc", name, "rpc", "ok", M("doctor.net.answers", rpc_url=rpc_url, took=f"{took:.1f}")))

    if not expected:
        out.append(_net_check("chain_id", name, "chain_id", "info", M("doctor.net.no_chain_id", actual=actual, table=table),
                              M("doctor.net.no_chain_id_fix", actual=actual, where=where_cfg)))
    elif actual != expected:
        out.append(_net_check("chain_id", name, "chain_id", "fail",
                              M("doctor.net.wrong_chain", rpc_url=rpc_url, actual=actual, network=name,
                                expected=expected, table=table),
                              M("doctor.net.wrong_chain_fix", where=where_cfg, network=name, expected=expected,
                                actual=actual)))
    else:
        out.append(_net_check("chain_id", name, "chain_id", "ok", str(actual)))

    if not coordinator:
        out.append(_net_check("coordinator", name, "coordinator", "fail", M("doctor.net.no_coord", network=repr(name)),
                              coord_fix))
        return out
    if over():
        return out + [skipped("coordinator", "coordinator")]
    try:
        size = reader.code_size()
    except ChainError as e:
        out.append(_net_check("coordinator", name, "coordinator", "fail",
                              M("doctor.net.no_code_read", address=reader.coordinator_address,
                                error=getattr(e, "reason", None) or e.part("what")), rpc_fix))
        return out
    if size == 0:
        known = KNOWN_TESTNET_COORDINATORS.get(reader.coordinator_address)
        out.append(_net_check("coordinator", name, "coordinator", "fail",
                              M("doctor.net.no_contract_known", address=reader.coordinator_address, actual=actual,
                                known=known) if known else
                              M("doctor.net.no_contract", address=reader.coordinator_address, actual=actual), coord_fix))
        return out
    out.append(_net_check("coordinator", name, "coordinator", "ok",
                          M("doctor.net.has_code", address=reader.coordinator_address, size=size)))

    if over():
        return out + [skipped("bootnodes", "bootnodes")]
    say(M("doctor.net.reading"))
    not_coord = (reader.coordinator_address, coord_fix)
    try:
        boot = reader.get_bootnodes()
    except ChainError as e:
        out.append(_net_check("bootnodes", name, "bootnodes", "fail",
                              M("doctor.net.call_failed", call="getBootnodes()",
                                error=getattr(e, "reason", None) or e.part("what")), rpc_fix))
        return out
    except Exception as e:  # revert / ABI mismatch: not our coordinator
        out.append(_net_check("bootnodes", name, "bootnodes", "fail",
                              M("doctor.net.not_coord", address=not_coord[0], call="getBootnodes()",
                                error=type(e).__name__), not_coord[1]))
        return out
    if boot:
        out.append(_net_check("bootnodes", name, "bootnodes", "ok",
                              M("doctor.net.boot_listed", n=len(boot), example=boot[0])))
    elif net.bootnodes:
        out.append(_net_check("bootnodes", name, "bootnodes", "info",
                              M("doctor.net.boot_config", n=len(net.bootnodes), table=table)))
    elif net.kind == "local":
        out.append(_net_check("bootnodes", name, "bootnodes", "info",
                              M("doctor.net.boot_local")))
    else:
        out.append(_net_check("bootnodes", name, "bootnodes", "warn",
                              M("doctor.net.boot_none"), M("doctor.net.boot_none_fix", where=where_cfg)))
    targets = list(net.bootnodes) or boot
    if targets and not over():
        say(M("doctor.net.trying", n=min(len(targets), MAX_BOOTNODES_TRIED)))
        out.append(_bootnode_reach(name, targets, where_cfg, timeout=min(timeout, 3.0),
                                   advancing=lambda: chain_advancing(rpc_url, reader.coordinator_address,
                                                                     net.round_seconds, timeout)))

    if over():
        return out + [skipped("round", "round")]
    try:
        rnd, stage = reader.current_round(), reader.current_stage()
    except ChainError as e:
        out.append(_net_check("round", name, "round", "warn",
                              M("doctor.net.call_failed", call="currentRound()",
                                error=getattr(e, "reason", None) or e.part("what")), rpc_fix))
        return out
    except Exception as e:
        out.append(_net_check("round", name, "round", "fail",
                              M("doctor.net.not_coord", address=not_coord[0], call="currentRound()",
                                error=type(e).__name__), not_coord[1]))
        return out
    out.append(_net_check("round", name, "round", "info", M("doctor.net.round", round=rnd, stage=stage)))
    return out
