"""Invites: the string round-trips, and every damaged or edited one is refused with a clear error.

No network: decode() checks form and signature only (check() is exercised by the netns test
and tests/integration/test_swarm_host.py).
"""

from __future__ import annotations

import base64
import json

import pytest
from eth_account import Account

from core.hosting import invite as inv_mod
from core.hosting.invite import Invite, InviteError, decode, encode

KEY = Account.create().key.hex()
PEER = "QmYyQSo1c1Ym7orWxLYvCrM2EmxFTANf8wXmmE7DWjhx5N"
GOOD = Invite(name="myswarm", chain_id=31337, rpc_url="http://192.0.2.1:8545",
              coordinator="0x" + "ab" * 20, bootnodes=(f"/ip4/192.0.2.1/tcp/38331/p2p/{PEER}",),
              backend="web3", faucet="http://192.0.2.1:8545/faucet", round_seconds=120.0)


def _parts(s: str) -> tuple[dict, str]:
    body, sig = s[len(inv_mod.PREFIX):].split(".")
    return json.loads(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4))), sig


def _reencode(payload: dict, sig: str) -> str:
    body = base64.urlsafe_b64encode(json.dumps(payload, sort_keys=True, separators=(",", ":")).encode()).decode()
    return f"{inv_mod.PREFIX}{body.rstrip('=')}.{sig}"


def test_round_trip_recovers_the_signer_and_holds_no_secret():
    s = encode(GOOD, KEY)
    got = decode(s)
    assert got == GOOD
    assert got.signer == Account.from_key(KEY).address
    assert KEY.removeprefix("0x") not in s
    assert decode("  " + s[:40] + "\n" + s[40:] + "\n") == GOOD  # wrapped by a terminal: still one invite
    assert set(got.public_dict()) == {"v", "name", "chain_id", "rpc_url", "coordinator", "bootnodes", "backend",
                                      "faucet", "round_seconds", "signer"}


def test_an_edited_field_changes_the_recovered_signer():
    s = encode(GOOD, KEY)
    payload, sig = _parts(s)
    payload["rpc_url"] = "http://198.51.100.9:8545"
    edited = decode(_reencode(payload, sig))  # the form is fine ...
    assert edited.signer != Account.from_key(KEY).address  # ... but it no longer comes from the host's key


@pytest.mark.parametrize("text, says", [
    ("", "not a swarmdeck invite"),
    ("hello", "not a swarmdeck invite"),
    ("swarmdeck-invite1.", "cut or has extra"),
    ("swarmdeck-invite1.abc", "cut or has extra"),
    ("swarmdeck-invite1.a.b.c", "cut or has extra"),
    ("swarmdeck-invite1.!!!!.AAAA", "damaged"),
    ("swarmdeck-invite1." + "A" * 5000 + ".AA", "characters long"),
])
def test_garbage_is_refused(text, says):
    with pytest.raises(InviteError) as e:
        decode(text)
    assert says in e.value.what
    assert e.value.fix


@pytest.mark.parametrize("field, value, says", [
    ("chain_id", -1, "chain_id"),
    ("chain_id", "31337", "chain_id"),
    ("rpc_url", "ftp://x", "rpc_url"),
    ("coordinator", "0x12", "coordinator"),
    ("bootnodes", [], "bootnodes"),
    ("bootnodes", ["/ip4/1.2.3.4/tcp/1"], "no /p2p/"),
    ("bootnodes", ["/ip4/999.2.3.4/tcp/1/p2p/" + PEER], "IPv4"),
    ("backend", "magic", "backend"),
    ("name", "../etc", "name"),
    ("v", 2, "version"),
    ("extra", 1, "unknown fields"),
])
def test_bad_fields_are_refused_by_name(field, value, says):
    payload, sig = _parts(encode(GOOD, KEY))
    payload[field] = value
    with pytest.raises(InviteError) as e:
        decode(_reencode(payload, sig))
    assert says in e.value.what


def test_a_damaged_signature_is_refused():
    s = encode(GOOD, KEY)
    payload, _ = _parts(s)
    with pytest.raises(InviteError, match="signature"):
        decode(_reencode(payload, "AAAA"))


def test_encode_refuses_bad_settings():
    with pytest.raises(InviteError, match="bootnodes"):
        encode(Invite(name="x", chain_id=1, rpc_url="http://a", coordinator="0x" + "00" * 20, bootnodes=()), KEY)
