"""`swarmdeck doctor [--json] [--network NAME]`: system check against the seed's requirements, each failure
with its fix; with a network (given, or the profile's when it is not "local"), also that network's RPC,
chain id, coordinator contract, bootnodes and round."""

from __future__ import annotations

import argparse
import json
import sys

from core.base.constants import DEFAULT_LOGIN_PORT
from tui.model.i18n import t, text

MARK = {"ok": "ok  ", "warn": "WARN", "fail": "FAIL", "info": "info"}


def register(sub) -> None:
    p = sub.add_parser("doctor", help="check this machine (GPU/CPU mode, RAM, disk, ports, session) and "
                       "recommend a model and 4/8-bit mode")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.add_argument("--no-torch", action="store_true", help="skip importing torch (faster; no CUDA check)")
    p.add_argument("-p", "--profile", dest="profile", default=argparse.SUPPRESS, help="profile whose ports/GPUs to check")
    p.add_argument("--network", metavar="NAME", default=None,
                   help="also check this network's RPC, chain id, coordinator and bootnodes (e.g. gensyn-testnet); "
                        "default: the profile's network unless it is 'local'")
    p.set_defaults(func=run)


def run(args) -> int:
    from core.base.errors import SwarmdeckError
    from core.doctor.report import run_doctor

    login_port, gpus, name = DEFAULT_LOGIN_PORT, (), getattr(args, "profile", None)
    profile_net = None
    network = getattr(args, "network", None)
    try:
        from core.usecases.profile_state import resolved_profile

        prof = resolved_profile(name)
        login_port, gpus, name = prof.settings.login_port, prof.settings.gpus, prof.name
        profile_net = prof.settings.network
        if network is None and prof.settings.network != "local":
            network = prof.settings.network
    except SwarmdeckError:
        pass  # doctor must run even with a broken config; the config check reports it
    progress = None if args.json else (lambda m: print(f"... {text(m)}", file=sys.stderr, flush=True))
    rep = run_doctor(login_port=login_port, profile=name, gpus=gpus, include_torch=not args.no_torch,
                     progress=progress, network=network)
    r = rep.recommendation
    # one recommendation everywhere: for a profile on the local network, what its `auto` runs (the
    # wizard's hardware step and summary say the same; issue 20)
    from core.usecases.profile_setup import recommended_model

    runs = recommended_model(profile_net or "", r.model, r.cpu_mode) if profile_net else r.model
    if args.json:
        out = rep.to_dict()
        out["recommendation"]["for_profile"] = {"profile": name, "network": profile_net, "model": runs}
        print(json.dumps(out, indent=2))
        return 0 if rep.ok else 1
    for c in rep.checks:
        print(f"[{MARK[c.status]}] {text(c.title)}: {text(c.detail)}")
        if c.fix and c.status in ("warn", "fail", "info"):
            print("        " + t("cli.doctor.fix", fix=c.fix))
    if runs != r.model:
        print("\n" + t("cli.doctor.recommended_local", runs=runs, profile=name, network=profile_net, quant=r.quant,
                       model=r.model, reason=r.reason))
    else:
        print("\n" + t("cli.doctor.recommended", model=r.model, quant=r.quant, reason=r.reason))
    fails = sum(c.status == "fail" for c in rep.checks)
    warns = sum(c.status == "warn" for c in rep.checks)
    print("\n" + (t("cli.doctor.all_passed") if not fails else t("cli.doctor.failed", n=fails))
          + (t("cli.doctor.warnings", n=warns) if warns else "") + ".")
    return 0 if rep.ok else 1
