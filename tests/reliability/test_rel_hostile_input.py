"""Hostile input, property-based (hypothesis): config parser, rollout wire format, control-socket
protocol (pure parser and a live supervisor), login API bodies (a live service), broken identity files.

Every case: a clear error of the parser's own type, no crash of the long-running process, nothing
written where it should not be. The same targets run for a set time in `just fuzz SECONDS`.
"""

from __future__ import annotations

import json
import os
import stat

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import core.supervisor as control
from core.chain.devnet import free_port
from core.login.accounts import AccountStore
from core.login.service import LoginService, ServiceThread
from core.base.paths import ProfilePaths
from core.swarm import wire

from tests.helpers.hostile import (LOGIN_POSTS, VALID_CONFIG, VALID_WIRE, broken_identity_corpus, broken_login_corpus,
                      check_config_text, check_control_line, check_identity_bytes, check_login_body, check_wire,
                      raw_socket_exchange, sample_rollouts, snapshot, wrap_payload)
from tests.helpers.supervisor import supervise_fake_node

N = int(os.environ.get("SWARMDECK_HYPOTHESIS_EXAMPLES", "150"))
SETTINGS = settings(max_examples=N, deadline=None, suppress_health_check=list(HealthCheck), database=None)

json_scalars = st.none() | st.booleans() | st.integers(-2**70, 2**70) | st.floats(allow_nan=False) | st.text(max_size=40)
json_values = st.recursive(json_scalars, lambda c: st.lists(c, max_size=5) | st.dictionaries(st.text(max_size=12), c, max_size=5),
                           max_leaves=20)
toml_scalars = st.booleans() | st.integers(-2**63, 2**63 - 1) | st.floats(allow_nan=False, allow_infinity=False) | \
    st.text(max_size=30)
toml_values = st.recursive(toml_scalars, lambda c: st.lists(c, max_size=4), max_leaves=8)
config_keys = st.sampled_from(["current_profile", "language", "network", "model", "quant", "gpus", "dht_port",
                               "login_port", "backend", "hf_repo", "questions_local", "generations", "bootnodes",
                               "rpc_url", "chain_id", "coordinator", "refresh_seconds", "x", "stall_timeout"])
tables = st.sampled_from(["", "[tui]", "[profiles.main]", "[profiles.main.training]", "[profiles.main.daemon]",
                          "[networks.custom]", "[profiles.other]", "[profiles]", "[[profiles.main]]", "[networks]"])


def _toml_literal(v) -> str:
    import tomlkit

    return tomlkit.item(v).as_string()


@st.composite
def mutated_configs(draw) -> str:
    lines = VALID_CONFIG.splitlines()
    for _ in range(draw(st.integers(1, 4))):
        op = draw(st.sampled_from(["replace", "insert", "delete", "garbage"]))
        i = draw(st.integers(0, len(lines)))
        if op == "replace" and i < len(lines):
            lines[i] = f"{draw(config_keys)} = {_toml_literal(draw(toml_values))}"
        elif op == "insert":
            lines.insert(i, draw(tables) + "\n" + f"{draw(config_keys)} = {_toml_literal(draw(toml_values))}")
        elif op == "delete" and i < len(lines):
            del lines[i]
        else:
            lines.insert(i, draw(st.text(max_size=40)))
    return "\n".join(lines) + "\n"


# ------------------------------------------------------------------------------- config

@SETTINGS
@given(st.text(max_size=400) | mutated_configs())
def test_config_parser_never_crashes(tmp_path_factory, text):
    check_config_text(text, tmp_path_factory.mktemp("cfg"))


def test_config_problems_name_the_line_and_key():
    text = VALID_CONFIG.replace("dht_port = 0", "dht_port = 99999").replace('quant = "auto"', "quant = 5")
    problems = check_config_text(text)
    by_key = {p.key: p for p in problems}
    assert "profiles.main.dht_port" in by_key and by_key["profiles.main.dht_port"].line == 12
    assert "profiles.main.quant" in by_key and by_key["profiles.main.quant"].line == 10


# ------------------------------------------------------------------------------- wire

@SETTINGS
@given(st.binary(max_size=2048) | st.binary(max_size=512).map(wrap_payload)
       | json_values.map(lambda v: wrap_payload(json.dumps(v).encode()))
       | json_values.map(lambda v: wrap_payload(json.dumps({"rollouts": [v]}).encode())))
def test_wire_decoder_refuses_garbage_cleanly(data):
    check_wire(data)


@SETTINGS
@given(st.integers(0, len(VALID_WIRE) - 1), st.integers(0, 255))
def test_wire_decoder_byte_flips(pos, val):
    data = bytearray(VALID_WIRE)
    data[pos] = val
    check_wire(bytes(data))
    check_wire(VALID_WIRE[:pos])


rollout_dicts = st.fixed_dictionaries({
    "task": st.text(min_size=1, max_size=20), "question": st.text(max_size=60), "answer": st.text(max_size=20),
    "completions": st.lists(st.text(max_size=30), min_size=1, max_size=4),
    "round": st.integers(0, 2**40), "peer_id": st.text(min_size=1, max_size=50),
    "metadata": st.dictionaries(st.text(max_size=8), json_scalars, max_size=3)})


@SETTINGS
@given(st.lists(rollout_dicts, max_size=4), st.data())
def test_wire_round_trip_of_valid_rollouts(dicts, data):
    from core.base.rollouts import Rollout

    rs = []
    for d in dicts:
        n = len(d["completions"])
        rewards = data.draw(st.lists(st.floats(-1e5, 1e5, allow_nan=False), min_size=n, max_size=n))
        rs.append(Rollout(rewards=rewards, **d))
    try:
        blob = wire.encode_rollouts(rs)
    except wire.WireError:
        return  # e.g. a non-finite value; the sender refuses what a receiver would
    back = wire.decode_rollouts(blob)
    assert [(r.question, r.completions, r.round, r.peer_id) for r in back] == \
        [(r.question, r.completions, r.round, r.peer_id) for r in rs]


# ------------------------------------------------------------------------------- control protocol

request_dicts = st.fixed_dictionaries(
    {"v": st.sampled_from([1, 1, 2, "1", None]), "cmd": st.sampled_from(sorted(control.COMMANDS) + ["nope", "", "subscribe"])},
    optional={"id": json_scalars, **{k: json_values for k in ["replay", "types", "n", "source", "now", "exit",
                                                                "timeout", "follow", "since_seq", "zzz"]}})


@SETTINGS
@given(st.binary(max_size=300) | request_dicts.map(lambda d: json.dumps(d).encode())
       | json_values.map(lambda v: json.dumps(v).encode()))
def test_control_parser_never_crashes(line):
    check_control_line(line)


def test_control_parser_limits():
    assert check_control_line(b'{"v":1,"cmd":"status"}')["cmd"] == "status"
    for bad in [b"x" * (control.MAX_LINE + 1), b"[" * 100000, b'{"v":1,"cmd":"logs","n":-1}',
                b'{"v":1,"cmd":"subscribe","replay":1e9}', b'{"v":1,"cmd":"status","id":true}']:
        assert check_control_line(bad) is None
    # subscribe was removed (clients follow events.jsonl): it is an unknown command, with the documented error
    with pytest.raises(control.ProtocolError) as e:
        control.parse_request(b'{"v":1,"id":7,"cmd":"subscribe","replay":10}')
    assert (e.value.code, e.value.req_id) == ("unknown_cmd", 7)


@pytest.fixture
def fake_supervisor(monkeypatch):
    """A live supervisor (on the fake node: what is under test here is the supervisor's socket)."""
    import core.supervisor as daemon

    supervise_fake_node(monkeypatch)
    daemon.spawn_detached("hostile")
    paths = ProfilePaths("hostile")
    yield paths
    daemon.stop_profile("hostile", now=True, timeout=20)


@settings(max_examples=max(20, N // 3), deadline=None, suppress_health_check=list(HealthCheck), database=None)
@given(payload=st.lists(st.binary(max_size=200) | request_dicts.map(lambda d: json.dumps(d).encode()),
                        min_size=1, max_size=5))
def test_live_supervisor_survives_garbage(fake_supervisor, payload):
    from hypothesis import assume

    paths = fake_supervisor
    sock = str(paths.control_socket)
    lines = [p.replace(b"\n", b" ") for p in payload]
    # a well-formed stop/start/restart is obeyed (that is not garbage): keep those out
    assume(not any((check_control_line(x) or {}).get("cmd") in ("stop", "start", "restart") for x in lines))
    raw = b"\n".join(lines) + b"\n"
    # a stream request would never end on its own: the reply lines are read until the server goes quiet
    replies = raw_socket_exchange(sock, raw, timeout=1.0)
    for r in replies:
        # a reply, an error (subscribe included: an unknown command now), or a `logs --follow` line
        assert isinstance(r, dict) and ("ok" in r or "type" in r or "error" in r
                                        or isinstance(r.get("line"), str)), r
        if r.get("error", {}).get("code") == "unknown_cmd":
            assert r["ok"] is False and "known:" in r["error"]["message"]
    st_ = control.ControlClient(paths, timeout=10).status()
    assert st_["state"] in ("starting", "running"), st_
    assert stat.S_IMODE(os.stat(sock).st_mode) == 0o600


def test_live_supervisor_oversized_and_torn_lines(fake_supervisor):
    paths = fake_supervisor
    sock = str(paths.control_socket)
    for payload in [b"x" * (control.MAX_LINE * 3) + b"\n", b'{"v":1,"cmd":"sta', b"\xff" * 1000 + b"\n",
                    b'{"v":1,"cmd":"subscribe"}\n']:
        try:
            raw_socket_exchange(sock, payload, timeout=1.0)
        except (ConnectionError, OSError):
            pass  # the server may cut an abusive client off; it must stay up
    assert control.ControlClient(paths, timeout=10).status()["state"] in ("starting", "running")


# ------------------------------------------------------------------------------- login API

@pytest.fixture(scope="module")
def login_service(tmp_path_factory):
    # module-scoped: one live service takes every case (the point: it must survive them all)
    home = tmp_path_factory.mktemp("loginhome")
    old = {k: os.environ.get(k) for k in ("SWARMDECK_HOME", "HOME")}
    os.environ["SWARMDECK_HOME"] = str(home / "sd")
    paths = ProfilePaths("hostile-login")
    svc = ServiceThread(LoginService(paths.identity_dir, port=free_port())).start()
    watched = [paths.identity_dir, AccountStore("local").dir]
    yield svc.url, watched
    svc.stop()
    for k, v in old.items():
        if v is None:
            os.environ.pop(k, None)
        else:
            os.environ[k] = v


login_bodies = st.dictionaries(
    st.sampled_from(["email", "orgId", "apiKey", "whoamiStamp", "peerId", "roundNumber", "stageNumber", "reward",
                     "winners", "accountAddress", "x"]), json_values, max_size=6)


@SETTINGS
@given(endpoint=st.sampled_from(LOGIN_POSTS),
       raw=login_bodies.map(lambda d: json.dumps(d).encode()) | st.binary(max_size=200)
       | json_values.map(lambda v: json.dumps(v).encode()))
def test_login_api_hostile_bodies(login_service, endpoint, raw):
    url, watched = login_service
    status = check_login_body(url, endpoint, raw, watched)
    if endpoint != "login":
        assert status >= 400  # nobody signed in: every other write must be refused


def test_login_api_refuses_huge_body(login_service):
    url, watched = login_service
    for endpoint in LOGIN_POSTS:
        assert check_login_body(url, endpoint, b'{"email": "' + b"a" * (2 * 1024 * 1024) + b'"}', watched) == 413


# ------------------------------------------------------------------------------- identity corpus

@pytest.mark.parametrize("name", sorted(broken_identity_corpus()))
def test_broken_swarm_pem_is_a_clear_identity_error(tmp_path, name):
    check_identity_bytes(tmp_path, broken_identity_corpus()[name])


@pytest.mark.parametrize("name", sorted(broken_login_corpus()))
def test_broken_login_files_are_a_clear_identity_error(tmp_path, name):
    from core.identity import files as identity
    from core.base.errors import IdentityError

    fname, raw = broken_login_corpus()[name]
    d = tmp_path / "id"
    d.mkdir()
    (d / "userData.json").write_text(json.dumps({"org": {"orgId": "org", "address": "0x1"}}))
    (d / fname).write_bytes(raw)
    before = snapshot(d)
    with pytest.raises(IdentityError) as ei:
        identity.read_login(d)
    assert ei.value.what and ei.value.fix
    assert snapshot(d) == before


@SETTINGS
@given(st.binary(max_size=3000))
def test_random_swarm_pem_bytes(tmp_path_factory, raw):
    check_identity_bytes(tmp_path_factory.mktemp("pem"), raw)


def test_sample_rollouts_encode():  # the fuzz seeds themselves are valid
    assert len(wire.decode_rollouts(wire.encode_rollouts(sample_rollouts()))) == 2


def test_config_duplicate_key_is_a_problem_not_a_crash(tmp_path):
    """Found by the property test above: tomlkit raises KeyAlreadyPresent (not a ParseError) for a key
    defined twice in one table, and the config loader let it escape as a traceback."""
    problems = check_config_text('[profiles.main]\nmodel = "auto"\nmodel = "tiny"\n', tmp_path)
    assert problems and "not valid TOML" in problems[0].message


def test_refused_second_account_sign_in_writes_nothing(tmp_path):
    """Found by `just fuzz`: a sign-in with another email on an already signed-in profile was refused
    (409) but had already created that account, with a fresh EOA key, in the account store."""
    from tests.helpers.hostile import post

    paths = ProfilePaths("twice")
    with ServiceThread(LoginService(paths.identity_dir, port=free_port())) as svc:
        assert post(f"{svc.url}/api/login", b'{"email": "first@example.com"}')[0] == 200
        watched = [paths.identity_dir, AccountStore("local").dir]
        before = snapshot(*watched)
        st, body = post(f"{svc.url}/api/login", b'{"email": "second@example.com"}')
        assert st == 409 and "another account" in body["error"]
        assert snapshot(*watched) == before
        assert post(f"{svc.url}/api/login", b'{"email": "First@Example.com"}')[0] == 200  # same account again: fine
