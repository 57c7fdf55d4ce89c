"""core.hardware.telemetry: N/A for unsupported NVML fields, CPU mode with a reason, node process tree, what keeps sampling cheap."""

from __future__ import annotations

import time
from types import SimpleNamespace

from core.hardware.telemetry import Telemetry, fmt_bytes, fmt_num


class NVMLError(Exception):
    pass


class FakeNVML:
    """Stands in for the NVIDIA driver library (there is no GPU here): GPU 1 forbids most fields."""

    NVML_TEMPERATURE_GPU = 0

    def __init__(self, init_error=None, count=2):
        self.init_error, self.count = init_error, count
        self.shutdown = False

    def nvmlInit(self):
        if self.init_error:
            raise self.init_error

    def nvmlShutdown(self):
        self.shutdown = True

    def nvmlDeviceGetCount(self):
        return self.count

    def nvmlDeviceGetHandleByIndex(self, i):
        return i

    def nvmlDeviceGetName(self, h):
        return b"NVIDIA RTX 4090" if h == 0 else "NVIDIA A100"

    def nvmlDeviceGetUtilizationRates(self, h):
        if h == 1:
            raise NVMLError("Not Supported")
        return SimpleNamespace(gpu=55, memory=20)

    def nvmlDeviceGetMemoryInfo(self, h):
        return SimpleNamespace(used=2 * 1024**3, total=24 * 1024**3)

    def nvmlDeviceGetTemperature(self, h, sensor):
        if h == 1:
            raise NVMLError("No Permission")
        return 64

    def nvmlDeviceGetPowerUsage(self, h):
        if h == 1:
            raise NVMLError("Not Supported")
        return 215_000

    def nvmlDeviceGetEnforcedPowerLimit(self, h):
        raise NVMLError("Not Supported")


def test_unsupported_fields_read_na_and_gpu_selection():
    nv = FakeNVML()
    tel = Telemetry(nvml=nv)
    snap = tel.sample()
    assert not snap.cpu_mode and snap.cpu_mode_reason is None
    g0, g1 = snap.gpus
    assert (g0.name, g0.util_pct, g0.temp_c, g0.power_w, g0.power_limit_w) == ("NVIDIA RTX 4090", 55.0, 64.0, 215.0,
                                                                               None)
    assert (g1.name, g1.util_pct, g1.temp_c, g1.power_w) == ("NVIDIA A100", None, None, None)
    assert g1.mem_total == 24 * 1024**3
    tel.close()
    assert nv.shutdown
    assert [g.index for g in Telemetry(gpu_indices=[1], nvml=FakeNVML()).sample().gpus] == [1]
    assert "none of the selected GPUs" in Telemetry(gpu_indices=[5], nvml=FakeNVML()).cpu_mode_reason


def test_cpu_mode_says_why():
    snap = Telemetry(nvml=FakeNVML(init_error=NVMLError("NVML Shared Library Not Found"))).sample()
    # NVML's "library not found" is named in words (translated), not as NVML's English text
    assert snap.cpu_mode and "no NVIDIA driver found (libnvidia-ml is not installed)" == snap.cpu_mode_reason
    assert "reports no GPU" in Telemetry(nvml=FakeNVML(count=0)).cpu_mode_reason
    assert "not installed" in Telemetry(nvml=None).cpu_mode_reason
    # this machine: the real library, whatever it finds, never raises
    real = Telemetry().sample()
    assert real.host_ram_total > 0 and (real.gpus or real.cpu_mode_reason)


def test_sampling_walks_the_process_tree_once_per_rescan_period(monkeypatch):
    """What keeps a 1 Hz sample cheap: the node's process tree is walked once per TREE_RESCAN_S, not
    on every sample (its cost is measured in tests/bench/test_bench_tui.py, not timed here)."""
    import psutil

    walks = []
    real_children = psutil.Process.children
    monkeypatch.setattr(psutil.Process, "children", lambda self, *a, **kw: walks.append(self.pid) or
                        real_children(self, *a, **kw))
    clock = [1000.0]
    monkeypatch.setattr(time, "time", lambda: clock[0])
    tel = Telemetry(nvml=FakeNVML())
    tel.set_node_pid(__import__("os").getpid())
    for _ in range(200):
        assert tel.sample().node.alive
        clock[0] += 0.01
    assert len(walks) == 1
    clock[0] += Telemetry.TREE_RESCAN_S + 1  # a period later: children started since are found
    tel.sample()
    assert len(walks) == 2


def test_formats():
    assert fmt_bytes(None) == "N/A" and fmt_bytes(3 * 1024**3) == "3.0 GiB" and fmt_bytes(5 * 1024**2) == "5.0 MiB"
    assert fmt_num(None, "W") == "N/A" and fmt_num(71.4, "°C") == "71°C"
