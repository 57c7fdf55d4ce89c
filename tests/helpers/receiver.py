"""A real local HTTP server that records what apprise's json:// (and ntfy://) plugins POST to it."""

from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class Receiver:
    def __init__(self, status: int = 200):
        self.messages: list[dict] = []
        self.status = status
        self._cv = threading.Condition()
        outer = self

        class H(BaseHTTPRequestHandler):
            def do_POST(self):
                n = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(n)
                try:
                    body = json.loads(raw)
                except ValueError:
                    body = {"raw": raw.decode("utf-8", "replace")}
                with outer._cv:
                    outer.messages.append({"path": self.path, "body": body, "headers": dict(self.headers)})
                    outer._cv.notify_all()
                self.send_response(outer.status)
                self.send_header("Content-Type", "application/json")
                self.end_headers()
                self.wfile.write(b"{}")

            def log_message(self, *a):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), H)
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> "Receiver":
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.server.shutdown()
        self.server.server_close()

    def json_url(self, path: str = "hook") -> str:
        return f"json://127.0.0.1:{self.port}/{path}"

    def wait_for(self, n: int, timeout: float = 30.0) -> list[dict]:
        deadline = time.monotonic() + timeout
        with self._cv:
            while len(self.messages) < n and time.monotonic() < deadline:
                self._cv.wait(deadline - time.monotonic())
            return list(self.messages)


def main() -> None:
    """`python -m tests.helpers.receiver PORT FILE`: the receiver as a process (e.g. inside a network namespace),
    each message appended to FILE as one JSON line. Runs until killed."""
    import sys

    port, out = int(sys.argv[1]), sys.argv[2]

    class H(BaseHTTPRequestHandler):
        def do_POST(self):
            n = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(n)
            try:
                body = json.loads(raw)
            except ValueError:
                body = {"raw": raw.decode("utf-8", "replace")}
            with open(out, "a") as f:
                f.write(json.dumps({"path": self.path, "body": body, "t": time.time()}) + "\n")
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.end_headers()
            self.wfile.write(b"{}")

        def log_message(self, *a):
            pass

    srv = ThreadingHTTPServer(("127.0.0.1", port), H)
    print("ready", flush=True)
    srv.serve_forever()


if __name__ == "__main__":
    main()
