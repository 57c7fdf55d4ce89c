"""core.swarm.wire: round trip, and every kind of hostile input rejected with a WireError and counted."""

from __future__ import annotations

import json
import math
import zlib

import pytest
from hypothesis import given, settings, strategies as st

from core.base.errors import SwarmError
from core.base.rollouts import Rollout
from core.swarm.wire import (DEFAULT_LIMITS, HEADER_LEN, MAGIC, READS, VERSION, Limits, RejectCounter, WireError,
                             decode_rollouts, encode_rollouts)


def _rollout(i: int = 0, g: int = 8) -> Rollout:
    return Rollout(task="basic_arithmetic", question=f"What is {i} + 2? Ünïcode ✓", answer=str(i + 2),
                   completions=[f"<answer>{i + k}</answer>" for k in range(g)], rewards=[float(k % 2) for k in range(g)],
                   round=7, peer_id="QmPeer", metadata={"source_idx": i, "nested": {"a": [1, 2]}})


def _frame(doc, version: int = VERSION) -> bytes:
    return MAGIC + bytes([version]) + zlib.compress(json.dumps(doc).encode())


def _doc(**override) -> dict:
    d = {"task": "t", "question": "q", "answer": "a", "completions": ["x", "y"], "rewards": [0.0, 1.0],
         "truncated": [False, True], "round": 1, "peer_id": "QmX", "metadata": {},
         "source": {"config": "0123abcd", "seed": 7}}
    d.update(override)
    return {"rollouts": [d]}


def _rejects(data: bytes, reason: str, limits: Limits = DEFAULT_LIMITS) -> None:
    counter = RejectCounter()
    with pytest.raises(WireError) as ei:
        decode_rollouts(data, limits, counter)
    assert ei.value.reason == reason, str(ei.value)
    assert isinstance(ei.value, SwarmError)
    assert counter.total == 1 and counter.by_reason() == {reason: 1}


def test_round_trip_equal_and_compact():
    rs = [_rollout(i) for i in range(4)]
    data = encode_rollouts(rs)
    assert data[:4] == MAGIC and data[4] == VERSION
    assert decode_rollouts(data) == rs
    assert len(data) < len(json.dumps([r.__dict__ for r in rs]))  # compressed
    assert decode_rollouts(encode_rollouts([])) == []


def test_never_pickle():
    import pickle

    _rejects(pickle.dumps([_rollout()]), "magic")
    _rejects(MAGIC + bytes([VERSION]) + zlib.compress(pickle.dumps([_rollout()])), "json")


@pytest.mark.parametrize("data,reason", [
    (b"", "magic"),
    (b"SDR", "magic"),
    (b"XXXX\x01" + zlib.compress(b"{}"), "magic"),
    (MAGIC + bytes([max(READS) + 1]) + zlib.compress(b'{"rollouts":[]}'), "version"),
    (MAGIC + b"\x00" + zlib.compress(b'{"rollouts":[]}'), "version"),
    (MAGIC + bytes([VERSION]) + b"not zlib at all", "zlib"),
    (MAGIC + bytes([VERSION]) + zlib.compress(b'{"rollouts":[]}')[:-3], "zlib"),
    (MAGIC + bytes([VERSION]) + zlib.compress(b'{"rollouts":[]}') + b"junk", "zlib"),
    (MAGIC + bytes([VERSION]) + zlib.compress(b"\xff\xfe not utf8"), "json"),
    (MAGIC + bytes([VERSION]) + zlib.compress(b"[" * 100000), "json"),
    (_frame([]), "schema"),
    (_frame({"rollouts": {}}), "schema"),
    (_frame({"rollouts": [], "extra": 1}), "schema"),
])
def test_malformed_frames_rejected(data, reason):
    _rejects(data, reason)


def test_version1_messages_still_read_with_truncated_all_false():
    d = _doc()
    del d["rollouts"][0]["truncated"], d["rollouts"][0]["source"]
    r = decode_rollouts(_frame(d, version=1))[0]
    assert r.completions == ["x", "y"] and getattr(r, "truncated", [False, False]) == [False, False]
    _rejects(_frame(_doc(), version=1), "schema")  # version 1 had no truncated field
    _rejects(_frame(d), "schema")                  # version 2 requires it


def test_version2_messages_read_without_provenance():
    # an old node's group: still decoded (old and new nodes share a DHT), with no source, so a
    # receiver refuses it for training as unverifiable (core.training.verify)
    d = _doc()
    del d["rollouts"][0]["source"]
    r = decode_rollouts(_frame(d, version=2))[0]
    assert r.source == {} and r.truncated == [False, True]
    _rejects(_frame(_doc(), version=2), "schema")  # version 2 had no source field
    _rejects(_frame(d), "schema")                  # version 3 requires it


def test_source_round_trips_and_empty_means_none():
    r = decode_rollouts(_frame(_doc()))[0]
    assert r.source == {"config": "0123abcd", "seed": 7}
    assert decode_rollouts(encode_rollouts([r]))[0].source == {"config": "0123abcd", "seed": 7}
    assert decode_rollouts(_frame(_doc(source={})))[0].source == {}


@pytest.mark.parametrize("source", [None, [], {"config": "x"}, {"config": "x", "seed": 1, "answer": "2"},
                                    {"config": "", "seed": 1}, {"config": 5, "seed": 1}, {"config": "x", "seed": -1},
                                    {"config": "x", "seed": True}, {"config": "x", "seed": 1.5},
                                    {"config": "x" * 200, "seed": 1}, {"config": "x", "seed": 2**64}])
def test_bad_source_rejected(source):
    _rejects(_frame(_doc(source=source)), "schema")


@pytest.mark.parametrize("truncated", [[False], [False, "yes"], [0, 1], "no", None])
def test_truncated_must_be_one_bool_per_completion(truncated):
    _rejects(_frame(_doc(truncated=truncated)), "schema")


def test_truncated_round_trips_as_written():
    r = decode_rollouts(_frame(_doc(truncated=[])))[0]  # not said: the Rollout's default
    assert r == Rollout(task="t", question="q", answer="a", completions=["x", "y"], rewards=[0.0, 1.0], round=1,
                        peer_id="QmX", metadata={}, source={"config": "0123abcd", "seed": 7})
    assert decode_rollouts(encode_rollouts([r])) == [r]
    if hasattr(r, "truncated"):  # the field of core.base.rollouts.Rollout (training fills it in)
        marked = Rollout(**{**r.__dict__, "truncated": [True, False]})
        assert decode_rollouts(encode_rollouts([marked]))[0].truncated == [True, False]
    assert decode_rollouts(_frame(_doc()))[0].completions == ["x", "y"]


def test_not_bytes_rejected():
    _rejects({"rollouts": []}, "type")  # type: ignore[arg-type]


@pytest.mark.parametrize("override,reason", [
    ({"task": 5}, "schema"),
    ({"completions": "xy"}, "schema"),
    ({"completions": [], "rewards": []}, "count"),
    ({"completions": ["x", 1]}, "schema"),
    ({"rewards": [0.0]}, "schema"),
    ({"rewards": [0.0, True]}, "schema"),
    ({"rewards": [0.0, "1"]}, "schema"),
    ({"rewards": [0.0, 1e300]}, "schema"),
    ({"round": -1}, "schema"),
    ({"round": 1.5}, "schema"),
    ({"round": True}, "schema"),
    ({"metadata": []}, "schema"),
    ({"metadata": {"k": "v" * 20000}}, "field_size"),
    ({"question": "q" * 70000}, "field_size"),
    ({"peer_id": "Q" * 200}, "field_size"),
    ({"completions": ["x" * 70000, "y"]}, "field_size"),
])
def test_bad_fields_rejected(override, reason):
    _rejects(_frame(_doc(**override)), reason)


def test_missing_and_extra_fields_rejected():
    d = _doc()
    del d["rollouts"][0]["answer"]
    _rejects(_frame(d), "schema")
    d = _doc()
    d["rollouts"][0]["__class__"] = "os.system"
    _rejects(_frame(d), "schema")


def test_nan_and_infinity_rejected():
    raw = json.dumps(_doc()).replace("[0.0, 1.0]", "[NaN, Infinity]").encode()
    _rejects(MAGIC + bytes([VERSION]) + zlib.compress(raw), "json")


def test_too_many_rollouts_and_completions():
    lim = Limits(max_rollouts=3, max_completions=4)
    _rejects(_frame({"rollouts": _doc()["rollouts"] * 4}), "count", lim)
    _rejects(_frame(_doc(completions=["x"] * 5, rewards=[0.0] * 5, truncated=[False] * 5)), "count", lim)


def test_oversized_compressed_rejected():
    lim = Limits(max_wire_bytes=1000)
    _rejects(b"\0" * 1001, "oversized", lim)


def test_zip_bomb_stopped_at_limit():
    # 64 MiB of zeros compresses to ~64 KiB; decoding must stop at the limit, not inflate it all.
    bomb = MAGIC + bytes([VERSION]) + zlib.compress(b"\0" * (64 * 1024 * 1024), 9)
    assert len(bomb) < 100 * 1024
    import resource
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    _rejects(bomb, "bomb")
    after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    assert (after - before) * 1024 < 40 * 1024 * 1024  # never held the 64 MiB
    _rejects(MAGIC + bytes([VERSION]) + zlib.compress(b" " * 2000), "bomb", Limits(max_decompressed_bytes=1000))


def test_counter_accumulates_by_reason():
    c = RejectCounter()
    for data in (b"x", b"y", MAGIC + b"\x09"):
        with pytest.raises(WireError):
            decode_rollouts(data, counter=c)
    assert c.total == 3 and c.by_reason() == {"magic": 2, "version": 1}


def test_encode_refuses_what_peers_would_reject():
    bad = _rollout()
    bad.rewards = [math.nan] * 8
    with pytest.raises(WireError) as ei:
        encode_rollouts([bad])
    assert "serialise" in str(ei.value)
    big = _rollout()
    big.completions[0] = "x" * 70000
    with pytest.raises(WireError):
        encode_rollouts([big])
    weird = _rollout()
    weird.metadata = {"obj": object()}
    with pytest.raises(WireError):
        encode_rollouts([weird])


def test_header_len():
    assert HEADER_LEN == 5


_text = st.text(max_size=50)


@settings(max_examples=60, deadline=None)
@given(st.lists(st.builds(
    lambda t, q, a, cs, r, p: Rollout(task=t, question=q, answer=a, completions=cs,
                                      rewards=[float(i) for i in range(len(cs))], round=r, peer_id=p,
                                      metadata={"q": q}),
    _text, _text, _text, st.lists(_text, min_size=1, max_size=8), st.integers(0, 2**40), _text), max_size=5))
def test_property_round_trip(rs):
    assert decode_rollouts(encode_rollouts(rs)) == rs


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=400))
def test_property_random_bytes_never_crash(blob):
    for data in (blob, MAGIC + bytes([VERSION]) + blob, MAGIC + bytes([VERSION]) + zlib.compress(blob)):
        try:
            decode_rollouts(data)
        except WireError:
            pass


def test_deep_nesting_rejected_without_recursing():
    # With a raised recursion limit CPython's JSON scanner would overflow the C stack (segfault).
    import sys
    old = sys.getrecursionlimit()
    sys.setrecursionlimit(10**6)
    try:
        for text in ("[" * 200000, '{"a":' * 200000, '{"rollouts":[' + "[{" * 50000):
            _rejects(MAGIC + bytes([VERSION]) + zlib.compress(text.encode()), "json")
        deep_meta = _doc(metadata={"a": {"b": {"c": 1}}})
        assert decode_rollouts(_frame(deep_meta))[0].metadata == {"a": {"b": {"c": 1}}}
        # Brackets inside strings are text, not structure.
        assert decode_rollouts(_frame(_doc(question="[" * 5000 + '\\"{')))[0].question == "[" * 5000 + '\\"{'
    finally:
        sys.setrecursionlimit(old)


def test_structure_flood_rejected():
    flood = '{"rollouts":[' + ",".join(["1"] * 600000) + "]}"
    _rejects(MAGIC + bytes([VERSION]) + zlib.compress(flood.encode()), "json")


def test_an_old_node_refuses_v3_groups_with_a_counted_version_error(monkeypatch):
    """During an upgrade a v2 node reads a v3 group: a counted `version` refusal, never a crash."""
    import core.swarm.wire as wire

    data = encode_rollouts([_rollout()])
    monkeypatch.setattr(wire, "READS", (1, 2))  # what a v2 release accepts
    _rejects(data, "version")
