"""`swarmdeck standing [--json]`: each profile's on-chain totals, rank, deltas and history over days."""

from __future__ import annotations

import json


def register(sub) -> None:
    p = sub.add_parser("standing", help="on-chain totals, wins, votes, rank and their change over days, per profile")
    p.add_argument("--json", action="store_true", help="machine-readable output (never contains secrets)")
    p.add_argument("--all", action="store_true", help="every profile (default: all, or only -p NAME when given)")
    p.set_defaults(func=run)


def run(args) -> int:
    from core.usecases import standing as _standing
    from tui.model.standing import render_text

    names = [args.profile] if getattr(args, "profile", None) and not args.all else None
    if names:
        from core.identity import profiles as _profiles

        _profiles.load_profile(names[0])  # an unknown name: ProfileError with its fix
    st = _standing.standing(names)
    if args.json:
        print(json.dumps(st.to_dict(), indent=2))
    else:
        print(render_text(st))
    return 1 if st.profiles and all(p.error for p in st.profiles) else 0
