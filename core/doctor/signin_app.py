"""`swarmdeck doctor -p NAME` on a public network: the official sign-in app and the sign-in state."""

from __future__ import annotations

from core.base.errors import SwarmdeckError
from core.base.i18n import M
from core.doctor.checks import Check
from core.identity import files as identity
from core.identity import signin
from core.identity.profiles import load_profile
from core.login import modal_app


def check_signin_app(profile: str) -> list[Check]:
    """A profile on a public network signing in through the official modal-login app: yarn, the
    app directory, whether it runs, and whether the profile is signed in (or must sign in again)."""
    try:
        prof = load_profile(profile)
    except SwarmdeckError:
        return []  # the config check reports it
    if prof.network.kind == "local" or prof.settings.backend != "modal-login":
        return []
    out: list[Check] = []
    try:
        out.append(Check("yarn", M("doctor.title.yarn"), "ok", " ".join(modal_app.find_yarn())))
    except SwarmdeckError as e:
        out.append(Check("yarn", M("doctor.title.yarn"), "fail", e.part("what"), e.part("fix")))
    login_cmd = f"swarmdeck login -p {prof.name}"
    if not prof.settings.login_app:
        out.append(Check("signin_app", M("doctor.title.signin_app"), "warn", M("doctor.signin.no_app"),
                         M("doctor.signin.no_app_fix", cmd=login_cmd)))
    else:
        try:
            app_dir = modal_app.resolve_app_dir(prof.settings.login_app)
            running = modal_app.running_app(prof.paths)
            state = M("doctor.signin.running", url=running.url) if running else M("doctor.signin.not_running")
            out.append(Check("signin_app", M("doctor.title.signin_app"), "ok", M("doctor.signin.app", path=str(app_dir), state=state)))
        except SwarmdeckError as e:
            out.append(Check("signin_app", M("doctor.title.signin_app"), "fail", M("doctor.signin.login_app", error=e.part("what")), e.part("fix")))
    try:
        login = identity.read_login(prof.paths.identity_dir)
    except SwarmdeckError as e:
        out.append(Check("signed_in", M("doctor.title.signed_in"), "fail", e.part("what"), e.part("fix")))
        return out
    stale = signin.required(prof.name)
    if stale:
        out.append(Check("signed_in", M("doctor.title.signed_in"), "fail", M("doctor.signin.again", reason=stale["reason"]), login_cmd))
    elif login is None or not login.activated:
        out.append(Check("signed_in", M("doctor.title.signed_in"), "warn", M("doctor.signin.not_yet"), login_cmd))
    else:
        out.append(Check("signed_in", M("doctor.title.signed_in"), "ok", M("doctor.signin.as", who=login.email or login.org_id, address=login.address)))
    return out
