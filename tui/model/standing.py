"""Words and charts for standing (core.usecases.standing): shared by `swarmdeck standing` and the TUI's
standing screen. No I/O."""

from __future__ import annotations

import time

from core.usecases.standing import ProfileStanding, Standing

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
        return "n/a"
    if isinstance(v, int):
        return str(v)
    return f"{v:.{digits}f}".rstrip("0").rstrip(".") if digits else str(round(v))


def signed(v: float | int | None, digits: int = 3) -> str:
    if v is None:
        return "n/a"
    s = num(v, digits)
    return s if s.startswith("-") or s in ("0", "n/a") else "+" + s


def rank_text(p: ProfileStanding) -> str:
    if p.rank is not None:
        return f"#{p.rank} of {p.leaderboard_size}"
    if p.leaderboard_size is None:
        return "n/a"
    return f"not in the top {p.leaderboard_size}" if p.leaderboard_size else "no winners yet"


def delta_text(p: ProfileStanding) -> str:
    parts = []
    for label in ("hour", "day", "week"):
        d = p.deltas.get(label)
        if d is None or d.since is None:
            parts.append(f"{label} n/a")
        else:
            w = f", {signed(d.wins, 0)} wins" if d.wins is not None else ""
            parts.append(f"{label} {signed(d.reward)}{w}")
    return "; ".join(parts)


def behind_text(p: ProfileStanding) -> str:
    if p.chain_round is None:
        return "n/a"
    if p.last_round is None:
        return f"chain round {p.chain_round}; this node has finished no round yet"
    return f"chain round {p.chain_round}, node {p.last_round} ({p.behind} behind)"


def history_lines(p: ProfileStanding) -> list[str]:
    """A sparkline of reward per day and the newest days as rows."""
    if not any(r.rounds for r in p.history):
        return ["history: no rounds recorded yet"]
    rewards = [r.reward for r in p.history]
    first, last = p.history[0].day, p.history[-1].day
    out = [f"reward per day {first} .. {last}: {spark(rewards)}"]
    for r in [r for r in p.history if r.rounds][-7:]:
        chain = f", chain total {num(r.chain_total)}" if r.chain_total is not None else ""
        out.append(f"  {r.day}  {r.rounds:>4} rounds  reward {num(r.reward)}{chain}")
    return out


def render_text(st: Standing) -> str:
    lines = [f"standing, read {time.strftime('%Y-%m-%d %H:%M:%S UTC', time.gmtime(st.read_at))}"]
    for p in st.profiles:
        mark = "*" if p.name == st.best else " "
        who = f"{p.display_name} ({p.peer_id})" if p.peer_id else "no identity"
        lines.append(f"{mark} {p.name:<16} {p.network:<15} {who}")
        if p.error:
            lines.append("    chain: " + p.error.replace("\n", "\n      "))
        else:
            reg = "" if p.registered else " (peer not registered on this chain)"
            lines.append(f"    on chain: reward {num(p.total_reward)}, wins {num(p.wins)}, votes {num(p.votes)}, "
                         f"rank {rank_text(p)}{reg}")
            lines.append(f"    round: {behind_text(p)}")
        lines.append(f"    change: {delta_text(p)}")
        lines.extend("    " + x for x in history_lines(p))
    if st.best:
        lines.append(f"best of your nodes (*): {st.best}")
    if st.backoff_waits:
        lines.append(f"the RPC rate limited these reads: waited {sum(st.backoff_waits):.1f} s in {len(st.backoff_waits)} back-off(s)")
    return "\n".join(lines)
