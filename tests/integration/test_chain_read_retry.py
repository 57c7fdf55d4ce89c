"""ChainReader / RpcCoordinator reads: bounded retries of transient RPC failures, against a real anvil.

- a read whose RPC comes up about a second later succeeds (the retry waited for it);
- a read against a dead port fails with a ChainError after READ_ATTEMPTS tries, naming the URL,
  the call, the reason and the fix;
- a call to an address without code (bad ABI / wrong address) is not retried;
- HTTP 429 is retried, HTTP 404 is not (a tiny HTTP front in this file answers those codes and
  forwards the rest to anvil: it stands in for the public RPC's rate limiting, which cannot run here).
"""

from __future__ import annotations

import json
import threading
import time
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from web3.exceptions import BadFunctionCallOutput

from core.chain.devnet import free_port
from core.chain.web3_backend import READ_ATTEMPTS, READ_BACKOFF, ChainReader, Web3Coordinator
from core.base.errors import ChainError

from tests.helpers.chain import chain_in
from tests.helpers.http import hung_rpc

NO_CODE = "0x" + "11" * 20


@pytest.fixture(scope="module")
def chain(tmp_path_factory):
    with chain_in(tmp_path_factory.mktemp("retryhome"), network="retry") as c:
        yield c


@pytest.mark.timeout(120)
def test_read_waits_for_an_rpc_that_comes_up_a_second_later(tmp_path):
    home, port = tmp_path / "late", free_port()
    with chain_in(home, network="late", port=port) as first:  # deploy once; the state file keeps it
        coordinator = first.coordinator
        first.advance()
    reader = ChainReader(f"http://127.0.0.1:{port}", coordinator)
    out: dict = {}

    def read():
        t0 = time.monotonic()
        try:
            out["round"] = reader.current_round()
        except Exception as e:  # noqa: BLE001 - reported by the asserts below
            out["error"] = e
        out["took"] = time.monotonic() - t0

    th = threading.Thread(target=read)
    th.start()  # first attempt: nothing listens on the port yet (connection refused)
    time.sleep(0.2)
    with chain_in(home, network="late", port=port) as again:
        assert again.coordinator == coordinator and not again.deployed_now
        th.join(30)
    assert "error" not in out, out.get("error")
    assert out["round"] == 1
    assert out["took"] >= READ_BACKOFF[0] * 0.9  # at least one retry happened


@pytest.mark.timeout(60)
def test_read_against_a_dead_port_fails_after_bounded_attempts():
    url = f"http://127.0.0.1:{free_port()}"
    reader = ChainReader(url, NO_CODE, network="gensyn-testnet")
    t0 = time.monotonic()
    with pytest.raises(ChainError) as ei:
        reader.current_round()
    took = time.monotonic() - t0
    e = ei.value
    assert e.attempts == READ_ATTEMPTS == 3
    assert sum(READ_BACKOFF) * 0.9 <= took < sum(READ_BACKOFF) + 3  # waited the backoff, not more
    assert url in e.what and "currentRound()" in e.what and "connection refused" in e.what
    assert e.reason == "connection refused" and e.where == url
    assert "[networks.gensyn-testnet]" in e.fix and "rpc_url" in e.fix
    assert "Traceback" not in str(e)
    # the same for the Coordinator the node uses (Web3Coordinator = ChainReader + writes)
    node = Web3Coordinator(url, NO_CODE, "0x" + "22" * 32)
    with pytest.raises(ChainError, match="getBootnodes"):
        node.get_bootnodes()


@pytest.mark.timeout(60)
def test_no_contract_at_the_address_is_not_retried(chain):
    reader = ChainReader(chain.rpc_url, NO_CODE)
    assert reader.code_size() == 0 and reader.code_size(chain.coordinator) > 100
    assert reader.chain_id() == 31337
    t0 = time.monotonic()
    with pytest.raises(BadFunctionCallOutput):
        reader.current_round()
    assert time.monotonic() - t0 < READ_BACKOFF[0]  # raised at once, no retry
    ok = ChainReader(chain.rpc_url, chain.coordinator)
    assert ok.current_round() == chain.current_round() and ok.get_bootnodes() == []


class _Front(BaseHTTPRequestHandler):
    """Answers the first `fail_first` POSTs with `code`, forwards the rest to the anvil behind it."""

    upstream = ""
    code = 429
    fail_first = 0
    seen = 0
    methods: list = []

    def do_POST(self):  # noqa: N802 - http.server's name
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        cls = type(self)
        cls.seen += 1
        cls.methods.append(json.loads(body).get("method"))
        if cls.seen <= cls.fail_first:
            self.send_response(cls.code)
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        req = urllib.request.Request(cls.upstream, data=body, headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(req, timeout=10) as r:
            data = r.read()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *a):
        pass


def _front(upstream: str, code: int, fail_first: int):
    handler = type("Front", (_Front,), {"upstream": upstream, "code": code, "fail_first": fail_first, "seen": 0,
                                       "methods": []})
    srv = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    return srv, handler, f"http://127.0.0.1:{srv.server_address[1]}"


@pytest.mark.timeout(60)
def test_http_429_is_retried_and_404_is_not(chain):
    srv, h, url = _front(chain.rpc_url, 429, fail_first=2)
    try:
        assert ChainReader(url, chain.coordinator).current_round() == chain.current_round()
        # web3 asks eth_chainId before an eth_call: two 429s, then the same request again and on
        assert h.seen >= 3 and h.methods[0] == h.methods[1] == h.methods[2]
    finally:
        srv.shutdown()
        srv.server_close()
    srv, h, url = _front(chain.rpc_url, 503, fail_first=10)
    try:
        with pytest.raises(ChainError) as ei:
            ChainReader(url, chain.coordinator).current_round()
        assert h.seen == READ_ATTEMPTS and "HTTP 503" in ei.value.what
    finally:
        srv.shutdown()
        srv.server_close()
    srv, h, url = _front(chain.rpc_url, 404, fail_first=10)
    try:
        t0 = time.monotonic()
        with pytest.raises(ChainError) as ei:
            ChainReader(url, chain.coordinator).current_round()
        assert h.seen == 1 and "HTTP 404" in ei.value.what and time.monotonic() - t0 < READ_BACKOFF[0]
    finally:
        srv.shutdown()
        srv.server_close()


@pytest.mark.timeout(60)
def test_a_silent_rpc_times_out_within_the_bound():
    with hung_rpc() as url:
        reader = ChainReader(url, NO_CODE, timeout=0.5, attempts=2, backoff=(0.2,))
        t0 = time.monotonic()
        with pytest.raises(ChainError) as ei:
            reader.chain_id()
        took = time.monotonic() - t0
        assert "timeout" in ei.value.what and "eth_chainId" in ei.value.what and ei.value.attempts == 2
        assert 1.0 <= took < 4.0
    json.dumps(ei.value.to_dict())  # the error stays serialisable for status --json / events
