"""config.toml: load, validate (every problem, with file/line/key), edit keeping comments, save.

The file lives in the user config dir (core.base.paths.config_file()) and is created from
config.example.toml on first run. tomlkit is used for all edits so the user's comments and
layout survive `swarmdeck profile use NAME` and friends.

Defaults live in this module (each settings dataclass field declares its key once); a test checks that config.example.toml
shows exactly these defaults, so the documentation cannot drift from the code.
"""

from __future__ import annotations

import fcntl
import ipaddress
import os
import re
import threading
from contextlib import contextmanager
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any, Callable

import tomlkit
from tomlkit.exceptions import ParseError

from core.base import paths as _paths
from core.base.constants import DEFAULT_LOGIN_PORT, LOCAL_ROUND_SECONDS, QUANT_CHOICES
from core.base.errors import ConfigError
from core.base.i18n import M, Msg, Translator
from core.base.fsutil import atomic_write_text

# ------------------------------------------------------------------------------------------
# Schema


@dataclass(frozen=True)
class Field:
    type: str  # "str" | "int" | "float" | "bool" | "list[int]" | "list[str]"
    default: Any
    choices: tuple | None = None
    min: float | None = None
    max: float | None = None
    check: Callable[[Any], str | None] | None = None  # returns a problem message or None
    fix: str | None = None


def _check_multiaddrs(v: list) -> str | None:
    for m in v:
        err = multiaddr_problem(m)
        if err:
            return M("config.p.not_multiaddr", value=repr(m), error=err)
    return None


def _check_listen_host(v: str) -> str | None:
    if not v:
        return None
    try:
        ipaddress.IPv4Address(v)
    except ValueError:
        return M("config.p.not_ipv4", value=repr(v))
    return None


def _check_address(v: str) -> str | None:
    if v and not re.fullmatch(r"0x[0-9a-fA-F]{40}", v):
        return M("config.p.not_address", value=repr(v))
    return None


def _check_url(v: str) -> str | None:
    if v and not re.fullmatch(r"https?://[^\s/]+(/\S*)?", v):
        return M("config.p.not_url", value=repr(v))
    return None


def _check_hf_repo(v: str) -> str | None:
    if v and not re.fullmatch(r"[A-Za-z0-9][\w.-]*/[A-Za-z0-9][\w.-]*", v):
        return M("config.p.not_hf_repo", value=repr(v))
    return None


def _check_gpus(v: list) -> str | None:
    if any(g < 0 for g in v):
        return M("config.p.gpu_negative")
    if len(set(v)) != len(v):
        return M("config.p.gpu_twice")
    return None


PORT_FIX = M("config.p.port_fix")


def setting(type: str, default: Any, **rules: Any) -> Any:
    """A dataclass field that is also a config key: its Field (type, default, checks) rides in the
    metadata, so each setting is declared once and the validator, the defaults test and the
    typed settings all read that one declaration."""
    spec = Field(type, list(default) if isinstance(default, tuple) else default, **rules)
    return field(default=default, metadata={"setting": spec})


def spec_of(cls: type) -> dict[str, Field]:
    """The config keys a settings dataclass declares (fields without a Field are not keys)."""
    return {f.name: f.metadata["setting"] for f in fields(cls) if "setting" in f.metadata}


ROOT_FIELDS: dict[str, Field] = {
    "current_profile": Field("str", "default"),
    "language": Field("str", "auto", choices=("auto", "en", "ru")),
}


# ------------------------------------------------------------------------------------------
# Typed settings (one declaration per key)


@dataclass(frozen=True)
class TrainingSettings:
    questions_local: int = setting("int", 4, min=0, max=1024)
    questions_external: int = setting("int", 4, min=0, max=1024)
    generations: int = setting("int", 8, min=1, max=256)
    max_new_tokens: int = setting("int", 512, min=1, max=65536)
    max_prompt_tokens: int = setting("int", 256, min=1, max=65536)
    learning_rate: float = setting("float", 5e-6, min=0, max=1)
    beta: float = setting("float", 0.0, min=0, max=10)
    epsilon_low: float = setting("float", 0.2, min=0, max=1)
    epsilon_high: float = setting("float", 0.28, min=0, max=10)
    temperature: float = setting("float", 1.0, min=0, max=10)
    lora_rank: int = setting("int", 16, min=1, max=1024)
    lora_alpha: int = setting("int", 32, min=1, max=4096)
    checkpoint_every: int = setting("int", 1, min=1, max=100000)
    hf_push_every: int = setting("int", 10, min=1, max=100000)
    seed: int = setting("int", 0, min=0, max=2**63)
    # Which reasoning-gym tasks questions come from: "composite" (the nine-task composite, for real
    # models), "demo" (core.training.tasks.DEMO_MIX, easy tasks for the local demo model), or
    # "auto" (demo when the model is the demo model, else composite).
    task_mix: str = setting("str", "auto", choices=("auto", "composite", "demo"))
    # Verified sharing (docs/sharing.md): regenerate and re-score every peer group with this node's own
    # tasks and verifiers before using it. Off only for experiments (the benchmark's negative control).
    verify_peers: bool = setting("bool", True)
    # A peer with this many refused groups (claimed rewards that disagree with ours, questions that do
    # not regenerate, no provenance) within 10 rounds is ignored for peer_cool_off_rounds rounds.
    peer_strikes: int = setting("int", 2, min=1, max=1000)
    peer_cool_off_rounds: int = setting("int", 20, min=1, max=100000)
    # Take rollouts only from peers registered on the swarm's coordinator contract: "auto" = on for
    # hosted swarms (a network with a coordinator, not the local one), "on", "off".
    registered_peers_only: str = setting("str", "auto", choices=("auto", "on", "off"))


@dataclass(frozen=True)
class SupervisorConfig:
    """[profiles.NAME.daemon]: the user's side of the supervisor's settings (core.supervisor.settings
    takes its defaults from here and adds the internal tuning knobs)."""

    restart_backoff_initial: float = setting("float", 2.0, min=0, max=3600)
    restart_backoff_max: float = setting("float", 300.0, min=0, max=86400)
    max_quick_failures: int = setting("int", 5, min=1, max=1000)
    healthy_after: float = setting("float", 300.0, min=1, max=86400)
    stall_timeout: float = setting("float", 1800.0, min=10, max=7 * 86400)
    stop_timeout: float = setting("float", 60.0, min=1, max=3600)
    rss_limit_mb: int = setting("int", 0, min=0, max=2**40)
    vram_limit_mb: int = setting("int", 0, min=0, max=2**40)
    log_max_mb: int = setting("int", 20, min=1, max=10000)
    log_backups: int = setting("int", 5, min=0, max=1000)
    events_max_mb: int = setting("int", 20, min=0, max=100000)
    event_replay: int = setting("int", 2000, min=0, max=10**7)


@dataclass(frozen=True)
class ProfileSettings:
    network: str = setting("str", "local")
    model: str = setting("str", "auto")
    quant: str = setting("str", "auto", choices=QUANT_CHOICES)
    gpus: tuple[int, ...] = setting("list[int]", (), check=_check_gpus)
    dht_port: int = setting("int", 0, min=0, max=65535, fix=PORT_FIX)
    # where the DHT listens: "" = 127.0.0.1 on the local network, 0.0.0.0 on any other
    dht_host: str = setting("str", "", check=_check_listen_host, fix=M("config.p.dht_host_fix"))
    announce_maddrs: tuple[str, ...] = setting("list[str]", (), check=_check_multiaddrs,
                                               fix=M("config.p.announce_fix"))
    login_port: int = setting("int", DEFAULT_LOGIN_PORT, min=1, max=65535, fix=PORT_FIX)
    backend: str = setting("str", "modal-login", choices=("modal-login", "web3"))
    hf_repo: str = setting("str", "", check=_check_hf_repo)
    # the official modal-login app's directory (testnet sign-in), "" = none
    login_app: str = setting("str", "")
    training: TrainingSettings = field(default_factory=TrainingSettings)
    daemon: SupervisorConfig = field(default_factory=SupervisorConfig)

    def to_dict(self) -> dict:
        d = {f.name: getattr(self, f.name) for f in fields(self) if f.name not in ("training", "daemon")}
        d["gpus"] = list(self.gpus)
        d["announce_maddrs"] = list(self.announce_maddrs)
        d["training"] = {f.name: getattr(self.training, f.name) for f in fields(self.training)}
        d["daemon"] = {f.name: getattr(self.daemon, f.name) for f in fields(self.daemon)}
        return d


@dataclass(frozen=True)
class NetworkSettings:
    name: str
    kind: str  # "local" | "testnet" | "custom"
    rpc_url: str = setting("str", "", check=_check_url)
    chain_id: int = setting("int", 0, min=0, max=2**63)
    coordinator: str = setting("str", "", check=_check_address)
    bootnodes: tuple[str, ...] = setting("list[str]", (), check=_check_multiaddrs,
                                         fix=M("config.p.bootnodes_fix"))
    login_url: str = setting("str", "", check=_check_url)
    backend: str = setting("str", "modal-login", choices=("modal-login", "web3"))
    round_seconds: float = setting("float", 120.0, min=5, max=86400)

    def to_dict(self) -> dict:
        d = {f.name: getattr(self, f.name) for f in fields(self)}
        d["bootnodes"] = list(self.bootnodes)
        return d


@dataclass(frozen=True)
class TuiSettings:
    refresh_seconds: float = setting("float", 1.0, min=0.2, max=60)
    chart_rounds: int = setting("int", 100, min=10, max=100000)
    log_lines: int = setting("int", 500, min=10, max=100000)
    color: str = setting("str", "auto", choices=("auto", "truecolor", "256", "16", "mono"))
    backup_warning: bool = setting("bool", True)


def _check_quiet_hours(v: str) -> str | None:
    if v and not re.fullmatch(r"([01]\d|2[0-3]):[0-5]\d-([01]\d|2[0-3]):[0-5]\d", v):
        return M("config.p.not_quiet_hours", value=repr(v))
    return None


ALERT_CONDITIONS = ("down", "gave_up", "oom", "sign_in", "no_progress", "no_reward", "behind", "backup", "disk",
                    "win", "unreachable", "peer_ignored")


def _check_conditions(v: list) -> str | None:
    bad = [c for c in v if c not in ALERT_CONDITIONS]
    return M("config.p.unknown_conditions", bad=str(bad), known=", ".join(ALERT_CONDITIONS)) if bad else None


@dataclass(frozen=True)
class AlertSettings:
    """[alerts], overridden per profile by [profiles.NAME.alerts] (core.alerts reads it). The alert URLs
    themselves (bot tokens) are secrets: they live in urls_file (0600), never in config.toml."""

    enabled: bool = setting("bool", True)
    urls_file: str = setting("str", "")  # "" = alert-urls beside config.toml
    conditions: tuple[str, ...] = setting("list[str]", ALERT_CONDITIONS, check=_check_conditions)
    cooldown_minutes: float = setting("float", 30.0, min=0, max=7 * 24 * 60)
    quiet_hours: str = setting("str", "", check=_check_quiet_hours)
    no_progress_rounds: int = setting("int", 5, min=1, max=100000)
    no_reward_rounds: int = setting("int", 10, min=1, max=100000)
    behind_rounds: int = setting("int", 3, min=1, max=100000)
    disk_free_gb: float = setting("float", 5.0, min=0, max=2**20)


@dataclass(frozen=True)
class FleetSettings:
    """[fleet]: the machines `swarmdeck fleet` reaches over SSH (core.fleet). The hosts themselves live in
    the fleet directory (hosts.json, known_hosts), not here."""

    ssh: str = setting("str", "ssh")                    # the OpenSSH client to run (a path or a name on PATH)
    ssh_keyscan: str = setting("str", "ssh-keyscan")    # reads a new host's key for the first-contact question
    timeout_seconds: float = setting("float", 10.0, min=1, max=300)      # per host, per query
    poll_seconds: float = setting("float", 15.0, min=1, max=3600)        # `fleet watch` and the fleet view
    control_persist_seconds: int = setting("int", 300, min=0, max=86400)  # the shared SSH connection's idle life
    user_ssh_config: bool = setting("bool", True)      # read ~/.ssh/config too (host aliases, ProxyJump)


ALERT_FIELDS = spec_of(AlertSettings)
FLEET_FIELDS = spec_of(FleetSettings)
TUI_FIELDS = spec_of(TuiSettings)
NETWORK_FIELDS = spec_of(NetworkSettings)
PROFILE_FIELDS = spec_of(ProfileSettings)
TRAINING_FIELDS = spec_of(TrainingSettings)
DAEMON_FIELDS = spec_of(SupervisorConfig)
PROFILE_SUBTABLES = {"training": TRAINING_FIELDS, "daemon": DAEMON_FIELDS}

# Built-in networks. A [networks.<same name>] table overrides single fields.
BUILTIN_NETWORKS: dict[str, dict] = {
    "local": {
        "kind": "local",
        "rpc_url": "",  # decided at start by the local devnet (free loopback port)
        "chain_id": 31337,
        "coordinator": "",  # deployed at start, persisted in the network dir
        "bootnodes": [],  # the first local node is the bootnode
        "login_url": f"http://127.0.0.1:{DEFAULT_LOGIN_PORT}",
        "backend": "modal-login",
        "round_seconds": LOCAL_ROUND_SECONDS,
    },
    "gensyn-testnet": {
        "kind": "testnet",
        "rpc_url": "https://gensyn-testnet.g.alchemy.com/public",
        "chain_id": 685685,
        "coordinator": "0x2fC68a233EF9E9509f034DD551FF90A79a0B8F82",  # the seed guide's
        "bootnodes": [],  # ask the contract's getBootnodes()
        "login_url": f"http://127.0.0.1:{DEFAULT_LOGIN_PORT}",
        "backend": "modal-login",
        "round_seconds": 120.0,
    },
}


# ------------------------------------------------------------------------------------------
# Multiaddr syntax (no network access; enough to catch typos before p2pd does)

_MA_PROTOS = {
    "ip4": "ip4", "ip6": "ip6", "dns": "host", "dns4": "host", "dns6": "host", "dnsaddr": "host",
    "tcp": "port", "udp": "port", "p2p": "peer", "ipfs": "peer",
    "quic": None, "quic-v1": None, "ws": None, "wss": None, "tls": None, "noise": None,
    "p2p-circuit": None, "webtransport": None,
}


def multiaddr_problem(m: Any) -> str | None:
    """None if `m` looks like a valid multiaddr string, else what is wrong with it."""
    if not isinstance(m, str):
        return M("config.p.ma_not_string")
    if not m.startswith("/"):
        return M("config.p.ma_slash")
    parts = m.split("/")[1:]
    if not parts or parts == [""]:
        return M("config.p.ma_empty")
    i = 0
    while i < len(parts):
        proto = parts[i]
        if proto not in _MA_PROTOS:
            return M("config.p.ma_unknown", proto=repr(proto))
        kind = _MA_PROTOS[proto]
        i += 1
        if kind is None:
            continue
        if i >= len(parts) or parts[i] == "":
            return M("config.p.ma_needs_value", proto=proto)
        v = parts[i]
        i += 1
        if kind == "ip4":
            try:
                ipaddress.IPv4Address(v)
            except ValueError:
                return M("config.p.not_ipv4", value=repr(v))
        elif kind == "ip6":
            try:
                ipaddress.IPv6Address(v)
            except ValueError:
                return M("config.p.not_ipv6", value=repr(v))
        elif kind == "port":
            if not v.isdigit() or not 0 <= int(v) <= 65535:
                return M("config.p.not_port", value=repr(v))
        elif kind == "host":
            if not re.fullmatch(r"[A-Za-z0-9.-]{1,253}", v):
                return M("config.p.not_host", value=repr(v))
        elif kind == "peer":
            if not re.fullmatch(r"(Qm[1-9A-HJ-NP-Za-km-z]{44}|12D3Koo[1-9A-HJ-NP-Za-km-z]{45,46})", v):
                return M("config.p.not_peer", value=repr(v))
    return None


# ------------------------------------------------------------------------------------------
# Problems and line numbers


@dataclass(frozen=True)
class Problem:
    file: str
    line: int | None
    key: str
    message: str  # a Msg (its English text; the key renders it in the user's language) or plain text
    fix: str | None = None

    def as_msg(self) -> Msg:
        """The one-line problem as a message: English it is str(p), rendered it is render()."""
        loc = f"{self.file}:{self.line}" if self.line else self.file
        line = (M("config.problem.at_key", loc=loc, setting=self.key, message=self.message) if self.key
                else M("config.problem.at", loc=loc, message=self.message))
        return M("config.problem.with_fix", line=line, fix=self.fix) if self.fix else line

    def render(self, tr: Translator | None = None) -> str:
        return self.as_msg().render(tr)

    def __str__(self) -> str:
        return self.as_msg().english()

    def to_dict(self) -> dict:
        d = {"file": self.file, "line": self.line, "key": self.key, "message": str(self.message),
             "fix": None if self.fix is None else str(self.fix)}
        msgs = {k: v.to_wire() for k, v in (("message", self.message), ("fix", self.fix)) if isinstance(v, Msg)}
        if msgs:  # the keys, so a reader of the dict (status) can show it in the user's language
            d["msgs"] = msgs
        return d

    @classmethod
    def from_dict(cls, d: dict) -> "Problem":
        """Back from to_dict(), with the message keys when it has them (plain text otherwise)."""
        msgs = d.get("msgs") if isinstance(d.get("msgs"), dict) else {}
        message = Msg.from_wire(msgs.get("message")) or (d.get("message") or "")
        fix = Msg.from_wire(msgs.get("fix")) or d.get("fix")
        return cls(d.get("file") or "", d.get("line"), d.get("key") or "", message, fix)


_KEY_TOKEN = re.compile(r'\s*(?:([A-Za-z0-9_-]+)|"((?:[^"\\]|\\.)*)"|\'([^\']*)\')\s*')


def _split_dotted(s: str) -> list[str] | None:
    out = []
    pos = 0
    while True:
        m = _KEY_TOKEN.match(s, pos)
        if not m or m.end() == pos:
            return None
        out.append(next(g for g in m.groups() if g is not None))
        pos = m.end()
        if pos >= len(s):
            return out
        if s[pos] != ".":
            return None
        pos += 1


def _line_index(text: str) -> dict[tuple[str, ...], int]:
    """Map dotted key paths (tables and keys) to their 1-based line in the file."""
    index: dict[tuple[str, ...], int] = {}
    table: tuple[str, ...] = ()
    in_multiline: str | None = None
    for n, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if in_multiline:
            if line.count(in_multiline) % 2 == 1:
                in_multiline = None
            continue
        if not line or line.startswith("#"):
            continue
        hm = re.match(r"^\[\[?\s*(.+?)\s*\]\]?\s*(#.*)?$", line)
        if hm and not re.match(r"^[^=\[]*=", line):
            keys = _split_dotted(hm.group(1))
            if keys:
                table = tuple(keys)
                index.setdefault(table, n)
            continue
        km = re.match(r"^((?:[A-Za-z0-9_-]+|\"(?:[^\"\\]|\\.)*\"|'[^']*')(?:\s*\.\s*(?:[A-Za-z0-9_-]+|\"(?:[^\"\\]|\\.)*\"|'[^']*'))*)\s*=(.*)$", line)
        if km:
            keys = _split_dotted(km.group(1))
            if keys:
                index.setdefault(table + tuple(keys), n)
            rest = km.group(2)
            for q in ('"""', "'''"):
                if rest.count(q) % 2 == 1:
                    in_multiline = q
    return index


# ------------------------------------------------------------------------------------------
# Validation


_TYPE_NAMES = {"str": "str", "int": "int", "float": "float", "bool": "bool",
               "list[int]": "list_int", "list[str]": "list_str"}  # -> keys config.type.*


def _type_ok(t: str, v: Any) -> bool:
    if t == "str":
        return isinstance(v, str)
    if t == "bool":
        return isinstance(v, bool)
    if t == "int":
        return isinstance(v, int) and not isinstance(v, bool)
    if t == "float":
        return isinstance(v, (int, float)) and not isinstance(v, bool)
    if t == "list[int]":
        return isinstance(v, list) and all(isinstance(x, int) and not isinstance(x, bool) for x in v)
    if t == "list[str]":
        return isinstance(v, list) and all(isinstance(x, str) for x in v)
    raise AssertionError(t)


def _fmt_key(path: tuple[str, ...]) -> str:
    return ".".join(p if re.fullmatch(r"[A-Za-z0-9_-]+", p) else f'"{p}"' for p in path)


class _Validator:
    def __init__(self, file: str, text: str):
        self.file = file
        self.lines = _line_index(text)
        self.problems: list[Problem] = []

    def line_of(self, path: tuple[str, ...]) -> int | None:
        for k in range(len(path), 0, -1):
            if path[:k] in self.lines:
                return self.lines[path[:k]]
        return None

    def add(self, path: tuple[str, ...], message: str, fix: str | None = None) -> None:
        self.problems.append(Problem(self.file, self.line_of(path), _fmt_key(path), message, fix))

    def fields(self, table: Any, spec: dict[str, Field], path: tuple[str, ...], subtables: dict | None = None) -> None:
        if not isinstance(table, dict):
            self.add(path, M("config.p.must_be_table", setting=_fmt_key(path), type=type(table).__name__))
            return
        for k, v in table.items():
            p = path + (k,)
            if subtables and k in subtables:
                self.fields(v, subtables[k], p)
                continue
            f = spec.get(k)
            if f is None:
                known = sorted(list(spec) + list(subtables or {}))
                close = [c for c in known if c.replace("_", "") == k.replace("_", "").lower()]
                hint = (M("config.p.did_you_mean", setting=repr(close[0])) if close
                        else M("config.p.known_keys", keys=", ".join(known)))
                self.add(p, M("config.p.unknown_key"), M("config.p.unknown_key_fix", hint=hint))
                continue
            self.value(p, f, v)

    def value(self, p: tuple[str, ...], f: Field, v: Any) -> None:
        if not _type_ok(f.type, v):
            self.add(p, M("config.p.wrong_type", type=M("config.type." + _TYPE_NAMES[f.type]), got=_show(v)),
                     M("config.p.example", example=f"{_fmt_key(p[-1:])} = {tomlkit.item(f.default).as_string()}"))
            return
        if f.choices is not None and v not in f.choices:
            self.add(p, M("config.p.not_choice", value=repr(v), choices=", ".join(map(repr, f.choices))),
                     M("config.p.not_choice_fix", choices=", ".join(f.choices)))
            return
        if (f.min is not None and v < f.min) or (f.max is not None and v > f.max):
            key = "config.p.not_a_port" if p[-1].endswith("_port") else "config.p.out_of_range"
            self.add(p, M(key, value=str(v), min=f"{f.min:g}", max=f"{f.max:g}"), f.fix)
            return
        if f.check is not None:
            msg = f.check(v)
            if msg:
                self.add(p, msg, f.fix)


def _show(v: Any) -> str | Msg:
    if isinstance(v, str):
        return M("config.show.string", value=repr(v))
    if isinstance(v, bool):
        return str(v).lower()
    if isinstance(v, dict):
        return M("config.show.table")
    return f"{type(v).__name__} {v!r}"


def validate_data(data: dict, text: str = "", file: str = "config.toml") -> list[Problem]:
    """Every problem in a parsed config, each with file, line and key."""
    v = _Validator(file, text)
    if not isinstance(data, dict):
        return [Problem(file, None, "", M("config.p.not_document"))]
    for k, val in data.items():
        p = (k,)
        if k in ROOT_FIELDS:
            v.value(p, ROOT_FIELDS[k], val)
        elif k == "tui":
            v.fields(val, TUI_FIELDS, p)
        elif k == "alerts":
            v.fields(val, ALERT_FIELDS, p)
        elif k == "fleet":
            v.fields(val, FLEET_FIELDS, p)
        elif k == "networks":
            if not isinstance(val, dict):
                v.add(p, M("config.p.networks_table"))
                continue
            for name, net in val.items():
                v.fields(net, NETWORK_FIELDS, p + (name,))
        elif k == "profiles":
            if not isinstance(val, dict):
                v.add(p, M("config.p.profiles_table"))
                continue
            for name, prof in val.items():
                pp = p + (name,)
                if not _paths.PROFILE_NAME_RE.match(name):
                    v.add(pp, M("config.p.bad_profile_name", name=repr(name)), M("config.p.bad_profile_name_fix"))
                v.fields(prof, PROFILE_FIELDS, pp, {**PROFILE_SUBTABLES, "alerts": ALERT_FIELDS})
        else:
            v.add(p, M("config.p.unknown_key"), M("config.p.unknown_top_fix",
                                                   keys="current_profile, language, tui, alerts, fleet, networks, profiles"))
    # cross-references
    profiles = data.get("profiles") if isinstance(data.get("profiles"), dict) else {}
    networks = data.get("networks") if isinstance(data.get("networks"), dict) else {}
    cur = data.get("current_profile")
    if isinstance(cur, str) and cur and cur not in profiles:
        v.add(("current_profile",), M("config.p.no_current_profile", name=repr(cur), table=cur),
              M("config.p.no_current_profile_fix", table=cur, names=", ".join(profiles) or M("config.none_yet")))
    used_ports: dict[int, str] = {}
    for name, prof in profiles.items():
        if not isinstance(prof, dict):
            continue
        net = prof.get("network")
        if isinstance(net, str) and net not in BUILTIN_NETWORKS and net not in networks:
            v.add(("profiles", name, "network"), M("config.p.no_network", name=repr(net)),
                  M("config.p.no_network_fix", table=net))
        port = prof.get("dht_port")
        if isinstance(port, int) and not isinstance(port, bool) and port > 0:
            if port in used_ports:
                v.add(("profiles", name, "dht_port"), M("config.p.port_twice", port=port, profile=repr(used_ports[port])),
                      M("config.p.port_twice_fix"))
            else:
                used_ports[port] = name
    for name, net in networks.items():
        if not isinstance(net, dict) or name in BUILTIN_NETWORKS:
            continue
        for req in ("rpc_url", "coordinator"):
            if not net.get(req):
                v.add(("networks", name), M("config.p.network_needs", setting=req),
                      M("config.p.network_needs_fix", setting=req, table=name))
    return v.problems


def validate_text(text: str, file: str = "config.toml") -> tuple[tomlkit.TOMLDocument | None, list[Problem]]:
    try:
        doc = tomlkit.parse(text)
        # unwrap inside the try: tomlkit only notices some duplicates (a key defined again in a
        # table split around other tables) when it builds the plain dict
        data = doc.unwrap()
    except ParseError as e:
        msg = str(e).split(" at line ")[0]
        return None, [Problem(file, e.line, "", M("config.p.not_toml_at", error=msg, col=e.col),
                              M("config.p.not_toml_fix"))]
    except tomlkit.exceptions.TOMLKitError as e:  # e.g. KeyAlreadyPresent: a key or table defined twice
        return None, [Problem(file, None, "", M("config.p.not_toml", error=str(e)), M("config.p.duplicate_fix"))]
    return doc, validate_data(data, text, file)


# ------------------------------------------------------------------------------------------
# The file


def example_path() -> Path:
    """config.example.toml: the repo's top-level file in a checkout, else the packaged copy."""
    core_dir = Path(__file__).resolve().parents[1]
    top = core_dir.parent / "config.example.toml"
    return top if top.is_file() else core_dir / "config.example.toml"


def example_text() -> str:
    return example_path().read_text(encoding="utf-8")


def config_path() -> Path:
    return _paths.config_file()


def ensure_config(path: Path | None = None) -> tuple[Path, bool]:
    """Create the config from config.example.toml if missing. Returns (path, created)."""
    path = Path(path) if path else config_path()
    if path.exists():
        return path, False
    _paths.ensure_private_dir(path.parent)
    atomic_write_text(path, example_text(), mode=0o644)
    return path, True


def _merge(spec: dict[str, Field], table: dict | None) -> dict:
    table = table or {}
    out = {}
    for k, f in spec.items():
        v = table.get(k, f.default)
        try:
            if f.type.startswith("list"):
                v = tuple(v)
            elif f.type == "float":
                v = float(v)
        except (TypeError, ValueError):
            # a wrong value is a config problem (validate() names its file, line and key): the readers
            # (status, the TUI) go on with the default instead of a ValueError traceback
            v = tuple(f.default) if f.type.startswith("list") else f.default
        out[k] = v
    return out


class Config:
    """A loaded (and validated) config.toml. Edits go through tomlkit and keep comments."""

    def __init__(self, path: Path, doc: tomlkit.TOMLDocument):
        self.path = Path(path)
        self.doc = doc

    # --- reading
    @property
    def data(self) -> dict:
        return self.doc.unwrap()

    @property
    def current_profile(self) -> str:
        return str(self.data.get("current_profile", "") or "")

    @property
    def language(self) -> str:
        return str(self.data.get("language", "auto"))

    @property
    def tui(self) -> TuiSettings:
        return TuiSettings(**_merge(TUI_FIELDS, self.data.get("tui")))

    def alerts(self, profile: str | None = None) -> AlertSettings:
        """[alerts] with [profiles.NAME.alerts] over it (None: [alerts] alone)."""
        merged = {**(self.data.get("alerts") or {})}
        if profile:
            merged.update(((self.data.get("profiles") or {}).get(profile) or {}).get("alerts") or {})
        return AlertSettings(**_merge(ALERT_FIELDS, merged))

    @property
    def fleet(self) -> FleetSettings:
        return FleetSettings(**_merge(FLEET_FIELDS, self.data.get("fleet")))

    def profile_names(self) -> list[str]:
        return list((self.data.get("profiles") or {}).keys())

    def has_profile(self, name: str) -> bool:
        return name in self.profile_names()

    def profile_settings(self, name: str) -> ProfileSettings:
        prof = (self.data.get("profiles") or {}).get(name)
        if prof is None:
            raise ConfigError(M("err.config.no_profile", name=repr(name)), where=f"{self.path} [profiles.{name}]",
                              fix=M("err.config.no_profile_fix", name=name,
                                    names=", ".join(self.profile_names()) or M("config.none_yet")))
        top = _merge(PROFILE_FIELDS, prof)
        return ProfileSettings(
            **top,
            training=TrainingSettings(**_merge(TRAINING_FIELDS, prof.get("training"))),
            daemon=SupervisorConfig(**_merge(DAEMON_FIELDS, prof.get("daemon"))),
        )

    def network_names(self) -> list[str]:
        return list(BUILTIN_NETWORKS) + [n for n in (self.data.get("networks") or {}) if n not in BUILTIN_NETWORKS]

    def network(self, name: str) -> NetworkSettings:
        user = (self.data.get("networks") or {}).get(name)
        base = BUILTIN_NETWORKS.get(name)
        if base is None and user is None:
            raise ConfigError(M("err.config.no_network", name=repr(name)), where=f"{self.path} [networks.{name}]",
                              fix=M("err.config.no_network_fix", table=name))
        merged = dict(base or {"kind": "custom", **{k: f.default for k, f in NETWORK_FIELDS.items()}})
        merged.update(user or {})
        return NetworkSettings(
            name=name, kind=merged["kind"], rpc_url=merged["rpc_url"], chain_id=int(merged["chain_id"]),
            coordinator=merged["coordinator"], bootnodes=tuple(merged["bootnodes"]),
            login_url=merged["login_url"], backend=merged["backend"], round_seconds=float(merged["round_seconds"]),
        )

    def validate(self) -> list[Problem]:
        return validate_data(self.data, self.doc.as_string(), str(self.path))

    # --- editing (call save() after)
    def set(self, key: str, value: Any) -> None:
        self.doc[key] = value

    def set_current_profile(self, name: str) -> None:
        self.doc["current_profile"] = name

    def add_profile(self, name: str, settings: dict | None = None) -> None:
        profiles = self.doc.get("profiles")
        if profiles is None:
            profiles = tomlkit.table(is_super_table=True)
            self.doc.add(tomlkit.nl())
            self.doc["profiles"] = profiles
        if name in profiles:
            raise ConfigError(M("err.config.profile_exists", name=repr(name)), where=f"{self.path} [profiles.{name}]",
                              fix=M("err.config.another_name"))
        settings = dict(settings or {})
        t = tomlkit.table()
        for k, f in PROFILE_FIELDS.items():
            v = settings.pop(k, f.default)
            t.add(k, list(v) if isinstance(v, tuple) else v)
        for sub, spec in PROFILE_SUBTABLES.items():
            given = settings.pop(sub, None) or {}
            if given:
                st = tomlkit.table()
                for k, v in given.items():
                    st.add(k, v)
                t.add(sub, st)
        if settings:
            raise ConfigError(M("err.config.unknown_settings", names=", ".join(sorted(settings))),
                              fix=M("err.config.known_settings", names=", ".join(PROFILE_FIELDS)))
        profiles[name] = t

    def add_network(self, name: str, settings: dict) -> None:
        """A [networks.NAME] table (a custom network); refused when the name is taken."""
        nets = self.doc.get("networks")
        if nets is None:
            nets = tomlkit.table(is_super_table=True)
            self.doc["networks"] = nets
        if name in nets or name in BUILTIN_NETWORKS:
            raise ConfigError(M("err.config.network_exists", name=repr(name)), where=f"{self.path} [networks.{name}]",
                              fix=M("err.config.network_exists_fix"))
        t = tomlkit.table()
        for k, v in settings.items():
            t.add(k, list(v) if isinstance(v, tuple) else v)
        nets[name] = t

    def set_network_value(self, name: str, key: str, value: Any) -> None:
        """One key of an existing [networks.NAME] table (comments elsewhere kept)."""
        self.doc["networks"][name][key] = list(value) if isinstance(value, tuple) else value

    def set_profile_value(self, name: str, key: str, value: Any) -> None:
        prof = self.doc["profiles"][name]
        if "." in key:
            sub, k = key.split(".", 1)
            if sub not in prof:
                prof[sub] = tomlkit.table()
            prof[sub][k] = value
        else:
            prof[key] = value

    def rename_profile(self, old: str, new: str) -> None:
        profiles = self.doc["profiles"]
        if new in profiles:
            raise ConfigError(M("err.config.profile_exists", name=repr(new)), fix=M("err.config.another_name"))
        # tomlkit has no rename: rebuild the super-table in order so position and comments stay
        items = list(profiles.items())
        for k, _ in items:
            del profiles[k]
        for k, v in items:
            profiles[new if k == old else k] = v
        if self.current_profile == old:
            self.doc["current_profile"] = new

    def remove_profile(self, name: str) -> None:
        del self.doc["profiles"][name]
        if self.current_profile == name:
            rest = self.profile_names()
            self.doc["current_profile"] = rest[0] if rest else ""

    def save(self) -> None:
        """Validate, then write atomically. A config with problems is never written."""
        text = self.doc.as_string()
        _, problems = validate_text(text, str(self.path))
        if problems:
            raise ConfigError(M("err.config.refuse_save"), where=str(self.path),
                              fix=_joined([p.as_msg() for p in problems], "config.join_semicolon"), problems=problems)
        atomic_write_text(self.path, text, mode=0o644)


def _raise_problems(path: Path, problems: list[Problem]) -> None:
    n = len(problems)
    raise ConfigError(
        M("err.config.problems_one" if n == 1 else "err.config.problems", path=str(path), n=n,
          lines=_joined([p.as_msg() for p in problems], "config.join_lines")),
        where=str(path),
        fix=M("err.config.problems_fix"),
        problems=problems,
    )


def _joined(msgs: list[Msg], key: str) -> Msg | str:
    """Several messages as one (each rendered in the user's language): nested pairs of `key`
    ("{first}\n  {rest}" for lines, "{first}; {rest}" for a list)."""
    if not msgs:
        return ""
    out: Msg = msgs[-1]
    for m in reversed(msgs[:-1]):
        out = M(key, first=m, rest=out)
    return out


# Threads of this process (the TUI edits from workers) queue on the RLock; only its outermost
# holder takes the file lock, since flock on a second fd would block on our own lock.
_thread_lock = threading.RLock()
_held = threading.local()


@contextmanager
def config_lock(path: Path | None = None):
    """Serialise read-modify-write of config.toml between threads and processes (TUI, CLI, localnet).

    Atomic writes already prevent torn files; this prevents lost updates (two writers loading
    the same version and the second save dropping the first one's change). Re-entrant per thread.
    """
    path = Path(path) if path else config_path()
    with _thread_lock:
        if getattr(_held, "depth", 0):
            _held.depth += 1
            try:
                yield
            finally:
                _held.depth -= 1
            return
        _paths.ensure_private_dir(path.parent)
        fd = os.open(path.with_name(".config.lock"), os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            _held.depth = 1
            try:
                yield
            finally:
                _held.depth = 0
                fcntl.flock(fd, fcntl.LOCK_UN)
        finally:
            os.close(fd)


def load_config(path: Path | None = None, create: bool = True, strict: bool = True) -> Config:
    """Load (creating from the example on first run) and validate the config.

    strict=True raises ConfigError listing every problem; strict=False returns the config
    anyway (for `config validate` / repair tools) as long as it parses.
    """
    path = Path(path) if path else config_path()
    if create:
        ensure_config(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(M("err.config.missing"), where=str(path), fix=M("err.config.missing_fix")) from None
    except UnicodeDecodeError:
        _raise_problems(path, [Problem(str(path), None, "", M("config.p.not_utf8"))])
    doc, problems = validate_text(text, str(path))
    if doc is None or (strict and problems):
        _raise_problems(path, problems)
    return Config(path, doc)
