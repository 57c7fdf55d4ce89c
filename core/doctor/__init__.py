"""`swarmdeck doctor`: system checks, network checks, sign-in app checks, and the report.

Public API: run_doctor / Report (core.doctor.report), Check and the single checks
(core.doctor.checks), check_network (core.doctor.network), check_signin_app (core.doctor.signin_app).
"""

from core.doctor.checks import Check
from core.doctor.network import check_network
from core.doctor.report import Report, run_doctor
from core.doctor.signin_app import check_signin_app

__all__ = ["Check", "Report", "check_network", "check_signin_app", "run_doctor"]
