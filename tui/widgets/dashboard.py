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
from textual.widgets import Sparkline, Static

from tui.model.dashboard import DashboardModel
from tui.model.i18n import current, t, text
from core.hardware.telemetry import Snapshot, fmt_bytes, fmt_num
from tui.widgets.common import ago, short_id


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
                yield Sparkline([], id="rewards")
                yield Static("", id="reward-totals")
        with Horizontal(classes="row mid"):
            yield Static("", id="chain", classes="panel")
            yield Static("", id="peers", classes="panel")
        yield LogPane(max_lines=getattr(self.app, "log_lines", 500), id="log", classes="panel")

    def on_mount(self) -> None:
        for pid, key in (("system", "dash.panel_system"), ("training-box", "dash.panel_training_chart"),
                         ("chain", "dash.panel_chain"), ("peers", "dash.panel_peers"), ("log", "dash.panel_log")):
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
        txt = Text()
        if m.build is not None:  # the node builds its model first (minutes, once): steps and time left
            b = m.build
            eta = fmt_duration(b.eta_s) if b.eta_s is not None else t("dash.build_eta_unknown")
            txt.append(t("dash.building", model=b.model, step=b.step, steps=b.steps) + "\n", style="bold")
            txt.append(t("dash.build_progress", bar=_bar(100 * b.step / max(1, b.steps), 12), eta=eta))
            self._set("training", txt)
            return
        txt.append(t("dash.train_line1", round=m.round if m.round is not None else "-",
                     stage=m.stage if m.stage is not None else "-", n=m.rounds_finished) + "\n")
        txt.append(t("dash.train_line2", speed=fmt_num(m.tokens_per_s, "", 1), step=fmt_num(m.step_seconds, "", 2),
                     loss=fmt_num(m.loss, "", 3)))
        self._set("training", txt)
        series = m.reward_series(getattr(self.app, "chart_rounds", 100))
        # one point: Textual draws a single value as a full block; two equal ones as a baseline
        chart = series * 2 if len(series) == 1 else series
        spark = self.query_one("#rewards", Sparkline)
        if spark.data != chart:
            spark.data = chart
        last = series[-1] if series else None
        self._set("reward-totals",
            t("dash.reward_totals", last=fmt_num(last, "", 2), local=f"{m.total_reward_local():.2f}",
              chain=fmt_num(m.total_reward_chain, "", 2),
              wins=m.total_wins_chain if m.total_wins_chain is not None else t("common.na")))

    def _draw_chain(self) -> None:
        m = self.model
        c = m.submission_counts()
        txt = Text()
        txt.append(t("dash.registered") + ": " + (t("common.yes") if m.registered else t("common.no")) + "\n")
        txt.append(t("dash.queue", pending=c["pending"], landed=c["landed"], failed=c["failed"]) + "\n")
        if self.signin:
            txt.append("⏸ " + t("signin.chain") + "\n", style="bold yellow")
        for sub in list(m.failures)[-1:] if not self.signin else []:
            kind = t("dash.kind." + sub.kind) if current().has("dash.kind." + sub.kind) else sub.kind
            where = f"{kind} r{sub.round}" + (f"/s{sub.stage}" if sub.stage is not None else "")
            txt.append(f"✗ {where}: {sub.reason or t('common.na')}\n", style="red")
        self._set("chain", txt)

    def _draw_peers(self) -> None:
        m = self.model
        now = self.now()
        total = max(m.peer_total, len(m.peers))
        txt = Text(t("dash.peers_count", n=total) + "\n")
        self.query_one("#peers").border_subtitle = self._exchange_line(total)
        shown = 1 if total > 2 else 2  # the panel has 2 rows below the count at 80x24
        ignored = m.trust.ignored if m.trust is not None else ()
        if ignored:  # a lying peer is what the panel must show first (verified sharing)
            shown = max(0, shown - 1)
        for p in m.peers[:shown]:
            txt.append(f"{(p.name or short_id(p.peer_id))[:22]:<22} {ago(p.last_seen, now)}\n")
        if total > shown and not ignored:
            txt.append(t("dash.more", n=total - shown), style="dim")
        if ignored:
            first = ignored[0]
            txt.append("⊘ " + t("dash.ignored", peer=short_id(first.peer_id), n=len(ignored)) + "\n", style="red")
        self._set("peers", txt)

    def _exchange_line(self, total: int) -> str:
        """The peer count, and once a fetch happened what it cost and what it refused (issue 14's figures)."""
        x = self.model.exchange
        if x is None or x.requests is None:
            return str(total)
        line = f"{total} · " + t("dash.exchange", gets=x.requests, kb=round((x.bytes or 0) / 1024))
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
