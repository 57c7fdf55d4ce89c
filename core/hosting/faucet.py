"""Gas for members: the swarm host's faucet funds each joining address once.

POST /faucet {"address": "0x..."} on the host's RPC guard. The faucet sends `amount` wei
(default 1 ETH of the embedded chain: thousands of coordinator writes at its gas price) from the host's faucet key,
a transaction like any other, and answers {"status": "funded", "tx": ..., "amount": ...} once
it is mined. An address is funded once, ever ({"status": "already"} afterwards; the list is
kept in the network dir, funded.json); each client address may have at most PER_CLIENT
addresses funded per PER_CLIENT_WINDOW seconds, and the faucet as a whole at most
GLOBAL_PER_HOUR per hour, so a member cannot drain it by making keys.
"""

from __future__ import annotations

import json
import re
import threading
import time
from collections import deque
from pathlib import Path
from typing import Callable

from core.base import fsutil, safejson

WEI_PER_ETH = 10**18
DEFAULT_AMOUNT = WEI_PER_ETH
PER_CLIENT = 3
PER_CLIENT_WINDOW = 3600.0
GLOBAL_PER_HOUR = 60
_ADDR = re.compile(r"0x[0-9a-fA-F]{40}")


class Faucet:
    def __init__(self, send: Callable[[str, int], str], funded_file: Path, *, amount: int = DEFAULT_AMOUNT,
                 per_client: int = PER_CLIENT, per_client_window: float = PER_CLIENT_WINDOW,
                 global_per_hour: int = GLOBAL_PER_HOUR):
        """send(address, amount) -> tx hash (mined) or raises; the host supplies it (its faucet key)."""
        self._send = send
        self.file = Path(funded_file)
        self.amount = int(amount)
        self.per_client, self.window, self.global_per_hour = int(per_client), float(per_client_window), int(global_per_hour)
        self._lock = threading.Lock()
        self._clients: dict[str, deque] = {}
        self._all: deque = deque()
        try:
            self._funded: dict = json.loads(self.file.read_text())
            if not isinstance(self._funded, dict):
                self._funded = {}
        except (FileNotFoundError, ValueError):
            self._funded = {}

    @property
    def funded_count(self) -> int:
        return len(self._funded)

    def handle(self, raw: bytes, client: str) -> tuple[int, dict]:
        try:
            req = safejson.loads(raw.decode("utf-8"))
            addr = req.get("address") if isinstance(req, dict) else None
        except (ValueError, UnicodeDecodeError, RecursionError):
            addr = None
        if not isinstance(addr, str) or not _ADDR.fullmatch(addr):
            return 400, {"error": "send {\"address\": \"0x...\"} (40 hex digits)"}
        key = addr.lower()
        now = time.monotonic()
        with self._lock:  # one funding at a time: no double spend for one address
            if key in self._funded:
                return 200, {"status": "already", "tx": self._funded[key].get("tx"), "amount": 0}
            q = self._clients.setdefault(client, deque())
            for d in (q, self._all):
                while d and now - d[0] > (self.window if d is q else 3600.0):
                    d.popleft()
            if len(q) >= self.per_client:
                return 429, {"error": f"this address already asked the faucet {len(q)} times within "
                                      f"{self.window / 60:.0f} minutes; ask the swarm host"}
            if len(self._all) >= self.global_per_hour:
                return 429, {"error": "the faucet is busy (hourly limit); try again later or ask the swarm host"}
            try:
                tx = self._send(addr, self.amount)
            except Exception as e:  # noqa: BLE001 - the member needs the reason, the host keeps running
                return 503, {"error": f"the faucet could not send: {type(e).__name__}: {str(e)[:200]}"}
            q.append(now)
            self._all.append(now)
            self._funded[key] = {"tx": tx, "amount": str(self.amount), "at": time.time(), "client": client}
            fsutil.atomic_write_json(self.file, self._funded)
        return 200, {"status": "funded", "tx": tx, "amount": str(self.amount)}
