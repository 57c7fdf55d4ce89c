"""System check (`swarmdeck doctor`) and the model / quantization recommendation from VRAM.

Each check returns a Check(id, title, status, detail, fix); status is "ok", "warn", "fail"
or "info". No GPU / no NVIDIA driver is an "info" result ("CPU mode") and never a crash.
The requirement table is the seed guide's: arm64/amd64, 24 GB RAM recommended, CUDA GPU
recommended, Python >= 3.10.

`check_network(NAME)` (doctor --network NAME) asks the network's RPC: reachable (eth_chainId),
the expected chain id, contract code at the coordinator address, getBootnodes() and
currentRound(). Every RPC call has a timeout and a bounded retry, and the whole network check
a deadline, so it never hangs on a dead or paused RPC.
"""

from __future__ import annotations

import os
import platform
import shutil
import socket
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

from core.base import paths as _paths

RECOMMENDED_RAM_GB = 24
MIN_FREE_DISK_GB = 5
RECOMMENDED_FREE_DISK_GB = 20
GiB = 1024**3


@dataclass(frozen=True)
class Check:
    id: str
    title: str
    status: str  # ok | warn | fail | info
    detail: str
    fix: str | None = None

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class GpuInfo:
    index: int
    name: str
    total_mib: int
    free_mib: int
    driver: str | None = None

    @property
    def total_gib(self) -> float:
        return self.total_mib / 1024


@dataclass(frozen=True)
class GpuProbe:
    gpus: tuple[GpuInfo, ...]
    cpu_mode: bool
    reason: str | None  # why CPU mode (no driver, no GPU, ...)
    driver: str | None = None

    def to_dict(self) -> dict:
        return {"cpu_mode": self.cpu_mode, "reason": self.reason, "driver": self.driver,
                "gpus": [asdict(g) for g in self.gpus]}


def probe_gpus() -> GpuProbe:
    """GPUs and VRAM through nvidia-ml-py; any failure means CPU mode with the reason."""
    try:
        import pynvml  # the nvidia-ml-py package
    except ImportError:
        return GpuProbe((), True, "nvidia-ml-py is not installed (pip install nvidia-ml-py)")
    try:
        pynvml.nvmlInit()
    except Exception as e:  # NVMLError_LibraryNotFound, _DriverNotLoaded, ...
        name = type(e).__name__.replace("NVMLError_", "")
        if "LibraryNotFound" in name:
            reason = "no NVIDIA driver found (libnvidia-ml is not installed)"
        elif "DriverNotLoaded" in name:
            reason = "the NVIDIA driver is installed but not loaded"
        else:
            reason = f"NVIDIA driver not usable ({name}: {e})"
        return GpuProbe((), True, reason)
    try:
        driver = pynvml.nvmlSystemGetDriverVersion()
        driver = driver.decode() if isinstance(driver, bytes) else str(driver)
        gpus = []
        for i in range(pynvml.nvmlDeviceGetCount()):
            h = pynvml.nvmlDeviceGetHandleByIndex(i)
            name = pynvml.nvmlDeviceGetName(h)
            name = name.decode() if isinstance(name, bytes) else str(name)
            mem = pynvml.nvmlDeviceGetMemoryInfo(h)
            gpus.append(GpuInfo(i, name, int(mem.total // 2**20), int(mem.free // 2**20), driver))
    except Exception as e:
        return GpuProbe((), True, f"NVIDIA driver error while listing GPUs: {e}")
    finally:
        try:
            pynvml.nvmlShutdown()
        except Exception:
            pass
    if not gpus:
        return GpuProbe((), True, "the NVIDIA driver reports no GPU", driver)
    return GpuProbe(tuple(gpus), False, None, driver)


# --- recommendation -------------------------------------------------------------------------

MODEL_SMALL = "Qwen/Qwen2.5-0.5B-Instruct"
MODEL_MEDIUM = "Qwen/Qwen2.5-1.5B-Instruct"
MODEL_LARGE = "Qwen/Qwen2.5-7B-Instruct"

# (minimum VRAM GiB, model, quant). GRPO with G=8 x 512-token completions and LoRA; the
# margins leave room for activations and the fp32 logits (computed in chunks by the engine).
_VRAM_TABLE = [
    (40, MODEL_LARGE, "8bit"),
    (20, MODEL_LARGE, "4bit"),    # 24 GB cards (3090/4090): 7B in 4-bit fits with room
    (12, MODEL_MEDIUM, "8bit"),
    (7, MODEL_MEDIUM, "4bit"),
    (4, MODEL_SMALL, "8bit"),
    (0, MODEL_SMALL, "4bit"),
]


@dataclass(frozen=True)
class Recommendation:
    model: str
    quant: str
    reason: str
    cpu_mode: bool
    vram_gib: float | None

    def to_dict(self) -> dict:
        return asdict(self)


def recommend(vram_gib: float | None) -> Recommendation:
    """Model and 4/8-bit mode for the smallest selected GPU (None = CPU mode)."""
    if vram_gib is None:
        return Recommendation(MODEL_SMALL, "fp32", "CPU mode: the smallest model, full precision with LoRA "
                              "(4/8-bit quantization is for GPUs)", True, None)
    for min_gib, model, quant in _VRAM_TABLE:
        if vram_gib >= min_gib:
            return Recommendation(model, quant, f"{vram_gib:.0f} GiB of GPU memory: {model.split('/')[-1]} in {quant}",
                                  False, round(vram_gib, 1))
    raise AssertionError("unreachable")


def recommend_for(gpus: tuple[int, ...] | list[int] = (), probe: GpuProbe | None = None) -> Recommendation:
    probe = probe or probe_gpus()
    if probe.cpu_mode:
        r = recommend(None)
        return Recommendation(r.model, r.quant, f"{r.reason}; {probe.reason}", True, None)
    chosen = [g for g in probe.gpus if not gpus or g.index in gpus]
    if not chosen:
        r = recommend(None)
        return Recommendation(r.model, r.quant, f"none of the selected GPUs {list(gpus)} exists; {r.reason}", True, None)
    return recommend(min(g.total_gib for g in chosen))


def resolve_model_quant(model: str, quant: str, gpus=(), probe: GpuProbe | None = None) -> tuple[str, str, str]:
    """Turn a profile's "auto" model/quant into concrete values: (model, quant, why)."""
    if model != "auto" and quant != "auto":
        return model, quant, "set in the profile"
    rec = recommend_for(gpus, probe)
    return (rec.model if model == "auto" else model, rec.quant if quant == "auto" else quant, rec.reason)


# --- individual checks ----------------------------------------------------------------------

def check_arch() -> Check:
    m = platform.machine().lower()
    if m in ("x86_64", "amd64", "aarch64", "arm64"):
        return Check("arch", "CPU architecture", "ok", m)
    return Check("arch", "CPU architecture", "fail", f"{m} is not supported",
                 "use an amd64 (x86_64) or arm64 machine")


def check_python() -> Check:
    v = sys.version_info
    s = f"{v.major}.{v.minor}.{v.micro}"
    if v >= (3, 10):
        return Check("python", "Python", "ok", s)
    return Check("python", "Python", "fail", f"{s} is too old (need >= 3.10)",
                 "install Python 3.10 or newer, then run 'just setup' again")


def check_ram() -> Check:
    import psutil

    total = psutil.virtual_memory().total / GiB
    # the seed's "24 GB" is decimal-ish; 22.5 GiB covers machines sold as 24 GB
    if total >= RECOMMENDED_RAM_GB * 0.93:
        return Check("ram", "Memory (RAM)", "ok", f"{total:.1f} GiB")
    return Check("ram", "Memory (RAM)", "warn",
                 f"{total:.1f} GiB (the guide recommends {RECOMMENDED_RAM_GB} GB)",
                 "use a smaller model (model = \"Qwen/Qwen2.5-0.5B-Instruct\") or add memory; "
                 "set daemon.rss_limit_mb so the node restarts before the kernel kills it")


def check_gpus(probe: GpuProbe) -> Check:
    if probe.cpu_mode:
        return Check("gpu", "GPU", "info", f"CPU mode: {probe.reason}. Training runs on the CPU (slower, works).",
                     "for GPU training install the NVIDIA driver (nvidia-smi must work)")
    parts = [f"#{g.index} {g.name} {g.total_gib:.0f} GiB ({g.free_mib / 1024:.0f} free)" for g in probe.gpus]
    return Check("gpu", "GPU", "ok", f"driver {probe.driver}: " + "; ".join(parts))


def check_torch_cuda(probe: GpuProbe) -> Check:
    try:
        import torch
    except Exception as e:
        return Check("torch", "PyTorch", "fail", f"cannot import torch: {e}", "run 'just setup'")
    cuda = torch.version.cuda
    if probe.cpu_mode:
        return Check("torch", "PyTorch / CUDA", "info", f"torch {torch.__version__}, CPU mode")
    if torch.cuda.is_available():
        return Check("torch", "PyTorch / CUDA", "ok",
                     f"torch {torch.__version__}, CUDA {cuda}, {torch.cuda.device_count()} device(s)")
    if not cuda:
        return Check("torch", "PyTorch / CUDA", "fail",
                     f"torch {torch.__version__} is a CPU-only build but an NVIDIA GPU is present",
                     "install a CUDA build: .venv/bin/pip install torch==2.13.0 --index-url "
                     "https://download.pytorch.org/whl/cu128")
    return Check("torch", "PyTorch / CUDA", "fail",
                 f"torch {torch.__version__} (CUDA {cuda}) cannot use the GPU (driver too old for this CUDA?)",
                 "update the NVIDIA driver, or install a torch build for your driver's CUDA version")


def check_disk(path: Path | None = None) -> Check:
    path = Path(path or _paths.data_dir())
    p = path
    while not p.exists() and p != p.parent:
        p = p.parent
    free = shutil.disk_usage(p).free / GiB
    if free < MIN_FREE_DISK_GB:
        return Check("disk", "Free disk", "fail", f"{free:.1f} GiB free at {p}",
                     f"free at least {RECOMMENDED_FREE_DISK_GB} GiB (models, checkpoints) or set SWARMDECK_HOME elsewhere")
    if free < RECOMMENDED_FREE_DISK_GB:
        return Check("disk", "Free disk", "warn", f"{free:.1f} GiB free at {p}",
                     f"{RECOMMENDED_FREE_DISK_GB} GiB is comfortable for models and checkpoints")
    return Check("disk", "Free disk", "ok", f"{free:.0f} GiB free at {p}")


def port_free(port: int, host: str = "127.0.0.1") -> bool:
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        s.bind((host, port))
        return True
    except OSError:
        return False
    finally:
        s.close()


def _port_owner(port: int) -> str | None:
    try:
        import psutil

        for c in psutil.net_connections(kind="tcp"):
            if c.laddr and c.laddr.port == port and c.status == psutil.CONN_LISTEN and c.pid:
                p = psutil.Process(c.pid)
                return f"{p.name()} (pid {c.pid})"
    except Exception:  # needs privileges on some systems
        return None
    return None


def check_port(port: int = 3000, profile: str | None = None) -> Check:
    title = f"Login port {port}"
    if port_free(port):
        return Check("port", title, "ok", "free")
    owner = _port_owner(port)
    who = f" by {owner}" if owner else ""
    sel = f" -p {profile}" if profile else ""
    return Check("port", title, "warn", f"port {port} is in use{who}; swarmdeck's login service will take the next free port",
                 f"stop the program using it, or set login_port in [profiles.NAME] (swarmdeck config path{sel} shows the file)")


def check_session(env: dict | None = None) -> Check:
    env = os.environ if env is None else env
    in_mux = bool(env.get("TMUX") or env.get("STY") or env.get("ZELLIJ"))
    ssh = bool(env.get("SSH_CONNECTION") or env.get("SSH_TTY"))
    if ssh and not in_mux:
        return Check("session", "Terminal session", "warn",
                     "bare SSH session (no tmux/screen): a foreground program dies when you log out",
                     "run nodes with 'swarmdeck start' (they keep running after logout) and reattach with 'swarmdeck'; "
                     "or work inside tmux ('tmux new -s swarm')")
    where = "tmux/screen" + (" over SSH" if ssh else "") if in_mux else ("SSH" if ssh else "local terminal")
    return Check("session", "Terminal session", "ok", where)


def color_support(env: dict | None = None) -> str:
    env = os.environ if env is None else env
    if env.get("NO_COLOR"):
        return "mono"
    ct = env.get("COLORTERM", "").lower()
    term = env.get("TERM", "").lower()
    if ct in ("truecolor", "24bit"):
        return "truecolor"
    if "256" in term:
        return "256"
    if term in ("", "dumb"):
        return "mono"
    return "16"


def check_colors(env: dict | None = None) -> Check:
    c = color_support(env)
    if c == "mono":
        return Check("colors", "Terminal colours", "warn", "no colour support detected (TERM is dumb/unset or NO_COLOR)",
                     "export TERM=xterm-256color (inside tmux: set -g default-terminal tmux-256color)")
    return Check("colors", "Terminal colours", "ok", c + ("" if c == "truecolor" else " (the TUI adapts)"))


def check_p2pd() -> Check:
    import importlib.util

    spec = importlib.util.find_spec("hivemind")
    if spec is None or not spec.submodule_search_locations:
        return Check("p2pd", "hivemind p2pd", "fail", "hivemind is not installed", "run 'just setup'")
    p2pd = Path(list(spec.submodule_search_locations)[0]) / "hivemind_cli" / "p2pd"
    if not p2pd.is_file():
        return Check("p2pd", "hivemind p2pd", "fail", f"{p2pd} is missing",
                     "reinstall hivemind: .venv/bin/pip install --force-reinstall --no-deps hivemind==1.1.12")
    if not os.access(p2pd, os.X_OK):
        return Check("p2pd", "hivemind p2pd", "fail", f"{p2pd} is not executable", f"chmod +x {p2pd}")
    return Check("p2pd", "hivemind p2pd", "ok", str(p2pd))


def check_config() -> list[Check]:
    """Config validity, identity permissions and duplicate identities across profiles."""
    from core.config import settings as _config
    from core.identity import files as _identity
    from core.base.errors import SwarmdeckError

    out = []
    try:
        cfg = _config.load_config(strict=False)
        problems = cfg.validate()
    except SwarmdeckError as e:
        problems = getattr(e, "problems", None) or [e.what]
        cfg = None
    if problems:
        out.append(Check("config", "Config", "fail", "; ".join(str(p) for p in problems),
                         "edit the file ('swarmdeck config path') and run 'swarmdeck config validate'"))
    else:
        out.append(Check("config", "Config", "ok", str(cfg.path)))
    if cfg is not None:
        perm = []
        for name in cfg.profile_names():
            if _paths.PROFILE_NAME_RE.match(name):
                perm += [(name, p) for p in _identity.check_permissions(_paths.ProfilePaths(name).identity_dir)]
        if perm:
            out.append(Check("identity_perms", "Identity file permissions", "fail",
                             "; ".join(f"{p}" for _, p in perm),
                             " ; ".join(sorted({f"swarmdeck identity fix-perms -p {n}" for n, _ in perm}))))
        dups = _identity.find_duplicates([n for n in cfg.profile_names() if _paths.PROFILE_NAME_RE.match(n)])
        if dups:
            out.append(Check("duplicates", "Duplicate identities", "fail", "; ".join(map(str, dups)),
                             "archive one of each pair: 'swarmdeck profile archive NAME'"))
    return out


# --- network (doctor --network NAME) -------------------------------------------------------

NETWORK_TIMEOUT = 5.0     # seconds one RPC request may take
NETWORK_DEADLINE = 20.0   # seconds all network checks together may take (roughly)
KNOWN_TESTNET_COORDINATORS = {
    "0x2fC68a233EF9E9509f034DD551FF90A79a0B8F82": "seed guide default",
    "0x69C6e1D608ec64885E7b185d39b04B491a71768C": "era A, Math",
    "0x6947c6E196a48B77eFa9331EC1E3e45f3Ee5Fd58": "era A, Math Hard",
    "0xFaD7C5e93f28257429569B854151A1B8DCD404c2": "era B",
    "0x7745a8FE4b8D2D2c3BB103F8dCae822746F35Da0": "era C",
}


def _net_check(suffix: str, name: str, title: str, status: str, detail: str, fix: str | None = None) -> Check:
    return Check(f"net_{suffix}", f"{name} {title}", status, detail, fix)


def check_network(name: str, *, timeout: float = NETWORK_TIMEOUT, deadline: float = NETWORK_DEADLINE,
                  attempts: int | None = None, progress=None) -> list[Check]:
    """The network's RPC and coordinator, read-only: reachable, chain id, contract code, bootnodes, round.

    Checks after an unreachable RPC are left out (they would only repeat it). Bounded: each
    request waits at most `timeout` s (a few attempts), and once `deadline` s have passed the
    remaining checks are reported as skipped instead of run.
    """
    from core.config import settings as _config
    from core.chain.web3_backend import READ_ATTEMPTS, ChainReader
    from core.base.errors import ChainError, SwarmdeckError

    say = progress or (lambda msg: None)
    start = time.monotonic()
    table = f"[networks.{name}]"
    try:
        cfgfile = str(_paths.config_file())
    except Exception:  # pragma: no cover - paths never fail in practice
        cfgfile = "config.toml"
    where_cfg = f"{table} in {cfgfile}"
    try:
        net = _config.load_config(strict=False).network(name)
    except SwarmdeckError as e:
        return [_net_check("config", name, "network", "fail", e.what, e.fix)]

    rpc_url, coordinator, expected = net.rpc_url, net.coordinator, net.chain_id
    if net.kind == "local" and not (rpc_url and coordinator):
        from core.chain.devnet import LocalChain

        try:
            chain = LocalChain.attach(name)
        except SwarmdeckError as e:
            return [_net_check("rpc", name, "RPC", "fail", f"the {name} chain is not running ({e.what})",
                               "start the local network: `swarmdeck network up` (or just `swarmdeck`)")]
        rpc_url, coordinator = rpc_url or chain.rpc_url, coordinator or chain.coordinator
        expected = chain.chain_id or expected
    if not rpc_url:
        return [_net_check("rpc", name, "RPC", "fail", f"network {name!r} has no rpc_url",
                           f"set rpc_url = \"https://...\" under {where_cfg}")]
    testnet = net.kind == "testnet"
    down_hint = ("The public testnet may be down or paused (RL Swarm is marked paused), or this machine cannot "
                 "reach it." if testnet else "The chain may be down, or this machine cannot reach it.")
    rpc_fix = (f"check this machine's connection to {rpc_url} (e.g. curl -sS -X POST {rpc_url}); or set "
               f"rpc_url under {where_cfg} to another {name} RPC")
    coord_fix = (f"set coordinator = \"0x...\" under {where_cfg} (`swarmdeck config path` shows the file)"
                 + ("; known gensyn-testnet addresses: "
                    + ", ".join(f"{a} ({w})" for a, w in KNOWN_TESTNET_COORDINATORS.items())
                    + " (listed in config.example.toml); the official login app must use the same address "
                      "(swarmdeck writes it into the app's .env)" if testnet else ""))

    try:
        reader = ChainReader(rpc_url, coordinator or "0x" + "00" * 20, timeout=timeout,
                             attempts=attempts or READ_ATTEMPTS, network=name)
    except ValueError as e:  # a malformed coordinator address (config validate reports it too)
        return [_net_check("coordinator", name, "coordinator", "fail", f"bad coordinator address: {e}", coord_fix)]

    def over() -> bool:
        return time.monotonic() - start > deadline

    def skipped(suffix: str, title: str) -> Check:
        return _net_check(suffix, name, title, "warn", f"skipped: the RPC at {rpc_url} is too slow "
                          f"(the checks took over {deadline:g} s)", rpc_fix)

    out: list[Check] = []
    say(f"asking the {name} RPC at {rpc_url} (timeout {timeout:g} s)")
    asked = time.monotonic()
    try:
        actual = reader.chain_id()
    except ChainError as e:
        reason = getattr(e, "reason", None) or e.what
        out.append(_net_check("rpc", name, "RPC", "fail",
                              f"cannot reach the {name} RPC at {rpc_url}: {reason}. {down_hint}", rpc_fix))
        return out
    took = time.monotonic() - asked
    out.append(_net_check("rpc", name, "RPC", "ok", f"{rpc_url} answers (eth_chainId in {took:.1f} s)"))

    if not expected:
        out.append(_net_check("chain_id", name, "chain id", "info", f"{actual} (no chain_id set in {table})",
                              f"set chain_id = {actual} under {where_cfg} so a wrong RPC is caught"))
    elif actual != expected:
        out.append(_net_check("chain_id", name, "chain id", "fail",
                              f"the RPC at {rpc_url} is chain {actual}, but {name} expects chain id {expected} "
                              f"(chain_id in {table})",
                              f"point rpc_url under {where_cfg} at a {name} RPC (chain id {expected}); if this "
                              f"RPC is the right one, set chain_id = {actual} there"))
    else:
        out.append(_net_check("chain_id", name, "chain id", "ok", str(actual)))

    if not coordinator:
        out.append(_net_check("coordinator", name, "coordinator", "fail", f"network {name!r} has no coordinator "
                              "address", coord_fix))
        return out
    if over():
        return out + [skipped("coordinator", "coordinator")]
    try:
        size = reader.code_size()
    except ChainError as e:
        out.append(_net_check("coordinator", name, "coordinator", "fail",
                              f"could not read the code at {reader.coordinator_address}: "
                              f"{getattr(e, 'reason', None) or e.what}", rpc_fix))
        return out
    if size == 0:
        known = KNOWN_TESTNET_COORDINATORS.get(reader.coordinator_address)
        out.append(_net_check("coordinator", name, "coordinator", "fail",
                              f"no contract at {reader.coordinator_address} on chain {actual}"
                              + (f" ({known})" if known else "")
                              + ": the address is wrong, or an old deployment that is gone", coord_fix))
        return out
    out.append(_net_check("coordinator", name, "coordinator", "ok",
                          f"{reader.coordinator_address} has contract code ({size} bytes)"))

    if over():
        return out + [skipped("bootnodes", "bootnodes")]
    say("reading getBootnodes() and currentRound()")
    not_coord = (f"the contract at {reader.coordinator_address} does not answer as a coordinator", coord_fix)
    try:
        boot = reader.get_bootnodes()
    except ChainError as e:
        out.append(_net_check("bootnodes", name, "bootnodes", "fail",
                              f"getBootnodes() failed: {getattr(e, 'reason', None) or e.what}", rpc_fix))
        return out
    except Exception as e:  # revert / ABI mismatch: not our coordinator
        out.append(_net_check("bootnodes", name, "bootnodes", "fail",
                              f"{not_coord[0]} (getBootnodes(): {type(e).__name__})", not_coord[1]))
        return out
    if boot:
        out.append(_net_check("bootnodes", name, "bootnodes", "ok",
                              f"{len(boot)} from getBootnodes(), e.g. {boot[0]}"))
    elif net.bootnodes:
        out.append(_net_check("bootnodes", name, "bootnodes", "info",
                              f"the contract lists none; {len(net.bootnodes)} set in {table}"))
    elif net.kind == "local":
        out.append(_net_check("bootnodes", name, "bootnodes", "info",
                              "the contract lists none yet: the first local node becomes the bootnode"))
    else:
        out.append(_net_check("bootnodes", name, "bootnodes", "warn",
                              "the contract lists no bootnodes (getBootnodes() is empty): a node has no peer to "
                              "join through",
                              f"set bootnodes = [\"/ip4/HOST/tcp/PORT/p2p/PEERID\"] under {where_cfg} (a running "
                              "peer's multiaddr), or wait until the network's operators add bootnodes"))

    if over():
        return out + [skipped("round", "round")]
    try:
        rnd, stage = reader.current_round(), reader.current_stage()
    except ChainError as e:
        out.append(_net_check("round", name, "round", "warn",
                              f"currentRound() failed: {getattr(e, 'reason', None) or e.what}", rpc_fix))
        return out
    except Exception as e:
        out.append(_net_check("round", name, "round", "fail",
                              f"{not_coord[0]} (currentRound(): {type(e).__name__})", not_coord[1]))
        return out
    out.append(_net_check("round", name, "round", "info", f"round {rnd}, stage {stage}"))
    return out


def check_signin_app(profile: str) -> list[Check]:
    """A profile on a public network signing in through the official modal-login app: yarn, the
    app directory, whether it runs, and whether the profile is signed in (or must sign in again)."""
    from core.identity import files as identity
    from core.identity import signin
    from core.base.errors import SwarmdeckError
    from core.login import modal_app
    from core.identity.profiles import load_profile

    try:
        prof = load_profile(profile)
    except SwarmdeckError:
        return []  # the config check reports it
    if prof.network.kind == "local" or prof.settings.backend != "modal-login":
        return []
    out: list[Check] = []
    try:
        out.append(Check("yarn", "yarn (sign-in app)", "ok", " ".join(modal_app.find_yarn())))
    except SwarmdeckError as e:
        out.append(Check("yarn", "yarn (sign-in app)", "fail", e.what, e.fix))
    login_cmd = f"swarmdeck login -p {prof.name}"
    if not prof.settings.login_app:
        out.append(Check("signin_app", "Sign-in app", "warn", "no modal-login app configured for this profile",
                         f"`{login_cmd} --app ~/rl-swarm` (an rl-swarm checkout) or `{login_cmd} --clone`"))
    else:
        try:
            app_dir = modal_app.resolve_app_dir(prof.settings.login_app)
            running = modal_app.running_app(prof.paths)
            state = f"running at {running.url}" if running else "not running (the node and `swarmdeck login` start it)"
            out.append(Check("signin_app", "Sign-in app", "ok", f"{app_dir}: {state}"))
        except SwarmdeckError as e:
            out.append(Check("signin_app", "Sign-in app", "fail", f"login_app: {e.what}", e.fix))
    try:
        login = identity.read_login(prof.paths.identity_dir)
    except SwarmdeckError as e:
        out.append(Check("signed_in", "Signed in", "fail", e.what, e.fix))
        return out
    stale = signin.required(prof.name)
    if stale:
        out.append(Check("signed_in", "Signed in", "fail", f"sign in again: {stale['reason']}", login_cmd))
    elif login is None or not login.activated:
        out.append(Check("signed_in", "Signed in", "warn", "not signed in yet", login_cmd))
    else:
        out.append(Check("signed_in", "Signed in", "ok", f"{login.email or login.org_id} (account {login.address})"))
    return out


@dataclass
class Report:
    checks: list[Check]
    gpus: GpuProbe
    recommendation: Recommendation
    platform: dict = field(default_factory=dict)
    network: str | None = None  # the network whose RPC was checked (doctor --network), if any

    @property
    def ok(self) -> bool:
        return not any(c.status == "fail" for c in self.checks)

    def to_dict(self) -> dict:
        return {"ok": self.ok, "checks": [c.to_dict() for c in self.checks], "gpus": self.gpus.to_dict(),
                "recommendation": self.recommendation.to_dict(), "platform": self.platform,
                "network": self.network}


def run_doctor(login_port: int = 3000, profile: str | None = None, gpus=(), include_torch: bool = True,
               progress=None, network: str | None = None, network_timeout: float = NETWORK_TIMEOUT) -> Report:
    say = progress or (lambda msg: None)
    checks = [check_arch(), check_python(), check_ram()]
    say("probing GPUs (nvidia-ml-py)")
    probe = probe_gpus()
    checks.append(check_gpus(probe))
    if include_torch:
        say("importing torch to check CUDA")
        checks.append(check_torch_cuda(probe))
    checks += [check_disk(), check_port(login_port, profile), check_session(), check_colors(), check_p2pd()]
    checks += check_config()
    if network:
        checks += check_network(network, timeout=network_timeout, progress=say)
    if profile:
        checks += check_signin_app(profile)
    rec = recommend_for(gpus, probe)
    plat = {"system": platform.system(), "release": platform.release(), "machine": platform.machine(),
            "python": platform.python_version()}
    return Report(checks, probe, rec, plat, network)
