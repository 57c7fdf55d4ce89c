"""The dashboard's swarm status line: is the chain reachable and its round advancing, are the bootnodes
reachable, and (the Gensyn testnet) is the public swarm paused.

`SwarmWatch.check(profile)` does network I/O (one eth_call, a TCP connect per bootnode, in parallel,
a few seconds at most): call it from a worker. It remembers when each network's round last changed,
so "advancing" / "not advancing for N min" needs two checks; the first one says only the round.
The public swarm has been paused since 2026-01-05 (no official swarm runs; its bootnodes are reported
unreachable): on the testnet, when no bootnode answers or the round stands still, the line says so
plainly instead of leaving the user to wonder why no peer shows up.
"""

from __future__ import annotations

import socket
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

from core.base.errors import SwarmdeckError
from core.chain.web3_backend import ChainReader
from core.identity import profiles as _profiles
from core.usecases.standing import _endpoint

CONNECT_TIMEOUT = 2.0
RPC_TIMEOUT = 4.0
MIN_STALL_S = 600.0  # a round standing still this long (or 3 round lengths, if longer) is "not advancing"


@dataclass
class SwarmStatus:
    network: str
    kind: str
    round: int | None = None
    advancing: bool | None = None       # None: not known yet (first check)
    stalled_for: float | None = None    # seconds the round has stood still (when not advancing)
    chain_error: str | None = None
    bootnodes: int = 0                  # how many are listed (config, else the contract)
    bootnodes_ok: int = 0
    bootnodes_from_contract: bool = False
    paused_note: bool = False           # the public (Gensyn testnet) swarm looks paused
    checked_at: float = field(default_factory=time.time)


def host_port(maddr: str) -> tuple[str, int] | None:
    """(host, tcp port) of a multiaddr such as /ip4/1.2.3.4/tcp/38331/p2p/Qm...; None when it has no TCP part."""
    parts = [p for p in maddr.split("/") if p]
    host = port = None
    for i in range(len(parts) - 1):
        if parts[i] in ("ip4", "ip6", "dns", "dns4", "dns6") and host is None:
            host = parts[i + 1]
        elif parts[i] == "tcp" and port is None:
            try:
                port = int(parts[i + 1])
            except ValueError:
                return None
    return (host, port) if host and port else None


def reachable(maddr: str, timeout: float = CONNECT_TIMEOUT) -> bool:
    hp = host_port(maddr)
    if hp is None:
        return False
    try:
        with socket.create_connection(hp, timeout=timeout):
            return True
    except OSError:
        return False


class SwarmWatch:
    """Keeps, per network, the last round seen and when it changed (one instance per TUI screen)."""

    def __init__(self, now=time.time, stall_s: float | None = None):
        self.now = now
        self.stall_s = stall_s
        self._rounds: dict[str, tuple[int, float]] = {}

    def check(self, name: str) -> SwarmStatus:
        prof = _profiles.load_profile(name)
        net = prof.network
        st = SwarmStatus(network=net.name, kind=net.kind, checked_at=self.now())
        boots = list(net.bootnodes)
        reader = None
        try:
            rpc, coord = _endpoint(net)
            reader = ChainReader(rpc, coord, timeout=RPC_TIMEOUT, attempts=1, network=net.name)
            st.round = reader.current_round()
        except SwarmdeckError as e:
            st.chain_error = getattr(e, "reason", None) or str(e).split(":", 2)[-1].strip()[:160]
        except Exception as e:  # an unexpected answer (no contract there): said, not raised
            st.chain_error = f"{type(e).__name__}: {str(e)[:120]}"
        if st.round is not None:
            key = f"{net.name}"
            prev = self._rounds.get(key)
            if prev is None or prev[0] != st.round:
                if prev is not None:
                    st.advancing = True
                self._rounds[key] = (st.round, st.checked_at)
            else:
                still = st.checked_at - prev[1]
                limit = self.stall_s if self.stall_s is not None else max(MIN_STALL_S, 3 * float(net.round_seconds))
                st.advancing = still < limit
                if not st.advancing:
                    st.stalled_for = still
        if not boots and reader is not None:
            try:
                boots = reader.get_bootnodes()
                st.bootnodes_from_contract = True
            except Exception:
                boots = []
        st.bootnodes = len(boots)
        if boots:
            with ThreadPoolExecutor(max_workers=min(8, len(boots))) as ex:
                st.bootnodes_ok = sum(ex.map(reachable, boots))
        if net.kind == "testnet":
            st.paused_note = (st.bootnodes_ok == 0 or st.advancing is False or st.chain_error is not None)
        return st
