"""core.hardware.probe and core.doctor: the GPU probe, doctor checks and the VRAM recommendation, on this machine (no GPU here:
the CPU-mode result is what is checked; on a GPU machine the same tests check the GPU path)."""

from __future__ import annotations

import json
import socket

import pytest

from core.base import paths
from core.doctor import checks, report
from core.hardware import probe as hw


def test_probe_never_crashes_and_explains_cpu_mode():
    probe = hw.probe_gpus()
    if probe.cpu_mode:
        assert probe.reason and not probe.gpus
        c = checks.check_gpus(probe)
        assert c.status == "info" and c.detail.startswith("CPU mode") and c.fix
    else:
        assert probe.gpus and all(g.total_mib > 0 for g in probe.gpus)
    json.dumps(probe.to_dict())


@pytest.mark.parametrize("vram,model,quant", [
    (None, hw.MODEL_SMALL, "fp32"),
    (2, hw.MODEL_SMALL, "4bit"),
    (6, hw.MODEL_SMALL, "8bit"),
    (8, hw.MODEL_MEDIUM, "4bit"),   # RTX 4060/3070 class
    (12, hw.MODEL_MEDIUM, "8bit"),  # RTX 4070
    (24, hw.MODEL_LARGE, "4bit"),   # RTX 3090/4090: 7B in 4-bit fits
    (80, hw.MODEL_LARGE, "8bit"),   # A100/H100
])
def test_recommendation_table(vram, model, quant):
    r = hw.recommend(vram)
    assert (r.model, r.quant) == (model, quant)
    assert r.cpu_mode == (vram is None) and r.reason


def test_recommend_for_uses_smallest_selected_gpu():
    probe = hw.GpuProbe((hw.GpuInfo(0, "RTX 4090", 24564, 24000), hw.GpuInfo(1, "RTX 3060", 12288, 12000)),
                            False, None, "550.1")
    assert hw.recommend_for((), probe).model == hw.MODEL_MEDIUM  # both GPUs: 12 GiB limits
    assert hw.recommend_for((0,), probe).quant == "4bit" and hw.recommend_for((0,), probe).model == hw.MODEL_LARGE
    r = hw.recommend_for((5,), probe)
    assert r.cpu_mode and "none of the selected GPUs" in r.reason
    cpu = hw.GpuProbe((), True, "no NVIDIA driver found")
    assert hw.recommend_for((), cpu).quant == "fp32"
    assert hw.resolve_model_quant("auto", "auto", (), cpu)[:2] == (hw.MODEL_SMALL, "fp32")
    assert hw.resolve_model_quant("my/model", "auto", (0,), probe)[:2] == ("my/model", "4bit")
    assert hw.resolve_model_quant("my/model", "8bit", (), cpu) == ("my/model", "8bit", "set in the profile")


def test_port_check_busy_and_free():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    s.listen()
    port = s.getsockname()[1]
    try:
        c = checks.check_port(port, "main")
        assert c.status == "warn" and str(port) in c.detail and "login_port" in c.fix
    finally:
        s.close()
    assert checks.check_port(port).status == "ok"


def test_session_detection():
    assert checks.check_session({"SSH_CONNECTION": "1 2 3 4"}).status == "warn"
    bare = checks.check_session({"SSH_CONNECTION": "1 2 3 4"})
    assert "swarmdeck start" in bare.fix and "tmux" in bare.fix
    assert checks.check_session({"SSH_CONNECTION": "1 2 3 4", "TMUX": "/tmp/t,1,0"}).status == "ok"
    assert checks.check_session({"STY": "123.pts"}).status == "ok"
    assert checks.check_session({}).detail == "local terminal"


def test_colors():
    assert checks.color_support({"COLORTERM": "truecolor", "TERM": "xterm"}) == "truecolor"
    assert checks.color_support({"TERM": "screen-256color"}) == "256"
    assert checks.color_support({"TERM": "xterm"}) == "16"
    assert checks.color_support({"TERM": "dumb"}) == "mono"
    assert checks.color_support({"TERM": "xterm-256color", "NO_COLOR": "1"}) == "mono"
    assert checks.check_colors({"TERM": "dumb"}).status == "warn"


def test_basic_checks_pass_here():
    assert checks.check_python().status == "ok"
    assert checks.check_arch().status == "ok"
    assert checks.check_disk().status in ("ok", "warn")
    assert checks.check_ram().status in ("ok", "warn")
    assert checks.check_p2pd().status == "ok"


def test_doctor_report_flags_broken_config_and_identity():
    from core.identity import files as identity
    from core.identity import profiles

    rep = report.run_doctor(include_torch=False)
    assert rep.ok, [c for c in rep.checks if c.status == "fail"]
    json.dumps(rep.to_dict())
    prof = profiles.create_profile("a")
    import os

    os.chmod(prof.paths.swarm_pem, 0o644)
    b = paths.ProfilePaths("b")
    b.identity_dir.mkdir(parents=True)
    (b.identity_dir / "swarm.pem").write_bytes(prof.paths.swarm_pem.read_bytes())
    cfg_text = paths.config_file().read_text()
    paths.config_file().write_text(cfg_text + '\n[profiles.b]\nbogus_key = 1\n')
    rep = report.run_doctor(include_torch=False)
    by_id = {c.id: c for c in rep.checks}
    assert not rep.ok
    assert by_id["config"].status == "fail" and "bogus_key" in by_id["config"].detail
    assert by_id["identity_perms"].status == "fail" and "fix-perms -p a" in by_id["identity_perms"].fix
    assert by_id["duplicates"].status == "fail" and "a, b" in by_id["duplicates"].detail


def test_doctor_with_torch_reports_cuda_or_cpu_mode():
    rep = report.run_doctor(include_torch=True)
    c = {c.id: c for c in rep.checks}["torch"]
    assert c.status in ("ok", "info") and "torch" in c.detail
