"""Where a node listens and what it announces (core.swarm.addrs); no DHT needed."""

from __future__ import annotations

import socket
from types import SimpleNamespace as NS

from core.swarm import addrs


def _profile(kind="custom", dht_host="", announce=(), rpc_url="http://192.0.2.1:8545"):
    return NS(settings=NS(dht_host=dht_host, announce_maddrs=tuple(announce)),
              network=NS(kind=kind, rpc_url=rpc_url))


def test_listen_host_defaults_by_network():
    assert addrs.listen_host(_profile("local")) == "127.0.0.1"
    assert addrs.listen_host(_profile("custom")) == "0.0.0.0"
    assert addrs.listen_host(_profile("custom", dht_host="192.0.2.7")) == "192.0.2.7"


def test_announce_prefers_config_then_concrete_listen_address():
    p = _profile(announce=["/ip4/203.0.113.5/tcp/4000"])
    assert addrs.announce_maddrs(p, 38331) == ["/ip4/203.0.113.5/tcp/4000"]
    assert addrs.announce_maddrs(_profile(dht_host="192.0.2.7"), 38331) == ["/ip4/192.0.2.7/tcp/38331"]
    assert addrs.announce_maddrs(_profile("local"), 38331) == []  # one machine: nothing to announce
    assert addrs.announce_maddrs(_profile(), 0) == []  # a random port cannot be announced ahead


def test_announce_detects_the_address_facing_the_swarm():
    # toward 127.0.0.1 the facing address is loopback: nothing useful to announce
    assert addrs.announce_maddrs(_profile(rpc_url="http://127.0.0.1:8545"), 38331) == []
    assert addrs.facing_address("127.0.0.1") == "127.0.0.1"
    assert addrs.toward_host(_profile(), ["/ip4/198.51.100.4/tcp/1/p2p/Qm"]) == "198.51.100.4"
    assert addrs.toward_host(_profile()) == "192.0.2.1"


def test_host_port_and_reachability():
    assert addrs.host_port("/ip4/1.2.3.4/tcp/38331/p2p/QmX") == ("1.2.3.4", 38331)
    assert addrs.host_port("/dns4/example.org/tcp/80") == ("example.org", 80)
    assert addrs.host_port("/ip4/1.2.3.4/udp/1") is None
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        port = s.getsockname()[1]
        assert addrs.tcp_reachable(f"/ip4/127.0.0.1/tcp/{port}/p2p/QmX") == (True, "connected")
    ok, why = addrs.tcp_reachable(f"/ip4/127.0.0.1/tcp/{port}", timeout=1)
    assert not ok and "127.0.0.1" in why
