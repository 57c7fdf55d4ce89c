"""`swarmdeck fleet ...` and the TUI's fleet view call these (core.fleet does the work).

add      first contact: the host key's fingerprint is shown and confirmed (or --accept-new), then reachability,
         key auth and the remote swarmdeck's `status --json` are checked, and only then is anything written
status   every host at once (core.fleet.status)
act      start / stop / restart / logs of a remote profile (the fixed command set, names checked first)
follow   a remote profile's event stream (`swarmdeck events --follow --json` over the shared connection)
watch    the watchtower: polls, core.fleet.watch's rules, core.alerts' delivery, gauges for the metrics server
"""

from __future__ import annotations

import contextlib
import json
import os
import threading
import time
from pathlib import Path
from typing import Callable

from core.base import paths as _paths
from core.base.fsutil import atomic_write_json
from core.base.i18n import M
from core.config import settings as _config
from core.config.settings import AlertSettings, FleetSettings
from core.fleet import hostkeys, registry, remote
from core.fleet.registry import FleetError, FleetHost
from core.fleet.ssh import Ssh
from core.fleet.status import gpu_text, missing_swarmdeck, parse_status, poll_all  # gpu_text: for the CLI and the TUI

Confirm = Callable[[list], bool]   # shown the scanned keys (hostkeys.ScannedKey), says whether to trust them


def fleet_settings() -> FleetSettings:
    try:
        if not _config.config_path().exists():
            return FleetSettings()
        return _config.load_config(create=False).fleet
    except FileNotFoundError:
        return FleetSettings()


def alert_settings() -> AlertSettings:
    try:
        if not _config.config_path().exists():
            return AlertSettings()
        return _config.load_config(create=False).alerts(None)
    except FileNotFoundError:
        return AlertSettings()


def hosts() -> list[FleetHost]:
    return registry.load_hosts()


def add(name: str, target: str, identity: str | None = None, swarmdeck: str = "swarmdeck",
        accept_new: bool = False, confirm: Confirm | None = None) -> dict:
    """Check everything, then write the host and its key. Raises FleetError (nothing written) on any failure."""
    registry.check_host_name(name)
    registry.parse_target(target)
    registry.check_remote_path(swarmdeck)
    if any(h.name == name for h in registry.load_hosts()):
        raise FleetError(M("fleet.exists", name=name), where=str(registry.hosts_file()),
                         fix=M("fleet.exists_fix", name=name))
    host = FleetHost(name, target, os.path.abspath(os.path.expanduser(identity)) if identity else None, swarmdeck)
    settings = fleet_settings()
    real = registry.known_hosts_file()
    probe = Ssh(host, settings)
    probe.check_identity()
    scanned = hostkeys.scan(probe)
    known = hostkeys.check_changed(probe, scanned)
    if not known and not accept_new:
        if confirm is None or not confirm(scanned):
            raise FleetError(M("fleet.not_confirmed", target=target), where=target, fix=M("fleet.not_confirmed_fix"))
    tmp = hostkeys.temp_known_hosts(real, [] if known else [k.line for k in scanned])
    ssh = Ssh(host, settings, known_hosts=tmp, shared=False)
    try:
        rtt = ssh.ping()
        r = ssh.run(remote.args_for("status"), timeout=2 * ssh.timeout)  # a first run may compile bytecode
        if r.rc == 127:
            raise missing_swarmdeck(host)
        if r.rc != 0:
            raise FleetError(M("fleet.add_status_failed", rc=r.rc, last=(r.stderr.strip().splitlines() or [""])[-1][:300]),
                             where=f"{target}: {swarmdeck}", fix=M("fleet.add_status_failed_fix", command=swarmdeck))
        st = parse_status(r.stdout, f"{target}: {swarmdeck} status --json")
        if not known:
            hostkeys.remember(real, [k.line for k in scanned])
        registry.add_host(host)
    finally:
        with contextlib.suppress(OSError):
            tmp.unlink()
    return {"name": name, "target": target, "version": st.get("version"), "rtt_ms": round(rtt * 1000, 1),
            "profiles": [p.get("name") for p in st["profiles"] if isinstance(p, dict)],
            "fingerprints": [f"{k.keytype} {k.fingerprint}" for k in scanned], "known_before": known}


def remove(name: str) -> FleetHost:
    h = registry.get_host(name)
    with contextlib.suppress(Exception):
        Ssh(h, fleet_settings()).close_master()
    return registry.remove_host(name)


def status(names: list[str] | None = None) -> dict:
    hs = registry.load_hosts()
    if names:
        hs = [registry.get_host(n) for n in names]
    t0 = time.monotonic()
    polls = poll_all(hs, fleet_settings())
    return {"hosts": polls, "seconds": round(time.monotonic() - t0, 2)}


def act(host_name: str, verb: str, profile: str, now: bool = False, lines: int = 100) -> str:
    """Run start/stop/restart/logs of `profile` on the host; its output. The name is checked before any SSH."""
    args = remote.args_for(verb, profile, now=now, lines=lines)   # FleetError before anything is sent
    h = registry.get_host(host_name)
    r = Ssh(h, fleet_settings()).run(args, timeout=180 if verb in ("stop", "restart") else None)
    if r.rc == 127:
        raise missing_swarmdeck(h)
    if r.rc != 0:
        raise FleetError(M("fleet.verb_failed", verb=verb, profile=profile, host=host_name, rc=r.rc,
                           output=(r.stderr.strip() or r.stdout.strip())[-500:]),
                         where=M("fleet.where_profile", host=host_name, profile=profile),
                         fix=M("fleet.verb_failed_fix", host=host_name, profile=profile))
    return r.stdout


def follow(host_name: str, profile: str, history: int = 200):
    """A Popen streaming the remote profile's events as JSON lines (terminate() it to stop)."""
    args = remote.args_for("events", profile, history=history)
    return Ssh(registry.get_host(host_name), fleet_settings()).popen(args)


# --- the watchtower ---------------------------------------------------------------------------

def state_file() -> Path:
    return _paths.data_dir() / "fleet-state.json"


def watch(interval: float | None = None, stop: threading.Event | None = None,
          note: Callable[[str], None] = print, polls_done: Callable[[list], None] | None = None) -> int:
    """Poll every host every `interval` s until `stop`; alerts through [alerts]' rules and URLs."""
    from core.alerts.sender import AlertSender
    from core.alerts.urls import urls_path
    from core.fleet.watch import FleetRules, gauges

    stop = stop or threading.Event()
    fs = fleet_settings()
    every = float(interval or fs.poll_seconds)
    settings = alert_settings()
    rules = FleetRules(settings)
    sender = AlertSender(urls_path(settings), on_note=note)
    note(M("fleet.watching", n=len(registry.load_hosts()), seconds=f"{every:g}"))
    try:
        while not stop.is_set():
            t0 = time.monotonic()
            polls = poll_all(registry.load_hosts(), fs)
            now = time.time()
            for p in polls:
                for a in rules.observe(p, now):
                    note(M("fleet.alert_note", title=a.title))
                    sender.submit(a)
            with contextlib.suppress(OSError):
                atomic_write_json(state_file(), {"ts": now, "interval": every, **gauges(polls)})
            if polls_done:
                polls_done(polls)
            stop.wait(max(0.5, every - (time.monotonic() - t0)))
    finally:
        sender.close(timeout=15)
        with contextlib.suppress(OSError):
            state_file().unlink()
    return 0


def watch_gauges(max_age: float | None = None) -> dict | None:
    """The running watcher's last poll (for the metrics server), or None when no watcher wrote one lately."""
    try:
        d = json.loads(state_file().read_text())
    except (OSError, ValueError):
        return None
    age = time.time() - float(d.get("ts") or 0)
    if age > (max_age if max_age is not None else 3 * float(d.get("interval") or 60) + 30):
        return None
    return d
