"""The text of a systemd user unit for a long-running swarmdeck process (node, host, metrics, watchtower).

One template, so every unit gets the same restart and environment rules; callers say only what differs.
"""

from __future__ import annotations


def user_unit(description: str, exec_start: str, workdir: str, *, exec_stop: str | None = None,
              env: str = "PYTHONUNBUFFERED=1", kill_mode: str | None = None, stop_timeout_s: int | None = None,
              restart_s: int = 10, wants_network: bool = True, comment: str | None = None) -> str:
    """exec_start/exec_stop are complete, already-quoted command lines."""
    unit = ["[Unit]", f"Description={description}", "After=network-online.target"]
    if wants_network:
        unit.append("Wants=network-online.target")
    svc = ["[Service]", "Type=simple", f"ExecStart={exec_start}"]
    if exec_stop:
        svc.append(f"ExecStop={exec_stop}")
    svc += [f"WorkingDirectory={workdir}", f"Environment={env}"]
    if comment:
        svc.append(f"# {comment}")
    if kill_mode:
        svc.append(f"KillMode={kill_mode}")
    if stop_timeout_s is not None:
        svc.append(f"TimeoutStopSec={stop_timeout_s}")
    svc += ["Restart=on-failure", f"RestartSec={restart_s}"]
    return "\n".join(unit + [""] + svc + ["", "[Install]", "WantedBy=default.target", ""])
