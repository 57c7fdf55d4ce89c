"""core.swarm.records + validator: signed records bind the owner's key, the key, the subkey and the expiration."""

from __future__ import annotations

import msgpack
import pytest

from core.identity import files as identity
from core.swarm import records
from core.swarm.validator import SwarmRecordValidator


def _pem(tmp_path_factory, name):
    p = tmp_path_factory.mktemp(name) / "swarm.pem"
    identity.load_or_create_swarm_pem(p)
    return p


@pytest.fixture(scope="module")
def signers(tmp_path_factory):
    return [records.Signer.from_pem(_pem(tmp_path_factory, n)) for n in ("a", "b")]


BODY = {"peer": "", "round": 7, "groups": [[100, [b"\x01" * 20], 8, 0.5, 0.5, True]]}
EXP = 1_800_000_000.0


def _open(key, signer_subkey, value, exp=EXP):
    return records.open_signed(records.key_id(key), signer_subkey, value, exp)


def test_sign_and_open_round_trip(signers):
    a, _ = signers
    key = records.manifest_key(7, 0, 0)
    body = dict(BODY, peer=a.peer_id)
    rec = _open(key, records.peer_subkey(a.peer_id), a.signed_value("m", key, EXP, body))
    assert rec.peer_id == a.peer_id and rec.kind == "m" and rec.body == body
    m = records.parse_manifest(rec, 7, 4 * 1024 * 1024, 64)
    assert m.groups[0].size == 100 and m.groups[0].signal and m.groups[0].chunks == (b"\x01" * 20,)
    assert a.peer_id == identity.peer_id_from_public_der(a.public_der)


def test_key_id_is_hiveminds():
    from hivemind.dht.routing import DHTID

    for k in (records.manifest_key(3, 2, 1), records.chunk_key(b"\xff" * 20), "x"):
        assert records.key_id(k) == DHTID.generate(source=k).to_bytes()


@pytest.mark.parametrize("tamper,reason", [
    ("other_key", "signature"),        # replayed under another round / bucket
    ("other_exp", "signature"),        # expiration extended
    ("victim_subkey", "impostor"),     # stored under someone else's id
    ("victim_der", "signature"),       # claims the victim's public key, signed with its own
    ("version", "version"),
    ("chunk_subkey", "subkey"),
    ("not_ours", "subkey"),
    ("garbage", "format"),
    ("huge", "format"),
])
def test_forged_and_replayed_records_refused(signers, tamper, reason):
    a, b = signers
    key = records.manifest_key(7, 0, 0)
    value = b.signed_value("m", key, EXP, dict(BODY, peer=b.peer_id))
    kid, sk, exp = records.key_id(key), records.peer_subkey(b.peer_id), EXP
    if tamper == "other_key":
        kid = records.key_id(records.manifest_key(8, 0, 0))
    elif tamper == "other_exp":
        exp = EXP + 600
    elif tamper == "victim_subkey":
        sk = records.peer_subkey(a.peer_id)
    elif tamper == "victim_der":
        kind, body, _der, sig = msgpack.unpackb(value[4:], raw=False)
        value = value[:4] + msgpack.packb([kind, body, a.public_der, sig], use_bin_type=True)
        sk = records.peer_subkey(a.peer_id)
    elif tamper == "version":
        value = b.signed_value("m", key, EXP, dict(BODY, peer=b.peer_id), version=3)
    elif tamper == "chunk_subkey":
        sk = records.CHUNK_SUBKEY
    elif tamper == "not_ours":
        sk = b.peer_id
    elif tamper == "garbage":
        value = records.SIGNED_MAGIC + bytes([records.VERSION]) + b"\xc1\xc1"
    elif tamper == "huge":
        value = records.SIGNED_MAGIC + bytes([records.VERSION]) + b"\0" * records.MAX_SIGNED_BYTES
    with pytest.raises(records.RecordError) as ei:
        records.open_signed(kid, sk, value, exp)
    assert ei.value.reason == reason, str(ei.value)


def test_manifest_body_checks(signers):
    a, _ = signers
    key = records.manifest_key(7, 0, 0)

    def parse(body):
        rec = _open(key, records.peer_subkey(a.peer_id), a.signed_value("m", key, EXP, body))
        return records.parse_manifest(rec, 7, 1_000_000, 64)

    ok = dict(BODY, peer=a.peer_id)
    parse(ok)
    bad = [dict(ok, peer="QmSomeoneElse"), dict(ok, groups=[]), dict(ok, groups=[[1, 2]]),
           dict(ok, groups=[[10**9, [b"\x01" * 20], 8, 0.5, 0.5, True]]),           # over the size limit
           dict(ok, groups=[[2000, [b"\x01" * 20] * 50, 8, 0.5, 0.5, True]]),       # a chunk-request flood
           dict(ok, groups=[[100, [b"\x01" * 19], 8, 0.5, 0.5, True]]),
           dict(ok, groups=[[100, [b"\x01" * 20], 99, 0.5, 0.5, True]]),
           dict(ok, groups=[[100, [b"\x01" * 20], 8, float("nan"), 0.5, True]]),
           dict(ok, groups=[[100, [b"\x01" * 20], 8, 0.5, 0.5, 1]]),
           dict(ok, extra=1), {"x": 1}]
    for body in bad:
        with pytest.raises(records.RecordError):
            parse(body)


def test_chunks_are_content_addressed():
    key, value, digest = records.chunk_value(b"payload")
    kid = records.key_id(key)
    assert records.check_chunk(kid, records.CHUNK_SUBKEY, value) == b"payload"
    _key2, other, _ = records.chunk_value(b"other payload")
    for v, reason in ((other, "checksum"), (b"SDC\x03payload", "version"), (b"raw bytes", "chunk"),
                      (b"SDC\x02" + b"\0" * records.MAX_CHUNK_VALUE, "chunk")):
        with pytest.raises(records.RecordError) as ei:
            records.check_chunk(kid, records.CHUNK_SUBKEY, v)
        assert ei.value.reason == reason
    with pytest.raises(records.RecordError):
        records.check_chunk(kid, records.peer_subkey("QmX"), value)


def test_validator_judges_sd2_records_only_and_counts(signers):
    from hivemind.dht.validation import DHTRecord
    from hivemind.utils import MSGPackSerializer as S

    a, b = signers
    v = SwarmRecordValidator()
    key = records.manifest_key(7, 0, 0)
    good = a.signed_value("m", key, EXP, dict(BODY, peer=a.peer_id))

    def rec(subkey, value, k=key, exp=EXP):
        return DHTRecord(records.key_id(k), S.dumps(subkey), S.dumps(value), exp)

    assert v.validate(rec(records.peer_subkey(a.peer_id), good))
    assert not v.validate(rec(records.peer_subkey(b.peer_id), good))            # impostor
    assert not v.validate(rec(records.peer_subkey(a.peer_id), good, records.manifest_key(9, 0, 0)))  # replay
    assert not v.validate(rec(records.peer_subkey(a.peer_id), b"junk"))
    v3 = a.signed_value("m", key, EXP, dict(BODY, peer=a.peer_id), version=3)
    assert not v.validate(rec(records.peer_subkey(a.peer_id), v3))
    ck, cv, _ = records.chunk_value(b"data")
    assert v.validate(rec(records.CHUNK_SUBKEY, cv, ck))
    assert not v.validate(rec(records.CHUNK_SUBKEY, cv + b"x", ck))
    # Not ours (other key spaces, version-1 nodes): not judged.
    assert v.validate(rec(a.peer_id, b'{"v":1}'))
    assert v.validate(DHTRecord(records.key_id("swarmdeck/peers"), S.dumps(None), S.dumps(b"x"), EXP))
    assert dict(v.refused) == {"impostor": 1, "signature": 1, "format": 1, "version": 1, "version_3": 1,
                               "checksum": 1}
