"""Chain benchmark: a register + submit-reward cycle through each coordinator backend, divided
by a raw web3 call sequence sending the same two transactions, all in the same run on one anvil.

raw web3 = build_transaction (gas estimate) + sign + send_raw_transaction + wait for the receipt,
           for registerPeer then submitReward: the least any client has to do.
backends = Web3Coordinator (same, plus custom-error decoding) and ModalLoginCoordinator (HTTP to
           the local login service, which signs with the account's EOA and sends).
Runs are interleaved per round (one cycle of each per round) so drift hits all alike; medians.
Results are printed and written to the "## Chain" section of tests/bench/RESULTS.md.
"""

from __future__ import annotations

import os
import platform
import statistics
import time
from pathlib import Path

from core.base.paths import ProfilePaths
from core.chain.devnet import LocalChain, free_port
from core.chain.modal_login_backend import ModalLoginCoordinator
from core.chain.web3_backend import Web3Coordinator
from core.login.service import LoginService, ServiceThread
from tests.helpers.chain import require_anvil
from tests.helpers.http import sign_in

RESULTS = Path(__file__).with_name("RESULTS.md")
CYCLES = 30


def write_section(title: str, body: str) -> None:
    """Replace (or append) our `## title` section of RESULTS.md, leaving other sections alone."""
    text = RESULTS.read_text() if RESULTS.exists() else "# Benchmark results\n"
    head = f"## {title}\n"
    if head in text:
        start = text.index(head)
        nxt = text.find("\n## ", start + len(head))
        text = text[:start] + head + body + (text[nxt + 1:] if nxt != -1 else "")
    else:
        text = text.rstrip("\n") + "\n\n" + head + body
    RESULTS.write_text(text)


def _raw_cycle(w3, contract, acct, chain_id: int, peer: str, rnd: int) -> None:
    for fn in (contract.functions.registerPeer(peer), contract.functions.submitReward(rnd, 0, 1000, peer)):
        tx = fn.build_transaction({"from": acct.address, "chainId": chain_id,
                                   "nonce": w3.eth.get_transaction_count(acct.address, "pending")})
        h = w3.eth.send_raw_transaction(acct.sign_transaction(tx).raw_transaction)
        assert w3.eth.wait_for_transaction_receipt(h, timeout=30, poll_latency=0.02)["status"] == 1


def _backend_cycle(coord, peer: str, rnd: int) -> None:
    assert coord.register_peer(peer).status == "landed"
    assert coord.submit_reward(rnd, 0, 1000, peer).status == "landed"


def test_bench_register_submit_cycle():
    require_anvil()
    with LocalChain() as chain:
        from web3 import Web3

        w3 = Web3(Web3.HTTPProvider(chain.rpc_url, request_kwargs={"timeout": 10}))
        contract = w3.eth.contract(address=chain.coordinator, abi=chain.contract.abi)
        raw_acct = chain.new_funded_account()
        web3c = Web3Coordinator(chain.rpc_url, chain.coordinator, chain.new_funded_account().key.hex(),
                                chain_id=chain.chain_id)
        paths = ProfilePaths("bench")
        with ServiceThread(LoginService(paths.identity_dir, port=free_port())) as svc:
            user = sign_in(svc.url, "bench@example.org")
            mlc = ModalLoginCoordinator(svc.url, user["orgId"], chain.rpc_url, chain.coordinator,
                                        eoa=user["address"])
            # warm-up (connection pools, the login service's writer cache, gas funding)
            rnd = chain.current_round()
            _raw_cycle(w3, contract, raw_acct, chain.chain_id, "QmWarmRaw", rnd)
            _backend_cycle(web3c, "QmWarmW3", rnd)
            _backend_cycle(mlc, "QmWarmML", rnd)
            times: dict[str, list[float]] = {"raw web3": [], "web3 backend": [], "modal-login backend": []}
            for i in range(CYCLES):
                rnd, _ = chain.advance()
                for name, run in (("raw web3", lambda: _raw_cycle(w3, contract, raw_acct, chain.chain_id,
                                                                   f"QmRaw{i}", rnd)),
                                  ("web3 backend", lambda: _backend_cycle(web3c, f"QmW3{i}", rnd)),
                                  ("modal-login backend", lambda: _backend_cycle(mlc, f"QmML{i}", rnd))):
                    t = time.perf_counter()
                    run()
                    times[name].append(time.perf_counter() - t)
            # the idempotent no-op path: a duplicate reward costs a simulation, never a transaction
            dup = []
            for _ in range(CYCLES):
                t = time.perf_counter()
                assert web3c.submit_reward(rnd, 0, 1000, f"QmW3{CYCLES - 1}").status == "already"
                dup.append(time.perf_counter() - t)
    base = statistics.median(times["raw web3"])
    rows = []
    for name, ts in times.items():
        med = statistics.median(ts)
        rows.append((name, med * 1000, statistics.quantiles(ts, n=10)[-1] * 1000, med / base))
    lines = [f"{CYCLES} register+submitReward cycles per path on one anvil (automine), interleaved, same run; "
             f"{platform.machine()}, {os.cpu_count()} CPUs, load avg {os.getloadavg()[0]:.1f}, "
             f"Python {platform.python_version()}, {time.strftime('%Y-%m-%d')}. Each tx = ~8 JSON-RPC "
             "round trips (nonce, fees, estimate, send, receipt), so the machine's load sets the absolute ms; "
             "the ratios are what to compare.", "",
             "| path | median ms/cycle | p90 ms | ratio vs raw web3 |", "|---|---|---|---|"]
    for name, med, p90, ratio in rows:
        lines.append(f"| {name} | {med:.1f} | {p90:.1f} | {ratio:.2f} |")
    lines += ["", f"Duplicate reward through the web3 backend (RewardAlreadySubmitted, no tx): median "
                  f"{statistics.median(dup) * 1000:.1f} ms.", ""]
    body = "\n".join(lines) + "\n"
    print("\n## Chain\n" + body)
    write_section("Chain", body)
    assert all(r[3] > 0 for r in rows)
