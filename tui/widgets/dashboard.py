"""One profile's dashboard: system, training, chain, peers panels and a log pane.

Panels are plain Statics redrawn from tui.model.dashboard.DashboardModel and a telemetry
Snapshot; `update_view` redraws only the panels whose inputs changed, so an idle 1 Hz
refresh costs one small Static update (the system panel).
"""

from __future__ import annotations

import time
from collections import deque
from typing import Callable

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.widget import Widget
from textual.widgets import Static

from tui.model.dashboard import DashboardModel
from tui.model.i18n import current, t, text
from core.hardware.telemetry import Snapshot, fmt_bytes, fmt_num
from tui.widgets.common import ago, short_id
from tui.widgets.reward_chart import MA, RewardChart, trend

VERDICT_KEYS = {"faster": "dash.verdict_faster", "within_noise": "dash.verdict_within_noise",
                "falling": "dash.verdict_falling", "no_peer_groups": "dash.verdict_no_peer_groups"}
PEER_ROWS = 5  # peers listed in the table at most (the newest); the count says how many in all


def _bar(pct: float | None, width: int = 10) -> str:
    if pct is None:
        return "·" * width
    n = max(0, min(width, round(pct / 100 * width)))
    return "█" * n + "░" * (width - n)


def fmt_duration(seconds: float) -> str:
    """90 -> "1 min 30 s", 42 -> "42 s" (in the UI's language)."""
    s = max(0, int(round(seconds)))
    return t("dash.dur_min", m=s // 60, s=f"{s % 60:02d}") if s >= 60 else t("dash.dur_s", s=s)


def _gib_pair(used: int | None, total: int | None) -> str:
    if used is None or total is None:
        return f"{fmt_bytes(used)}/{fmt_bytes(total)}"
    return f"{used / 1024**3:.1f}/{total / 1024**3:.1f} GiB"


def render_system(snap: Snapshot | None, mode_line: str | None) -> Text:
    """Lines short enough for a 36-column panel (half of an 80-column terminal). A longer line (a CPU-mode
    reason, a translation) is cut with "…", never wrapped: a wrapped line would push the last ones out
    of the panel's fixed height. The whole reason is in the wizard and `swarmdeck doctor`."""
    out = Text(no_wrap=True, overflow="ellipsis")
    if snap is None:
        out.append(t("common.na"))
        return out
    if snap.cpu_mode:
        out.append(t("dash.cpu_mode"), style="bold yellow")
        out.append(" " + text(snap.cpu_mode_reason or t("common.na")) + "\n")
        out.append(t("dash.cpu_mode_runs") + "\n")
    for g in snap.gpus[:4]:
        mem_pct = (100 * g.mem_used / g.mem_total) if g.mem_used is not None and g.mem_total else None
        out.append(f"GPU{g.index} ", style="bold")
        out.append(f"{fmt_num(g.util_pct, '%'):>4} {_bar(g.util_pct, 6)} {fmt_num(g.temp_c, '°C')} "
                   f"{fmt_num(g.power_w, 'W')}\n")
        out.append(f"  {t('dash.vram')} {_gib_pair(g.mem_used, g.mem_total)}"
                   + (f" {mem_pct:.0f}%" if mem_pct is not None else "") + "\n")
    out.append(t("dash.host") + " ", style="bold")
    out.append(f"CPU {fmt_num(snap.host_cpu_pct, '%')} RAM {_gib_pair(snap.host_ram_used, snap.host_ram_total)}\n")
    out.append(t("dash.node") + " ", style="bold")
    if snap.node is None or not snap.node.alive:
        out.append(t("dash.node_not_running"))
    else:
        out.append(f"CPU {fmt_num(snap.node.cpu_pct, '%')} RSS {fmt_bytes(snap.node.rss)}")
    if mode_line:
        out.append("\n" + mode_line, style="dim")
    return out


class LogPane(Widget):
    """The newest log lines that fit, newest at the bottom.

    Not a scrolling Log: a growing scrollable widget changes its virtual size on every write,
    which costs a full-screen layout each second. Scrollback is `swarmdeck logs -f`.
    """

    def __init__(self, max_lines: int = 200, **kw):
        super().__init__(**kw)
        self.lines: deque[str] = deque(maxlen=max_lines)

    def write_lines(self, lines: list[str]) -> None:
        self.lines.extend(lines)
        self.refresh()

    def render(self) -> Text:
        h = max(1, self.content_region.height)
        return Text("\n".join(list(self.lines)[-h:]), no_wrap=True, overflow="ellipsis")


class ProfileDashboard(Widget):
    """The panels of one profile. The app feeds it; it never polls by itself."""

    DEFAULT_CSS = ""

    def __init__(self, profile: str, now: Callable[[], float] = time.time, **kw):
        super().__init__(**kw)
        self.profile = profile
        self.model = DashboardModel(profile=profile)
        self.now = now
        self._drawn_version = -1
        self._logs_drawn = 0
        self.warnings: list[str] = []
        self._warn_drawn: tuple = ()
        self._drawn: dict[str, object] = {}
        self.signin: dict | None = None  # the profile must sign in again (core.usecases.profile_state.signin_required)

    def _set(self, wid: str, content) -> None:
        """Update a fixed-size Static only when its content changed, without a layout pass
        (a full-screen reflow costs ~10x the render; panel sizes come from CSS, not content)."""
        if self._drawn.get(wid) == content:
            return
        self._drawn[wid] = content
        self.query_one("#" + wid, Static).update(content, layout=False)

    def compose(self) -> ComposeResult:
        yield Static("", id="warnings", classes="warnings")
        yield Static("", id="status-line", classes="status-line")
        yield Static("", id="swarm-line", classes="swarm-line")  # hidden until the first swarm check
        with Horizontal(classes="row top"):
            yield Static("", id="system", classes="panel")
            with Vertical(classes="panel", id="training-box"):
                yield Static("", id="training")
                yield RewardChart(id="rewards")
                yield Static("", id="reward-totals")
        with Horizontal(classes="row mid", id="mid-row"):
            yield Static("", id="chain", classes="panel")
            yield Static("", id="peers", classes="panel")
        yield LogPane(max_lines=getattr(self.app, "log_lines", 500), id="log", classes="panel")

    def on_mount(self) -> None:
        for pid, key in (("system", "dash.panel_system"), ("training-box", "dash.panel_training_chart"),
                         ("chain", "dash.panel_chain"), ("peers", "dash.panel_swarm"), ("log", "dash.panel_log")):
            self.query_one(f"#{pid}").border_title = t(key)
        self.set_warnings([])
        self.query_one("#swarm-line").display = False

    # -- drawing -----------------------------------------------------------------------
    def set_warnings(self, warnings: list[str]) -> None:
        self.warnings = warnings
        if tuple(warnings) == self._warn_drawn:
            return
        self._warn_drawn = tuple(warnings)
        w = self.query_one("#warnings", Static)
        # progress/error lines (the local network) carry their own mark
        w.update("\n".join(x if x[:1] in "…✗✔" else "⚠ " + x for x in warnings))
        w.display = bool(warnings)

    def set_swarm(self, line: str) -> None:
        """The swarm status line (core.usecases.swarm_status, worded by tui.model.swarm); "" hides it."""
        w = self.query_one("#swarm-line", Static)
        if self._drawn.get("swarm-line") != line:
            self._drawn["swarm-line"] = line
            w.update(Text(line))  # plain text: an error may hold [brackets]
        w.display = bool(line)

    def set_signin(self, info: dict | None) -> None:
        """The chain panel says writes wait for a new sign-in (the banner above says how)."""
        if bool(info) == bool(self.signin):
            self.signin = info
            return
        self.signin = info
        if self._drawn_version >= 0:
            self._draw_chain()

    def update_view(self, snap: Snapshot | None, state: str) -> None:
        m = self.model
        mode_line = None
        if m.mode:
            mode_line = t("dash.mode_line", mode=m.mode, device=m.device or "?", reason=m.mode_reason or "")
        self._set("system", render_system(snap, mode_line))
        self._draw_status(state)
        if m.version == self._drawn_version:
            return
        self._drawn_version = m.version
        self._draw_training()
        self._draw_chain()
        self._draw_peers()
        self._draw_logs()

    def _draw_status(self, state: str) -> None:
        m = self.model
        s = Text()
        s.append(f" {t('state.' + state) if state else '?'} ", style="reverse bold")
        s.append("  " + (m.display_name or t("dash.no_identity")), style="bold")
        s.append(f"  {short_id(m.peer_id)}")
        if m.round is not None:
            s.append("  " + t("dash.round_stage", round=m.round, stage=m.stage if m.stage is not None else "-"))
        if m.model_name:
            s.append("  " + t("dash.model", name=m.model_name))
        if m.oom:
            s.append("  " + t("dash.oom", what=m.oom), style="bold red")
        if state in ("stopped", "crashed", "needs_login", "needs_backup"):  # not "damaged": s would be refused
            s.append("  " + t("dash.press_start"), style="dim")
        self._set("status-line", s)

    def _draw_training(self) -> None:
        m = self.model
        if m.build is not None:  # the node builds its model first (minutes, once): steps and time left
            b = m.build
            eta = fmt_duration(b.eta_s) if b.eta_s is not None else t("dash.build_eta_unknown")
            self._set("training", Text(t("dash.building", model=b.model, step=b.step, steps=b.steps), style="bold"))
            self._set("reward-totals", t("dash.build_progress", bar=_bar(100 * b.step / max(1, b.steps), 12), eta=eta))
            return
        self._set("training", t("dash.train_line", round=m.round if m.round is not None else "-",
                                stage=m.stage if m.stage is not None else "-",
                                speed=fmt_num(m.tokens_per_s, "", 1), step=fmt_num(m.step_seconds, "", 2)))
        points = m.reward_points(getattr(self.app, "chart_rounds", 100))
        self.query_one("#rewards", RewardChart).set_points(points)
        slope = trend([y for _, y in points][-20:])  # the trend of the last 20 rounds, not of their noise
        self._set("reward-totals", t("dash.chart_legend", k=MA, trend=f"{slope:+.3f}") if slope is not None
                  else t("dash.chart_legend_short", k=MA))

    def _draw_chain(self) -> None:
        m = self.model
        c = m.submission_counts()
        txt = Text()
        txt.append(t("dash.registered") + ": " + (t("common.yes") if m.registered else t("common.no")) + "\n")
        txt.append(t("dash.queue", pending=c["pending"], landed=c["landed"], failed=c["failed"]) + "\n")
        txt.append(t("dash.reward_sums", local=f"{m.total_reward_local():.2f}",
                     chain=fmt_num(m.total_reward_chain, "", 2),
                     wins=m.total_wins_chain if m.total_wins_chain is not None else t("common.na")) + "\n")
        if self.signin:
            txt.append("⏸ " + t("signin.chain") + "\n", style="bold yellow")
        for sub in list(m.failures)[-1:] if not self.signin else []:
            kind = t("dash.kind." + sub.kind) if current().has("dash.kind." + sub.kind) else sub.kind
            where = f"{kind} r{sub.round}" + (f"/s{sub.stage}" if sub.stage is not None else "")
            txt.append(f"✗ {where}: {sub.reason or t('common.na')}\n", style="red")
        self._set("chain", txt)

    def _draw_peers(self) -> None:
        """What the swarm gave (the newest round, the 20-round view), then a table of the peers."""
        m = self.model
        now = self.now()
        total = max(m.peer_total, len(m.peers))
        box = self.query_one("#peers")
        box.border_subtitle = self._exchange_line(total)
        txt = Text()
        for line in gave_lines(m):
            txt.append(line + "\n")
        ignored = m.trust.ignored if m.trust is not None else ()
        if ignored:  # a lying peer is what the panel must show first (verified sharing)
            first = ignored[0]
            txt.append("⊘ " + t("dash.ignored", peer=short_id(first.peer_id), n=len(ignored)) + "\n", style="red")
        rows = peer_rows(m, now)
        if rows:
            txt.append(peer_table(rows[:PEER_ROWS]), style="")
            if len(rows) > PEER_ROWS:
                txt.append("\n" + t("dash.more", n=total - PEER_ROWS), style="dim")
        else:
            txt.append(t("dash.no_peers"), style="dim")
        self._set("peers", txt)
        # the row holds the three swarm lines, the table's header and its rows (sized to what it holds)
        shown = min(len(rows), PEER_ROWS) + (1 if len(rows) > PEER_ROWS else 0)
        want = max(6, 2 + 3 + (1 + shown if rows else 1) + (1 if ignored else 0))
        row = self.query_one("#mid-row")
        if row.styles.height is None or row.styles.height.value != want:
            row.styles.height = want

    def _exchange_line(self, total: int) -> str:
        """The peer count, and once a fetch happened what it cost and what it refused (issue 14's figures)."""
        x = self.model.exchange
        if x is None or x.requests is None:
            return t("dash.peers_count", n=total)
        line = t("dash.peers_count", n=total) + " · " + t("dash.exchange", gets=x.requests, kb=round((x.bytes or 0) / 1024))
        refused = (x.rejected or 0) + (self.model.trust.refused_total if self.model.trust is not None else 0)
        if refused:
            line += " · " + t("dash.refused", n=refused)
        return line

    def _draw_logs(self) -> None:
        new = self.model.new_logs(self._logs_drawn)
        self._logs_drawn = self.model.log_total
        if new:
            self.query_one("#log", LogPane).write_lines(
                [f"{time.strftime('%H:%M:%S', time.localtime(ln.ts))} {_level(ln.level):<4} {ln.message}" for ln in new])


def _level(level: str) -> str:
    """A log line's level in four letters of the user's language (unknown levels as written)."""
    key = "log.level." + level
    return t(key) if current().has(key) else level[:4]


def gave_lines(m: DashboardModel) -> list[str]:
    """Three lines: the newest round's useful groups by origin, then the 20-round view
    (core.events.swarm_gain): its verdict, and the rise against what own groups alone predict."""
    last = m.gain.last()
    if last is None:
        return [t("dash.gave_none"), "", ""]
    first = t("dash.gave_round", round=last.round, own=last.own, peers=last.peers, refused=last.refused)
    v = m.gain.view()
    if v["verdict"] == "too_early":
        return [first, t("dash.gave_window_early", n=v["rounds"], window=v["window"]), ""]
    share = "-" if v["peer_share"] is None else f"{100 * v['peer_share']:.0f}%"
    return [first, t("dash.gave_window", n=v["rounds"], share=share, verdict=t(VERDICT_KEYS[v["verdict"]])),
            t("dash.gave_rise", rise=f"{v['rise']:+.3f}", own=f"{v['own_alone']:+.3f}")]


def peer_rows(m: DashboardModel, now: float) -> list[tuple[str, str, str, str, str]]:
    """(name, last seen, groups taken, refused, trust) per peer, newest first.

    Trust comes from verified sharing's peers.trust: "ignored" for a peer whose groups are no longer
    downloaded, "ok" for the others once the node reports trust, "—" before (or from a node that
    does not verify). Refused: the most either source counted (round.finished per round, or
    peers.trust since the node started)."""
    taken, refused = m.gain.taken_from, m.gain.refused_from
    ignored = {x.peer_id for x in m.trust.ignored} if m.trust is not None else set()
    out = []
    for p in m.peers:
        ref = max(refused.get(p.peer_id, 0), m.trust.refused_of(p.peer_id) if m.trust is not None else 0)
        state = p.trust or ("—" if m.trust is None else t("dash.trust_ignored") if p.peer_id in ignored
                            else t("dash.trust_ok"))
        out.append(((p.name or short_id(p.peer_id)), ago(p.last_seen, now),
                    str(taken.get(p.peer_id, 0)), str(ref), state))
    return out


def _cut(s: str, w: int) -> str:
    return s if len(s) <= w else s[:w - 1] + "…"


def peer_table(rows: list[tuple[str, ...]]) -> str:
    head = (t("dash.peer_col_name"), t("dash.peer_col_seen"), t("dash.peer_col_taken"),
            t("dash.peer_col_refused"), t("dash.peer_col_trust"))
    widths = [13, 7, 4, 3, 5]  # 36 columns: half of an 80-column terminal, less the panel's frame
    lines = []
    for r in [head, *rows]:
        cells = [f"{_cut(str(c), w):<{w}}" if i == 0 else f"{_cut(str(c), w):>{w}}"
                 for i, (c, w) in enumerate(zip(r, widths))]
        lines.append(" ".join(cells).rstrip())
    return "\n".join(lines)
