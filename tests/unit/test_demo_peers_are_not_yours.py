"""The local network's demo peers are swarmdeck's, not the user's nodes (issue 20: they counted as
"best of your nodes" in standing and showed NO BACKUP / needs backup)."""

from __future__ import annotations

from core.identity import profiles
from core.usecases import profile_state
from core.usecases.standing import ProfileStanding, best_own_node


def test_a_demo_peer_is_never_the_best_of_your_nodes():
    mine = ProfileStanding(name="main", network="local", registered=True, total_reward=2.0, wins=0)
    demo = ProfileStanding(name="local-peer-1", network="local", registered=True, total_reward=9.0, wins=3)
    assert best_own_node([mine, demo]) == "main"
    assert best_own_node([demo]) is None


def test_a_demo_peer_needs_no_backup_in_tabs_status_and_dashboard():
    profiles.create_profile("main", network="local")
    profiles.create_profile("local-peer-1", make_current=False, network="local", backend="web3")
    assert profile_state.profile_view("main").state in ("needs_login", "needs_backup")
    peer = profile_state.profile_view("local-peer-1")
    assert peer.demo_peer and peer.state != "needs_backup"
    st = profile_state.build_status()
    by = {p["name"]: p for p in st["profiles"]}
    assert by["local-peer-1"]["demo_peer"] and not by["main"]["demo_peer"]
    from tui.commands.status_cmd import render_text

    lines = render_text(st).splitlines()

    def block(name):  # a profile's two lines in `swarmdeck status`
        i = next(i for i, ln in enumerate(lines) if f" {name} " in ln)
        return "\n".join(lines[i:i + 2])

    assert "NO BACKUP" in block("main")
    assert "NO BACKUP" not in block("local-peer-1") and "no backup needed" in block("local-peer-1")
