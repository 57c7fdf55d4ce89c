"""run_doctor: every check in order, with the GPU probe and the recommendation, as one Report."""

from __future__ import annotations

import platform
from dataclasses import dataclass, field

from core.base.constants import DEFAULT_LOGIN_PORT
from core.base.i18n import M
from core.doctor.checks import (Check, check_arch, check_colors, check_config, check_disk, check_gpus, check_p2pd,
                                check_port, check_python, check_ram, check_session, check_torch_cuda)
from core.doctor.network import NETWORK_TIMEOUT, check_network
from core.doctor.signin_app import check_signin_app
from core.hardware.probe import GpuProbe, Recommendation, probe_gpus, recommend_for


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


def run_doctor(login_port: int = DEFAULT_LOGIN_PORT, profile: str | None = None, gpus=(), include_torch: bool = True,
               progress=None, network: str | None = None, network_timeout: float = NETWORK_TIMEOUT) -> Report:
    say = progress or (lambda msg: None)
    checks = [check_arch(), check_python(), check_ram()]
    say(M("doctor.progress.gpus"))
    probe = probe_gpus()
    checks.append(check_gpus(probe))
    if include_torch:
        say(M("doctor.progress.torch"))
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
