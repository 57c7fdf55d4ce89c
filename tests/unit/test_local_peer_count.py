"""`network up --peers N` is remembered (issue 20: with --peers 0 the next TUI start, or a `serve` tab,
created two demo peers because local_peer_count() fell back to the default)."""

from __future__ import annotations

import os
import stat

from core.localnet import network as localnet
from core.usecases.node_control import local_peer_count


def test_the_chosen_peer_count_is_remembered_zero_included():
    assert localnet.saved_peer_count() is None
    assert local_peer_count() == localnet.DEFAULT_PEERS  # never chosen: the default
    localnet.save_peer_count(0)
    assert local_peer_count() == 0
    localnet.save_peer_count(3)
    assert local_peer_count() == 3
    assert stat.S_IMODE(os.stat(localnet._peers_file()).st_mode) == 0o600


def test_a_damaged_peers_file_falls_back_instead_of_failing():
    localnet.save_peer_count(1)
    localnet._peers_file().write_text("{not json")
    assert localnet.saved_peer_count() is None and local_peer_count() == localnet.DEFAULT_PEERS
    localnet._peers_file().write_text('{"peers": -4}')
    assert localnet.saved_peer_count() is None
