"""The host's part watcher and the restart policy it shares with the node supervisor: pure, no processes."""

from __future__ import annotations

import random

from core.hosting.host import host_alerts
from core.hosting.parts import Broken, Part
from core.supervisor.policy import RestartPolicy
from core.swarm.addrs import replace_own_entries


def test_policy_backs_off_doubling_then_gives_up_and_a_healthy_run_resets_it():
    p = RestartPolicy(backoff_base=2, backoff_max=5, backoff_jitter=0, healthy_after=60, max_quick_failures=4)
    assert [p.exited(1.0), p.exited(1.0), p.exited(1.0)] == [2, 4, 5]  # doubled, capped at backoff_max
    assert p.exited(1.0) is None  # the 4th quick failure in a row: give up
    p.reset()
    assert p.exited(1.0) == 2
    assert p.healthy(10) is False and p.quick_failures == 1
    assert p.healthy(61) is True and p.quick_failures == 0
    assert p.exited(500.0) == 2 and p.quick_failures == 1  # a long life starts a new series
    j = RestartPolicy(backoff_base=10, backoff_jitter=0.25)
    d = j.exited(0, rng=random.Random(1))
    assert 7.5 <= d <= 12.5 and d != 10


class Clock:
    def __init__(self):
        self.t = 1000.0

    def __call__(self):
        return self.t


def test_part_restarts_after_backoff_and_gives_up_at_once_on_a_fatal_failure():
    clock = Clock()
    state = {"ok": True, "starts": 0, "stops": 0}

    def start():
        state["starts"] += 1
        return state["starts"]

    def check(h):
        if not state["ok"]:
            raise Broken("it died")

    part = Part("bootnode", start, check, lambda h: state.__setitem__("stops", state["stops"] + 1),
                policy=RestartPolicy(backoff_base=2, backoff_jitter=0, healthy_after=30, max_quick_failures=3),
                clock=clock)
    part.start()
    assert part.state == "running" and part.handle == 1
    state["ok"] = False
    clock.t += 5
    part.tick()
    assert part.state == "crashed" and part.reason == "it died" and state["stops"] == 1
    assert part.to_dict()["next_restart_in"] == 2.0 and part.to_dict()["uptime"] is None
    clock.t += 1
    part.tick()
    assert part.state == "crashed" and state["starts"] == 1  # still backing off
    state["ok"] = True
    clock.t += 1.5
    part.tick()
    assert part.state == "running" and part.handle == 2 and part.restarts == 1
    clock.t += 40
    part.tick()
    assert part.policy.quick_failures == 0 and part.to_dict()["uptime"] == 40.0

    def fatal(h):
        raise Broken("DHT port 38331 is already in use", fatal=True)

    part._check = fatal
    part.tick()
    assert part.state == "gave_up" and "38331" in part.reason
    clock.t += 1000
    part.tick()
    assert part.state == "gave_up" and state["starts"] == 2  # nothing restarts it ...
    part._check = check
    part.retry()  # ... until the operator asks again
    assert part.state == "running" and state["starts"] == 3


def test_a_part_that_cannot_start_counts_as_a_quick_failure():
    clock = Clock()

    def start():
        raise OSError("no anvil")

    part = Part("chain", start, lambda h: None, policy=RestartPolicy(backoff_base=1, backoff_jitter=0,
                                                                      max_quick_failures=2), clock=clock)
    part.start()
    assert part.state == "crashed" and "no anvil" in part.reason
    clock.t += 2
    part.tick()
    assert part.state == "gave_up" and part.restarts == 1


def test_host_alerts_name_the_part_that_is_down():
    parts = {"bootnode": {"state": "crashed", "reason": "exited with code -9"}, "advancer": {"state": "gave_up",
             "reason": "stalled: no round advanced for 400 s"}, "chain": {"state": "running", "reason": ""}}
    got = host_alerts(parts)
    assert set(got) == {"bootnode down", "round advancer stalled"}
    assert "code -9" in got["bootnode down"] and "stalled" in got["round advancer stalled"]
    assert host_alerts({"bootnode": {"state": "running"}}) == {}


def test_a_restarted_bootnode_replaces_its_own_entry_and_comes_first():
    old, other = "/ip4/1.2.3.4/tcp/4001/p2p/QmMe", "/ip4/5.6.7.8/tcp/4001/p2p/QmOther"
    new = "/ip4/1.2.3.4/tcp/4999/p2p/QmMe"
    assert replace_own_entries([old, other], [new], "QmMe") == [new, other]
    assert replace_own_entries([other], [new], "QmMe") == [new, other]
    assert replace_own_entries([new], [new], "QmMe") == [new]


def test_host_alerts_fire_after_a_grace_and_recover_once():
    from core.hosting.parts import HostAlerts

    h = HostAlerts("sw", grace=30)
    assert h.update({"bootnode down": "crashed: exited with code -9"}, 100.0) == []
    assert h.update({}, 104.0) == []  # back within the grace: nothing was sent, nothing to recover
    assert h.update({"bootnode down": "gave_up: DHT port 38331 is already in use"}, 200.0) == []
    fired = h.update({"bootnode down": "gave_up: DHT port 38331 is already in use"}, 231.0)
    assert [(a.kind, a.condition) for a in fired] == [("fired", "bootnode down")]
    assert "38331" in fired[0].body and "swarm status" in fired[0].body and fired[0].title.startswith("swarm sw")
    assert h.update({"bootnode down": "gave_up"}, 300.0) == []  # once, not every check
    rec = h.update({}, 310.0)
    assert [(a.kind, a.condition) for a in rec] == [("recovered", "bootnode down")]
