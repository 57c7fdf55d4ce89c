"""The coordinator interface the node talks to. Two backends implement it:

- ModalLoginCoordinator: writes go through the login service's HTTP API
  (`/api/register-peer`, `/api/submit-reward`, `/api/submit-winner`), exactly as the public
  modal-login app speaks it; reads go to the RPC directly.
- Web3Coordinator: writes are transactions signed with a local key (private swarms).

Node code depends only on this interface (plus the persisted SubmissionQueue, which wraps
the write methods so each (kind, round, stage) is submitted at most once).
"""

from __future__ import annotations

import abc
from dataclasses import dataclass


@dataclass
class WriteResult:
    """Outcome of one write.

    status: "landed"  (tx mined / HTTP 200),
            "already" (RewardAlreadySubmitted / PeerIdAlreadyRegistered / WinnerAlreadyVoted by OUR EOA: success),
            "rejected" (a permanent contract error: InvalidRoundNumber, PeerIdAlreadyRegistered by ANOTHER EOA, ...),
            "retry"   (transient: RPC/login service down, timeout; the queue retries with backoff)
            "signin"  (the login app refused this profile's session key: 404 "user not found", 500 "api key
                       not found", or an account-abstraction signature error such as "AA24 signature error"
                       from a stale key. Not transient and not permanent: the queue keeps the item pending,
                       records "sign in again" (core.identity.signin) and waits for a new sign-in instead of retrying
                       fast; `error` says what happened and the `swarmdeck login` command)
    """

    status: str
    tx: str | None = None
    error: str | None = None  # custom error name or transport error text

    @property
    def ok(self) -> bool:
        return self.status in ("landed", "already")


class Coordinator(abc.ABC):
    # ---- reads (RPC) ----
    @abc.abstractmethod
    def current_round(self) -> int: ...

    @abc.abstractmethod
    def current_stage(self) -> int: ...

    @abc.abstractmethod
    def stage_count(self) -> int: ...

    @abc.abstractmethod
    def get_bootnodes(self) -> list[str]: ...

    @abc.abstractmethod
    def get_eoa(self, peer_ids: list[str]) -> list[str]: ...

    @abc.abstractmethod
    def get_total_rewards(self, peer_ids: list[str]) -> list[int]: ...

    @abc.abstractmethod
    def get_total_wins(self, peer_id: str) -> int: ...

    @abc.abstractmethod
    def has_submitted_reward(self, round: int, stage: int, eoa: str) -> bool: ...

    # ---- writes ----
    @property
    @abc.abstractmethod
    def eoa(self) -> str | None:
        """The address this node's writes come from (None when not known yet)."""

    @abc.abstractmethod
    def register_peer(self, peer_id: str) -> WriteResult: ...

    @abc.abstractmethod
    def submit_reward(self, round: int, stage: int, reward: int, peer_id: str) -> WriteResult: ...

    @abc.abstractmethod
    def submit_winners(self, round: int, winners: list[str], peer_id: str) -> WriteResult: ...

    def add_bootnodes(self, addrs: list[str]) -> WriteResult:
        """Only where this node holds the bootnode-manager role (local/private networks)."""
        return WriteResult("rejected", error="not a bootnode manager")

    def close(self) -> None:
        pass
