"""GPUs and VRAM (nvidia-ml-py) and the model / quantization recommendation from VRAM.

No GPU / no NVIDIA driver is CPU mode (with the reason), never a crash.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

from core.base.i18n import M

GiB = 1024**3


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


def nvml_failure(e: BaseException) -> M:
    """Why nvmlInit failed, in words (the two usual causes named; anything else with NVML's own text)."""
    name = type(e).__name__.replace("NVMLError_", "")
    if "LibraryNotFound" in name or "Library Not Found" in str(e):
        return M("hw.no_driver_lib")
    if "DriverNotLoaded" in name:
        return M("hw.driver_not_loaded")
    return M("hw.driver_unusable", name=name, error=str(e))


def probe_gpus() -> GpuProbe:
    """GPUs and VRAM through nvidia-ml-py; any failure means CPU mode with the reason."""
    try:
        import pynvml  # the nvidia-ml-py package
    except ImportError:
        return GpuProbe((), True, M("hw.no_nvml_package"))
    try:
        pynvml.nvmlInit()
    except Exception as e:  # NVMLError_LibraryNotFound, _DriverNotLoaded, ...
        return GpuProbe((), True, nvml_failure(e))
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
        return GpuProbe((), True, M("hw.driver_error", error=str(e)))
    finally:
        try:
            pynvml.nvmlShutdown()
        except Exception:
            pass
    if not gpus:
        return GpuProbe((), True, M("hw.no_gpu"), driver)
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
        return Recommendation(MODEL_SMALL, "fp32", M("hw.rec_cpu"), True, None)
    for min_gib, model, quant in _VRAM_TABLE:
        if vram_gib >= min_gib:
            return Recommendation(model, quant, M("hw.rec_vram", gib=round(vram_gib), model=model.split('/')[-1],
                                                  quant=quant),
                                  False, round(vram_gib, 1))
    raise AssertionError("unreachable")


def recommend_for(gpus: tuple[int, ...] | list[int] = (), probe: GpuProbe | None = None) -> Recommendation:
    probe = probe or probe_gpus()
    if probe.cpu_mode:
        r = recommend(None)
        return Recommendation(r.model, r.quant, M("hw.rec_because", rec=r.reason, why=probe.reason), True, None)
    chosen = [g for g in probe.gpus if not gpus or g.index in gpus]
    if not chosen:
        r = recommend(None)
        return Recommendation(r.model, r.quant, M("hw.rec_gpus_missing", gpus=str(list(gpus)), rec=r.reason),
                              True, None)
    return recommend(min(g.total_gib for g in chosen))


def resolve_model_quant(model: str, quant: str, gpus=(), probe: GpuProbe | None = None) -> tuple[str, str, str]:
    """Turn a profile's "auto" model/quant into concrete values: (model, quant, why)."""
    if model != "auto" and quant != "auto":
        return model, quant, M("hw.set_in_profile")
    rec = recommend_for(gpus, probe)
    return (rec.model if model == "auto" else model, rec.quant if quant == "auto" else quant, rec.reason)
