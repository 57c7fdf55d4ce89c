"""Words and charts for standing (core.usecases.standing): shared by `swarmdeck standing` and the TUI's
standing screen. No I/O."""

from __future__ import annotations

import time

from core.usecases.standing import ProfileStanding, Standing
from tui.model.i18n import t, text

BLOCKS = " ▁▂▃▄▅▆▇█"


def spark(values: list[float]) -> str:
    """One character per value, scaled to the largest (0 and negatives: a blank cell)."""
    top = max((v for v in values if v > 0), default=0.0)
    if top <= 0:
        return "·" * len(values)
    out = []
    for v in values:
        if v <= 0:
            out.append("·")
        else:
            out.append(BLOCKS[max(1, min(8, round(v / top * 8)))])
    return "".join(out)


def num(v: float | int | None, digits: int = 3) -> str:
    if v is None:
        return t("common.na_lower")
    if isinstance(v, int):
        return str(v)
    return f"{v:.{digits}f}".rstrip("0").rstrip(".") if digits else str(round(v))


def signed(v: float | int | None, digits: int = 3) -> str:
    if v is None:
        return t("common.na_lower")
    s = num(v, digits)
    return s if s.startswith("-") or s == "0" else "+" + s


def rank_text(p: ProfileStanding) -> str:
    if p.rank is not None:
        return t("standing.rank_of", rank=p.rank, size=p.leaderboard_size)
    if p.leaderboard_size is None:
        return t("common.na_lower")
    return t("standing.not_top", size=p.leaderboard_size) if p.leaderboard_size else t("standing.no_winners")


def delta_text(p: ProfileStanding) -> str:
    parts = []
    for label in ("hour", "day", "week"):
        d = p.deltas.get(label)
        name = t("standing.period." + label)
        if d is None or d.since is None:
            parts.append(t("standing.delta_na", period=name))
        else:
            w = t("standing.delta_wins", wins=signed(d.wins, 0)) if d.wins is not None else ""
            parts.append(t("standing.delta", period=name, reward=signed(d.reward), wins=w))
    return "; ".join(parts)


def behind_text(p: ProfileStanding) -> str:
    if p.chain_round is None:
        return t("common.na_lower")
    if p.last_round is None:
        return t("standing.no_round_yet", chain=p.chain_round)
    return t("standing.behind", chain=p.chain_round, node=p.last_round, behind=p.behind)


def history_lines(p: ProfileStanding) -> list[str]:
    """A sparkline of reward per day and the newest days as rows."""
    if not any(r.rounds for r in p.history):
        return [t("standing.no_history")]
    rewards = [r.reward for r in p.history]
    first, last = p.history[0].day, p.history[-1].day
    out = [t("standing.per_day", first=first, last=last, spark=spark(rewards))]
    for r in [r for r in p.history if r.rounds][-7:]:
        chain = t("standing.day_chain", total=num(r.chain_total)) if r.chain_total is not None else ""
        out.append("  " + t("standing.day_row", day=r.day, rounds=f"{r.rounds:>4}", reward=num(r.reward), chain=chain))
    return out


def render_text(st: Standing) -> str:
    lines = [t("standing.read_at", at=time.strftime('%Y-%m-%d %H:%M:%S UTC', time.gmtime(st.read_at)))]
    for p in st.profiles:
        mark = "*" if p.name == st.best else " "
        who = f"{p.display_name} ({p.peer_id})" if p.peer_id else t("standing.no_identity")
        lines.append(f"{mark} {p.name:<16} {p.network:<15} {who}")
        if p.error:
            lines.append("    " + t("standing.chain_error", error=text(p.error).replace("\n", "\n      ")))
        else:
            reg = t("standing.not_registered") if not p.registered else ""
            lines.append("    " + t("standing.on_chain", reward=num(p.total_reward), wins=num(p.wins),
                                      votes=num(p.votes), rank=rank_text(p), registered=reg))
            lines.append("    " + t("standing.round", text=behind_text(p)))
        lines.append("    " + t("standing.change", text=delta_text(p)))
        lines.extend("    " + x for x in history_lines(p))
    if st.best:
        lines.append(t("standing.best", name=st.best))
    if st.backoff_waits:
        lines.append(t("standing.rate_limited", seconds=f"{sum(st.backoff_waits):.1f}", n=len(st.backoff_waits)))
    return "\n".join(lines)
