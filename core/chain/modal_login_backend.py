"""modal-login backend: writes go through the login service's HTTP API, reads to the RPC.

Speaks the public modal-login app's API exactly (POST JSON to /api/register-peer,
/api/submit-reward, /api/submit-winner with the account's orgId), so the same code drives
swarmdeck's local login service and the official app on the public testnet.

Reply mapping: 200 {hash} -> landed; 400 {error: <custom error name>} -> the shared rule in
RpcCoordinator.interpret (already / rejected / IdentityError); 404 "user not found" and
500 "api key not found" -> rejected with a sign-in hint; connection refused, timeouts and
other 5xx -> retry (the queue backs off).
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request

from core.chain.coordinator import WriteResult
from core.chain.web3_backend import RpcCoordinator


class ModalLoginCoordinator(RpcCoordinator):
    def __init__(self, login_url: str, org_id: str, rpc_url: str, coordinator: str, *, eoa: str | None = None,
                 timeout: float = 30.0):
        super().__init__(rpc_url, coordinator)
        self.login_url = login_url.rstrip("/")
        self.org_id = org_id
        self._eoa = eoa
        self.timeout = timeout

    def __repr__(self) -> str:
        return f"ModalLoginCoordinator(org {self.org_id} via {self.login_url})"

    @property
    def eoa(self) -> str | None:
        return self._eoa

    def _post(self, path: str, body: dict) -> tuple[int | None, dict | str]:
        req = urllib.request.Request(f"{self.login_url}/api/{path}", data=json.dumps(body).encode(),
                                     headers={"Content-Type": "application/json"}, method="POST")
        try:
            with urllib.request.urlopen(req, timeout=self.timeout) as r:
                raw = r.read()
                status = r.status
        except urllib.error.HTTPError as e:
            raw, status = e.read(), e.code
        except (urllib.error.URLError, OSError, TimeoutError) as e:
            return None, f"login service unreachable at {self.login_url}: {getattr(e, 'reason', e)}"
        try:
            return status, json.loads(raw or b"{}")
        except ValueError:
            return status, raw.decode("utf-8", "replace")[:200]

    def _write(self, kind: str, peer_id: str, path: str, body: dict) -> WriteResult:
        status, data = self._post(path, {"orgId": self.org_id, **body})
        if status is None:
            return WriteResult("retry", error=str(data))
        err = data.get("error") if isinstance(data, dict) else str(data)
        if status == 200 and isinstance(data, dict):
            return self.interpret(kind, peer_id, None, data.get("hash"))
        if status == 400 and err:
            return self.interpret(kind, peer_id, str(err), None)
        if status in (401, 403, 404) or (status == 500 and err and "api key" in str(err)):
            return WriteResult("rejected", error=f"{err} (HTTP {status}): sign in again with `swarmdeck login`")
        return WriteResult("retry", error=f"HTTP {status}: {err}")

    def register_peer(self, peer_id: str) -> WriteResult:
        return self._write("register", peer_id, "register-peer", {"peerId": peer_id})

    def submit_reward(self, round: int, stage: int, reward: int, peer_id: str) -> WriteResult:
        return self._write("reward", peer_id, "submit-reward", {
            "roundNumber": int(round), "stageNumber": int(stage), "reward": int(reward), "peerId": peer_id})

    def submit_winners(self, round: int, winners: list[str], peer_id: str) -> WriteResult:
        return self._write("winners", peer_id, "submit-winner", {
            "roundNumber": int(round), "winners": list(winners), "peerId": peer_id})
