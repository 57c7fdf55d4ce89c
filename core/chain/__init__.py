"""The chain side: coordinator contract, local devnet, the two coordinator backends, the queue.

Public API (what the rest of swarmdeck calls):
  core.chain.devnet.LocalChain            start/stop anvil + coordinator; attach() from other processes
  core.chain.make_coordinator(profile)    the profile's Coordinator (backend from its settings);
                                          core.login.coordinator.make_coordinator fills in the login URL
  core.chain.queue.SubmissionQueue        idempotent persisted writes (register / reward / winners)
  core.chain.reward_to_chain / reward_from_chain   the ONE place float rewards are scaled

Rewards: the contract stores int256. A node's reward is a float (verifier accuracy, usually in
[0, 1] per completion, summed over a round), so it is sent in milli-units: reward_to_chain(0.8125)
== 813 (rounded half away from zero); getTotalRewards() values divide by REWARD_SCALE to read back.
"""

from __future__ import annotations

import math
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path

from core.base import fsutil
from core.base.errors import ChainError, ConfigError, IdentityError
from core.base.i18n import M
from core.base.paths import ensure_private_dir
from core.chain.devnet import LocalChain
from core.identity import files as identity

REWARD_SCALE = 1000  # on-chain reward units per 1.0 of float reward (milli-units)


def reward_to_chain(reward: float) -> int:
    """Float reward -> int256 sent to submitReward. Refuses NaN/inf (never put garbage on chain)."""
    if isinstance(reward, bool) or not isinstance(reward, (int, float)):
        raise TypeError(f"reward must be a number, got {type(reward).__name__}")
    if not math.isfinite(reward):
        raise ValueError(f"reward must be finite, got {reward}")
    return int(Decimal(repr(float(reward))).scaleb(3).quantize(Decimal(1), rounding=ROUND_HALF_UP))


def reward_from_chain(value: int) -> float:
    return int(value) / REWARD_SCALE


def _get(obj, name, default=None):
    return getattr(obj, name, default) if obj is not None else default


def local_eoa_key(profile_paths, chain=None) -> str:
    """The profile's own EOA key for the web3 backend (secrets/eoa.key, 0600, created once).

    On a local chain the account is funded for gas. On other networks the user supplies the
    file (a funded key) themselves.
    """
    from eth_account import Account  # web3's stack (heavy)

    path = Path(profile_paths.secrets_dir) / "eoa.key"
    if not path.exists():
        if chain is None:
            raise ChainError(M("err.chain.no_key"), where=str(path), fix=M("err.chain.no_key_fix", path=str(path)))
        ensure_private_dir(path.parent)
        try:
            fsutil.create_exclusive(path, (Account.create().key.hex() + "\n").encode())
        except FileExistsError:
            pass
    key = path.read_text().strip()
    if chain is not None:
        addr = Account.from_key(key).address
        if chain.w3.eth.get_balance(addr) < 10**18:
            chain.fund(addr)
    return key


def make_coordinator(profile, *, backend: str | None = None, rpc_url: str | None = None,
                     coordinator: str | None = None, login_url: str | None = None, chain=None):
    """Build the Coordinator for a profile (core.identity.profiles.Profile or anything with .name/.paths).

    backend: "web3" | "modal-login" (default: profile.settings.backend, else "modal-login").
    On the local network the chain's rpc_url/coordinator come from the running LocalChain
    (pass `chain`, or it is attached from network_dir("local")/runtime.json).
    modal-login needs the profile to be signed in (userData.json): run `swarmdeck login`, and
    the URL of the login service or app that signs its writes (`login_url`; chain cannot look
    it up, core.login does: use core.login.coordinator.make_coordinator).
    """
    settings = _get(profile, "settings")
    net = _get(profile, "network")
    backend = backend or _get(settings, "backend") or "modal-login"
    net_name = _get(net, "name") or _get(settings, "network") or "local"
    net_kind = _get(net, "kind") or ("local" if net_name == "local" else "custom")
    if net_kind == "local" and (rpc_url is None or coordinator is None):
        if chain is None:
            chain = LocalChain.attach(net_name)
        rpc_url = rpc_url or chain.rpc_url
        coordinator = coordinator or chain.coordinator
    rpc_url = rpc_url or _get(net, "rpc_url")
    coordinator = coordinator or _get(net, "coordinator")
    if not rpc_url or not coordinator:
        raise ChainError(M("err.chain.no_rpc", network=repr(net_name)),
                         where=f"config.toml [networks.{net_name}]", fix=M("err.chain.no_rpc_fix"))
    if backend == "web3":
        from core.chain.web3_backend import Web3Coordinator  # eth_utils / web3 (heavy)

        return Web3Coordinator(rpc_url, coordinator, local_eoa_key(profile.paths, chain if net_kind == "local" else None))
    if backend == "modal-login":
        from core.chain.modal_login_backend import ModalLoginCoordinator  # eth_utils / web3 (heavy)

        info = identity.read_login(profile.paths.identity_dir)
        if info is None:
            raise IdentityError(M("err.chain.not_signed_in"), where=str(profile.paths.identity_dir),
                                fix=M("err.chain.not_signed_in_fix", profile=profile.name))
        if login_url is None:
            raise ConfigError("the modal-login backend needs the login service's URL", where="make_coordinator",
                              fix="build it with core.login.coordinator.make_coordinator (it finds the URL)")
        return ModalLoginCoordinator(login_url, info.org_id, rpc_url, coordinator, eoa=info.address,
                                     profile=_get(profile, "name"))
    raise ConfigError(M("err.chain.unknown_backend", backend=repr(backend)),
                      where=f"config.toml [profiles.{profile.name}] backend", fix=M("err.chain.unknown_backend_fix"))
