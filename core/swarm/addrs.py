"""Where a node listens and what it announces; whether a multiaddr answers.

listen_host(profile)    the profile's dht_host, else 127.0.0.1 on the local network (one machine)
                        and 0.0.0.0 (every interface) on any other network
announce_maddrs(profile, toward=...)
                        the profile's announce_maddrs; else, when it listens on a concrete address,
                        that address; else the address of this machine's interface that faces
                        `toward` (the swarm's RPC or bootnode host: what the others reach us at)
tcp_reachable(maddr)    a TCP connect to an /ip4|/ip6|/dns*/…/tcp/PORT multiaddr, bounded
"""

from __future__ import annotations

import ipaddress
import socket
from typing import Any
from urllib.parse import urlsplit

LOOPBACK = "127.0.0.1"
ANY = "0.0.0.0"


def host_port(maddr: str) -> tuple[str, int] | None:
    """(host, tcp port) of a multiaddr, or None when it has no ip/dns + tcp part."""
    parts = str(maddr).split("/")
    host = port = None
    for i in range(1, len(parts) - 1):
        if parts[i] in ("ip4", "ip6", "dns", "dns4", "dns6") and host is None:
            host = parts[i + 1]
        elif parts[i] == "tcp" and port is None and parts[i + 1].isdigit():
            port = int(parts[i + 1])
    return (host, port) if host and port else None


def tcp_reachable(maddr: str, timeout: float = 3.0) -> tuple[bool, str]:
    """Try a TCP connection to the multiaddr's host:port. (ok, reason)."""
    hp = host_port(maddr)
    if hp is None:
        return False, "no ip/dns and tcp part"
    try:
        with socket.create_connection(hp, timeout=timeout):
            return True, "connected"
    except socket.timeout:
        return False, f"no answer from {hp[0]}:{hp[1]} in {timeout:g} s"
    except OSError as e:
        return False, f"{hp[0]}:{hp[1]}: {e.strerror or e}"


def facing_address(host: str) -> str | None:
    """This machine's own IPv4 address on the interface that routes to `host` (no packet is sent)."""
    try:
        infos = socket.getaddrinfo(host, 9, socket.AF_INET, socket.SOCK_DGRAM)
    except OSError:
        return None
    for *_, addr in infos:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            try:
                s.connect(addr)  # UDP connect: picks the route and source address, sends nothing
                return s.getsockname()[0]
            except OSError:
                continue
    return None


def _is_concrete(host: str) -> bool:
    try:
        ip = ipaddress.ip_address(host)
    except ValueError:
        return False
    return not ip.is_unspecified


def listen_host(profile: Any) -> str:
    s = profile.settings
    configured = str(getattr(s, "dht_host", "") or "")
    if configured:
        return configured
    return LOOPBACK if getattr(profile.network, "kind", "local") == "local" else ANY


def toward_host(profile: Any, bootnodes: list[str] | tuple[str, ...] = ()) -> str | None:
    """The host the swarm is reached through: a bootnode's, else the network's RPC host."""
    for b in bootnodes:
        hp = host_port(b)
        if hp:
            return hp[0]
    url = str(getattr(profile.network, "rpc_url", "") or "")
    return urlsplit(url).hostname if url else None


def announce_maddrs(profile: Any, port: int, bootnodes: list[str] | tuple[str, ...] = ()) -> list[str]:
    """What other peers should dial to reach this node ([] = let hivemind report its listen address)."""
    s = profile.settings
    configured = [str(m) for m in (getattr(s, "announce_maddrs", ()) or ())]
    if configured:
        return configured
    host = listen_host(profile)
    if host == LOOPBACK or not port:
        return []
    if _is_concrete(host):
        return [f"/ip4/{host}/tcp/{port}"]
    toward = toward_host(profile, bootnodes)
    addr = facing_address(toward) if toward else None
    if addr and not ipaddress.ip_address(addr).is_loopback:
        return [f"/ip4/{addr}/tcp/{port}"]
    return []


def replace_own_entries(current: list[str], mine: list[str], peer_id: str) -> list[str]:
    """The bootnode list to publish when peer `peer_id` (re)announces `mine`: its own old entries (a dead
    port after a restart) are replaced, not kept beside the new ones; its entries come first, so a member
    is never handed a dead address before a live one; other peers' entries keep their order."""
    own = f"/p2p/{peer_id}"
    return list(dict.fromkeys(list(mine) + [m for m in current if not str(m).endswith(own)]))
