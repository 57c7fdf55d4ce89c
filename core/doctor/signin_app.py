"""`swarmdeck doctor -p NAME` on a public network: the official sign-in app and the sign-in state."""

from __future__ import annotations

from core.base.errors import SwarmdeckError
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
