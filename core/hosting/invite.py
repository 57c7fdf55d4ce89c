"""Swarm invites: one copyable string with what a member needs to join, nothing secret.

    swarmdeck-invite1.<payload>.<signature>

payload    base64url (no padding) of canonical JSON:
           {"v":1, "name", "chain_id", "rpc_url", "coordinator", "bootnodes":[multiaddr...],
            "backend", "faucet" ("" = none), "round_seconds"}
signature  base64url of a 65-byte EIP-191 signature over "swarmdeck invite v1\n" + payload,
           made with the host's bootnode-manager key (the key that publishes bootnodes on
           the coordinator). The joiner recovers the signer and requires the coordinator to
           name it as its bootnode manager, so an invite edited anywhere (another RPC URL,
           coordinator or bootnode) is refused, and a correct one proves it came from the
           swarm's host. No key leaves the host: the signature is public.

decode() checks the form (no network); check() asks the chain and the bootnodes (network,
bounded by timeouts) and never writes anything.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from dataclasses import asdict, dataclass, field

from core.base import safejson
from core.base.errors import SwarmdeckError
from core.base.i18n import M

PREFIX = "swarmdeck-invite1."
SIGNED_PREFIX = "swarmdeck invite v1\n"
MAX_INVITE_CHARS = 4096
MAX_BOOTNODES = 16
NAME_RE = re.compile(r"[A-Za-z0-9_-]{1,32}")
BACKENDS = ("web3", "modal-login")


class InviteError(SwarmdeckError):
    pass


@dataclass(frozen=True)
class Invite:
    name: str
    chain_id: int
    rpc_url: str
    coordinator: str
    bootnodes: tuple[str, ...]
    backend: str = "web3"
    faucet: str = ""
    round_seconds: float = 120.0
    signer: str = field(default="", compare=False)  # recovered from the signature by decode()

    def payload(self) -> dict:
        d = asdict(self)
        d.pop("signer")
        d["bootnodes"] = list(self.bootnodes)
        return {"v": 1, **d}

    def public_dict(self) -> dict:
        return {**self.payload(), "signer": self.signer}


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def _unb64(s: str) -> bytes:
    if not re.fullmatch(r"[A-Za-z0-9_-]*", s):
        raise ValueError("not base64url")
    return base64.urlsafe_b64decode(s + "=" * (-len(s) % 4))


def _canonical(payload: dict) -> bytes:
    return json.dumps(payload, sort_keys=True, separators=(",", ":")).encode()


def encode(inv: Invite, signing_key: str) -> str:
    """The invite string, signed with the host's bootnode-manager key (stays on the host)."""
    from eth_account import Account
    from eth_account.messages import encode_defunct

    problems = _problems(inv.payload())
    if problems:
        raise InviteError(M("err.invite.cannot_make", problems="; ".join(problems)), fix=M("err.invite.cannot_make_fix"))
    body = _b64(_canonical(inv.payload()))
    sig = Account.sign_message(encode_defunct(text=SIGNED_PREFIX + body), signing_key).signature
    return f"{PREFIX}{body}.{_b64(bytes(sig))}"


def _problems(p: dict) -> list[str]:
    from core.config.settings import multiaddr_problem

    out = []
    if p.get("v") != 1:
        out.append(f"version {p.get('v')!r} is not 1 (made by a newer swarmdeck?)")
    if not isinstance(p.get("name"), str) or not NAME_RE.fullmatch(p["name"]):
        out.append("name must be 1-32 letters, digits, - or _")
    cid = p.get("chain_id")
    if not isinstance(cid, int) or isinstance(cid, bool) or not 0 < cid < 2**63:
        out.append("chain_id must be a positive integer")
    url = p.get("rpc_url")
    if not isinstance(url, str) or not re.fullmatch(r"https?://[^\s/]+(/\S*)?", url) or len(url) > 512:
        out.append("rpc_url must be an http(s) URL")
    if not isinstance(p.get("coordinator"), str) or not re.fullmatch(r"0x[0-9a-fA-F]{40}", p["coordinator"]):
        out.append("coordinator must be a 0x address (40 hex digits)")
    boots = p.get("bootnodes")
    if not isinstance(boots, list) or not 1 <= len(boots) <= MAX_BOOTNODES:
        out.append(f"bootnodes must list 1..{MAX_BOOTNODES} multiaddrs")
    else:
        for b in boots:
            err = multiaddr_problem(b) if isinstance(b, str) and len(b) < 256 else "not a short string"
            if err is None and "/p2p/" not in b:
                err = "no /p2p/PEERID part"
            if err:
                out.append(f"bootnode {str(b)[:80]!r}: {err}")
    if p.get("backend") not in BACKENDS:
        out.append(f"backend must be one of {', '.join(BACKENDS)}")
    f = p.get("faucet")
    if not isinstance(f, str) or (f and not re.fullmatch(r"https?://[^\s/]+(/\S*)?", f)) or len(f) > 512:
        out.append("faucet must be an http(s) URL or empty")
    rs = p.get("round_seconds")
    if not isinstance(rs, (int, float)) or isinstance(rs, bool) or not 1 <= rs <= 86400:
        out.append("round_seconds must be a number of seconds (1..86400)")
    extra = set(p) - {"v", "name", "chain_id", "rpc_url", "coordinator", "bootnodes", "backend", "faucet",
                      "round_seconds"}
    if extra:
        out.append(f"unknown fields {sorted(extra)}")
    return out


BAD_FIX = M("err.invite.bad_fix")


def decode(text: str) -> Invite:
    """Parse and verify the form and the signature of an invite; no network. Raises InviteError."""
    from eth_account import Account
    from eth_account.messages import encode_defunct

    s = "".join(str(text).split())  # a copy wrapped over lines by a terminal is still one invite
    if len(s) > MAX_INVITE_CHARS:
        raise InviteError(M("err.invite.too_long", n=len(s), max=MAX_INVITE_CHARS), fix=BAD_FIX)
    if not s.startswith(PREFIX):
        raise InviteError(M("err.invite.not_invite"), fix=BAD_FIX)
    parts = s[len(PREFIX):].split(".")
    if len(parts) != 2 or not all(parts):
        raise InviteError(M("err.invite.cut"), fix=BAD_FIX)
    body, sig = parts
    try:
        p = safejson.loads(_unb64(body).decode("utf-8"))
        sig_bytes = _unb64(sig)
    except (ValueError, UnicodeDecodeError, binascii.Error, RecursionError):
        raise InviteError(M("err.invite.data_not_json"), fix=BAD_FIX) from None
    if not isinstance(p, dict):
        raise InviteError(M("err.invite.data_not_object"), fix=BAD_FIX)
    problems = _problems(p)
    if problems:
        raise InviteError(M("err.invite.invalid", problems="; ".join(problems)), fix=BAD_FIX)
    if len(sig_bytes) != 65:
        raise InviteError(M("err.invite.signature"), fix=BAD_FIX)
    try:
        signer = Account.recover_message(encode_defunct(text=SIGNED_PREFIX + body), signature=sig_bytes)
    except Exception:  # noqa: BLE001 - any failure to recover is a damaged signature
        raise InviteError(M("err.invite.signature"), fix=BAD_FIX) from None
    return Invite(name=p["name"], chain_id=int(p["chain_id"]), rpc_url=p["rpc_url"], coordinator=p["coordinator"],
                  bootnodes=tuple(p["bootnodes"]), backend=p["backend"], faucet=p["faucet"],
                  round_seconds=float(p["round_seconds"]), signer=signer)


def _rpc(url: str, method: str, params: list, timeout: float):
    import urllib.request

    body = json.dumps({"jsonrpc": "2.0", "id": 1, "method": method, "params": params}).encode()
    req = urllib.request.Request(url, data=body, headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=timeout) as r:
        ans = safejson.loads(r.read(1 << 20).decode("utf-8"))
    if not isinstance(ans, dict) or "error" in ans:
        raise ValueError(str((ans or {}).get("error") if isinstance(ans, dict) else ans)[:200])
    return ans.get("result")


def signer_is_bootnode_manager(contract, signer: str) -> bool | None:
    """Whether the coordinator names `signer` as its bootnode manager (None: it has no way to say)."""
    fns = {f.get("name") for f in contract.abi if f.get("type") == "function"}
    if "bootnodeManager" in fns:
        return contract.functions.bootnodeManager().call().lower() == signer.lower()
    if "hasRole" in fns and "BOOTNODE_MANAGER_ROLE" in fns:
        role = contract.functions.BOOTNODE_MANAGER_ROLE().call()
        return bool(contract.functions.hasRole(role, signer).call())
    return None


def check(inv: Invite, *, timeout: float = 5.0, progress=None, bootnode_wait: float = 10.0) -> dict:
    """Ask the network whether the invite is true; raises InviteError naming the first thing that is not.

    Checks: the RPC answers with the stated chain id; the coordinator has code and answers the
    coordinator ABI (currentRound, stageCount, getBootnodes); it names the invite's signer as its
    bootnode manager; at least one bootnode accepts a TCP connection. Writes nothing.
    Returns {"round", "reachable": [...], "unreachable": {maddr: reason}}.
    """
    from web3 import Web3

    from core.chain.compile import load_artifact
    from core.swarm.addrs import tcp_reachable

    say = progress or (lambda msg: None)
    where = M("err.invite.where", name=repr(inv.name))
    say(M("host.asking_rpc", url=inv.rpc_url))
    try:
        got = int(str(_rpc(inv.rpc_url, "eth_chainId", [], timeout)), 16)
    except Exception as e:  # noqa: BLE001 - any failure: cannot reach it
        raise InviteError(M("err.invite.rpc_silent", url=inv.rpc_url, error=f"{type(e).__name__}: {str(e)[:120]}"),
                          where=where, fix=M("err.invite.rpc_silent_fix")) from None
    if got != inv.chain_id:
        raise InviteError(M("err.invite.wrong_chain", url=inv.rpc_url, got=got, want=inv.chain_id),
                          where=where, fix=BAD_FIX)
    w3 = Web3(Web3.HTTPProvider(inv.rpc_url, request_kwargs={"timeout": timeout}))
    addr = Web3.to_checksum_address(inv.coordinator)
    try:
        code = w3.eth.get_code(addr)
    except Exception as e:  # noqa: BLE001
        raise InviteError(M("err.invite.no_code_read", error=type(e).__name__), where=where,
                          fix=M("err.invite.no_code_read_fix")) from None
    if not code:
        raise InviteError(M("err.invite.no_contract", address=addr, chain=got), where=where, fix=BAD_FIX)
    c = w3.eth.contract(address=addr, abi=load_artifact()["abi"])
    try:
        rnd = int(c.functions.currentRound().call())
        int(c.functions.stageCount().call())
        on_chain = list(c.functions.getBootnodes().call())
        manager = signer_is_bootnode_manager(c, inv.signer)
    except Exception as e:  # noqa: BLE001 - reverts / ABI mismatch: not a coordinator
        raise InviteError(M("err.invite.not_coordinator", address=addr, error=type(e).__name__),
                          where=where, fix=BAD_FIX) from None
    if manager is False:
        raise InviteError(M("err.invite.wrong_signer"), where=where, fix=BAD_FIX)
    say(M("host.coordinator_answers", round=rnd))
    import time

    reachable, unreachable = [], {}
    # the chain's list first: the host keeps it true (an old invite may name an address since replaced)
    order = list(dict.fromkeys([m for m in on_chain] + list(inv.bootnodes)))
    t0 = time.monotonic()
    while True:
        for b in order:
            ok, why = tcp_reachable(b, timeout=min(timeout, 3.0))
            (reachable.append(b) if ok else unreachable.__setitem__(b, why))
            if reachable:
                break
        if reachable or time.monotonic() - t0 >= bootnode_wait:
            break
        say(M("host.no_bootnode_yet", seconds=time.monotonic() - t0))
        time.sleep(min(3.0, max(0.5, bootnode_wait / 5)))
    if not reachable:
        raise InviteError(M("err.invite.no_bootnode", seconds=time.monotonic() - t0,
                            reasons="; ".join(f"{m}: {w}" for m, w in unreachable.items())),
                          where=where, fix=M("err.invite.no_bootnode_fix"))
    return {"round": rnd, "reachable": reachable, "unreachable": unreachable, "bootnodes_on_chain": on_chain}
