"""Direct web3 backend: coordinator writes are transactions signed with a local key.

Reads (round, stage, bootnodes, totals) go to the RPC in both backends; RpcCoordinator holds
them, and ModalLoginCoordinator reuses it. ChainWriter is the one place that signs, sends and
decodes custom errors; the login service uses it too, for its accounts' EOAs.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass

from eth_utils import keccak

from core.chain.coordinator import Coordinator, WriteResult
from core.errors import ChainError, IdentityError

ZERO_ADDRESS = "0x0000000000000000000000000000000000000000"


def _abi():
    from core.chain.compile import load_artifact

    return load_artifact()["abi"]


def error_selectors(abi: list[dict]) -> dict[str, str]:
    """4-byte selector (0x-hex) -> custom error name, for every error in the ABI."""
    out = {}
    for item in abi:
        if item.get("type") == "error":
            sig = f"{item['name']}({','.join(i['type'] for i in item.get('inputs', []))})"
            out["0x" + keccak(text=sig)[:4].hex()] = item["name"]
    return out


def _is_transport_error(e: BaseException) -> bool:
    import requests

    if isinstance(e, (ConnectionError, TimeoutError, OSError, requests.exceptions.RequestException)):
        return True
    try:
        from web3.exceptions import TimeExhausted

        if isinstance(e, TimeExhausted):
            return True
    except ImportError:  # pragma: no cover
        pass
    return False


def decode_revert(e: BaseException, selectors: dict[str, str]) -> str | None:
    """The custom error name inside a web3 revert exception, if there is one."""
    candidates = [getattr(e, "data", None), getattr(e, "message", None), *getattr(e, "args", ())]
    for c in candidates:
        if isinstance(c, dict):
            c = c.get("data")
        if isinstance(c, (bytes, bytearray)):
            c = "0x" + bytes(c).hex()
        if isinstance(c, str):
            low = c.lower()
            for sel, name in selectors.items():
                if sel in low:
                    return name
    return None


@dataclass
class TxOutcome:
    tx: str | None = None        # hash of a mined, successful transaction
    error: str | None = None     # custom error name, or text of another failure
    transient: bool = False      # RPC down / timeout: worth retrying

    @property
    def ok(self) -> bool:
        return self.tx is not None and self.error is None


class ChainWriter:
    """Sends coordinator transactions from one key. Thread-safe (one nonce sequence per key).

    Each write is simulated first (eth_estimateGas): a revert is reported by its custom error
    name and costs no transaction, so "already submitted" never produces a second tx.
    """

    def __init__(self, rpc_url: str, coordinator: str, private_key: str, *, chain_id: int | None = None,
                 timeout: float = 10.0, receipt_timeout: float = 60.0):
        from eth_account import Account
        from web3 import Web3

        self.w3 = Web3(Web3.HTTPProvider(rpc_url, request_kwargs={"timeout": timeout}))
        self.rpc_url = rpc_url
        self.abi = _abi()
        self.contract = self.w3.eth.contract(address=Web3.to_checksum_address(coordinator), abi=self.abi)
        self._acct = Account.from_key(private_key)
        self.address: str = self._acct.address
        self._chain_id = chain_id
        self._selectors = error_selectors(self.abi)
        self._lock = threading.Lock()
        self.receipt_timeout = receipt_timeout

    def __repr__(self) -> str:  # never show the key
        return f"ChainWriter({self.address} -> {self.rpc_url})"

    @property
    def chain_id(self) -> int:
        if self._chain_id is None:
            self._chain_id = int(self.w3.eth.chain_id)
        return self._chain_id

    def send(self, fn_name: str, *args) -> TxOutcome:
        fn = getattr(self.contract.functions, fn_name)(*args)
        try:
            with self._lock:
                tx = fn.build_transaction({  # estimates gas = simulates: reverts surface here
                    "from": self.address, "chainId": self.chain_id,
                    "nonce": self.w3.eth.get_transaction_count(self.address, "pending"),
                })
                signed = self._acct.sign_transaction(tx)
                h = self.w3.eth.send_raw_transaction(signed.raw_transaction)
            rcpt = self.w3.eth.wait_for_transaction_receipt(h, timeout=self.receipt_timeout, poll_latency=0.02)
        except Exception as e:  # classify: custom error / transport / anything else
            name = decode_revert(e, self._selectors)
            if name:
                return TxOutcome(error=name)
            if _is_transport_error(e):
                return TxOutcome(error=f"{type(e).__name__}: {e}", transient=True)
            return TxOutcome(error=f"{type(e).__name__}: {e}")
        if rcpt["status"] != 1:
            return TxOutcome(error="transaction reverted", tx=None)
        return TxOutcome(tx="0x" + bytes(rcpt["transactionHash"]).hex().removeprefix("0x"))


class RpcCoordinator(Coordinator):
    """Reads from the RPC; writes are left to subclasses."""

    def __init__(self, rpc_url: str, coordinator: str, *, timeout: float = 10.0):
        from web3 import Web3

        self.rpc_url = rpc_url
        self.coordinator_address = Web3.to_checksum_address(coordinator)
        self.w3 = Web3(Web3.HTTPProvider(rpc_url, request_kwargs={"timeout": timeout}))
        self.contract = self.w3.eth.contract(address=self.coordinator_address, abi=_abi())

    def _read(self, fn_name: str, *args):
        try:
            return getattr(self.contract.functions, fn_name)(*args).call()
        except Exception as e:
            if _is_transport_error(e):
                raise ChainError(f"cannot reach the chain RPC ({type(e).__name__})", where=self.rpc_url,
                                 fix="check that the chain is running (local: `swarmdeck network up`) "
                                     "and the rpc_url in config.toml") from None
            raise

    def current_round(self) -> int:
        return int(self._read("currentRound"))

    def current_stage(self) -> int:
        return int(self._read("currentStage"))

    def stage_count(self) -> int:
        return int(self._read("stageCount"))

    def get_bootnodes(self) -> list[str]:
        return list(self._read("getBootnodes"))

    def get_eoa(self, peer_ids: list[str]) -> list[str]:
        return [str(a) for a in self._read("getEoa", list(peer_ids))]

    def get_peer_ids(self, eoas: list[str]) -> list[list[str]]:
        from web3 import Web3

        return [list(x) for x in self._read("getPeerId", [Web3.to_checksum_address(a) for a in eoas])]

    def get_total_rewards(self, peer_ids: list[str]) -> list[int]:
        return [int(x) for x in self._read("getTotalRewards", list(peer_ids))]

    def get_total_wins(self, peer_id: str) -> int:
        return int(self._read("getTotalWins", peer_id))

    def has_submitted_reward(self, round: int, stage: int, eoa: str) -> bool:
        from web3 import Web3

        return bool(self._read("hasSubmittedRoundStageReward", int(round), int(stage),
                               Web3.to_checksum_address(eoa)))

    def winner_leaderboard(self, start: int = 0, end: int = 100) -> list[tuple[str, int]]:
        ids, wins = self._read("winnerLeaderboard", int(start), int(end))
        return list(zip(ids, (int(w) for w in wins)))

    # ---- the shared rule for "already" vs "someone else's identity" ----
    def _owner_of(self, peer_id: str) -> str | None:
        owner = self.get_eoa([peer_id])[0]
        return None if int(owner, 16) == 0 else owner

    def interpret(self, kind: str, peer_id: str, error: str | None, tx: str | None,
                  transient: bool = False) -> WriteResult:
        """Map a write's raw outcome to a WriteResult (both backends use this).

        Raises IdentityError when the peer id belongs to another EOA: that is never retried
        or skipped silently, because it means two nodes share a swarm.pem, or a key was lost.
        """
        if error is None:
            return WriteResult("landed", tx=tx)
        if transient:
            return WriteResult("retry", error=error)
        if error in ("RewardAlreadySubmitted",):
            return WriteResult("already", error=error)  # keyed by msg.sender: always ours
        if error in ("PeerIdAlreadyRegistered", "WinnerAlreadyVoted", "InvalidVoterPeerId"):
            try:
                owner = self._owner_of(peer_id)
            except ChainError:
                return WriteResult("retry", error=error)
            mine = owner is not None and self.eoa is not None and owner.lower() == self.eoa.lower()
            if mine and error != "InvalidVoterPeerId":
                return WriteResult("already", error=error)
            if owner is not None and not mine:
                raise IdentityError(
                    f"peer id {peer_id} is registered on chain to another account ({owner}), "
                    f"not to this node's {self.eoa} ({kind} refused with {error})",
                    where=f"coordinator {self.coordinator_address} on {self.rpc_url}",
                    fix="this swarm.pem is used by another sign-in: run `swarmdeck identity show` on both "
                        "profiles; use the swarm.pem together with the account it was first registered with")
            return WriteResult("rejected", error=error + (" (peer id not registered)" if owner is None else ""))
        return WriteResult("rejected", error=error)


class Web3Coordinator(RpcCoordinator):
    """Writes signed with a local key (private swarms, the local network's web3 profiles)."""

    def __init__(self, rpc_url: str, coordinator: str, private_key: str, *, chain_id: int | None = None,
                 timeout: float = 10.0):
        super().__init__(rpc_url, coordinator, timeout=timeout)
        self.writer = ChainWriter(rpc_url, coordinator, private_key, chain_id=chain_id, timeout=timeout)

    def __repr__(self) -> str:
        return f"Web3Coordinator({self.eoa} -> {self.rpc_url})"

    @property
    def eoa(self) -> str | None:
        return self.writer.address

    def _write(self, kind: str, peer_id: str, fn: str, *args) -> WriteResult:
        out = self.writer.send(fn, *args)
        return self.interpret(kind, peer_id, out.error, out.tx, out.transient)

    def register_peer(self, peer_id: str) -> WriteResult:
        return self._write("register", peer_id, "registerPeer", peer_id)

    def submit_reward(self, round: int, stage: int, reward: int, peer_id: str) -> WriteResult:
        return self._write("reward", peer_id, "submitReward", int(round), int(stage), int(reward), peer_id)

    def submit_winners(self, round: int, winners: list[str], peer_id: str) -> WriteResult:
        return self._write("winners", peer_id, "submitWinners", int(round), list(winners), peer_id)

    def add_bootnodes(self, addrs: list[str]) -> WriteResult:
        out = self.writer.send("addBootnodes", list(addrs))
        if out.error is None:
            return WriteResult("landed", tx=out.tx)
        return WriteResult("retry" if out.transient else "rejected", error=out.error)
