"""Send alerts through apprise from a background thread: the supervisor's loop only queues them.

Alerts carry their title and body as message keys (`Msg`, whose str is English: logs, notes and the
alert-state file stay English); they are rendered in the user's language (config `language`, else the
locale) when they are sent.

Each message goes to every URL in the URL file (read again per message, so `swarmdeck alerts add`
applies without a restart). apprise's own logger is silenced (a library log line could carry a URL);
failures are reported through `on_note` with the URL redacted to its scheme.
"""

from __future__ import annotations

import logging
import queue
import threading
from pathlib import Path
from typing import Callable

from core.alerts.rules import Alert
from core.alerts.urls import load_urls, redact, redact_text
from core.base.errors import SwarmdeckError
from core.base.i18n import Translator, detect_language, text

_apprise_log = logging.getLogger("apprise")
_apprise_log.addHandler(logging.NullHandler())
_apprise_log.propagate = False  # never reaches a handler that could print a URL

_TYPES = {"fired": "failure", "update": "failure", "recovered": "success", "event": "info", "test": "info"}


def delivery_language() -> str:
    """The user's language for what goes to their alert URLs: the config's `language`, else the locale
    (LC_ALL / LC_MESSAGES / LANG) -- the rule the CLI and the TUI use. Read per message, so a change of
    the setting applies without a restart; a config that does not load leaves it to the locale."""
    try:
        from core.config import settings as _config

        setting = _config.load_config(create=False, strict=False).language if _config.config_path().exists() else None
    except Exception:  # noqa: BLE001 - a broken config must not stop an alert: the locale decides
        setting = None
    return detect_language(setting)


def delivery_translator() -> Translator:
    return Translator(delivery_language())


def send_once(urls: list[str], title: str, body: str, kind: str = "info") -> list[tuple[str, bool]]:
    """Send one message to each URL; [(redacted URL, delivered)]."""
    import apprise

    notify_type = {"failure": apprise.NotifyType.FAILURE, "success": apprise.NotifyType.SUCCESS}.get(
        _TYPES.get(kind, kind), apprise.NotifyType.INFO)
    out = []
    for u in urls:
        ap = apprise.Apprise()
        ok = False
        try:
            if ap.add(u):
                ok = bool(ap.notify(title=title, body=body, notify_type=notify_type))
        except Exception:  # a plugin's bug must not kill the sender; the message names the URL's scheme only
            ok = False
        out.append((redact(u), ok))
    return out


class AlertSender:
    """A queue and one daemon thread that sends what is queued."""

    def __init__(self, urls_file: Path, on_note: Callable[[str], None] | None = None, max_queue: int = 200):
        self.urls_file = Path(urls_file)
        self.on_note = on_note or (lambda msg: None)
        self.q: queue.Queue = queue.Queue(maxsize=max_queue)
        self.sent: list[tuple[Alert, list[tuple[str, bool]]]] = []   # the last results (for status and tests)
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()

    def submit(self, alert: Alert) -> bool:
        with self._lock:
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="swarmdeck-alerts", daemon=True)
                self._thread.start()
        try:
            self.q.put_nowait(alert)
            return True
        except queue.Full:
            self.on_note(f"alert queue full: dropped '{alert.title}'")
            return False

    def close(self, timeout: float = 10.0) -> None:
        if self._thread is None:
            return
        try:
            self.q.put(None, timeout=1.0)
        except queue.Full:
            pass
        self._thread.join(timeout)

    def _run(self) -> None:
        while True:
            a = self.q.get()
            if a is None:
                return
            try:
                urls = load_urls(self.urls_file)
            except SwarmdeckError as e:
                self.on_note(f"alert '{a.title}' not sent: {e.what} ({e.where}); fix: {e.fix}")
                continue
            if not urls:
                self.on_note(f"alert '{a.title}' not sent: no alert URL in {self.urls_file} "
                             f"(add one: swarmdeck alerts add)")
                continue
            try:
                tr = delivery_translator()
                results = send_once(urls, text(a.title, tr), text(a.body, tr), a.kind)
            except Exception as e:  # never let the thread die
                self.on_note(redact_text(f"alert '{a.title}' not sent: {type(e).__name__}: {e}", urls))
                continue
            self.sent = (self.sent + [(a, results)])[-50:]
            failed = [u for u, ok in results if not ok]
            if failed:
                self.on_note(f"alert '{a.title}' not delivered to {', '.join(failed)} "
                             f"(check it with: swarmdeck alerts test)")
            else:
                self.on_note(f"alert sent: {a.title} ({a.condition} {a.kind}) to {len(results)} URL(s)")
