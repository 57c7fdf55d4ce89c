"""The hivemind record validator that runs inside each node's DHT process (core/swarm/records.py).

hivemind calls validate() when a peer asks this node to store a record and when a peer answers
one of our gets. A record with an "sd2:" subkey is ours and must be a valid version-2 record
(signed by the key of the peer id it is stored under, or a chunk whose key names its content);
anything else is not ours to judge and passes (other key spaces, e.g. version-1 nodes during a
rolling upgrade, keep working). A failed record is not stored; an answer holding one is dropped
by hivemind as a whole, and the reader falls back on the other replicas.

Refusals are counted by reason in this (forked) process; SwarmDHT reads them over hivemind's
run_coroutine pipe (`counts`) so the dashboard's rejected total includes them.
"""

from __future__ import annotations

from collections import Counter

import msgpack
from hivemind.dht.validation import DHTRecord, RecordValidatorBase

from core.swarm import records


class SwarmRecordValidator(RecordValidatorBase):
    def __init__(self) -> None:
        self.refused: Counter[str] = Counter()

    def validate(self, record: DHTRecord) -> bool:
        try:
            subkey = msgpack.unpackb(record.subkey, raw=False) if record.subkey else None
        except Exception:
            return True  # not a subkey we write
        if not records.is_ours(subkey):
            return True
        value = None
        try:
            value = records.unpack_value(record.value)
            records.check_record(record.key, subkey, value, record.expiration_time)
        except records.RecordError as e:
            self.refused[e.reason] += 1
            if e.reason == "version":
                self.refused[f"version_{records.record_version(value)}"] += 1
            return False
        return True

    @property
    def priority(self) -> int:
        return 0

    def merge_with(self, other: RecordValidatorBase) -> bool:
        return isinstance(other, SwarmRecordValidator)


async def counts(_dht, node) -> dict[str, int]:
    """run_coroutine target: the validator's refusals so far, by reason."""
    v = node.protocol.record_validator
    for x in getattr(v, "_validators", [v]):
        if isinstance(x, SwarmRecordValidator):
            return dict(x.refused)
    return {}
