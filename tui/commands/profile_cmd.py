"""`swarmdeck profile new|list|use|rename|archive|import`: one identity per profile."""

from __future__ import annotations

import argparse
import json
import re
import sys

from tui.model.i18n import t
from core.base.constants import DEFAULT_LOGIN_PORT, QUANT_CHOICES


def _gpus(s: str) -> list[int]:
    if s.strip() in ("", "all"):
        return []
    try:
        return [int(x) for x in s.split(",") if x.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"{s!r} is not a list of GPU indexes like 0 or 0,1") from None


def _add_settings(p) -> None:
    p.add_argument("--network", help="local (default), gensyn-testnet or a [networks.NAME] from the config")
    p.add_argument("--model", help='"auto" (from GPU memory) or a Hugging Face model name')
    p.add_argument("--quant", choices=QUANT_CHOICES)
    p.add_argument("--gpus", type=_gpus, help="GPU indexes, e.g. 1 or 0,1 (default: all)")
    p.add_argument("--dht-port", type=int, dest="dht_port", help="DHT TCP port (0 = random)")
    p.add_argument("--login-port", type=int, dest="login_port", help=f"login service port (default {DEFAULT_LOGIN_PORT})")
    p.add_argument("--backend", choices=["modal-login", "web3"])


def _settings(args) -> dict:
    keys = ("network", "model", "quant", "gpus", "dht_port", "login_port", "backend")
    return {k: getattr(args, k) for k in keys if getattr(args, k, None) is not None}


def register(sub) -> None:
    p = sub.add_parser("profile", help="create, list, select, rename, archive or import node profiles",
                       description="Each profile is one node identity (swarm.pem + sign-in) with its own "
                       "directory, network, model, ports and GPUs.")
    psub = p.add_subparsers(dest="profile_cmd", metavar="ACTION", required=True)

    q = psub.add_parser("new", help="create a profile with a fresh identity")
    q.add_argument("name")
    _add_settings(q)
    q.add_argument("--use", action="store_true", help="make it the current profile")
    q.set_defaults(func=cmd_new)

    q = psub.add_parser("list", help="list profiles (* = current)")
    q.add_argument("--json", action="store_true")
    q.set_defaults(func=cmd_list)

    q = psub.add_parser("use", help="make NAME the current profile")
    q.add_argument("name")
    q.set_defaults(func=cmd_use)

    q = psub.add_parser("rename", help="rename a profile (its node must be stopped)")
    q.add_argument("old")
    q.add_argument("new")
    q.set_defaults(func=cmd_rename)

    q = psub.add_parser("archive", help="move a profile (identity included) to the archive; nothing is deleted")
    q.add_argument("name")
    q.set_defaults(func=cmd_archive)

    q = psub.add_parser("import", help="import an existing rl-swarm node's swarm.pem, userData.json, userApiKey.json",
                        description="Copies (never moves) the files into a profile and verifies the copies. "
                        "PATH is the rl-swarm folder (swarm.pem at its top, login files in modal-login/temp-data/) "
                        "or any folder holding the three files. A new NAME creates a profile; an existing one "
                        "only receives files it lacks.")
    q.add_argument("path")
    q.add_argument("-p", "--profile", "--name", dest="profile", default=argparse.SUPPRESS,
                   help="profile to import into (default: a new profile named after PATH)")
    q.add_argument("--pem-only", action="store_true", help="import swarm.pem alone (sign in again later)")
    _add_settings(q)
    q.set_defaults(func=cmd_import)


def _say(msg: str) -> None:
    print(f"... {msg}", file=sys.stderr, flush=True)


def _backup_hint(name: str) -> str:
    return (f"Back up this identity now: swarmdeck identity backup -p {name} PATH\n"
            "(swarm.pem and your sign-in are linked forever; if either is lost, so is the node's standing)")


def cmd_new(args) -> int:
    from core.identity.files import display_name, peer_id_from_pem
    from core.usecases.profile_setup import SetupRequest, create_profile

    _say("generating a new RSA identity")
    # the wizard's setup (core.usecases.profile_setup), so both store a profile the same way
    prof = create_profile(SetupRequest(args.name, _settings(args), make_current=True if args.use else None))

    pid = peer_id_from_pem(prof.paths.swarm_pem)
    print(f"created profile {prof.name!r} on network {prof.settings.network!r}")
    print(f"  peer id: {pid}")
    print(f"  name:    {display_name(pid)}")
    print(f"  dir:     {prof.paths.root}")
    print(_backup_hint(prof.name))
    return 0


def cmd_list(args) -> int:
    from core.usecases.profile_state import build_status

    st = build_status()
    if args.json:
        print(json.dumps(st["profiles"], indent=2, sort_keys=True))
        return 0
    if not st["profiles"]:
        print(t("cli.profile.none"))
        return 0
    print(f"  {t('cli.profile.col_name'):<16} {t('cli.profile.col_network'):<15} {t('cli.profile.col_state'):<10} "
          f"{t('cli.profile.col_backup'):<11} {t('cli.profile.col_identity')}")
    for p in st["profiles"]:
        ident = p["identity"]
        who = ident["display_name"] or (t("cli.profile.damaged") if ident["errors"] else t("cli.profile.none_yet"))
        state = t("state.running") if p["running"] else t("state.stopped")
        backup = t("cli.profile.backup." + ident["backup"]["state"])
        print(f"{'*' if p['current'] else ' '} {p['name']:<16} {p.get('network', '?'):<15} {state:<10} {backup:<11} {who}")
    for d in st["duplicates"]:
        print(t("cli.profile.duplicate", kind=d["kind"], profiles=", ".join(d["profiles"])))
    return 0


def cmd_use(args) -> int:
    from core.identity.profiles import use_profile

    prof = use_profile(args.name)
    print(f"current profile: {prof.name}")
    return 0


def cmd_rename(args) -> int:
    from core.identity.profiles import rename_profile

    prof = rename_profile(args.old, args.new)
    print(f"renamed {args.old!r} to {prof.name!r} ({prof.paths.root})")
    return 0


def cmd_archive(args) -> int:
    from core.identity.profiles import archive_profile

    dest = archive_profile(args.name)
    print(f"archived profile {args.name!r}: moved to {dest}")
    print("nothing was deleted; to bring it back, move that folder's identity/ into a new profile "
          "with 'swarmdeck profile import' (its settings are in profile.toml there)")
    return 0


def cmd_import(args) -> int:
    from pathlib import Path

    from core.identity.files import display_name, peer_id_from_pem
    from core.identity.profiles import import_profile

    name = getattr(args, "profile", None)
    if not name:
        base = re.sub(r"[^A-Za-z0-9_-]", "-", Path(args.path).expanduser().resolve().name).strip("-_") or "imported"
        name = base[:32]
    prof = import_profile(name, Path(args.path), pem_only=args.pem_only, progress=_say, **_settings(args))
    pid = peer_id_from_pem(prof.paths.swarm_pem)
    print(f"imported into profile {prof.name!r}: peer id {pid} ({display_name(pid)})")
    print(f"originals in {args.path} were only read, not changed")
    from core.login.modal_app import adopt_checkout

    app_dir = adopt_checkout(prof, Path(args.path))
    if app_dir is not None:
        print(f"sign-in app: {app_dir} (`swarmdeck login` and the node run it; its temp-data/ files are kept)")
    print(_backup_hint(prof.name))
    return 0
