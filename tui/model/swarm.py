"""The swarm status line's words (core.usecases.swarm_status.SwarmStatus), and a hosted swarm's status
(core.usecases.swarm_hosting.host_status) as lines: `swarm status` and the TUI's swarm screen. No I/O."""

from __future__ import annotations

from core.usecases.swarm_status import SwarmStatus
from core.base.errors import dict_part
from tui.model.i18n import t, text


def swarm_line(st: SwarmStatus) -> str:
    parts = []
    if st.chain_error:
        parts.append(t("swarmline.chain_down", error=st.chain_error))
    elif st.round is not None:
        chain = t("swarmline.chain_ok", round=st.round)
        if st.advancing:
            chain += " " + t("swarmline.chain_advancing")
        elif st.advancing is False:
            chain += ", " + t("swarmline.chain_stuck", mins=int((st.stalled_for or 0) // 60))
        parts.append(chain)
    if st.bootnodes:
        parts.append(t("swarmline.boot", ok=st.bootnodes_ok, n=st.bootnodes))
    elif st.kind == "local":
        parts.append(t("swarmline.local_first"))
    else:
        parts.append(t("swarmline.boot_none"))
    line = f"{t('swarmline.label')} ({st.network}): " + " · ".join(parts)
    if st.paused_note:
        line += "\n" + t("swarmline.paused")
    return line


def age(seconds) -> str:
    if seconds is None:
        return "-"
    seconds = float(seconds)
    return t("cli.swarm.age_s", n=f"{seconds:.0f}") if seconds < 120 else \
        t("cli.swarm.age_m", n=f"{seconds / 60:.0f}") if seconds < 7200 else t("cli.swarm.age_h", n=f"{seconds / 3600:.1f}")


def part_state(state) -> str:
    """A host part's / keeper's state word in the user's language (an unknown word as it is)."""
    key = f"cli.swarm.part_state.{state}"
    word = t(key)
    return str(state) if word == key else word


def backup_line(name: str, b: dict) -> str:
    if b["state"] == "verified":
        return t("cli.swarm.backup_verified", at=b["verified_at"])
    key = "cli.swarm.backup_outdated" if b["state"] == "outdated" else "cli.swarm.backup_none"
    return t(key, at=b.get("verified_at") or "-", name=name)


def host_status_lines(st: dict) -> list[str]:
    """One hosted swarm: the host and keeper, each part (state word, uptime, restarts, why it is down),
    the alerts that hold, the bootnode and its backup."""
    state = t("cli.swarm.host_running" if st["running"] else "cli.swarm.host_stopped")
    k = st["keeper"]
    out = [t("cli.swarm.status_line", name=st["name"], state=state, keeper=part_state(k["state"]),
             restarts=k["restarts"], rpc=st["rpc_url"], round=st.get("round", "-"))]
    for part, p in st["parts"].items():
        extra = f" - {text(dict_part(p, 'reason'))}" if p.get("reason") and p["state"] != "running" else ""
        out.append("  " + t("cli.swarm.part_line", part=f"{part:<9}", state=f"{part_state(p['state']):<8}",
                            up=f"{age(p.get('uptime')):>5}", restarts=p.get("restarts", 0)) + extra)
    for title, detail in st["alerts"].items():
        tk = "cli.swarm.alert_title." + title.replace(" ", "_")
        out.append("  " + t("cli.swarm.alert", title=t(tk) if t(tk) != tk else title, detail=text(detail)))
    out.append("  " + t("cli.swarm.bootnode", maddr=st["bootnode"]))
    out.append("  " + backup_line(st["name"], st["bootnode_backup"]))
    if st.get("train_profile"):
        out.append("  " + t("cli.swarm.training_profile", profile=st["train_profile"]))
    return out
