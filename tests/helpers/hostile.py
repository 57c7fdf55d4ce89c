"""Hostile-input targets shared by the property tests (tests/reliability) and the timed fuzz run (tests/fuzz).

Each `check_*` feeds one input to one parser and asserts the contract: the parser either accepts it
or raises its own clear error type (with a message); nothing else escapes (no crash, no bare
traceback). The live-process targets also check that the process keeps serving and that nothing
is written where it should not be.
"""

from __future__ import annotations

import json
import random
import socket
import time
import urllib.error
import urllib.request
import zlib
from pathlib import Path

from core.config import settings as _config
import core.supervisor as control
from core.identity import files as identity
from core.base.errors import IdentityError, SwarmdeckError
from core.base.rollouts import Rollout
from core.swarm import wire

# ------------------------------------------------------------------------------- config

VALID_CONFIG = """\
current_profile = "main"
language = "en"

[tui]
refresh_seconds = 1.0

[profiles.main]
network = "local"
model = "auto"
quant = "auto"
gpus = [0]
dht_port = 0
login_port = 3000
backend = "web3"

[profiles.main.training]
questions_local = 4
generations = 8
"""


def check_config_text(text: str, tmp: Path | None = None) -> list:
    """validate_text never raises; every problem names a file and a message. If `tmp` is given, the
    strict loader on that file raises a SwarmdeckError (never anything else) and leaves the file as it was."""
    doc, problems = _config.validate_text(text, file="fuzz.toml")
    for p in problems:
        assert p.file == "fuzz.toml" and str(p.message).strip(), p
        str(p)  # renders
    if tmp is not None:
        path = tmp / "config.toml"
        path.write_text(text, encoding="utf-8")
        before = path.read_bytes()
        try:
            _config.load_config(path, create=False, strict=True)
        except SwarmdeckError as e:
            assert e.what
        assert path.read_bytes() == before, "loading a config must not rewrite it"
    return problems


# ------------------------------------------------------------------------------- wire

def sample_rollouts(n: int = 2, g: int = 3) -> list[Rollout]:
    return [Rollout(task="arith", question=f"q{i}?", answer=str(i), completions=[f"c{j}" for j in range(g)],
                    rewards=[float(j) for j in range(g)], round=3, peer_id="QmPeer", metadata={"i": i})
            for i in range(n)]


VALID_WIRE = wire.encode_rollouts(sample_rollouts())


def check_wire(data: bytes) -> list | None:
    """decode_rollouts returns Rollouts or raises WireError (a SwarmError); anything else is a bug."""
    counter = wire.RejectCounter()
    try:
        out = wire.decode_rollouts(data, counter=counter)
    except wire.WireError as e:
        assert e.reason and counter.total == 1
        return None
    assert all(isinstance(r, Rollout) for r in out)
    return out


def wrap_payload(payload: bytes) -> bytes:
    """A well-framed message around an arbitrary inflated payload (reaches the JSON/schema layer)."""
    return wire.MAGIC + bytes([wire.VERSION]) + zlib.compress(payload)


# ------------------------------------------------------------------------------- control protocol

def check_control_line(line: bytes) -> dict | None:
    try:
        req = control.parse_request(line)
    except control.ProtocolError as e:
        assert e.code and str(e.message)
        return None
    assert req["cmd"] in control.COMMANDS
    return req


def raw_socket_exchange(sock_path: str, payload: bytes, timeout: float = 5.0) -> list[dict]:
    """Send raw bytes to a control socket; return every JSON reply line until the server closes or goes quiet."""
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(timeout)
    s.connect(sock_path)
    try:
        s.sendall(payload)
        s.shutdown(socket.SHUT_WR)
        buf = b""
        deadline = time.monotonic() + 2 * timeout  # a subscribe stream never ends by itself
        while time.monotonic() < deadline:
            try:
                chunk = s.recv(65536)
            except socket.timeout:
                break
            if not chunk:
                break
            buf += chunk
    finally:
        s.close()
    return [json.loads(x) for x in buf.splitlines() if x.strip()]


# ------------------------------------------------------------------------------- login API

LOGIN_POSTS = ["login", "get-api-key", "set-api-key-activated", "register-peer", "submit-reward", "submit-winner"]


def post(url: str, raw: bytes, headers: dict | None = None, timeout: float = 10.0) -> tuple[int, dict | str]:
    req = urllib.request.Request(url, data=raw, method="POST",
                                 headers={"Content-Type": "application/json", **(headers or {})})
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            status, body = r.status, r.read()
    except urllib.error.HTTPError as e:
        status, body = e.code, e.read()
    try:
        return status, json.loads(body)
    except ValueError:
        return status, body.decode("utf-8", "replace")


def snapshot(*dirs: Path) -> dict:
    out = {}
    for d in dirs:
        if d.exists():
            for f in sorted(d.rglob("*")):
                if f.is_file():
                    out[str(f)] = f.read_bytes()
    return out


def check_login_body(base_url: str, endpoint: str, raw: bytes, watched: list[Path]) -> int:
    """A hostile body: a clear 4xx with an error message, never a 5xx; nothing written on a refusal;
    the service still answers afterwards."""
    before = snapshot(*watched)
    status, body = post(f"{base_url}/api/{endpoint}", raw)
    assert status < 500, (status, body)
    if status >= 400:
        assert isinstance(body, dict) and str(body.get("error", "")).strip(), body
        assert snapshot(*watched) == before, f"{endpoint} refused ({status}) but wrote files"
    with urllib.request.urlopen(f"{base_url}/api/health", timeout=10) as r:
        assert r.status == 200
    return status


# ------------------------------------------------------------------------------- identity files

def broken_identity_corpus() -> dict[str, bytes]:
    """swarm.pem variants that are not a usable hivemind identity (name -> bytes)."""
    good = identity.new_swarm_pem_bytes()
    rnd = random.Random(1)
    corpus: dict[str, bytes] = {
        "empty": b"",
        "one-byte": b"\x08",
        "text-pem": b"-----BEGIN PRIVATE KEY-----\nMIIB\n-----END PRIVATE KEY-----\n",
        "random-64": bytes(rnd.randrange(256) for _ in range(64)),
        "random-2k": bytes(rnd.randrange(256) for _ in range(2048)),
        "zeros-1k": b"\0" * 1024,
        "truncated-half": good[: len(good) // 2],
        "truncated-minus-1": good[:-1],
        "trailing-junk": good + b"\x00junk",
        "ed25519-type": identity._encode_key_msg(1, b"\x01" * 64),
        "secp256k1-type": identity._encode_key_msg(2, b"\x01" * 32),
        "rsa-type-garbage-der": identity._encode_key_msg(0, b"\x30\x82\x01\x00" + b"\x00" * 256),
        "varint-overflow": b"\x08" + b"\xff" * 12,
        "length-past-end": b"\x08\x00\x12\xff\xff\x03" + b"\x00" * 10,
        "unknown-field": b"\x18\x01" + good,
        "huge": b"\x08\x00\x12" + b"\x00" * (2 * 1024 * 1024),
        "utf16-bom": "\ufeffnot a key".encode("utf-16"),
    }
    flipped = bytearray(good)
    flipped[len(good) // 2] ^= 0xFF
    corpus["bitflip-middle"] = bytes(flipped)
    return corpus


def broken_login_corpus() -> dict[str, tuple[str, bytes]]:
    """(file name, bytes) of userData.json / userApiKey.json that read_login must refuse clearly."""
    deep = b"[" * 100000 + b"]" * 100000
    return {
        "userdata-not-json": ("userData.json", b"{not json"),
        "userdata-list": ("userData.json", b"[1,2]"),
        "userdata-values-not-objects": ("userData.json", b'{"org": 5}'),
        "userdata-binary": ("userData.json", b"\xff\xfe\x00garbage"),
        "userdata-deep": ("userData.json", deep),
        "apikey-not-json": ("userApiKey.json", b"{"),
        "apikey-wrong-shape": ("userApiKey.json", b'{"org": {"publicKey": "x"}}'),
        "apikey-entries-not-objects": ("userApiKey.json", b'{"org": [1, 2]}'),
        "apikey-deep": ("userApiKey.json", b'{"org": ' + deep + b"}"),
    }


def check_identity_bytes(tmp: Path, raw: bytes) -> None:
    p = tmp / "swarm.pem"
    p.write_bytes(raw)
    try:
        identity.peer_id_from_pem(p)
    except IdentityError as e:
        assert e.what and e.fix, e
    else:
        raise AssertionError("a broken swarm.pem was accepted")
    # load_or_create must refuse it too, and never replace the damaged file
    try:
        identity.load_or_create_swarm_pem(p)
    except IdentityError:
        pass
    else:
        raise AssertionError("load_or_create accepted a broken swarm.pem")
    assert p.read_bytes() == raw
