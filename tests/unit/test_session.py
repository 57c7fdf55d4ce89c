"""core.usecases.node_control: what the TUI brings up on its own, and when (no processes started here)."""

from __future__ import annotations

import pytest

from core.identity import files as identity
from core.localnet import network as localnet
from core.identity import profiles
from core.usecases import node_control as session
from core.usecases import profile_state
from core.config.settings import load_config
from core.base.errors import SwarmdeckError
from core.base.paths import ProfilePaths


def _sign_in(name: str, activated: bool = True) -> None:
    idir = ProfilePaths(name).identity_dir
    identity.write_user_data(idir, "org-1", "0x" + "1" * 40, "user-1", "ada@example.org")
    identity.append_user_api_key(idir, "org-1", {"publicKey": "0x" + "2" * 40, "privateKey": "0x" + "3" * 64,
                                                 "createdAt": "2026-01-01T00:00:00Z", "activated": activated})


def test_autostart_waits_for_sign_in_then_follows_the_users_last_verb():
    profiles.create_profile("me", network="local")
    assert session.is_local("me")
    assert session.autostart_decision("me") == "needs_sign_in"
    _sign_in("me", activated=False)
    assert session.autostart_decision("me") == "needs_sign_in"  # the session key is not active yet
    _sign_in("me")
    assert session.autostart_decision("me") == "start"  # default: a set-up profile's node runs
    session.record_user_action("me", "stop")
    assert profiles.read_state("me")["autostart"] is False
    assert session.autostart_decision("me") == "user_stopped"
    assert session.autostart("me") == "user_stopped"  # and nothing was started
    session.record_user_action("me", "start")
    assert session.autostart_decision("me") == "start"
    session.record_user_action("me", "stop")
    session.record_user_action("me", "restart")
    assert session.autostart_enabled("me")


def test_no_sign_in_needed_for_local_web3_or_participation_n():
    profiles.create_profile("peerish", network="local", backend="web3")
    assert not profile_state.needs_sign_in("peerish")
    profiles.create_profile("solo", network="gensyn-testnet")
    assert profile_state.needs_sign_in("solo")
    profiles.write_state("solo", {"testnet_participation": False})
    assert not profile_state.needs_sign_in("solo")


def test_other_networks_bring_nothing_up():
    profiles.create_profile("tn", network="gensyn-testnet")
    steps = []
    assert not session.is_local("tn")
    assert session.ensure_network("tn", lambda k, **kw: steps.append(k)) is None
    assert session.ensure_login_service("tn") is None
    assert steps == []
    assert not localnet.chain_running()


def test_round_seconds_and_peer_count_follow_config_and_existing_peers():
    assert session.local_round_seconds() == 30.0  # what `swarmdeck network up` uses
    cfg = load_config()
    cfg.doc["networks"] = {"local": {"round_seconds": 8.0}}
    cfg.save()
    assert session.local_round_seconds() == 8.0
    assert session.local_peer_count() == localnet.DEFAULT_PEERS
    profiles.create_profile("local-peer-1", network="local", backend="web3", model="tiny")
    assert session.local_peer_count() == 1  # a network brought up with --peers 1 stays at 1


def test_unknown_profile_is_a_readable_error():
    with pytest.raises(SwarmdeckError):
        session.autostart_decision("nope")


def test_bare_ssh_session():
    assert session.bare_ssh({"SSH_CONNECTION": "1.2.3.4 5 6.7.8.9 22"})
    assert not session.bare_ssh({"SSH_CONNECTION": "1.2.3.4 5 6.7.8.9 22", "TMUX": "/tmp/tmux-0/default,1,0"})
    assert not session.bare_ssh({"SSH_CONNECTION": "1.2.3.4 5 6.7.8.9 22", "STY": "123.pts-0"})
    assert not session.bare_ssh({})


def test_a_demo_peer_the_user_stopped_is_not_started_again(monkeypatch):
    """ensure_network skips it (and so starts nothing here: the chain is faked as running)."""
    import core.supervisor as daemon

    profiles.create_profile("me", network="local")
    profiles.create_profile("local-peer-1", network="local", backend="web3", model="tiny")
    session.record_user_action("local-peer-1", "stop")
    spawned = []
    monkeypatch.setattr(localnet, "chain_running", lambda: True)
    monkeypatch.setattr(localnet, "ensure_chain", lambda rs: {"rpc_url": "http://127.0.0.1:1"})
    monkeypatch.setattr(localnet, "_bootnodes_on_chain", lambda: ["/ip4/127.0.0.1/tcp/1/p2p/QmX"])
    monkeypatch.setattr(daemon, "spawn_detached", lambda name: spawned.append(name) or {})
    steps = []
    res = session.ensure_network("me", lambda k, **kw: steps.append((k, kw)))
    assert res["started"] == [] and spawned == [] and steps == []
    session.record_user_action("local-peer-1", "start")
    res = session.ensure_network("me", lambda k, **kw: steps.append((k, kw)))
    assert spawned == ["local-peer-1"] and steps == [("net.peer", {"name": "local-peer-1"})]


def test_start_with_a_damaged_swarm_pem_is_refused_before_anything_starts(capsys):
    """`swarmdeck start` said 'started in the background' and only then failed on a damaged swarm.pem."""
    import core.supervisor as supervisor
    from tui.cli import main

    profiles.create_profile("hurt", network="gensyn-testnet")
    pp = ProfilePaths("hurt")
    pp.swarm_pem.write_bytes(pp.swarm_pem.read_bytes()[:40])
    profiles.write_state("hurt", {"autostart": False})
    for verb in ("start", "restart"):
        rc = main([verb, "-p", "hurt"])
        out, err = capsys.readouterr()
        assert rc == 1 and "started" not in out, (verb, out)
        assert "swarm.pem is not a valid libp2p identity" in err and str(pp.swarm_pem) in err
        # no backup was ever made: the fix says so (issue 20: it told everyone to restore one)
        assert "no backup of it exists" in err and "profile archive hurt" in err and "Traceback" not in err
        assert supervisor.query_status(pp, timeout=0.5) is None
    with pytest.raises(SwarmdeckError, match="not a valid libp2p identity"):
        session.start("hurt")
    assert profiles.read_state("hurt")["autostart"] is False  # a refused start records nothing



@pytest.mark.parametrize("node", ["running", "starting", "stopping", "stopped", "crashed", "gave_up"])
def test_the_tab_word_is_the_status_word_for_a_node_that_runs_or_not(node):
    """`swarmdeck status` prints node_state(); the tabs must not call a starting (maybe crash-looping) node running."""
    word = profile_state.tab_state(node, login_needed=False, backup_at="2026-11-29T00:00:00Z")
    expected = {"gave_up": "crashed"}.get(node, node)
    assert word == expected
    assert (word == "running") == (node == "running")
