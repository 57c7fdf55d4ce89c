"""`swarmdeck status [--json]`: profiles, identities (peer id, name, backup state). Never a secret."""

from __future__ import annotations

import json

from core.base.errors import ProfileError
from tui.model.i18n import M, current, t


def register(sub) -> None:
    p = sub.add_parser("status", help="profiles, their identities, backups and whether their node runs")
    p.add_argument("--json", action="store_true", help="machine-readable output (never contains secrets)")
    p.set_defaults(func=run)


def _problem(pr: dict) -> str:
    from core.config.settings import Problem

    return Problem.from_dict(pr).render()  # in the user's language when the problem carries its keys


def render_text(st: dict) -> str:
    lines = [t("cli.status.config", path=st["config"])]
    if st.get("config_broken"):
        for pr in st["config_problems"]:
            where = f"{pr['file']}:{pr['line']}" if pr.get("line") else pr["file"]
            from core.config.settings import Problem

            p = Problem.from_dict(pr)
            lines.append(t("cli.status.broken", where=where, message=p.message))
            if p.fix:
                lines.append("  " + t("cli.status.fix", fix=p.fix))
        disk = st.get("profiles_on_disk") or []
        if disk:
            lines.append(t("cli.status.on_disk", names=", ".join(disk)))
        return "\n".join(lines)
    if st["config_problems"]:  # as `config validate` words them: file:line, the key, the fix
        lines.append(t("cli.status.problems", n=len(st["config_problems"])))
    for pr in st["config_problems"]:
        lines.append(f"  {_problem(pr)}")
    if not st["profiles"]:
        lines.append(t("cli.profile.none"))
    for p in st["profiles"]:
        ident = p["identity"]
        mark = "*" if p["current"] else " "
        who = (f"{ident['display_name']} ({ident['peer_id']})" if ident["peer_id"]
               else t("cli.status.damaged") if ident["errors"] else t("cli.status.no_identity"))
        login = ident.get("login")
        if login:
            signed = t("cli.status.signed_in", who=login.get("email") or login.get("org_id"))
            signed += "" if login.get("activated") else t("cli.status.not_activated")
        else:
            signed = t("cli.status.not_signed_in")
        b = ident["backup"]
        backup = {"verified": t("cli.status.backup_verified", at=b["verified_at"]),
                  "outdated": t("cli.status.backup_outdated"),
                  "none": t("cli.status.backup_none")}[b["state"]]
        if p.get("demo_peer") and b["state"] != "verified":
            backup = t("cli.status.demo_peer")
        state = p.get("node_state") or ("running" if p.get("running") else "stopped")
        run = t("state." + state) if current().has("state." + state) else state
        lines.append(f"{mark} {p['name']:<16} {p.get('network', '?'):<15} {run:<8} {who}")
        lines.append(f"    {signed}; {backup}")
        again = p.get("sign_in_required")
        if again:
            lines.append("    " + t("cli.status.sign_in_again", reason=again.get("reason")))
            lines.append("      " + t("cli.status.writes_wait", fix=again.get("fix")))
        for e in ident["errors"]:
            lines.append("    " + t("cli.status.error", what=e["what"], where=e.get("where")))
        if p.get("identity_problem"):
            lines.append("      " + t("cli.status.fix", fix=p["identity_problem"]["fix"]))
        for pp in ident["permission_problems"]:
            lines.append("    " + t("cli.status.warning", problem=pp, name=p["name"]))
    for d in st["duplicates"]:
        first = d.get("first")
        rule = t("cli.status.dup_first", first=first) if first else t("cli.status.dup_neither")
        lines.append(t("cli.status.duplicate", kind=d["kind"], value=d["value"], profiles=", ".join(d["profiles"]),
                       rule=rule))
    return "\n".join(lines)


def run(args) -> int:
    from core.usecases.profile_state import build_status

    st = build_status()
    only = getattr(args, "profile", None)
    if only and not st.get("config_broken"):
        if only not in {p["name"] for p in st["profiles"]}:
            raise ProfileError(M("err.profile.no_such", name=repr(only)), where=st["config"],
                               fix=M("err.profile.see_list"))
        st["profiles"] = [p for p in st["profiles"] if p["name"] == only]
        st["duplicates"] = [d for d in st["duplicates"] if only in d["profiles"]]
    if getattr(args, "json", False):
        print(json.dumps(st, indent=2, sort_keys=True))
    else:
        print(render_text(st))
    # a config with problems is not a healthy state for scripts either (same rule as `config validate`)
    return 1 if st.get("config_problems") else 0
