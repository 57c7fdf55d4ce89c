"""The fleet: other machines this swarmdeck reaches over SSH (OpenSSH client only, keys only).

registry   the hosts (hosts.json), our own known_hosts and ssh config, in a 0700 directory of ours
ssh        the transport: one multiplexed ControlMaster connection per host, errors mapped to what/where/fix
remote     the fixed remote command set (status, events follow, start/stop/restart, logs); names validated
status     every host polled in parallel with a per-host timeout
watch      the watchtower's rules (host unreachable, node down/gave up, recovered) over core.alerts
"""

from core.fleet.registry import FleetError, FleetHost  # noqa: F401
