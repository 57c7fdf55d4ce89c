"""`swarmdeck swarm host|invite|join|status|stop`: host a swarm other machines join, or join one.

Thin: every step is core.usecases.swarm_hosting; this module prints.
"""

from __future__ import annotations

import argparse
import json


def _progress(msg: str) -> None:
    from tui.model.i18n import text

    print(f"==> {text(msg)}", flush=True)  # a core Msg in the user's language


def _print_invite(text: str, qr: bool) -> None:
    from tui.model.i18n import t

    print(t("cli.swarm.invite_head"))
    print(text)
    if qr:
        from core.login.hints import qr_text

        print(qr_text(text))


def _default_name(args) -> str:
    from core.usecases import swarm_hosting as sh

    if args.name:
        return args.name
    names = sh.hosted()
    if len(names) == 1:
        return names[0]
    from core.base.errors import SwarmdeckError
    from core.base.i18n import M

    raise SwarmdeckError(M("err.swarm.which", hosts=M("err.swarm.hosts", names=", ".join(names)) if names
                           else M("err.swarm.hosts_none")),
                         fix=M("err.swarm.fix_name") if names else M("err.swarm.fix_host_one"))


def cmd_host(args) -> int:
    from core.usecases import swarm_hosting as sh

    res = sh.host(args.name or "myswarm", public_addr=args.public_addr, rpc_port=args.rpc_port, bind=args.bind,
                  dht_port=args.dht_port, round_seconds=args.round_seconds, chain_id=args.chain_id, rpc_url=args.rpc,
                  deployer_key_file=args.deployer_key, faucet_key_file=args.faucet_key, train=args.train,
                  train_profile=args.train_profile, model=args.model, quant=args.quant, progress=_progress,
                  new_bootnode_identity=args.new_bootnode_identity)
    from tui.model.i18n import t

    s, rt = res["settings"], res["runtime"]
    total = res["steps"][-1][1] if res["steps"] else 0.0  # seconds until the last readiness step
    print(t("cli.swarm.joinable", name=s.name, seconds=total, rpc=s.public_rpc_url, chain=rt["chain_id"],
            coordinator=rt["coordinator"]))
    print("  " + t("cli.swarm.bootnode_line", maddr=s.bootnode_maddr))
    print("  " + t("cli.swarm.rounds_faucet" if rt.get("faucet") else "cli.swarm.rounds_no_faucet",
                   seconds=f"{s.round_seconds:g}", faucet=rt.get("faucet") or ""))
    ports = ([str(s.rpc_port)] if rt.get("faucet") or s.embedded else []) + [str(s.dht_port)]
    print("  " + t("cli.swarm.open_ports", ports=t("cli.swarm.and").join(ports)))
    if res.get("train_profile"):
        print("  " + t("cli.swarm.trains_too", profile=res["train_profile"]))
    _print_invite(res["invite"], qr=not args.no_qr)
    print(t("cli.swarm.on_members"))
    b = sh.bootnode_backup_state(s.name)
    if b["state"] != "verified":
        from tui.model.swarm import backup_line

        print(backup_line(s.name, b))
    if args.systemd:
        _write_units(s.name)
    return 0


def _write_units(name: str) -> None:
    """A systemd user unit for the host process (optional: the host's keeper already restarts it)."""
    import sys

    from core.hosting.host import unit_text
    from core.usecases.swarm_hosting import PROJECT_ROOT

    from tui.commands import write_user_unit
    from tui.model.i18n import t

    host_unit = write_user_unit(f"swarmdeck-swarm-{name}.service", unit_text(name, sys.executable, str(PROJECT_ROOT)))
    print(t("cli.swarm.wrote_unit", path=str(host_unit)))
    print(f"  swarmdeck swarm stop --name {name}")
    print("  systemctl --user daemon-reload")
    print(f"  systemctl --user enable --now swarmdeck-swarm-{name}.service")
    print("  " + t("cli.swarm.linger"))


def cmd_invite(args) -> int:
    from core.usecases import swarm_hosting as sh

    text = sh.invite(_default_name(args))
    if args.json:
        print(json.dumps({"invite": text}))
    else:
        _print_invite(text, qr=not args.no_qr)
    return 0


def cmd_join(args) -> int:
    from core.usecases import swarm_hosting as sh

    res = sh.join(args.invite, getattr(args, "profile", None), network=args.network, model=args.model,
                  quant=args.quant, dht_port=args.dht_port, progress=_progress)
    from tui.model.i18n import t

    print(t("cli.swarm.joined_funded" if res["funded"] else "cli.swarm.joined", network=res["network"],
            profile=res["profile"], address=res["address"]))
    if not res["funded"]:
        inv = res["invite"]
        print("  " + t("cli.swarm.fund_this", address=res["address"], chain=inv["chain_id"], rpc=inv["rpc_url"]))
    print("  " + t("cli.swarm.dht_port", port=res["dht_port"]))
    print(t("cli.swarm.next_start", profile=res["profile"]))
    return 0


def cmd_status(args) -> int:
    from core.usecases import swarm_hosting as sh
    from tui.model.swarm import host_status_lines

    names = [args.name] if args.name else sh.hosted()
    out = [sh.host_status(n) for n in names]
    if args.json:
        print(json.dumps(out, indent=2, default=str))
        return 0
    from tui.model.i18n import t

    if not out:
        print(t("cli.swarm.hosts_none"))
    for st in out:
        print("\n".join(host_status_lines(st)))
    return 0


def cmd_backup(args) -> int:
    from core.identity.backup import check_passphrase
    from core.usecases import swarm_hosting as sh
    from tui.commands.identity_cmd import _say, read_passphrase
    from tui.model.i18n import t

    name = _default_name(args)
    pw = read_passphrase(args, confirm=True)
    check_passphrase(pw)
    info = sh.backup_bootnode(name, args.path, pw, progress=_say)
    print(t("cli.swarm.backup_written", path=str(info.archive), name=name))
    print("  " + t("cli.swarm.backup_peer", peer_id=info.peer_id, display=info.display_name))
    print(t("cli.identity.keep_apart"))
    return 0


def cmd_restore(args) -> int:
    import sys

    from core.hosting.bootnode_backup import KeyDiffers
    from core.usecases import swarm_hosting as sh
    from tui.commands.identity_cmd import _say, read_passphrase
    from tui.model.i18n import t, text

    pw = read_passphrase(args, confirm=False)
    try:
        res = sh.restore_bootnode(args.archive, pw, args.name, replace=args.replace, progress=_say)
    except KeyDiffers as e:
        # the explicit confirmation restore needs before it replaces a key: --replace, or yes here
        if args.replace or not (sys.stdin.isatty() and sys.stderr.isatty()):
            raise
        print(text(e.msgs["what"]), file=sys.stderr)
        if input(t("cli.swarm.restore_confirm", current=e.current_peer_id, backup=e.backup_peer_id) + " ").strip().lower() \
                not in ("y", "yes"):
            print(t("cli.swarm.restore_kept"))
            return 1
        res = sh.restore_bootnode(args.archive, pw, args.name, replace=True, progress=_say)
    b = res["backup"]
    key = {"written": "cli.swarm.restored", "same": "cli.swarm.restore_same", "replaced": "cli.swarm.restore_replaced"}
    print(t(key[b.action], name=b.swarm, peer_id=b.peer_id, display=b.display_name, kept=str(b.replaced_kept)))
    if res["published_differs"] or (b.action == "replaced"):
        print("  " + t("cli.swarm.restore_restart", name=b.swarm))
    elif not res["host_runs"]:
        print("  " + t("cli.swarm.restore_next", name=b.swarm))
    return 0


def cmd_stop(args) -> int:
    from core.usecases import swarm_hosting as sh

    name = _default_name(args)
    from tui.model.i18n import t

    res = sh.stop_host(name)
    print(t("cli.swarm.stopped" if res["host_stopped"] else "cli.swarm.was_not_running", name=name))
    return 0


def register(sub) -> None:
    p = sub.add_parser("swarm", help="host a swarm other machines join, or join one (invites)",
                       description="Host a swarm (chain + round advancer + bootnode + a safe RPC for members), "
                                   "print its invite, or join one from an invite.")
    s = p.add_subparsers(dest="swarm_cmd", metavar="ACTION", required=True)

    h = s.add_parser("host", help="bring up (or re-use) a swarm other machines can join")
    h.add_argument("--name", default=None, help="the swarm's name (default myswarm)")
    h.add_argument("--public-addr", help="IPv4 address the members reach this machine at (default: detected)")
    h.add_argument("--rpc-port", type=int, default=None, help="the members' RPC port (default 8545)")
    h.add_argument("--bind", default=None, help="address the members' RPC listens on (default 0.0.0.0)")
    h.add_argument("--dht-port", type=int, default=None, help="the bootnode's fixed DHT port (default 38331)")
    h.add_argument("--round-seconds", type=float, default=None, help="round length (default 120)")
    h.add_argument("--chain-id", type=int, default=None, help="chain id of the embedded chain (default 31337)")
    h.add_argument("--rpc", default=None, help="use this EVM chain instead of the embedded one")
    h.add_argument("--deployer-key", default=None, help="with --rpc: file with the deployer's private key (hex)")
    h.add_argument("--faucet-key", default=None, help="with --rpc: file with a funded key the members' faucet "
                                                       "pays from (default: no faucet; you fund members)")
    h.add_argument("--train", action="store_true", help="also train on this machine: a member profile beside "
                                                         "the bootnode (NAME-node)")
    h.add_argument("--train-profile", default=None, help="with --train: the member profile's name")
    h.add_argument("--model", default=None, help="with --train: the member profile's model (default auto)")
    h.add_argument("--quant", default=None, help="with --train: the member profile's quantization")
    h.add_argument("--new-bootnode-identity", action="store_true",
                   help="the bootnode's key is lost and you have no backup: go on with a new one "
                        "(its peer id changes; every member needs the new invite)")
    h.add_argument("--no-qr", action="store_true", help="print the invite without its QR code")
    h.add_argument("--systemd", action="store_true", help="also write a systemd user unit (optional)")
    h.set_defaults(func=cmd_host)

    i = s.add_parser("invite", help="print the invite of a swarm this machine hosts (and its QR code)")
    i.add_argument("--name", default=None)
    i.add_argument("--no-qr", action="store_true")
    i.add_argument("--json", action="store_true")
    i.set_defaults(func=cmd_invite)

    j = s.add_parser("join", help="join a swarm from its invite: key, gas, network and profile")
    j.add_argument("invite", help="the string `swarmdeck swarm invite` printed on the host")
    j.add_argument("-p", "--profile", dest="profile", default=argparse.SUPPRESS,
                   help="the new profile's name (default: the swarm's name)")
    j.add_argument("--network", default=None, help="name for the network in your config (default: the swarm's)")
    j.add_argument("--model", default=None)
    j.add_argument("--quant", default=None)
    j.add_argument("--dht-port", type=int, default=None, help="fixed DHT port (default: 38331 or the next free one)")
    j.set_defaults(func=cmd_join)

    st = s.add_parser("status", help="the swarms this machine hosts")
    st.add_argument("--name", default=None)
    st.add_argument("--json", action="store_true")
    st.set_defaults(func=cmd_status)

    b = s.add_parser("backup", help="write an encrypted backup of the swarm's bootnode identity and verify it")
    b.add_argument("--name", default=None, help="the swarm (default: the one this machine hosts)")
    b.add_argument("path", nargs="?", default=".", help="file or folder for the archive (default: current folder)")
    b.add_argument("--passphrase-file", help="read the passphrase from the first line of this file "
                   "(else: prompted; or the first line of stdin when it is not a terminal)")
    b.set_defaults(func=cmd_backup)

    r = s.add_parser("restore", help="put a swarm's bootnode identity back from its backup (same peer id)")
    r.add_argument("archive")
    r.add_argument("--name", default=None, help="the swarm (default: the one the backup was made for)")
    r.add_argument("--replace", action="store_true", help="replace a DIFFERENT bootnode key already there "
                   "(the host must be stopped; the current key is kept as swarm.pem.replaced-TIME)")
    r.add_argument("--passphrase-file", help="read the passphrase from the first line of this file "
                   "(else: prompted; or the first line of stdin when it is not a terminal)")
    r.set_defaults(func=cmd_restore)

    sp = s.add_parser("stop", help="stop a hosted swarm's host (chain, bootnode, ...; state kept)")
    sp.add_argument("--name", default=None)
    sp.set_defaults(func=cmd_stop)
