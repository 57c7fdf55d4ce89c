"""The swarm host's RPC guard and faucet in front of a real anvil (the embedded chain).

Members may read and send transactions they signed; everything that would let them rewrite
the chain (cheat codes, unlocked-account sends, signing) is refused and changes nothing; the
limits (body, batch, rate) hold; the faucet funds an address once and a client a bounded
number of times.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request

import pytest
from eth_account import Account

from core.chain.devnet import LocalChain
from core.chain.web3_backend import Web3Coordinator
from core.hosting.faucet import Faucet
from core.hosting.guard import RpcGuard
from core.hosting.host import _send_value

pytestmark = pytest.mark.timeout(300)
PEER = "QmYyQSo1c1Ym7orWxLYvCrM2EmxFTANf8wXmmE7DWjhx5N"


@pytest.fixture
def chain():
    c = LocalChain("guarded").start()
    yield c
    c.stop()


def _guard(chain, **kw) -> RpcGuard:
    fk = Account.create()
    chain.fund(fk.address, 100)
    faucet = Faucet(lambda addr, wei: _send_value(chain, fk.key.hex(), addr, wei), chain.dir / "funded.json",
                    per_client=kw.pop("per_client", 3))
    return RpcGuard(chain.rpc_url, faucet=faucet, exempt=frozenset(), **kw).start()


def _roles(chain) -> dict:
    """Who holds each coordinator role (AccessControl hasRole, or the older single-address getters)."""
    fns = {f.get("name") for f in chain.contract.abi}
    addrs = [chain._account(r).address for r in ("owner", "stage_manager", "bootnode_manager")]
    if "hasRole" in fns:
        return {n: [chain.contract.functions.hasRole(getattr(chain.contract.functions, n)().call(), a).call()
                    for a in addrs] for n in ("OWNER_ROLE", "STAGE_MANAGER_ROLE", "BOOTNODE_MANAGER_ROLE") if n in fns}
    return {n: getattr(chain.contract.functions, n)().call() for n in ("owner", "stageManager", "bootnodeManager")
            if n in fns}


def _post(url: str, obj=None, raw: bytes | None = None) -> tuple[int, object]:
    data = raw if raw is not None else json.dumps(obj).encode()
    req = urllib.request.Request(url, data=data, headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=30) as r:
            return r.status, json.loads(r.read())
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read() or b"null")


def _call(url: str, method: str, params=None):
    return _post(url, {"jsonrpc": "2.0", "id": 1, "method": method, "params": params or []})


REFUSED = [
    ("anvil_setBalance", ["{addr}", hex(10**24)]),
    ("anvil_impersonateAccount", ["{owner}"]),
    ("anvil_setCode", ["{coord}", "0x00"]),
    ("anvil_mine", []),
    ("evm_increaseTime", [10**6]),
    ("evm_mine", []),
    ("evm_snapshot", []),
    ("hardhat_setBalance", ["{addr}", "0x1"]),
    ("debug_traceTransaction", ["0x" + "00" * 32]),
    ("personal_sign", ["0x00", "{owner}"]),
    ("eth_sendTransaction", [{"from": "{owner}", "to": "{coord}", "data": "0x"}]),
    ("eth_sign", ["{owner}", "0x00"]),
    ("eth_signTypedData_v4", ["{owner}", "{{}}"]),
    ("eth_accounts", []),
    ("admin_peers", []),
]


def test_dangerous_methods_are_refused_and_change_nothing(chain):
    g = _guard(chain)
    try:
        member = Account.create()
        owner = chain._account("owner").address
        before = (chain.w3.eth.get_balance(member.address), chain.w3.eth.block_number, _roles(chain),
                  chain.w3.eth.get_block("latest")["timestamp"])
        for method, params in REFUSED:
            params = json.loads(json.dumps(params).replace("{addr}", member.address).replace("{owner}", owner)
                                .replace("{coord}", chain.coordinator))
            code, ans = _call(g.url, method, params)
            assert code == 200 and ans["error"]["code"] == -32601, (method, ans)
            assert method in ans["error"]["message"] and "refused" in ans["error"]["message"]
        after = (chain.w3.eth.get_balance(member.address), chain.w3.eth.block_number, _roles(chain),
                 chain.w3.eth.get_block("latest")["timestamp"])
        assert after[:3] == before[:3] and after[3] - before[3] < 1000
        assert g.refused == len(REFUSED) and g.forwarded == 0
        # a batch: the allowed call is answered, the refused one refused, ids kept
        code, ans = _post(g.url, [{"jsonrpc": "2.0", "id": "a", "method": "eth_blockNumber"},
                                  {"jsonrpc": "2.0", "id": 7, "method": "anvil_setBalance", "params": []}])
        assert code == 200 and ans[0]["id"] == "a" and "result" in ans[0] and ans[1]["error"]["code"] == -32601
    finally:
        g.stop()


def test_member_reads_and_signed_writes_pass(chain):
    g = _guard(chain)
    try:
        member = Account.create()
        code, ans = _post(g.url + "/faucet", {"address": member.address})
        assert code == 200 and ans["status"] == "funded", ans
        co = Web3Coordinator(g.url, chain.coordinator, member.key.hex())
        assert co.current_round() == chain.current_round()
        assert co.register_peer(PEER).status == "landed"
        assert chain.contract.functions.getEoa([PEER]).call() == [member.address]
    finally:
        g.stop()


def test_limits_body_batch_rate_and_bad_json(chain):
    g = _guard(chain, max_body=4096, max_batch=5, rate=1.0, burst=8)
    try:
        code, ans = _post(g.url, raw=b'{"jsonrpc":"2.0","id":1,"method":"eth_chainId","pad":"' + b"x" * 5000 + b'"}')
        assert code == 413
        code, ans = _post(g.url, [{"jsonrpc": "2.0", "id": i, "method": "eth_chainId"} for i in range(6)])
        assert code == 413 and "batch" in ans["error"]["message"]
        assert _post(g.url, raw=b"{not json")[0] == 400
        assert _post(g.url, raw=b"[" * 3000 + b"]" * 3000)[0] in (400, 413)
        codes = [_call(g.url, "eth_chainId")[0] for _ in range(12)]
        assert codes[:5] == [200] * 5 and 429 in codes, codes
        assert g.forwarded < 12
    finally:
        g.stop()


def test_faucet_funds_once_and_bounds_each_client(chain):
    g = _guard(chain, per_client=2)
    try:
        a, b, c = (Account.create().address for _ in range(3))
        assert _post(g.url + "/faucet", {"address": a})[1]["status"] == "funded"
        assert _post(g.url + "/faucet", {"address": a})[1]["status"] == "already"
        assert chain.w3.eth.get_balance(a) == 10**18  # once, not twice
        assert _post(g.url + "/faucet", {"address": b})[1]["status"] == "funded"
        code, ans = _post(g.url + "/faucet", {"address": c})
        assert code == 429 and chain.w3.eth.get_balance(c) == 0
        assert _post(g.url + "/faucet", {"address": "0x12"})[0] == 400
        assert json.loads((chain.dir / "funded.json").read_text()).keys() == {a.lower(), b.lower()}
        assert (chain.dir / "funded.json").stat().st_mode & 0o777 == 0o600
    finally:
        g.stop()
