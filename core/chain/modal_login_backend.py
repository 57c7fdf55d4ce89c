"""modal-login backend: writes go through the login service's HTTP API, reads to the RPC.

Speaks the public modal-login app's API exactly (POST JSON to /api/register-peer,
/api/submit-reward, /api/submit-winner with the account's orgId), so the same code drives
swarmdeck's local login service and the official app on the public testnet.

Reply mapping:
  200 {hash}                                   -> landed
  any non-200 whose raw body mentions an account-abstraction signature error (AA23/AA24,
  "signature error", "invalid signature", "Invalid account signature": the bundler refused a
  stale session key; the official app answers 500 {error: "An unexpected error occurred",
  original: {...details...}})                  -> signin
  404 "user not found", 500 "api key not found", 503 "api key not activated" (newer app
  versions), 401                               -> signin (the session key is stale, missing or
                                                  not activated: a new browser sign-in fixes it)
  400 {error: <custom error name>}             -> the shared rule in RpcCoordinator.interpret
                                                  (already / rejected / IdentityError)
  connection refused, timeouts, other 4xx/5xx  -> retry (the queue backs off; nothing is lost), the
                                                  500 both apps answer while the chain is down included
"""

from __future__ import annotations

import json
import re
import urllib.error
import urllib.request

from core.chain.coordinator import WriteResult
from core.chain.web3_backend import RpcCoordinator

# What Alchemy's bundler (through the official app) says when the session key's signature is not
# accepted by the account: EntryPoint codes AA23 (account validation reverted) / AA24 (signature
# error), and the account's own "invalid signature" texts.
_SIG_ERROR = re.compile(r"\bAA2[34]\b|AA2\d[^\n]{0,60}signature|signature error|invalid (account )?signature",
                        re.IGNORECASE)
_AA_CODE = re.compile(r"\bAA2\d\b")
_SCAN = 256 * 1024  # how much of a reply body is searched


def signature_error(text: str) -> str | None:
    """A short label for an account-abstraction signature error in `text` (e.g. "AA24"), else None."""
    m = _SIG_ERROR.search(text or "")
    if m is None:
        return None
    code = _AA_CODE.search(m.group(0))
    return code.group(0) if code else "invalid signature"


class ModalLoginCoordinator(RpcCoordinator):
    def __init__(self, login_url: str, org_id: str, rpc_url: str, coordinator: str, *, eoa: str | None = None,
                 timeout: float = 30.0, profile: str | None = None):
        super().__init__(rpc_url, coordinator)
        self.login_url = login_url.rstrip("/")
        self.org_id = org_id
        self._eoa = eoa
        self.timeout = timeout
        self.profile = profile  # only for the "sign in again" command in error texts

    def __repr__(self) -> str:
        return f"ModalLoginCoordinator(org {self.org_id} via {self.login_url})"

    @property
    def eoa(self) -> str | None:
        return self._eoa

    def _post(self, path: str, body: dict) -> tuple[int | None, dict | str, str]:
        """(HTTP status or None when unreachable, parsed JSON or text, raw body text)."""
        req = urllib.request.Request(f"{self.login_url}/api/{path}", data=json.dumps(body).encode(),
                                     headers={"Content-Type": "application/json"}, method="POST")
        try:
            with urllib.request.urlopen(req, timeout=self.timeout) as r:
                raw = r.read(_SCAN + 1)
                status = r.status
        except urllib.error.HTTPError as e:
            try:
                raw, status = e.read(_SCAN + 1), e.code
            except OSError:
                raw, status = b"", e.code
        except (urllib.error.URLError, OSError, TimeoutError) as e:
            return None, f"login service unreachable at {self.login_url}: {getattr(e, 'reason', e)}", ""
        text = raw[:_SCAN].decode("utf-8", "replace")
        try:
            return status, json.loads(raw or b"{}"), text
        except ValueError:
            return status, text[:200], text

    def _signin(self, what: str) -> WriteResult:
        cmd = f"swarmdeck login -p {self.profile}" if self.profile else "swarmdeck login"
        return WriteResult("signin", error=f"{what}; sign in again: {cmd}")

    def _write(self, kind: str, peer_id: str, path: str, body: dict) -> WriteResult:
        status, data, raw = self._post(path, {"orgId": self.org_id, **body})
        if status is None:
            return WriteResult("retry", error=str(data))
        err = data.get("error") if isinstance(data, dict) else str(data)
        if status == 200 and isinstance(data, dict):
            return self.interpret(kind, peer_id, None, data.get("hash"))
        sig = signature_error(raw)
        if sig is not None:
            return self._signin(f"stale session key: the bundler refused its signature ({sig}, HTTP {status})")
        low = str(err or "").lower()
        if status == 404 and "user not found" in low:
            return self._signin("the login app does not know this account (HTTP 404 user not found)")
        if status in (500, 503) and "api key not" in low:
            return self._signin(f"session key missing or not activated (HTTP {status} {str(err)[:40]})")
        if status == 401:
            return self._signin(f"the login app refused this account (HTTP 401 {str(err)[:40]})")
        if status == 400 and err:
            return self.interpret(kind, peer_id, str(err), None)
        return WriteResult("retry", error=f"HTTP {status} from {self.login_url}: {str(err)[:200]}")

    def register_peer(self, peer_id: str) -> WriteResult:
        return self._write("register", peer_id, "register-peer", {"peerId": peer_id})

    def submit_reward(self, round: int, stage: int, reward: int, peer_id: str) -> WriteResult:
        return self._write("reward", peer_id, "submit-reward", {
            "roundNumber": int(round), "stageNumber": int(stage), "reward": int(reward), "peerId": peer_id})

    def submit_winners(self, round: int, winners: list[str], peer_id: str) -> WriteResult:
        return self._write("winners", peer_id, "submit-winner", {
            "roundNumber": int(round), "winners": list(winners), "peerId": peer_id})
