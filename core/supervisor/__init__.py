"""A profile's supervisor (keeps its node alive in the background) and the client to talk to it.

Modules: settings (SupervisorSettings), downshift (OOM ladder), history (log tails), probes (RSS/VRAM/OOM
readings), supervisor (Supervisor, SupervisorStatus), server (control-socket protocol and server), client
(ControlClient), launch (start/stop/lock).
"""

from core.supervisor.client import ControlClient, NotRunning, query_status
from core.supervisor.downshift import next_downshift, read_downshift, reset_downshift, state_update
from core.supervisor.history import tail_file
from core.supervisor.launch import (SupervisorLock, daemonize, main, run_foreground, spawn_detached, stop_profile,
                                    supervisor_pid)
from core.supervisor.server import (COMMANDS, LOGS_MAX, MAX_LINE, PROTOCOL_VERSION, SOURCES, ProtocolError, encode,
                                    parse_request, reply_error, reply_ok)
from core.supervisor.settings import PROJECT_ROOT, SupervisorSettings, load_settings, node_command
from core.supervisor.supervisor import Supervisor, SupervisorStatus

__all__ = [
    "COMMANDS", "LOGS_MAX", "MAX_LINE", "PROJECT_ROOT", "PROTOCOL_VERSION", "SOURCES", "ControlClient", "NotRunning",
    "ProtocolError", "Supervisor", "SupervisorLock", "SupervisorSettings", "SupervisorStatus", "daemonize", "encode",
    "load_settings", "main", "next_downshift", "node_command", "parse_request", "query_status", "read_downshift",
    "reply_error", "reply_ok", "reset_downshift", "run_foreground", "spawn_detached", "state_update", "stop_profile",
    "supervisor_pid", "tail_file",
]
