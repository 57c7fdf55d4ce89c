"""`swarmdeck alerts ...`: the alert URL file (a secret, 0600) and the test message, for a profile's settings.

The supervisor sends the real alerts (core.supervisor.alerting); this is the user's side of it.
Nothing here returns or prints a URL in full: callers get the redacted form.
"""

from __future__ import annotations

import socket
from pathlib import Path

from core.alerts import add_url, load_urls, redact, remove_url, send_once, urls_path
from core.alerts.sender import delivery_translator
from core.base.errors import ConfigError
from core.base.i18n import M
from core.config import settings as _config
from core.config.settings import AlertSettings


def alert_settings(profile: str | None) -> AlertSettings:
    cfg = _config.load_config()
    return cfg.alerts(profile if profile and cfg.has_profile(profile) else None)


def url_file(profile: str | None) -> Path:
    return urls_path(alert_settings(profile))


def add(url: str, profile: str | None = None) -> tuple[int, Path]:
    path = url_file(profile)
    return add_url(path, url), path


def listed(profile: str | None = None) -> tuple[Path, list[str]]:
    path = url_file(profile)
    return path, [redact(u) for u in load_urls(path)]


def remove(number: int, profile: str | None = None) -> str:
    return remove_url(url_file(profile), number)


def send_test(profile: str | None = None) -> list[tuple[str, bool]]:
    """One test message to every URL of the profile's settings; [(redacted URL, delivered)]."""
    path = url_file(profile)
    urls = load_urls(path)
    if not urls:
        raise ConfigError(M("err.alerts.no_url"), where=str(path), fix=M("err.alerts.no_url_fix"))
    tr = delivery_translator()  # the user's language, as for every alert
    who = M("alert.test_profile", profile=profile) if profile else "swarmdeck"
    return send_once(urls, M("alert.test_title", who=who).render(tr),
                     M("alert.test_body", host=socket.gethostname(), who=who).render(tr), "test")
