"""Direct web3 backend: coordinator writes are transactions signed with a local key.

Reads (round, stage, bootnodes, totals) go to the RPC in both backends; ChainReader holds
them (RpcCoordinator = ChainReader + the Coordinator interface), and ModalLoginCoordinator reuses
it. A read that fails for a transient reason (connection refused/reset, timeout, HTTP 429/5xx,
a JSON-RPC rate limit) is tried READ_ATTEMPTS times with READ_BACKOFF pauses, then raises a
ChainError naming the RPC URL, the call, the reason and the fix. Reverts and ABI mismatches are
not retried. Writes are not retried here: ChainWriter reports `transient` and the
SubmissionQueue retries. ChainWriter is the one place that signs, sends and decodes custom
errors; the login service uses it too, for its accounts' EOAs.
"""

from __future__ import annotations

import re
import threading
import time
from dataclasses import dataclass

import requests
from eth_utils import keccak

from core.base.errors import ChainError, IdentityError
from core.base.i18n import M
from core.chain.compile import load_artifact
from core.chain.coordinator import Coordinator, WriteResult

ZERO_ADDRESS = "0x0000000000000000000000000000000000000000"


def _abi():
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


READ_ATTEMPTS = 3
READ_BACKOFF = (0.5, 1.0)  # pause after the 1st, 2nd, ... failed attempt (the last value repeats)

_RATE_LIMIT = re.compile(r"rate.?limit|too many requests|compute units per second", re.IGNORECASE)


def _connection_reason(e: BaseException) -> str:
    """A short human reason for a connection-level failure ("connection refused", ...)."""
    text = f"{e} {getattr(e, '__context__', '') or ''}".lower()
    for needle, reason in (
        ("refused", "connection refused"),
        ("reset by peer", "connection reset"),
        ("connection reset", "connection reset"),
        ("connection aborted", "connection reset"),
        ("remotedisconnected", "the server closed the connection"),
        ("name or service not known", "host name not found (DNS)"),
        ("nodename nor servname", "host name not found (DNS)"),
        ("temporary failure in name resolution", "host name not found (DNS)"),
        ("failed to resolve", "host name not found (DNS)"),
        ("getaddrinfo failed", "host name not found (DNS)"),
        ("network is unreachable", "network unreachable"),
        ("no route to host", "no route to host"),
    ):
        if needle in text:
            return reason
    return f"connection failed ({type(e).__name__})"


def read_failure(e: BaseException, timeout: float | None = None) -> tuple[str, bool] | None:
    """(reason, transient) when `e` is a failure to talk to the RPC; None for anything else.

    transient: worth another attempt (refused/reset, timeout, HTTP 429/5xx, JSON-RPC rate limit).
    A revert, an ABI mismatch (BadFunctionCallOutput) or a bug is None: it is raised as it is.
    """
    from web3.exceptions import BadFunctionCallOutput, ContractLogicError, TimeExhausted, Web3RPCError

    if isinstance(e, (ContractLogicError, BadFunctionCallOutput)):
        return None
    after = f" after {timeout:g} s" if timeout else ""
    if isinstance(e, (requests.exceptions.Timeout, TimeoutError, TimeExhausted)):
        return f"no answer{after} (timeout)", True
    if isinstance(e, requests.exceptions.SSLError):
        return f"TLS/SSL error ({str(e)[:160]})", False  # a certificate problem does not go away by retrying
    if isinstance(e, requests.exceptions.HTTPError):
        resp = getattr(e, "response", None)
        code = getattr(resp, "status_code", None)
        label = f"HTTP {code} {getattr(resp, 'reason', '') or ''}".strip() if code else "HTTP error"
        if code == 429:
            return f"{label}, rate limited", True
        return label, code is None or code >= 500
    if isinstance(e, (requests.exceptions.InvalidURL, requests.exceptions.MissingSchema,
                      requests.exceptions.InvalidSchema)):
        return f"invalid RPC URL ({e})", False
    if isinstance(e, (requests.exceptions.RequestException, ConnectionError, OSError)):
        return _connection_reason(e), True
    if isinstance(e, Web3RPCError):
        err = (getattr(e, "rpc_response", None) or {}).get("error") or {}
        code = err.get("code") if isinstance(err, dict) else None
        if code in (429, -32005) or _RATE_LIMIT.search(str(e)):
            return f"the RPC is rate limiting ({str(e)[:120]})", True
    return None


class ChainReader:
    """Reads from one RPC + coordinator contract, with bounded retries of transient failures.

    network: the config's network name, only to name [networks.NAME] in the fix of errors.
    Each attempt waits at most `timeout` seconds; one read takes at most about
    attempts * timeout + sum(backoff).
    """

    def __init__(self, rpc_url: str, coordinator: str, *, timeout: float = 10.0, attempts: int = READ_ATTEMPTS,
                 backoff: tuple[float, ...] = READ_BACKOFF, network: str | None = None):
        from web3 import Web3

        self.rpc_url = rpc_url
        self.network = network
        self.timeout = float(timeout)
        self.attempts = max(1, int(attempts))
        self.backoff = tuple(backoff) or (0.0,)
        self.coordinator_address = Web3.to_checksum_address(coordinator)
        # web3's own retry is off: this class's retry is the one bound on how long a read takes
        self.w3 = Web3(Web3.HTTPProvider(rpc_url, request_kwargs={"timeout": timeout},
                                         exception_retry_configuration=None))
        self.contract = self.w3.eth.contract(address=self.coordinator_address, abi=_abi())

    def _retrying(self, call: str, fn):
        reason, tries = "", 0
        for i in range(self.attempts):
            tries = i + 1
            try:
                return fn()
            except Exception as e:
                failure = read_failure(e, self.timeout)
                if failure is None:
                    raise
                reason, transient = failure
                if not transient or tries == self.attempts:
                    break
                time.sleep(self.backoff[min(i, len(self.backoff) - 1)])
        table = f"[networks.{self.network}]" if self.network else "[networks.NAME]"
        doctor = f"`swarmdeck doctor --network {self.network}`" if self.network else "`swarmdeck doctor --network NAME`"
        err = ChainError(
            f"cannot reach the chain RPC at {self.rpc_url}: {call} failed: {reason}"
            + (f" ({tries} attempts)" if tries > 1 else ""),
            where=self.rpc_url,
            fix=f"check that the chain is up and this machine can reach it (local network: `swarmdeck network up`; "
                f"{doctor} checks it); or set rpc_url under {table} in config.toml (`swarmdeck config path`) "
                f"to another RPC")
        err.reason, err.call, err.attempts = reason, call, tries  # for doctor and callers that word it themselves
        raise err from None

    def _read(self, fn_name: str, *args):
        return self._retrying(f"{fn_name}()", lambda: getattr(self.contract.functions, fn_name)(*args).call())

    def chain_id(self) -> int:
        """eth_chainId of the RPC (asked each time, never cached)."""
        return int(self._retrying("eth_chainId", lambda: self.w3.eth.chain_id))

    def code_size(self, address: str | None = None) -> int:
        """Bytes of contract code at `address` (default: the coordinator); 0 = no contract there."""
        from web3 import Web3

        addr = Web3.to_checksum_address(address or self.coordinator_address)
        return len(self._retrying("eth_getCode", lambda: self.w3.eth.get_code(addr)))

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


class RpcCoordinator(ChainReader, Coordinator):
    """Reads from the RPC (ChainReader); writes are left to subclasses."""

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
                    M("err.chain.peer_taken", peer_id=peer_id, owner=owner, eoa=self.eoa, kind=kind, error=error),
                    where=f"coordinator {self.coordinator_address} on {self.rpc_url}",
                    fix=M("err.chain.peer_taken_fix"))
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
