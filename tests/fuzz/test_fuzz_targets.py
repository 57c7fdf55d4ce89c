"""Timed mutation fuzzing of every hostile-input target (run by `just fuzz SECONDS`, not by `just test`).

Seeds are valid inputs; each case applies a few random mutations (bit flips, byte edits, splices,
truncations, duplicated chunks, "interesting" values). The checks are the property tests' checks
(tests/helpers/hostile.py): own clear error type or success, a live process stays up, nothing
written on refusal. Each target prints how many cases it ran; SWARMDECK_FUZZ_SEED makes a run repeatable.
"""

from __future__ import annotations

import json
import os
import random
import time
import zlib

import pytest

import core.supervisor as control
from core.identity import files as identity
from core.chain.devnet import free_port
from core.base.errors import IdentityError
from core.login.accounts import AccountStore
from core.login.service import LoginService, ServiceThread
from core.base.paths import ProfilePaths
from core.swarm import wire

from tests.helpers.hostile import (LOGIN_POSTS, VALID_CONFIG, VALID_WIRE, check_config_text, check_control_line, check_login_body,
                      check_wire, raw_socket_exchange, wrap_payload)
from tests.helpers.supervisor import supervise_fake_node

SECONDS = float(os.environ.get("SWARMDECK_FUZZ_SECONDS", "10"))
SEED = int(os.environ.get("SWARMDECK_FUZZ_SEED", str(int(time.time()))))
INTERESTING = [b"\x00", b"\xff", b"\x7f", b"\x80", b"[", b"{", b'"', b"\\", b"\n", b"=", b"1e999", b"-1",
               b"9" * 30, b"null", b"[[[[[[[[", b"\xf0\x9f\x98", b"\u2028".decode().encode() if False else b"\xe2\x80\xa8"]
RESULTS: dict[str, int] = {}


def mutate(rng: random.Random, data: bytes, corpus: list[bytes]) -> bytes:
    b = bytearray(data)
    for _ in range(rng.randint(1, 6)):
        op = rng.randrange(8)
        pos = rng.randrange(len(b) + 1)
        if op == 0 and b:
            i = rng.randrange(len(b))
            b[i] ^= 1 << rng.randrange(8)
        elif op == 1 and b:
            b[rng.randrange(len(b))] = rng.randrange(256)
        elif op == 2:
            b[pos:pos] = rng.choice(INTERESTING)
        elif op == 3 and b:
            del b[pos:pos + rng.randint(1, 16)]
        elif op == 4:
            other = rng.choice(corpus)
            j = rng.randrange(len(other) + 1)
            b[pos:] = other[j:]
        elif op == 5 and b:
            j = rng.randrange(len(b))
            b[pos:pos] = b[j:j + rng.randint(1, 64)]
        elif op == 6:
            del b[pos:]
        else:
            b[pos:pos] = bytes(rng.randrange(256) for _ in range(rng.randint(1, 8)))
    return bytes(b)


def drive(name: str, seeds: list[bytes], check, seconds: float = SECONDS) -> int:
    rng = random.Random(f"{SEED}:{name}")
    corpus = list(seeds)
    n = 0
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        case = mutate(rng, rng.choice(corpus), corpus)
        try:
            check(case)
        except AssertionError:
            raise
        except Exception as e:  # anything but the parser's own error type is a finding
            raise AssertionError(f"{name}: {type(e).__name__}: {e} on input {case[:300]!r} (seed {SEED})") from e
        n += 1
        if n % 97 == 0 and len(corpus) < 200:
            corpus.append(case)  # keep some mutants: deeper mutations over time
    RESULTS[name] = n
    print(f"\nfuzz {name}: {n} cases in {seconds:g} s (seed {SEED})")
    assert n > 0
    return n


def test_fuzz_config(tmp_path):
    seeds = [VALID_CONFIG.encode(), (ProfilePaths.__module__ and _example_config())]
    count = [0]

    def check(b: bytes):
        count[0] += 1
        check_config_text(b.decode("utf-8", "replace"), tmp_path if count[0] % 50 == 0 else None)
    drive("config", seeds, check)


def _example_config() -> bytes:
    from core.config.settings import example_text

    return example_text().encode()


def test_fuzz_wire():
    payload = zlib.decompress(VALID_WIRE[wire.HEADER_LEN:])
    seeds = [VALID_WIRE]
    drive("wire (framed bytes)", seeds, check_wire, SECONDS / 2)
    drive("wire (inflated JSON)", [payload], lambda b: check_wire(wrap_payload(b)), SECONDS / 2)


def test_fuzz_control_parser():
    seeds = [json.dumps(x).encode() for x in (
        {"v": 1, "cmd": "status", "id": 1}, {"v": 1, "cmd": "restart", "now": False},
        {"v": 1, "cmd": "logs", "n": 5, "source": "node", "follow": False}, {"v": 1, "cmd": "stop", "now": True})]
    drive("control parser", seeds, check_control_line)


def test_fuzz_identity_files(tmp_path):
    seeds = [identity.new_swarm_pem_bytes()]

    def check(b: bytes):
        try:
            identity.peer_id_from_bytes(b)
        except IdentityError as e:
            assert e.what and e.fix
    drive("swarm.pem", seeds, check)
    d = tmp_path / "id"
    d.mkdir()
    ud = json.dumps({"org": {"orgId": "org", "address": "0x1", "userId": "u", "email": "a@b.io"}}).encode()
    keys = json.dumps({"org": [{"publicKey": "0xP", "privateKey": "0xK", "activated": True}]}).encode()

    def check_login_files(b: bytes):
        (d / "userData.json").write_bytes(b if b[:1] != b"#" else ud)
        (d / "userApiKey.json").write_bytes(keys if b[:1] != b"#" else b)
        try:
            identity.read_login(d)
        except IdentityError as e:
            assert e.what and e.fix
    drive("login files", [ud, keys, b"#" + keys], check_login_files)


def test_fuzz_login_api():
    paths = ProfilePaths("fuzz-login")
    svc = ServiceThread(LoginService(paths.identity_dir, port=free_port())).start()
    watched = [paths.identity_dir, AccountStore("local").dir]
    seeds = [json.dumps(x).encode() for x in (
        {"email": "a@b.io"}, {"whoamiStamp": {"orgId": "x"}}, {"orgId": "x", "apiKey": "0xabc"},
        {"orgId": "x", "peerId": "QmX", "roundNumber": 1, "stageNumber": 0, "reward": 5},
        {"orgId": "x", "peerId": "QmX", "roundNumber": 1, "winners": ["QmY"]})]
    rng = random.Random(SEED)
    try:
        drive("login API", seeds, lambda b: check_login_body(svc.url, rng.choice(LOGIN_POSTS), b, watched))
    finally:
        svc.stop()


@pytest.mark.timeout(0)
def test_fuzz_live_supervisor(monkeypatch):
    import core.supervisor as daemon

    supervise_fake_node(monkeypatch, poll_interval=0.2)
    daemon.spawn_detached("fuzz-sup")
    paths = ProfilePaths("fuzz-sup")
    seeds = [json.dumps(x).encode() for x in ({"v": 1, "cmd": "status"}, {"v": 1, "cmd": "ping", "id": "a"},
                                              {"v": 1, "cmd": "logs", "n": 3})]
    try:
        def check(b: bytes):
            b = b.replace(b"\n", b" ")
            if (check_control_line(b) or {}).get("cmd") in ("stop", "start", "restart"):
                return  # a well-formed lifecycle request is obeyed, not garbage
            raw_socket_exchange(str(paths.control_socket), b.replace(b"\n", b" ") + b"\n", timeout=0.5)
        drive("live supervisor socket", seeds, check)
        assert control.ControlClient(paths, timeout=10).status()["state"] in ("starting", "running")
    finally:
        daemon.stop_profile("fuzz-sup", now=True, timeout=20)
