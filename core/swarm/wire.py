"""Wire format for rollouts shared over the DHT: compact, versioned, size-limited, never pickle.

Layout of one encoded message:

    b"SDRO" | version (1 byte) | zlib(JSON)

JSON = {"rollouts": [{"task", "question", "answer", "completions", "rewards", "truncated",
"round", "peer_id", "metadata"}, ...]}. Version 2 (written now) added "truncated": one bool per
completion (it hit the token limit), or [] when the producer did not say (read back as the
Rollout's default); version 1 messages are still read, as all False. Version 3 (written now) added
"source": the provenance a receiver regenerates the question from ({"config": the task config's
fingerprint, "seed": the reasoning-gym dataset seed}, or {} when the producer has none); v1/v2
messages are still read, with an empty source, and a receiver refuses them for training as
`unverifiable` (core.training.verify). Since
version 2 the DHT ships one message per question group (core/swarm/dht.py), so a node downloads
only the groups it chose. Everything received from the network is untrusted: decode
checks the magic, the version, the compressed size, the *decompressed* size (streamed, so a
zip bomb never gets inflated past the limit), JSON nesting, every field's type and length,
finite rewards and one reward per completion. Any violation raises WireError (a SwarmError)
and is counted in a RejectCounter so the dashboard can show hostile or broken peers.
"""

from __future__ import annotations

import json
import math
import threading
import zlib
from collections import Counter
from dataclasses import dataclass, fields

from core.base import safejson
from core.base.errors import SwarmError
from core.base.rollouts import Rollout

MAGIC = b"SDRO"
VERSION = 3
READS = (1, 2, 3)                  # versions decode_rollouts accepts
HEADER_LEN = len(MAGIC) + 1


@dataclass(frozen=True)
class Limits:
    """Bounds on what a peer may send. Defaults fit I<=64 questions x G<=64 completions of ~2k tokens."""

    max_wire_bytes: int = 4 * 1024 * 1024          # compressed message
    max_decompressed_bytes: int = 16 * 1024 * 1024  # inflated JSON
    max_rollouts: int = 256
    max_completions: int = 64
    max_text_chars: int = 64 * 1024                # question / answer / one completion
    max_name_chars: int = 128                      # task, peer_id
    max_metadata_bytes: int = 16 * 1024            # JSON of one rollout's metadata
    max_abs_reward: float = 1e6
    max_round: int = 2**63 - 1
    max_json_depth: int = 32                       # message + metadata nesting
    max_seed: int = 2**63 - 1                      # source.seed


DEFAULT_LIMITS = Limits()


class WireError(SwarmError):
    """A received value is not a valid rollout message. `reason` is a short machine-readable tag."""

    def __init__(self, reason: str, what: str):
        if reason == "encode":  # our own rollouts: a bug in the producer, not a hostile peer
            super().__init__(f"cannot serialise rollouts for the DHT: {what}", where="core.swarm.wire",
                             fix="report this as a bug with the rollout's task name")
        else:
            super().__init__(f"rejected rollout message from the DHT: {what}", where="DHT value",
                             fix="nothing to do locally; the sending peer is broken or hostile")
        self.reason = reason


class RejectCounter:
    """Thread-safe count of rejected DHT entries, by reason (for events and the dashboard)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._by_reason: Counter[str] = Counter()

    def add(self, reason: str, n: int = 1) -> None:
        with self._lock:
            self._by_reason[reason] += n

    @property
    def total(self) -> int:
        with self._lock:
            return sum(self._by_reason.values())

    def by_reason(self) -> dict[str, int]:
        with self._lock:
            return dict(self._by_reason)


def encode_rollouts(rollouts: list[Rollout], limits: Limits = DEFAULT_LIMITS, level: int = 6) -> bytes:
    """Serialise rollouts. Raises WireError if the result would be refused by a peer with the same limits."""
    try:
        items = [_rollout_to_dict(r, VERSION) for r in rollouts]
        payload = json.dumps({"rollouts": items}, ensure_ascii=False, separators=(",", ":"),
                             allow_nan=False).encode("utf-8")
    except (TypeError, ValueError, AttributeError) as e:
        raise WireError("encode", f"rollouts cannot be serialised ({e})") from None
    data = MAGIC + bytes([VERSION]) + zlib.compress(payload, level)
    # Validate our own output with the receiver's rules: a node must never publish what others reject.
    decode_rollouts(data, limits)
    return data


def decode_rollouts(data: bytes, limits: Limits = DEFAULT_LIMITS, counter: RejectCounter | None = None) -> list[Rollout]:
    """Parse and validate one message. Raises WireError (and counts it in `counter`) on any violation."""
    try:
        return _decode(data, limits)
    except WireError as e:
        if counter is not None:
            counter.add(e.reason)
        raise


def _decode(data: bytes, limits: Limits) -> list[Rollout]:
    if not isinstance(data, (bytes, bytearray, memoryview)):
        raise WireError("type", f"value is {type(data).__name__}, not bytes")
    data = bytes(data)
    if len(data) > limits.max_wire_bytes:
        raise WireError("oversized", f"{len(data)} bytes > limit {limits.max_wire_bytes}")
    if len(data) < HEADER_LEN or data[: len(MAGIC)] != MAGIC:
        raise WireError("magic", "missing SDRO header")
    version = data[len(MAGIC)]
    if version not in READS:
        raise WireError("version", f"wire version {version}, this node speaks {', '.join(map(str, READS))}")
    inflater = zlib.decompressobj()
    try:
        # max_length bounds memory: a bomb stops at limit+1 bytes instead of inflating fully.
        raw = inflater.decompress(data[HEADER_LEN:], limits.max_decompressed_bytes + 1)
    except zlib.error as e:
        raise WireError("zlib", f"corrupt compressed data ({e})") from None
    if len(raw) > limits.max_decompressed_bytes or inflater.unconsumed_tail:
        raise WireError("bomb", f"decompresses past {limits.max_decompressed_bytes} bytes")
    if not inflater.eof:
        raise WireError("zlib", "truncated compressed data")
    if inflater.unused_data:
        raise WireError("zlib", "trailing bytes after compressed data")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as e:
        raise WireError("json", f"not valid UTF-8 ({e.reason})") from None
    _check_nesting(text, limits.max_json_depth)
    try:
        doc = json.loads(text, parse_constant=_reject_constant)
    except RecursionError:
        raise WireError("json", "JSON nested too deeply") from None
    except (UnicodeDecodeError, ValueError) as e:
        raise WireError("json", f"not valid UTF-8 JSON ({str(e)[:80]})") from None
    if not isinstance(doc, dict) or set(doc) != {"rollouts"} or not isinstance(doc["rollouts"], list):
        raise WireError("schema", 'top level must be {"rollouts": [...]}')
    items = doc["rollouts"]
    if len(items) > limits.max_rollouts:
        raise WireError("count", f"{len(items)} rollouts > limit {limits.max_rollouts}")
    return [_rollout_from_dict(d, i, limits, version) for i, d in enumerate(items)]


_MAX_STRUCTURE_CHARS = 1024 * 1024


def _check_nesting(text: str, max_depth: int) -> None:
    """Refuse deep nesting before json.loads sees it (see core.base.safejson: a deep document segfaults
    CPython's C scanner once a library has raised the recursion limit)."""
    if len(text) > _MAX_STRUCTURE_CHARS and len(safejson.without_strings(text)) > _MAX_STRUCTURE_CHARS:
        raise WireError("json", "more than 1 MiB of JSON structure outside strings")
    try:
        safejson.check_depth(text, max_depth)
    except safejson.TooDeep as e:
        raise WireError("json", str(e)) from None


def _reject_constant(name: str):
    raise ValueError(f"{name} is not allowed")


_FIELDS = ("task", "question", "answer", "completions", "rewards", "round", "peer_id", "metadata")
_FIELDS_V2 = _FIELDS + ("truncated",)
_FIELDS_V3 = _FIELDS_V2 + ("source",)
_SOURCE_KEYS = {"config", "seed"}
_HAS_TRUNCATED = "truncated" in {f.name for f in fields(Rollout)}


def _rollout_to_dict(r: Rollout, version: int = VERSION) -> dict:
    d = {"task": r.task, "question": r.question, "answer": r.answer, "completions": list(r.completions),
         "rewards": [float(x) for x in r.rewards], "round": int(r.round), "peer_id": r.peer_id,
         "metadata": r.metadata}
    if version >= 2:
        t = getattr(r, "truncated", None)
        d["truncated"] = [bool(x) for x in t] if t else []
    if version >= 3:
        src = getattr(r, "source", None) or {}
        d["source"] = {"config": str(src["config"]), "seed": int(src["seed"])} if src else {}
    return d


def _str(d: dict, key: str, i: int, max_len: int) -> str:
    v = d[key]
    if not isinstance(v, str):
        raise WireError("schema", f"rollout {i}: {key} must be a string")
    if len(v) > max_len:
        raise WireError("field_size", f"rollout {i}: {key} has {len(v)} chars > limit {max_len}")
    return v


def _rollout_from_dict(d, i: int, limits: Limits, version: int = VERSION) -> Rollout:
    names = _FIELDS_V3 if version >= 3 else _FIELDS_V2 if version >= 2 else _FIELDS
    if not isinstance(d, dict) or set(d) != set(names):
        raise WireError("schema", f"rollout {i}: expected exactly the fields {', '.join(names)}")
    task = _str(d, "task", i, limits.max_name_chars)
    question = _str(d, "question", i, limits.max_text_chars)
    answer = _str(d, "answer", i, limits.max_text_chars)
    peer_id = _str(d, "peer_id", i, limits.max_name_chars)
    comps, rewards = d["completions"], d["rewards"]
    if not isinstance(comps, list) or not isinstance(rewards, list):
        raise WireError("schema", f"rollout {i}: completions and rewards must be lists")
    if not 1 <= len(comps) <= limits.max_completions:
        raise WireError("count", f"rollout {i}: {len(comps)} completions, allowed 1..{limits.max_completions}")
    if len(rewards) != len(comps):
        raise WireError("schema", f"rollout {i}: {len(rewards)} rewards for {len(comps)} completions")
    for c in comps:
        if not isinstance(c, str):
            raise WireError("schema", f"rollout {i}: a completion is not a string")
        if len(c) > limits.max_text_chars:
            raise WireError("field_size", f"rollout {i}: a completion has {len(c)} chars > {limits.max_text_chars}")
    clean_rewards = []
    for x in rewards:
        # bool is an int subclass; a reward of `true` is a broken peer, not 1.0
        if isinstance(x, bool) or not isinstance(x, (int, float)) or not math.isfinite(x) \
                or abs(x) > limits.max_abs_reward:
            raise WireError("schema", f"rollout {i}: rewards must be finite numbers within ±{limits.max_abs_reward:g}")
        clean_rewards.append(float(x))
    rnd = d["round"]
    if isinstance(rnd, bool) or not isinstance(rnd, int) or not 0 <= rnd <= limits.max_round:
        raise WireError("schema", f"rollout {i}: round must be a non-negative integer")
    meta = d["metadata"]
    if not isinstance(meta, dict):
        raise WireError("schema", f"rollout {i}: metadata must be an object")
    if len(json.dumps(meta, separators=(",", ":"))) > limits.max_metadata_bytes:
        raise WireError("field_size", f"rollout {i}: metadata larger than {limits.max_metadata_bytes} bytes")
    truncated: list[bool] | None = [False] * len(comps)  # version 1: nothing was truncated
    if version >= 2:
        t = d["truncated"]
        if not isinstance(t, list) or (t and len(t) != len(comps)) or not all(isinstance(x, bool) for x in t):
            raise WireError("schema", f"rollout {i}: truncated must be one bool per completion (or [])")
        truncated = list(t) or None  # [] = not said: the Rollout's default
    extra: dict = {"truncated": truncated} if _HAS_TRUNCATED and truncated is not None else {}
    if version >= 3:
        extra["source"] = _source(d["source"], i, limits)
    return Rollout(task=task, question=question, answer=answer, completions=list(comps), rewards=clean_rewards,
                   round=rnd, peer_id=peer_id, metadata=meta, **extra)


def _source(src, i: int, limits: Limits) -> dict:
    """A v3 rollout's provenance: {} (none) or exactly {"config": short string, "seed": integer}."""
    if not isinstance(src, dict) or (src and set(src) != _SOURCE_KEYS):
        raise WireError("schema", f'rollout {i}: source must be {{}} or {{"config", "seed"}}')
    if not src:
        return {}
    cfg, seed = src["config"], src["seed"]
    if not isinstance(cfg, str) or not 1 <= len(cfg) <= limits.max_name_chars:
        raise WireError("schema", f"rollout {i}: source.config must be a string of 1..{limits.max_name_chars} chars")
    if isinstance(seed, bool) or not isinstance(seed, int) or not 0 <= seed <= limits.max_seed:
        raise WireError("schema", f"rollout {i}: source.seed must be a non-negative integer")
    return {"config": cfg, "seed": seed}
