"""A real local chain (anvil + the coordinator contract) for tests, and reading its events."""

from __future__ import annotations

import os
from contextlib import contextmanager
from pathlib import Path

import pytest

from core.chain.devnet import LocalChain, anvil_binary


def require_anvil() -> None:
    try:
        anvil_binary()
    except Exception as e:  # pragma: no cover - setup problem, said clearly
        pytest.fail(f"anvil missing ({e}); run `just setup`")


@contextmanager
def local_chain(network: str = "local", *, round_s: float | None = None, **kw):
    """A started LocalChain under the current SWARMDECK_HOME (with a round advancer every `round_s` s),
    stopped at the end."""
    require_anvil()
    chain = LocalChain(network, **kw).start()
    adv = chain.advancer = chain.start_advancer(round_s) if round_s else None
    try:
        yield chain
    finally:
        if adv is not None:
            adv.stop()
        chain.stop()


@contextmanager
def chain_in(home: Path, **kw):
    """A LocalChain whose files live under `home` whatever SWARMDECK_HOME is later."""
    require_anvil()
    old = os.environ.get("SWARMDECK_HOME")
    os.environ["SWARMDECK_HOME"] = str(home)
    try:
        chain = LocalChain(**kw)
    finally:
        if old is None:
            os.environ.pop("SWARMDECK_HOME", None)
        else:
            os.environ["SWARMDECK_HOME"] = old
    chain.start()
    try:
        yield chain
    finally:
        chain.stop()
        assert chain.proc is None


def events(chain: LocalChain, name: str, **filters) -> list:
    logs = getattr(chain.contract.events, name)().get_logs(from_block=0)
    return [e for e in logs if all(e["args"].get(k) == v for k, v in filters.items())]


def chain_rewards(chain, peer_id: str) -> list[tuple[int, int]]:
    evs = chain.contract.events.RewardSubmitted().get_logs(from_block=0)
    return [(int(e.args.roundNumber), int(e.args.stageNumber)) for e in evs if e.args.peerId == peer_id]


def chain_votes(chain, peer_id: str) -> list[int]:
    evs = chain.contract.events.WinnerSubmitted().get_logs(from_block=0)
    return [int(e.args.roundNumber) for e in evs if e.args.peerId == peer_id]
