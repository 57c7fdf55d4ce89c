"""Alerts: change-only notifications about a profile's node, sent through apprise by its supervisor.

Modules: rules (the pure rule engine: typed events + facts -> Alert transitions), urls (the 0600 file
holding the apprise URLs, which are secrets, and their redaction), sender (apprise in a background
thread, so the supervisor's loop never waits on the network). The supervisor's glue that gathers the
facts (disk, backup, sign-in, chain round) is core.supervisor.alerting.
"""

from core.alerts.rules import Alert, AlertEngine, Facts, in_quiet_hours
from core.alerts.sender import AlertSender, send_once
from core.alerts.urls import add_url, load_urls, redact, remove_url, urls_path

__all__ = ["Alert", "AlertEngine", "AlertSender", "Facts", "add_url", "in_quiet_hours", "load_urls", "redact",
           "remove_url", "send_once", "urls_path"]
