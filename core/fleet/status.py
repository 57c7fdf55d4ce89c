"""Every fleet host asked at once: reachable, round trip, version, and each remote profile's state.

One thread per host, each bounded by [fleet] timeout_seconds (its ssh calls time out on their own), so a dead
host costs its timeout once and never delays the others.
"""

from __future__ import annotations

import json
import time
from concurrent.futures import ThreadPoolExecutor

from core.base.i18n import M
from core.config.settings import FleetSettings
from core.fleet import remote
from core.fleet.registry import FleetError, FleetHost
from core.fleet.ssh import Ssh

STATE_WORDS = ("running", "starting", "stopping", "stopped", "crashed", "gave_up", "unknown")


def parse_status(text: str, where: str) -> dict:
    """The remote `status --json`, checked for the fields the fleet reads; FleetError when it is not that."""
    try:
        d = json.loads(text)
    except ValueError:
        d = None
    if not isinstance(d, dict) or any(k not in d for k in remote.STATUS_FORMAT_KEYS) \
            or not isinstance(d.get("profiles"), list):
        raise FleetError(M("fleet.bad_format"), where=where, fix=M("fleet.bad_format_fix"))
    return d


def profile_row(p: dict) -> dict:
    live = p.get("live") or {}
    state = p.get("node_state") or ("running" if p.get("running") else "unknown")
    return {"name": str(p.get("name")), "state": state if state in STATE_WORDS else "unknown",
            "round": live.get("round"), "last_reward": live.get("last_reward"), "peers": live.get("peers"),
            "gpu": {"device": live.get("device"), "mode": live.get("mode")}, "alerts": list(live.get("alerts") or []),
            "network": p.get("network")}


def poll_host(host: FleetHost, settings: FleetSettings | None = None) -> dict:
    """{name, target, reachable, rtt_ms, version, profiles: [...], error: {what, where, fix} | None, checked_at}."""
    out: dict = {"name": host.name, "target": host.target, "reachable": False, "rtt_ms": None, "version": None,
                 "profiles": [], "error": None, "checked_at": time.time()}
    try:
        ssh = Ssh(host, settings)
        out["rtt_ms"] = round(ssh.ping() * 1000, 1)
        out["reachable"] = True
        r = ssh.run(remote.args_for("status"))
        if r.rc == 127:
            raise missing_swarmdeck(host)
        if r.rc != 0:
            raise FleetError(f"the remote `swarmdeck status --json` failed (exit {r.rc}): "
                             f"{(r.stderr.strip().splitlines() or [''])[-1][:300]}",
                             where=f"fleet host {host.name}", fix=f"run it on the host to see why: {host.swarmdeck} status")
        st = parse_status(r.stdout, f"fleet host {host.name}")
        out["version"] = st.get("version")
        out["profiles"] = [profile_row(p) for p in st["profiles"] if isinstance(p, dict)]
    except FleetError as e:
        out["error"] = e.to_dict()
    except Exception as e:  # a bug must not hide the other hosts; shown as this host's error
        out["error"] = {"error": type(e).__name__, "what": str(e), "where": f"fleet host {host.name}", "fix": None}
    return out


def missing_swarmdeck(host: FleetHost) -> FleetError:
    return FleetError(M("fleet.no_swarmdeck", name=host.name, path=host.swarmdeck),
                      where=f"fleet host {host.name} ({host.target})",
                      fix=M("fleet.no_swarmdeck_fix", name=host.name, target=host.target))


def poll_all(hosts: list[FleetHost], settings: FleetSettings | None = None) -> list[dict]:
    if not hosts:
        return []
    with ThreadPoolExecutor(max_workers=min(32, len(hosts)), thread_name_prefix="fleet-poll") as ex:
        return list(ex.map(lambda h: poll_host(h, settings), hosts))
