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


def _keep_valid_entries(self, key_bytes: bytes, dictionary) -> bool:
    """DHTProtocol._validate_dictionary, keeping the valid entries of an answer instead of refusing it whole.

    hivemind refuses a replica's whole answer when one entry fails validation. A replica without our
    validator (an old node during an upgrade, or an attacker's node next to a predictable bucket key)
    that holds one forged entry then hides every genuine record it holds from readers; and a forgery
    stored there with a later expiration under a peer's subkey replaces that peer's record on it. So
    the reader drops only the entries that fail, and merges the valid ones with the other replicas'
    answers (a forged entry never takes part in the merge, so it cannot outrank a genuine one by its
    expiration). Refusals are still counted by the validator.
    """
    from hivemind.dht.validation import DHTRecord

    if self.record_validator is None:
        return True
    bad = []
    with dictionary.freeze():
        for subkey, (value_bytes, expiration_time) in dictionary.items():
            record = DHTRecord(key_bytes, self.serializer.dumps(subkey), value_bytes, expiration_time)
            if not self.record_validator.validate(record):
                bad.append(subkey)
    for subkey in bad:
        del dictionary[subkey]
    return not bad or len(dictionary) > 0


async def install_entry_filter(_dht, node) -> bool:
    """run_coroutine target: answers (and dictionary stores) keep their valid entries (_keep_valid_entries)."""
    import types

    node.protocol._validate_dictionary = types.MethodType(_keep_valid_entries, node.protocol)
    return True
