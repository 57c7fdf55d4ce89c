"""Every fleet host asked at once: reachable, round trip, version, and each remote profile's state.

One thread per host, each bounded by [fleet] timeout_seconds (its ssh calls time out on their own), so a dead
host costs its timeout once and never delays the others.
"""

from __future__ import annotations

import json
import time
from typing import Any
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


def profile_row(p: dict, host_gpus: list | None = None) -> dict:
    live = p.get("live") or {}
    state = p.get("node_state") or ("running" if p.get("running") else "unknown")
    gpu = {"device": live.get("device"), "mode": live.get("mode"),
           **_gpu_load(p.get("gpus"), live.get("device"), host_gpus or [])}
    return {"name": str(p.get("name")), "state": state if state in STATE_WORDS else "unknown",
            "round": live.get("round"), "last_reward": live.get("last_reward"), "peers": live.get("peers"),
            "gpu": gpu, "alerts": list(live.get("alerts") or []), "network": p.get("network")}


def gpu_text(gpu: dict | None) -> str:
    """The fleet table's GPU cell: device/mode, then utilisation and memory where the host reported them
    ("cuda:0/4bit 87% 10.2/24.0G"; "cpu/fp32"; "-")."""
    gpu = gpu or {}
    text = "/".join(str(x) for x in (gpu.get("device"), gpu.get("mode")) if x) or "-"
    if isinstance(gpu.get("util_pct"), (int, float)):
        text += f" {gpu['util_pct']:.0f}%"
    used, total = gpu.get("mem_used_mib"), gpu.get("mem_total_mib")
    if isinstance(used, (int, float)) and isinstance(total, (int, float)):
        text += f" {used / 1024:.1f}/{total / 1024:.1f}G"
    return text


def _gpu_load(configured: Any, device: Any, host_gpus: list) -> dict:
    """The utilisation and memory of the GPUs a remote profile uses, from the host's `gpus_now`: the
    profile's configured indices, else the index of its node's device (cuda:N), else none (CPU mode).
    Several GPUs: the busiest utilisation and the summed memory."""
    idx = [i for i in configured if isinstance(i, int)] if isinstance(configured, list) else []
    if not idx and isinstance(device, str) and device.startswith("cuda"):
        tail = device.partition(":")[2]
        idx = [int(tail)] if tail.isdigit() else [0]
    used = [g for g in host_gpus if isinstance(g, dict) and g.get("index") in idx]
    if not used:
        return {"util_pct": None, "mem_used_mib": None, "mem_total_mib": None}

    def total(key: str) -> int | None:
        vals = [g.get(key) for g in used]
        return None if any(not isinstance(v, (int, float)) for v in vals) else int(sum(vals))

    utils = [g.get("util_pct") for g in used if isinstance(g.get("util_pct"), (int, float))]
    return {"util_pct": max(utils) if utils else None, "mem_used_mib": total("mem_used_mib"),
            "mem_total_mib": total("mem_total_mib")}


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
            raise FleetError(M("fleet.status_failed", rc=r.rc, last=(r.stderr.strip().splitlines() or [""])[-1][:300]),
                             where=M("fleet.where_host", name=host.name),
                             fix=M("fleet.status_failed_fix", command=f"{host.swarmdeck} status"))
        st = parse_status(r.stdout, f"fleet host {host.name}")
        out["version"] = st.get("version")
        out["profiles"] = [profile_row(p, st.get("gpus_now")) for p in st["profiles"] if isinstance(p, dict)]
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
