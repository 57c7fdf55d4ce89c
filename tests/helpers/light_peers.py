"""Many swarm peers on a few real DHT processes: SwarmDHT handles that share another node's DHT process.

Each light peer is a real SwarmDHT (its own swarm.pem, signer, shard levels, fetch sessions, draw)
whose requests go through a host node's hivemind DHT process instead of one of its own, so a test
can run 30-70 peers' real publishing, reading and drawing on 2 cores. The DHT they talk to is real
(hivemind + p2pd, records stored on and read from its replicas); what is shared is only the local
process that forwards the requests. Not simulated: the code under test is SwarmDHT's own.
"""

from __future__ import annotations

from pathlib import Path

from core.swarm.dht import SwarmDHT


def light_peer(host: SwarmDHT, pem: Path, **kw) -> SwarmDHT:
    """A SwarmDHT with its own identity at `pem`, sending its requests through `host`'s DHT process."""
    kw.setdefault("op_timeout", host.op_timeout)
    peer = SwarmDHT(pem, start=False, **kw)
    peer._dht = host._dht
    peer._send_lock = host._send_lock  # one writer on the shared request pipe
    peer._maddrs = list(host._maddrs)
    return peer


def detach(peers) -> None:
    """Let go of the shared process (the host node shuts it down), so no light peer stops it."""
    for p in peers:
        p._dht = None
        p._closed = True
