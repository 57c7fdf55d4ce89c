"""`swarmdeck status [--json]`: profiles, identities (peer id, name, backup state). Never a secret."""

from __future__ import annotations

import json

from core.base.errors import ProfileError


def register(sub) -> None:
    p = sub.add_parser("status", help="profiles, their identities, backups and whether their node runs")
    p.add_argument("--json", action="store_true", help="machine-readable output (never contains secrets)")
    p.set_defaults(func=run)


def _problem(pr: dict) -> str:
    from core.config.settings import Problem

    return str(Problem(file=pr.get("file") or "", line=pr.get("line"), key=pr.get("key") or "",
                       message=pr.get("message") or "", fix=pr.get("fix")))


def render_text(st: dict) -> str:
    lines = [f"config: {st['config']}"]
    if st.get("config_broken"):
        for pr in st["config_problems"]:
            where = f"{pr['file']}:{pr['line']}" if pr.get("line") else pr["file"]
            lines.append(f"CONFIG BROKEN at {where}: {pr['message']}")
            if pr.get("fix"):
                lines.append(f"  fix: {pr['fix']}")
        disk = st.get("profiles_on_disk") or []
        if disk:
            lines.append(f"profiles on disk (shown again once the config is fixed): {', '.join(disk)}")
        return "\n".join(lines)
    if st["config_problems"]:  # as `config validate` words them: file:line, the key, the fix
        lines.append(f"CONFIG PROBLEMS ({len(st['config_problems'])}; `swarmdeck config validate` lists them too):")
    for pr in st["config_problems"]:
        lines.append(f"  {_problem(pr)}")
    if not st["profiles"]:
        lines.append("no profiles yet: create one with 'swarmdeck profile new NAME'")
    for p in st["profiles"]:
        ident = p["identity"]
        mark = "*" if p["current"] else " "
        who = (f"{ident['display_name']} ({ident['peer_id']})" if ident["peer_id"]
               else ("identity damaged" if ident["errors"] else "no identity yet"))
        login = ident.get("login")
        signed = (f"signed in as {login.get('email') or login.get('org_id')}"
                  + ("" if login.get("activated") else " (session key not activated)")) if login else "not signed in"
        b = ident["backup"]
        backup = {"verified": f"backup verified {b['verified_at']}",
                  "outdated": "backup OUTDATED (identity changed since)",
                  "none": "NO BACKUP"}[b["state"]]
        if p.get("demo_peer") and b["state"] != "verified":
            backup = "demo peer of the local network (no backup needed)"
        run = p.get("node_state") or ("running" if p.get("running") else "stopped")
        lines.append(f"{mark} {p['name']:<16} {p.get('network', '?'):<15} {run:<8} {who}")
        lines.append(f"    {signed}; {backup}")
        again = p.get("sign_in_required")
        if again:
            lines.append(f"    SIGN IN AGAIN: {again.get('reason')}")
            lines.append(f"      chain writes wait (training goes on) -> {again.get('fix')}")
        for e in ident["errors"]:
            lines.append(f"    ERROR: {e['what']} ({e.get('where')})")
        if p.get("identity_problem"):
            lines.append(f"      fix: {p['identity_problem']['fix']}")
        for pp in ident["permission_problems"]:
            lines.append(f"    WARNING: {pp} -> swarmdeck identity fix-perms -p {p['name']}")
    for d in st["duplicates"]:
        first = d.get("first")
        rule = (f"only {first} (signed in first) can start; one email per node" if first
                else "neither can start until one is archived")
        lines.append(f"DUPLICATE {d['kind']} {d['value']} in profiles {', '.join(d['profiles'])}: {rule}")
    return "\n".join(lines)


def run(args) -> int:
    from core.usecases.profile_state import build_status

    st = build_status()
    only = getattr(args, "profile", None)
    if only and not st.get("config_broken"):
        if only not in {p["name"] for p in st["profiles"]}:
            raise ProfileError(f"no profile named {only!r}.", where=st["config"],
                               fix="see 'swarmdeck profile list' for the names")
        st["profiles"] = [p for p in st["profiles"] if p["name"] == only]
        st["duplicates"] = [d for d in st["duplicates"] if only in d["profiles"]]
    if getattr(args, "json", False):
        print(json.dumps(st, indent=2, sort_keys=True))
    else:
        print(render_text(st))
    # a config with problems is not a healthy state for scripts either (same rule as `config validate`)
    return 1 if st.get("config_problems") else 0
