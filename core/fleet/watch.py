"""The watchtower's rules: polls in, alerts out. Pure (no I/O; every call passes `now`).

  unreachable  a host failed FAIL_POLLS polls in a row: "host X unreachable"; "recovered" when it answers again
  down/gave_up a remote node crashed / its supervisor gave up: through the same AlertEngine a local supervisor
               uses (core.alerts.rules), one engine per (host, profile), fed the state the poll saw. Its
               "recovered" needs the node running for RECOVERED_AFTER s, as locally.

Alerts carry the settings of [alerts] (enabled, conditions, cooldown, quiet hours) through AlertEngine and
the same delivery (core.alerts.sender). While a host is unreachable its nodes' engines keep their state:
a host coming back with its nodes running sends one "recovered" for the host, nothing for the nodes.
"""

from __future__ import annotations

from core.alerts.rules import Alert, AlertEngine, Facts, in_quiet_hours
from core.base.errors import dict_part
from core.base.i18n import M
from core.config.settings import AlertSettings
from core.events.types import NodeState

FAIL_POLLS = 2


class FleetRules:
    def __init__(self, settings: AlertSettings):
        self.settings = settings
        self.fails: dict[str, int] = {}
        self.down: dict[str, bool] = {}          # host -> the unreachable alert was raised
        self.down_since: dict[str, float] = {}
        self.last_msg: dict[str, float] = {}
        self.pending: list[Alert] = []
        self.nodes: dict[tuple[str, str], AlertEngine] = {}
        self.node_state: dict[tuple[str, str], str] = {}

    def _on(self, cond: str) -> bool:
        return self.settings.enabled and cond in self.settings.conditions

    def _deliver(self, a: Alert, now: float) -> list[Alert]:
        if in_quiet_hours(self.settings.quiet_hours, now):
            self.pending.append(a)
            return []
        return [a]

    def _flush(self, now: float) -> list[Alert]:
        if not self.pending or in_quiet_hours(self.settings.quiet_hours, now):
            return []
        out = [a for a in self.pending if not (a.kind == "fired" and not self.down.get(a.profile.split(" on ")[-1]))]
        self.pending = []
        return out

    def observe(self, poll: dict, now: float) -> list[Alert]:
        """One host's poll (core.fleet.status.poll_host) -> the alerts it is worth."""
        host = poll["name"]
        out = self._flush(now)
        if not poll.get("reachable") or (poll.get("error") and not poll.get("profiles")
                                          and "unreachable" in str((poll.get("error") or {}).get("what", ""))):
            n = self.fails[host] = self.fails.get(host, 0) + 1
            if n == FAIL_POLLS and not self.down.get(host):
                self.down[host], self.down_since[host] = True, now
                err = poll.get("error") or {}
                cooling = host in self.last_msg and now - self.last_msg[host] < self.settings.cooldown_minutes * 60
                if self._on("unreachable") and not cooling:
                    self.last_msg[host] = now
                    out += self._deliver(Alert(f"host {host}", "unreachable", "fired",
                                               M("alert.fleet_title", title=M("alert.t.host_unreachable", host=host)),
                                               M("alert.b.host_unreachable", n=n,
                                                 error=dict_part(err, "what") or M("alert.b.no_answer")), now), now)
                else:
                    self.down[host] = "quiet"  # raised without a message: no "recovered" either
            return out
        self.fails[host] = 0
        if self.down.get(host):
            was = self.down.pop(host)
            since = self.down_since.pop(host, now)
            if was is True and self._on("unreachable"):
                held = [a for a in self.pending if a.profile == f"host {host}"]
                if held:
                    self.pending = [a for a in self.pending if a not in held]
                else:
                    out += self._deliver(Alert(f"host {host}", "unreachable", "recovered",
                                               M("alert.fleet_title", title=M("alert.recovered", title=M(
                                                   "alert.t.host_reachable", host=host))),
                                               M("alert.b.host_back", minutes=f"{(now - since) / 60:.1f}"), now), now)
        for p in poll.get("profiles") or []:
            out += self._node(host, p, now)
        return out

    def _node(self, host: str, p: dict, now: float) -> list[Alert]:
        key = (host, p["name"])
        eng = self.nodes.get(key)
        if eng is None:
            eng = self.nodes[key] = AlertEngine(f"{p['name']} on {host}", self.settings)
        st = p.get("state")
        out: list[Alert] = []
        if st != self.node_state.get(key) and st in ("running", "stopped", "crashed", "gave_up"):
            first = key not in self.node_state
            self.node_state[key] = st
            if not (first and st == "stopped"):
                out += eng.observe(NodeState(state=st, source="supervisor", ts=now,
                                             reason=M("alert.b.watchtower", state=M(f"alert.state.{st}"))), now)
        out += eng.check(Facts(now=now, state=st if st in ("running", "stopped", "crashed", "gave_up") else None))
        # only the node conditions the watchtower can see from outside; the host's own supervisor sends the rest
        return [a for a in out if a.condition in ("down", "gave_up")]


def gauges(polls: list[dict]) -> dict:
    """What the metrics server exports while a watch runs (written to fleet-state.json by the watcher)."""
    return {"hosts": [{"name": p["name"], "up": bool(p.get("reachable")) and not p.get("error"),
                       "rtt_ms": p.get("rtt_ms"),
                       "profiles": [{"name": q["name"], "state": q["state"]} for q in p.get("profiles") or []]}
                      for p in polls]}
