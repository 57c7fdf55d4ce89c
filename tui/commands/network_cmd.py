"""`swarmdeck network up|down|status`: the embedded local network (chain + demo peers)."""

from __future__ import annotations

import json

from tui.model.i18n import current, t, text


def cmd_up(args) -> int:
    from core.localnet import network as localnet

    info = localnet.up(peers=args.peers, round_seconds=args.round_seconds,
                       progress=lambda m: print(f"==> {text(m)}", flush=True))
    print(t("cli.network.up", rpc_url=info["rpc_url"], coordinator=info["coordinator"], n=len(info["peers"]),
            peers=", ".join(p["profile"] for p in info["peers"])))
    print(t("cli.network.next"))
    return 0


def cmd_down(args) -> int:
    from core.localnet import network as localnet

    res = localnet.down()
    print(t("cli.network.down_chain_stopped" if res["chain_stopped"] else "cli.network.down_chain_idle",
            n=len(res["stopped_peers"])))
    return 0


def cmd_status(args) -> int:
    from core.localnet import network as localnet

    st = localnet.status()
    if args.json:
        print(json.dumps(st, indent=2))
        return 0
    c = st["chain"]
    print(t("cli.network.chain_down") if c is None else t("cli.network.chain", rpc_url=c["rpc_url"], round=c["round"]))
    for p in st["peers"]:
        state = t("state." + p["state"]) if p["state"] and current().has("state." + p["state"]) else p["state"]
        rnd = p["round"] if p["round"] is not None else "-"
        print(f"  {p['profile']:<20} {state!s:<10} " + t("cli.network.round", round=rnd))
    return 0


def register(sub) -> None:
    p = sub.add_parser("network", help="the embedded local network (chain + demo peers)",
                       description="Bring up, stop or inspect the embedded local network: a local chain "
                                   "(anvil + coordinator, rounds advanced on a timer) and demo peers.")
    s = p.add_subparsers(dest="network_cmd", metavar="ACTION", required=True)
    up = s.add_parser("up", help="start the chain and the demo peers (idempotent)")
    up.add_argument("--peers", type=int, default=2, help="demo peers besides your own node (default 2)")
    up.add_argument("--round-seconds", type=float, default=30.0, help="round length (default 30 s)")
    up.set_defaults(func=cmd_up)
    down = s.add_parser("down", help="stop the demo peers and the chain (chain state is kept)")
    down.set_defaults(func=cmd_down)
    st = s.add_parser("status", help="chain round and the local peers' states")
    st.add_argument("--json", action="store_true")
    st.set_defaults(func=cmd_status)
