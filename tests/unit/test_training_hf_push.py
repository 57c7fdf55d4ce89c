"""HF push of the LoRA adapter, against a local HTTP server that records the calls.

The real Hugging Face Hub cannot be reached from this machine (no network), so this test
points huggingface_hub at a recorder on 127.0.0.1 that answers the Hub's repo-create,
preupload and commit endpoints in their documented shapes and records every request.
"""

from __future__ import annotations

import base64
import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from core.training.hf_push import HubPusher

TOKEN = "hf_testtoken_do_not_log_0123456789"


class _Recorder(BaseHTTPRequestHandler):
    calls: list = []
    delay = 0.0

    def log_message(self, *a):  # keep pytest output clean
        pass

    def _reply(self, obj, code=200):
        body = json.dumps(obj).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_POST(self):
        n = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(n) if n else b""
        if self.headers.get("Content-Encoding") == "gzip":
            import gzip

            body = gzip.decompress(body)
        self.calls.append(("POST", self.path, self.headers.get("Authorization"), body))
        if self.delay:
            time.sleep(self.delay)
        if self.path == "/api/repos/create":
            req = json.loads(body)
            base = f"http://127.0.0.1:{self.server.server_address[1]}"
            return self._reply({"url": f"{base}/{req.get('organization') or 'alice'}/{req['name']}",
                                "name": req["name"]})
        if "/preupload/" in self.path:
            req = json.loads(body)
            return self._reply({"files": [{"path": f["path"], "uploadMode": "regular", "shouldIgnore": False}
                                          for f in req["files"]]})
        if "/commit/" in self.path:
            base = f"http://127.0.0.1:{self.server.server_address[1]}"
            return self._reply({"commitUrl": f"{base}/alice/swarm-lora/commit/" + "a" * 40, "commitOid": "a" * 40,
                                "pullRequestUrl": None})
        return self._reply({"error": "unexpected"}, 404)

    def do_GET(self):
        self.calls.append(("GET", self.path, self.headers.get("Authorization"), b""))
        return self._reply({"error": "unexpected"}, 404)


@pytest.fixture(autouse=True)
def hub_online(monkeypatch):
    # The suite runs with HF_HUB_OFFLINE=1 (no model downloads); huggingface_hub then refuses
    # every request, which would make these tests pass vacuously. Only the local recorder and
    # a closed loopback port are reachable anyway.
    import huggingface_hub.constants as c

    monkeypatch.setattr(c, "HF_HUB_OFFLINE", False)


@pytest.fixture
def recorder():
    _Recorder.calls = []
    _Recorder.delay = 0.0
    srv = ThreadingHTTPServer(("127.0.0.1", 0), _Recorder)
    t = threading.Thread(target=srv.serve_forever, daemon=True)
    t.start()
    yield f"http://127.0.0.1:{srv.server_address[1]}", _Recorder
    srv.shutdown()
    srv.server_close()


def _adapter(tmp_path):
    d = tmp_path / "round-00000004"
    d.mkdir()
    (d / "adapter_model.safetensors").write_bytes(b"\x00weights" * 10)
    (d / "adapter_config.json").write_text('{"r": 16}')
    (d / "optimizer.pt").write_bytes(b"optimizer state is not pushed")
    return d


def test_push_every_n_rounds_in_background(recorder, tmp_path):
    url, rec = recorder
    results = []
    p = HubPusher("alice/swarm-lora", TOKEN, every=2, endpoint=url, on_result=lambda *r: results.append(r))
    d = _adapter(tmp_path)
    assert p.maybe_push(3, d) == "skipped"  # not due
    rec.delay = 1.0  # a slow Hub (each request 1 s) must not block the caller
    t0 = time.monotonic()
    assert p.maybe_push(4, d) == "started"
    assert time.monotonic() - t0 < 0.8  # under one request of the Hub (a loaded CI box needs the slack)
    assert p.maybe_push(6, d) == "busy"  # never piles up pushes
    assert p.wait(30)
    assert results == [(4, "ok", "")], results
    paths = [c[1] for c in rec.calls]
    assert paths[0] == "/api/repos/create"
    assert any(x.startswith("/api/models/alice/swarm-lora/preupload/main") for x in paths)
    commit = [c for c in rec.calls if "/commit/" in c[1]]
    assert len(commit) == 1 and all(c[2] == f"Bearer {TOKEN}" for c in rec.calls)
    lines = [json.loads(x) for x in commit[0][3].decode().splitlines()]
    files = {l["value"]["path"]: base64.b64decode(l["value"]["content"]) for l in lines if l["key"] == "file"}
    assert files == {"adapter_model.safetensors": b"\x00weights" * 10, "adapter_config.json": b'{"r": 16}'}
    assert TOKEN not in repr(p)


def test_no_token_nothing_attempted(recorder, tmp_path):
    url, rec = recorder
    p = HubPusher("alice/swarm-lora", None, every=1, endpoint=url)
    assert not p.enabled
    assert p.maybe_push(1, _adapter(tmp_path)) == "skipped"
    time.sleep(0.1)
    assert rec.calls == []


def test_failed_push_is_reported_without_token(tmp_path):
    results = []
    # Nothing listens on this port: connection refused, reported, never raised.
    p = HubPusher("alice/swarm-lora", TOKEN, every=1, endpoint="http://127.0.0.1:9",
                  on_result=lambda *r: results.append(r))
    assert p.maybe_push(1, _adapter(tmp_path)) == "started"
    assert p.wait(60)
    assert results and results[0][1] == "failed" and TOKEN not in results[0][2]
