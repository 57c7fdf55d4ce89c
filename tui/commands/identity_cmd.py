"""`swarmdeck identity show|backup|restore|verify|fix-perms`."""

from __future__ import annotations

import argparse
import getpass
import json
import sys

from core.base.errors import IdentityError
from tui.model.i18n import M, t, text


def _p(q) -> None:
    q.add_argument("-p", "--profile", dest="profile", default=argparse.SUPPRESS, help="profile (default: current)")


def _pass(q) -> None:
    q.add_argument("--passphrase-file", help="read the passphrase from the first line of this file "
                   "(else: prompted; or the first line of stdin when it is not a terminal)")


def register(sub) -> None:
    p = sub.add_parser("identity", help="show, back up, restore or verify a profile's identity")
    isub = p.add_subparsers(dest="identity_cmd", metavar="ACTION", required=True)

    q = isub.add_parser("show", help="peer id, display name, sign-in, backup state, permissions")
    _p(q)
    q.add_argument("--json", action="store_true")
    q.set_defaults(func=cmd_show)

    q = isub.add_parser("backup", help="write an encrypted backup (passphrase; scrypt + AES-256-GCM) and verify it")
    _p(q)
    q.add_argument("path", nargs="?", default=".", help="file or folder for the archive (default: current folder)")
    _pass(q)
    q.set_defaults(func=cmd_backup)

    q = isub.add_parser("restore", help="restore a backup into a NEW (or empty) profile")
    q.add_argument("archive")
    q.add_argument("-p", "--profile", dest="profile", default=argparse.SUPPRESS,
                   help="profile to restore into (must be new or have no identity files)")
    _pass(q)
    q.set_defaults(func=cmd_restore)

    q = isub.add_parser("verify", help="decrypt a backup into a temp dir and compare checksums")
    q.add_argument("archive")
    _p(q)
    _pass(q)
    q.set_defaults(func=cmd_verify)

    q = isub.add_parser("fix-perms", help="make the identity folder 0700 and its files 0600")
    _p(q)
    q.set_defaults(func=cmd_fix_perms)


def _say(msg: str) -> None:
    print(f"... {text(msg)}", file=sys.stderr, flush=True)


def read_passphrase(args, confirm: bool) -> str:
    if getattr(args, "passphrase_file", None):
        try:
            with open(args.passphrase_file, encoding="utf-8") as f:
                return f.readline().rstrip("\r\n")
        except OSError as e:
            raise IdentityError(M("cli.identity.passfile", error=e.strerror), where=args.passphrase_file) from None
    if not sys.stdin.isatty():
        return sys.stdin.readline().rstrip("\r\n")
    pw = getpass.getpass(t("cli.identity.passphrase") + " ")
    if confirm:
        if getpass.getpass(t("cli.identity.repeat") + " ") != pw:
            raise IdentityError(M("cli.identity.differ"), fix=M("cli.identity.differ_fix"))
    return pw


def _profile(args):
    from core.usecases.profile_state import resolved_profile

    return resolved_profile(getattr(args, "profile", None))


def warn_permissions(prof) -> None:
    """Like OpenSSH: loud warning for group/world-readable identity files, and the fix."""
    from core.identity import files as identity

    msg = identity.permission_warning(prof.paths.identity_dir, prof.name)
    if not msg:
        return
    print(msg, file=sys.stderr)
    if sys.stdin.isatty() and sys.stderr.isatty():
        ans = input("Fix the permissions now? [y/N] ").strip().lower()
        if ans in ("y", "yes"):
            for fx in identity.fix_permissions(prof.paths.identity_dir):
                print(f"fixed: {fx.path} -> {oct(fx.wanted)}", file=sys.stderr)


def cmd_show(args) -> int:
    from core.usecases.profile_state import build_status

    prof = _profile(args)
    st = build_status()
    mine = next((p for p in st["profiles"] if p["name"] == prof.name), None)
    if mine is None:
        raise IdentityError(f"profile {prof.name!r} is not in the config.")
    ident = mine["identity"]
    dups = [d for d in st["duplicates"] if prof.name in d["profiles"]]
    if args.json:
        print(json.dumps({"profile": prof.name, **ident, "duplicates": dups}, indent=2, sort_keys=True))
        return 0
    print(f"profile:   {prof.name}")
    print(f"dir:       {ident['dir']}")
    if ident["peer_id"]:
        print(f"peer id:   {ident['peer_id']}")
        print(f"name:      {ident['display_name']}")
    elif not ident["errors"]:
        print("peer id:   (no swarm.pem yet: created on first start)")
    login = ident["login"]
    if login:
        print(f"account:   {login.get('email') or '-'} (orgId {login['org_id']}, address {login.get('address')})")
        print(f"session:   key {login.get('api_public_key')} "
              f"{'activated' if login.get('activated') else 'NOT activated (swarmdeck login)'}")
    else:
        print("account:   not signed in (swarmdeck login)")
    b = ident["backup"]
    print("backup:    " + {"verified": f"verified {b['verified_at']}",
                           "outdated": f"OUTDATED: identity changed after the backup of {b['verified_at']}; back up again",
                           "none": "NONE: run 'swarmdeck identity backup'"}[b["state"]])
    for e in ident["errors"]:
        print(f"ERROR:     {e['what']}\n           where: {e.get('where')}\n           fix:   {e.get('fix')}")
    for d in dups:
        print(f"DUPLICATE: the same {d['kind']} is in profiles {', '.join(d['profiles'])}; "
              "neither starts until one is archived")
    warn_permissions(prof)
    return 1 if ident["errors"] else 0


def cmd_backup(args) -> int:
    from core.identity.backup import check_passphrase, create_backup

    prof = _profile(args)
    warn_permissions(prof)
    pw = read_passphrase(args, confirm=True)
    check_passphrase(pw)
    info = create_backup(prof.name, args.path, pw, progress=_say)
    print(t("cli.identity.written", path=str(info.archive)))
    print("  " + t("cli.identity.peer_files", peer_id=info.peer_id, name=info.display_name,
                   files=", ".join(sorted(info.files))))
    print(t("cli.identity.keep_apart"))
    return 0


def cmd_restore(args) -> int:
    from core.identity.backup import restore_backup

    name = getattr(args, "profile", None)
    if not name:
        raise IdentityError(M("cli.identity.which_profile"), fix=M("cli.identity.which_profile_fix"))
    pw = read_passphrase(args, confirm=False)
    info = restore_backup(args.archive, pw, name, progress=_say)
    print(t("cli.identity.restored", profile=repr(name), peer_id=info.peer_id, name=info.display_name))
    print(t("cli.identity.restored_files", files=", ".join(sorted(info.files))))
    return 0


def cmd_verify(args) -> int:
    from core.identity.backup import verify_backup
    from core.config.settings import load_config

    name = getattr(args, "profile", None)
    pw = read_passphrase(args, confirm=False)
    if name is None:
        # compare with the current profile only if that is the identity in the archive
        cfg = load_config()
        name = cfg.current_profile or None
    _say(M("backup.progress.verifying"))
    try:
        info = verify_backup(args.archive, pw, profile=name)
        print(t("cli.identity.verified", profile=repr(name), peer_id=info.peer_id, name=info.display_name))
    except IdentityError as e:
        # another identity's archive (another profile's, or a hosted swarm's bootnode): say it is intact
        other = "does not match" in e.what or getattr(e.msgs.get("what"), "key", "") == "err.backup.is_bootnode"
        if getattr(args, "profile", None) is not None or not other:
            raise
        info = verify_backup(args.archive, pw)  # readable, but it is another identity
        print(t("cli.identity.intact_other", profile=repr(name), peer_id=info.peer_id, name=info.display_name))
    return 0


def cmd_fix_perms(args) -> int:
    from core.identity import files as identity

    prof = _profile(args)
    fixed = identity.fix_permissions(prof.paths.identity_dir)
    for fx in fixed:
        print(f"fixed: {fx.path} {oct(fx.mode)} -> {oct(fx.wanted)}")
    if not fixed:
        print(f"permissions already private in {prof.paths.identity_dir}")
    return 0
