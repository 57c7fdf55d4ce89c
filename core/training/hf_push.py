"""Optional push of the LoRA adapter to the user's Hugging Face Hub repo, in the background.

Every `every` rounds the node calls `pusher.maybe_push(round, adapter_dir)`. Without a token
nothing is attempted (returns "skipped"). A push runs on a daemon thread and never blocks a
round; if the previous push is still running, this round's push is skipped rather than queued
(the next one carries newer weights anyway). The result goes to `on_result(round, status,
reason)` (the node turns it into an `hf.push` event). The token is never logged or put in a
reason string.

The endpoint defaults to HF_ENDPOINT / huggingface.co; tests point it at a local recorder.
"""

from __future__ import annotations

import logging
import os
import threading
from pathlib import Path
from typing import Callable

log = logging.getLogger("swarmdeck.training")

ResultFn = Callable[[int, str, str], None]


class HubPusher:
    def __init__(self, repo_id: str | None, token: str | None, every: int = 10, endpoint: str | None = None,
                 private: bool = True, on_result: ResultFn | None = None):
        self.repo_id = (repo_id or "").strip()
        self._token = token or None
        self.every = max(1, int(every))
        self.endpoint = endpoint or os.environ.get("HF_ENDPOINT") or None
        self.private = private
        self.on_result = on_result
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()
        self._repo_ready = False
        self.last: tuple[int, str, str] | None = None  # (round, status, reason) of the last finished push

    @property
    def enabled(self) -> bool:
        return bool(self._token and self.repo_id)

    def __repr__(self) -> str:  # never show the token
        return f"HubPusher(repo_id={self.repo_id!r}, every={self.every}, enabled={self.enabled})"

    def due(self, round_: int) -> bool:
        return self.enabled and round_ > 0 and round_ % self.every == 0

    def maybe_push(self, round_: int, adapter_dir: Path | str) -> str:
        """"started" | "skipped" (not due / disabled) | "busy" (previous push still running)."""
        if not self.due(round_):
            return "skipped"
        with self._lock:
            if self._thread is not None and self._thread.is_alive():
                return "busy"
            t = threading.Thread(target=self._run, args=(round_, Path(adapter_dir)),
                                 name=f"hf-push-{round_}", daemon=True)
            self._thread = t
            t.start()
        return "started"

    def wait(self, timeout: float | None = None) -> bool:
        """Wait for the running push (tests, graceful stop). True when none is running any more."""
        t = self._thread
        if t is not None:
            t.join(timeout)
            return not t.is_alive()
        return True

    def _run(self, round_: int, folder: Path) -> None:
        try:
            from huggingface_hub import HfApi

            api = HfApi(endpoint=self.endpoint, token=self._token)
            if not self._repo_ready:
                api.create_repo(self.repo_id, private=self.private, exist_ok=True, repo_type="model")
                self._repo_ready = True
            files = [p for p in ("adapter_model.safetensors", "adapter_config.json") if (folder / p).is_file()]
            if not files:
                raise FileNotFoundError(f"no adapter files in {folder}")
            api.upload_folder(repo_id=self.repo_id, folder_path=str(folder), allow_patterns=files,
                              commit_message=f"swarmdeck: LoRA adapter after round {round_}", repo_type="model")
            result = (round_, "ok", "")
        except Exception as e:  # network, auth, quota: report, never raise into the node
            msg = str(e).splitlines()[0] if str(e) else ""
            if self._token:
                msg = msg.replace(self._token, "***")
            result = (round_, "failed", f"{type(e).__name__}: {msg}"[:300])
            log.warning("hf push of round %d failed: %s", round_, result[2])
        self.last = result
        if self.on_result is not None:
            try:
                self.on_result(*result)
            except Exception:
                pass
