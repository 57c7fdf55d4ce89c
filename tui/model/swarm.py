"""The swarm status line's words (core.usecases.swarm_status.SwarmStatus). No I/O."""

from __future__ import annotations

from core.usecases.swarm_status import SwarmStatus
from tui.model.i18n import t


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
