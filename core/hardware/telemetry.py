"""Live host/GPU/node telemetry for the dashboard, cheap enough to call every second.

GPU fields come from NVML (nvidia-ml-py). Every field a GPU or driver does not support
(or forbids) is None, which screens show as "N/A"; a missing driver or library is not an
error but "CPU mode" with the reason. NVML is initialised once per Telemetry object; the
node's process tree is re-scanned only every few seconds because walking /proc is the
costly part of a sample.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import psutil

from core.base.i18n import M

try:  # nvidia-ml-py provides the module `pynvml`
    import pynvml as _nvml
except Exception:  # pragma: no cover - the dependency is declared, but be safe
    _nvml = None

MIB = 1024 * 1024


@dataclass
class GpuSample:
    index: int
    name: str | None = None
    util_pct: float | None = None
    mem_used: int | None = None  # bytes
    mem_total: int | None = None
    temp_c: float | None = None
    power_w: float | None = None
    power_limit_w: float | None = None


@dataclass
class ProcSample:
    pid: int
    alive: bool = True
    cpu_pct: float | None = None  # sum over the node's process tree, 100 = one core
    rss: int | None = None        # bytes, sum over the tree


@dataclass
class Snapshot:
    ts: float
    gpus: list[GpuSample] = field(default_factory=list)
    cpu_mode_reason: str | None = None  # set when no GPU can be monitored/used
    host_cpu_pct: float | None = None
    host_cpu_count: int | None = None
    host_ram_used: int | None = None
    host_ram_total: int | None = None
    node: ProcSample | None = None

    @property
    def cpu_mode(self) -> bool:
        return not self.gpus


def _field(fn, *args):
    """One NVML call; unsupported / not permitted / any driver error -> None (shown as N/A)."""
    try:
        return fn(*args)
    except Exception:
        return None


class Telemetry:
    """Sampler. `sample()` costs ~1 ms without GPUs; call it from one timer."""

    TREE_RESCAN_S = 5.0

    def __init__(self, gpu_indices: list[int] | None = None, nvml=_nvml):
        self._nvml = nvml
        self._handles: list[tuple[int, object]] = []
        self.cpu_mode_reason: str | None = None
        self._wanted = gpu_indices
        self._init_gpus()
        psutil.cpu_percent(None)  # prime: the first call always returns 0.0
        self._pid: int | None = None
        self._procs: list[psutil.Process] = []
        self._tree_at = 0.0

    def _init_gpus(self) -> None:
        nv = self._nvml
        if nv is None:
            self.cpu_mode_reason = M("hw.no_nvml_package")
            return
        try:
            nv.nvmlInit()
        except Exception as e:  # NVMLError_LibraryNotFound, DriverNotLoaded, ...
            from core.hardware.probe import nvml_failure

            self.cpu_mode_reason = nvml_failure(e)
            return
        try:
            count = nv.nvmlDeviceGetCount()
        except Exception as e:
            self.cpu_mode_reason = M("hw.nvml_count", error=str(e))
            return
        if count == 0:
            self.cpu_mode_reason = M("hw.no_gpu")
            return
        for i in range(count):
            if self._wanted is not None and i not in self._wanted:
                continue
            h = _field(nv.nvmlDeviceGetHandleByIndex, i)
            if h is not None:
                self._handles.append((i, h))
        if not self._handles:
            self.cpu_mode_reason = M("hw.gpus_missing", wanted=str(self._wanted), found=count)

    def close(self) -> None:
        if self._handles and self._nvml is not None:
            _field(self._nvml.nvmlShutdown)
        self._handles = []

    def set_node_pid(self, pid: int | None) -> None:
        if pid != self._pid:
            self._pid = pid
            self._procs = []
            self._tree_at = 0.0

    def _gpu(self, index: int, h) -> GpuSample:
        nv = self._nvml
        g = GpuSample(index=index)
        name = _field(nv.nvmlDeviceGetName, h)
        g.name = name.decode() if isinstance(name, bytes) else name
        util = _field(nv.nvmlDeviceGetUtilizationRates, h)
        g.util_pct = float(util.gpu) if util is not None else None
        mem = _field(nv.nvmlDeviceGetMemoryInfo, h)
        if mem is not None:
            g.mem_used, g.mem_total = int(mem.used), int(mem.total)
        temp = _field(nv.nvmlDeviceGetTemperature, h, getattr(nv, "NVML_TEMPERATURE_GPU", 0))
        g.temp_c = float(temp) if temp is not None else None
        p = _field(nv.nvmlDeviceGetPowerUsage, h)  # milliwatts
        g.power_w = p / 1000.0 if p is not None else None
        pl = _field(nv.nvmlDeviceGetEnforcedPowerLimit, h)
        g.power_limit_w = pl / 1000.0 if pl is not None else None
        return g

    def _node(self, now: float) -> ProcSample | None:
        if self._pid is None:
            return None
        if not self._procs or now - self._tree_at > self.TREE_RESCAN_S:
            try:
                root = psutil.Process(self._pid)
                procs = [root] + root.children(recursive=True)
            except (psutil.NoSuchProcess, psutil.AccessDenied):
                return ProcSample(pid=self._pid, alive=False)
            known = {p.pid: p for p in self._procs}
            # keep Process objects across rescans: cpu_percent() needs the previous sample
            self._procs = [known.get(p.pid, p) for p in procs]
            self._tree_at = now
        cpu = 0.0
        rss = 0
        alive = False
        for p in list(self._procs):
            try:
                with p.oneshot():
                    cpu += p.cpu_percent(None)
                    rss += p.memory_info().rss
                alive = True
            except (psutil.NoSuchProcess, psutil.AccessDenied):
                self._procs.remove(p)
        return ProcSample(pid=self._pid, alive=alive, cpu_pct=cpu if alive else None,
                          rss=rss if alive else None)

    def sample(self) -> Snapshot:
        now = time.time()
        snap = Snapshot(ts=now, cpu_mode_reason=self.cpu_mode_reason)
        snap.gpus = [self._gpu(i, h) for i, h in self._handles]
        snap.host_cpu_pct = psutil.cpu_percent(None)
        snap.host_cpu_count = psutil.cpu_count()
        vm = psutil.virtual_memory()
        snap.host_ram_used, snap.host_ram_total = int(vm.total - vm.available), int(vm.total)
        snap.node = self._node(now)
        return snap


def fmt_bytes(n: int | None) -> str:
    if n is None:
        return "N/A"
    for unit, div in (("GiB", 1024**3), ("MiB", MIB)):
        if n >= div:
            return f"{n / div:.1f} {unit}"
    return f"{n / 1024:.0f} KiB"


def fmt_num(v: float | None, unit: str = "", digits: int = 0) -> str:
    if v is None:
        return "N/A"
    return f"{v:.{digits}f}{unit}"
