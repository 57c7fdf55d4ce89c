"""core.config: first run, validation of every problem with file/line/key, comment-keeping edits."""

from __future__ import annotations

from pathlib import Path

import pytest
import tomlkit

from core.config import settings as config
from core.base import paths
from core.base.errors import ConfigError

REPO = Path(__file__).resolve().parents[2]


def test_example_is_valid_and_packaged_copy_identical():
    text = (REPO / "config.example.toml").read_text()
    doc, problems = config.validate_text(text, "config.example.toml")
    assert problems == []
    # one source of truth: the packaged copy (core/config.example.toml) must equal the top-level file
    assert (REPO / "core" / "config.example.toml").read_text() == text


def test_example_shows_the_code_defaults():
    data = tomlkit.parse((REPO / "config.example.toml").read_text()).unwrap()
    prof = data["profiles"]["default"]
    for k, f in config.PROFILE_FIELDS.items():
        assert prof[k] == f.default, k
    for sub, spec in config.PROFILE_SUBTABLES.items():
        assert set(prof[sub]) == set(spec), sub  # every setting is documented
        for k, f in spec.items():
            assert prof[sub][k] == f.default, f"{sub}.{k}"
    assert set(data["tui"]) == set(config.TUI_FIELDS)
    for k, f in config.TUI_FIELDS.items():
        assert data["tui"][k] == f.default
    # dataclass defaults agree with the schema
    s = config.ProfileSettings()
    for k, f in config.TRAINING_FIELDS.items():
        assert getattr(s.training, k) == f.default
    for k, f in config.DAEMON_FIELDS.items():
        assert getattr(s.daemon, k) == f.default
    # every custom-network key is documented (commented) in the example
    text = (REPO / "config.example.toml").read_text()
    for k in config.NETWORK_FIELDS:
        assert f"# {k} = " in text, k


def test_first_run_creates_config_from_example():
    p = paths.config_file()
    assert not p.exists()
    cfg = config.load_config()
    assert p.exists() and p.read_text() == (REPO / "config.example.toml").read_text()
    assert cfg.current_profile == "default" and cfg.profile_names() == ["default"]
    assert config.ensure_config() == (p, False)


def _write(text: str) -> Path:
    p = paths.config_file()
    p.parent.mkdir(parents=True, exist_ok=True)
    p.write_text(text)
    return p


def test_corrupt_toml_names_the_line():
    p = _write('current_profile = "a"\n[profiles.a]\nnetwork = "local\n')
    with pytest.raises(ConfigError) as ei:
        config.load_config()
    assert len(ei.value.problems) == 1
    pr = ei.value.problems[0]
    assert pr.line == 3 and pr.file == str(p) and "not valid TOML" in pr.message
    assert f"{p}:3" in str(ei.value)
    assert p.read_text().endswith('"local\n')  # the user's file is not replaced


BAD = """\
current_profile = "ghost"
langauge = "en"

[tui]
refresh_seconds = "fast"

[networks.priv]
rpc_url = "ftp://x"
coordinator = "0x1234"
bootnodes = ["/ip4/10.0.0.1/tcp/38331/p2p/QmNotAPeer", "ip4/1.2.3.4"]

[profiles.a]
network = "mars"
dht_port = 70000
login_port = 0
gpus = [0, 0]
quant = "2bit"
announce_maddrs = ["/ip4/1.2.3/tcp/1"]

[profiles.a.training]
generations = 1.5
bogus = 1

[profiles.b]
dht_port = 38331
# a comment in between
[profiles.c]
dht_port = 38331
"""


def test_every_problem_reported_with_line_and_key():
    p = _write(BAD)
    with pytest.raises(ConfigError) as ei:
        config.load_config()
    got = {(pr.key, pr.line) for pr in ei.value.problems}
    want = {
        ("current_profile", 1),  # missing profile
        ("langauge", 2),  # unknown key
        ("tui.refresh_seconds", 5),  # wrong type
        ("networks.priv.rpc_url", 8),
        ("networks.priv.coordinator", 9),
        ("networks.priv.bootnodes", 10),  # bad multiaddr
        ("profiles.a.network", 13),  # missing network
        ("profiles.a.dht_port", 14),  # bad port
        ("profiles.a.login_port", 15),  # bad port
        ("profiles.a.gpus", 16),
        ("profiles.a.quant", 17),
        ("profiles.a.announce_maddrs", 18),
        ("profiles.a.training.generations", 21),
        ("profiles.a.training.bogus", 22),
        ("profiles.c.dht_port", 28),  # same port as profile b
    }
    assert want <= got, want - got
    assert all(pr.file == str(p) for pr in ei.value.problems)
    text = str(ei.value)
    assert f"{p}:14: profiles.a.dht_port: 70000 is not a valid port" in text
    assert "unknown key" in text and "must be a number" in text
    strict_off = config.load_config(strict=False)  # repair tools can still read it
    assert len(strict_off.validate()) == len(ei.value.problems)


def test_bad_profile_names_in_config():
    _write('current_profile = ""\n[profiles."../x"]\n[profiles.""]\n')
    with pytest.raises(ConfigError) as ei:
        config.load_config()
    assert {pr.key for pr in ei.value.problems} == {'profiles."../x"', 'profiles.""'}
    assert all(pr.line in (2, 3) for pr in ei.value.problems)


def test_custom_network_needs_rpc_and_coordinator():
    _write('[networks.mine]\nbackend = "web3"\n')
    problems = config.load_config(strict=False).validate()
    assert {pr.message for pr in problems} == {"custom network needs rpc_url", "custom network needs coordinator"}
    assert all(pr.line == 1 for pr in problems)


@pytest.mark.parametrize("ma,ok", [
    ("/ip4/127.0.0.1/tcp/38331", True),
    ("/ip4/10.0.0.5/tcp/38331/p2p/QmXa1SeM3NSbjkcnXAhpGCpeNwhGs1J7hBhdjyE86rVjdv", True),
    ("/ip6/::1/udp/4001/quic-v1", True),
    ("/dns4/boot.example.org/tcp/4001", True),
    ("/ip4/300.1.1.1/tcp/1", False),
    ("/ip4/1.2.3.4/tcp/99999", False),
    ("/ip4/1.2.3.4/tcp", False),
    ("ip4/1.2.3.4", False),
    ("/ipx/1.2.3.4", False),
    ("/ip4/1.2.3.4/tcp/1/p2p/notapeer", False),
])
def test_multiaddr(ma, ok):
    assert (config.multiaddr_problem(ma) is None) == ok


def test_edits_keep_comments_and_validate_before_saving():
    cfg = config.load_config()
    cfg.doc["tui"]["refresh_seconds"] = 2.0
    cfg.add_profile("second", {"gpus": [1], "dht_port": 40000, "training": {"generations": 4}})
    cfg.set_current_profile("second")
    cfg.save()
    text = paths.config_file().read_text()
    assert "# Dashboard refresh period in seconds" in text  # the example's comments survive
    assert "# Questions per round from this node (I)" in text
    cfg2 = config.load_config()
    assert cfg2.current_profile == "second" and cfg2.tui.refresh_seconds == 2.0
    s = cfg2.profile_settings("second")
    assert s.gpus == (1,) and s.dht_port == 40000 and s.training.generations == 4 and s.training.questions_local == 4
    cfg2.rename_profile("second", "two")
    cfg2.save()
    cfg3 = config.load_config()
    assert cfg3.profile_names() == ["default", "two"] and cfg3.current_profile == "two"
    assert "# Questions per round from this node (I)" in paths.config_file().read_text()
    before = paths.config_file().read_text()
    cfg3.doc["profiles"]["two"]["dht_port"] = 99999
    with pytest.raises(ConfigError, match="invalid"):
        cfg3.save()
    assert paths.config_file().read_text() == before  # an invalid config is never written


def test_user_comment_survives_profile_switch():
    p = _write('# my own note\ncurrent_profile = "a"  # keep me\n\n[profiles.a]\n[profiles.b]\n# about b\n')
    cfg = config.load_config()
    cfg.set_current_profile("b")
    cfg.save()
    text = p.read_text()
    assert "# my own note" in text and "# about b" in text and 'current_profile = "b"' in text


def test_networks_resolution():
    _write('[networks.priv]\nrpc_url = "http://10.0.0.5:8545"\nchain_id = 1337\n'
           'coordinator = "0x' + "ab" * 20 + '"\nbootnodes = ["/ip4/10.0.0.5/tcp/38331"]\n'
           '[networks.gensyn-testnet]\nrpc_url = "https://my.rpc/x"\n')
    cfg = config.load_config()
    n = cfg.network("priv")
    assert (n.kind, n.chain_id, n.bootnodes) == ("custom", 1337, ("/ip4/10.0.0.5/tcp/38331",))
    t = cfg.network("gensyn-testnet")
    assert t.kind == "testnet" and t.chain_id == 685685 and t.rpc_url == "https://my.rpc/x"
    assert cfg.network("local").kind == "local"
    with pytest.raises(ConfigError, match="not defined"):
        cfg.network("nope")


def test_unknown_profile_settings():
    cfg = config.load_config()
    with pytest.raises(ConfigError, match="not in the config"):
        cfg.profile_settings("ghost")


def test_config_lock_is_reentrant_per_thread_and_exclusive_across_threads(tmp_path):
    """The TUI edits config from worker threads: a second thread waits; the holder may re-enter."""
    import threading
    import time

    path = tmp_path / "config.toml"
    inside, order = threading.Event(), []

    def holder():
        with config.config_lock(path):
            with config.config_lock(path):  # re-entry in the same thread must not deadlock
                inside.set()
                time.sleep(0.3)
                order.append("holder done")

    def other():
        inside.wait(5)
        with config.config_lock(path):
            order.append("other in")

    threads = [threading.Thread(target=holder), threading.Thread(target=other)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(10)
    assert not any(t.is_alive() for t in threads)
    assert order == ["holder done", "other in"]
    with config.config_lock(path):  # released fully: the main thread gets it too
        pass


def test_a_duplicate_found_only_when_unwrapping_is_a_problem_not_a_traceback():
    """Found by the config fuzz (tests/reliability): tomlkit parses this, then raises KeyAlreadyPresent when
    the document is turned into a dict; validate_text used to let that escape."""
    from core.config.settings import validate_text

    text = "[[a.b]]\nx=1\n[c]\ny=0\n[a.b.d]\nz=0\n"
    doc, problems = validate_text(text, "dup.toml")
    assert doc is None and len(problems) == 1
    assert "not valid TOML" in problems[0].message and "already exists" in problems[0].message
