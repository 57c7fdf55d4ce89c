"""Direct links between peers: dial the peers we have heard of, so traffic does not all go via the bootnode.

Measured across three network namespaces (hivemind 1.1.12): members that bootstrap from one
bootnode only ever talk to it. Their DHT routing tables hold the bootnode alone, so every
store and get of rollouts and heartbeats goes through that one machine, and when it dies the
members lose each other until their next restart. hivemind's traversal does not add the
peers it learns of to the routing table. A ping does: dialling each peer's announced
multiaddr (from its heartbeat) and pinging it puts it into our table and ours into its, and
later requests go straight to it.

dial_known(dht) is cheap (peers already linked are skipped) and bounded (timeout); the node
calls it once per round. Giving the bootnodes as `extra` also brings a restarted bootnode
back into the members' swarm: it starts alone, and the members' pings link it up again.
"""

from __future__ import annotations

import functools
import logging
from typing import Iterable

log = logging.getLogger(__name__)

MAX_DIALS = 32  # per call: a big swarm links up over a few rounds instead of all at once


async def _dial(_dht, node, targets: list[tuple[str, str]], timeout: float) -> dict[str, str]:
    """targets: [(peer_id, base multiaddr)]; -> {peer_id: "linked" | "already" | reason}."""
    import asyncio

    from hivemind.p2p import PeerID
    from hivemind.utils.multiaddr import Multiaddr

    connected = {str(p.peer_id) for p in await node.p2p.list_peers()}
    table = {str(v) for v in node.protocol.routing_table.uid_to_peer_id.values()}

    async def one(pid_s: str, base: str) -> tuple[str, str]:
        if pid_s in connected and pid_s in table:
            return pid_s, "already"
        pid = PeerID.from_base58(pid_s)
        try:
            await asyncio.wait_for(node.p2p._client.connect(pid, [Multiaddr(base)]), timeout)
            nid = await asyncio.wait_for(node.protocol.call_ping(pid), timeout)
        except Exception as e:  # noqa: BLE001 - unreachable now; tried again next round
            return pid_s, f"{type(e).__name__}: {str(e)[:80]}"
        return pid_s, "linked" if nid is not None else "no answer"

    results = await asyncio.gather(*(one(p, b) for p, b in targets))
    return dict(results)


def _split(maddr: str) -> tuple[str, str] | None:
    if "/p2p/" not in maddr:
        return None
    base, pid = maddr.rsplit("/p2p/", 1)
    if not base or not pid or "/" in pid:
        return None
    return pid, base


def dial_known(dht, extra: Iterable[str] = (), timeout: float = 5.0) -> dict[str, str]:
    """Link up with every peer whose multiaddr we know (heartbeats) plus `extra` (the bootnodes)."""
    if not dht.is_alive():
        return {}
    seen: dict[str, str] = {}
    for m in list(extra) + [m for s in list(dht._seen.values()) for m in s.maddrs]:
        got = _split(str(m))
        if got and got[0] != dht.peer_id and got[0] not in seen and "/p2p-circuit" not in got[1]:
            seen[got[0]] = got[1]
    targets = list(seen.items())[:MAX_DIALS]
    if not targets:
        return {}
    d = dht._dht
    try:
        out = dht._call(lambda: d.run_coroutine(functools.partial(_dial, targets=targets, timeout=timeout),
                                                return_future=True), timeout=timeout * 2 + 2)
    except Exception as e:  # noqa: BLE001 - a stuck DHT is the DHT's own watchdog's business
        log.debug("dialling peers failed: %s", e)
        return {}
    linked = [p for p, r in out.items() if r == "linked"]
    if linked:
        log.info("linked directly with %d peer(s)", len(linked))
    return out
