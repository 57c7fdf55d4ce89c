"""`swarmdeck network up|down|status`: the embedded local network (chain + demo peers)."""

from __future__ import annotations

import json


def cmd_up(args) -> int:
    from core.localnet import network as localnet

    info = localnet.up(peers=args.peers, round_seconds=args.round_seconds,
                       progress=lambda m: print(f"==> {m}", flush=True))
    print(f"local network up: chain {info['rpc_url']}, coordinator {info['coordinator']}, "
          f"{len(info['peers'])} demo peer(s): {', '.join(p['profile'] for p in info['peers'])}")
    print("next: `swarmdeck login` then `swarmdeck start` for your own profile (or just `swarmdeck`).")
    return 0


def cmd_down(args) -> int:
    from core.localnet import network as localnet

    res = localnet.down()
    print(f"stopped {len(res['stopped_peers'])} demo peer(s); chain "
          f"{'stopped (state kept)' if res['chain_stopped'] else 'was not running'}.")
    return 0


def cmd_status(args) -> int:
    from core.localnet import network as localnet

    st = localnet.status()
    if args.json:
        print(json.dumps(st, indent=2))
        return 0
    c = st["chain"]
    print(f"chain: {'down' if c is None else c['rpc_url'] + ', round ' + str(c['round'])}")
    for p in st["peers"]:
        print(f"  {p['profile']:<20} {p['state']:<10} round {p['round'] if p['round'] is not None else '-'}")
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
