"""What crosses the wire: the DHT replies this node's DHT process receives, counted where hivemind reads them.

A bucket read (latest=True) gathers the newest value from every replica it visits, and every hop of
the search answers with its neighbours too, so a fetch receives several times the bytes of the values
it keeps (measured: 480-640 KB of replies for ~117 KB of values at N = 16-32). Counting values alone
hid that. `install` runs inside the forked DHT process (hivemind's run_coroutine) and wraps the
protocol's RPC stubs: every rpc_find reply's serialized size (protobuf ByteSize, what the peer sent
over the libp2p stream) and every request's are added up; `read` returns the totals so SwarmDHT can
take the difference over one fetch.

Not counted: libp2p's own framing (noise, yamux, multistream: tens of bytes per call), pings and
stores. tests/integration/test_dht_wire.py compares the count with the TCP bytes the node's p2pd
really received.
"""

from __future__ import annotations

from typing import Any

_ATTR = "_swarmdeck_traffic"


class _CountingStub:
    """An RPC stub that adds each find's request and reply size to `counts`; everything else passes through."""

    def __init__(self, stub: Any, counts: dict[str, int]):
        self._stub, self._counts = stub, counts

    def __getattr__(self, name: str) -> Any:
        return getattr(self._stub, name)

    async def rpc_find(self, request, *args, **kwargs):
        self._counts["find_requests"] += 1
        self._counts["find_request_bytes"] += request.ByteSize()
        response = await self._stub.rpc_find(request, *args, **kwargs)
        self._counts["find_replies"] += 1
        self._counts["find_reply_bytes"] += response.ByteSize()
        return response


async def install(_dht, node) -> bool:
    """run_coroutine target: start counting this DHT process's find traffic (idempotent)."""
    proto = node.protocol
    if _ATTR in proto.__dict__:
        return True
    counts = {"find_requests": 0, "find_request_bytes": 0, "find_replies": 0, "find_reply_bytes": 0}
    get_stub = proto.get_stub

    def counting_get_stub(peer):
        return _CountingStub(get_stub(peer), counts)

    proto.get_stub = counting_get_stub
    proto.__dict__[_ATTR] = counts
    return True


async def read(_dht, node) -> dict[str, int]:
    """run_coroutine target: the totals so far (empty if install did not run)."""
    return dict(node.protocol.__dict__.get(_ATTR, {}))
