"""What hivemind's DHT answers look like to us: dictionary values read defensively (a hostile replica
may answer anything), their value bytes, and the DHT's clock."""

from __future__ import annotations

from typing import Any


def dht_time() -> float:
    from hivemind.utils import get_dht_time

    return get_dht_time()


def subkey_items(found: Any) -> list[tuple[Any, Any]]:
    """(subkey, value) pairs of a dictionary DHT value; anything else (a hostile plain value) -> []."""
    return [(k, v) for k, v, _ in subkey_entries(found)]


def subkey_entries(found: Any) -> list[tuple[Any, Any, float]]:
    """(subkey, value, expiration) of a dictionary DHT value; anything else (a hostile plain value) -> []."""
    value = getattr(found, "value", None)
    if not isinstance(value, dict):
        return []
    return [(k, getattr(v, "value", None), getattr(v, "expiration_time", 0.0)) for k, v in value.items()]


def value_bytes(found: Any) -> int:
    """Value bytes in a DHT answer (what the benchmark and the dashboard count as received)."""
    value = getattr(found, "value", None)
    if isinstance(value, (bytes, bytearray)):
        return len(value)
    if isinstance(value, dict):
        return sum(len(v.value) for v in value.values() if isinstance(getattr(v, "value", None), (bytes, bytearray)))
    return 0
