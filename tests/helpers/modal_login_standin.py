"""Stand-in for the official modal-login app's `next start`, run by tests/fixtures/modal-login-standin's
start script as `python -m tests.helpers.modal_login_standin [-p PORT] [--rpc-url URL] [--fund-gas]`
in the app directory.

It serves swarmdeck's own login service the way the official app is laid out: credentials in
./temp-data/, the contract from ./.env's SWARM_CONTRACT_ADDRESS, the port from -p/PORT (taken = exit 1
with EADDRINUSE, as Next.js does) and Next's "- Local: URL" line. The official app needs Alchemy's
hosted sign-in and the public testnet, which tests cannot reach.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import sys
from pathlib import Path

from core.login.modal_app import CONTRACT_ENV_KEY, TEMP_DATA, read_env
from core.login.service import DEFAULT_PORT, LoginError, LoginService, _until_signalled


def serve_app_mode(app_dir: Path, *, port: int, network: str, rpc_url: str, fund_gas: bool,
                   host: str = "127.0.0.1") -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    coordinator = read_env(app_dir).get(CONTRACT_ENV_KEY, "")
    if not coordinator or not rpc_url:
        print(f"app mode needs {CONTRACT_ENV_KEY} in {app_dir / '.env'} and an RPC URL", file=sys.stderr)
        return 1

    async def main() -> None:
        svc = LoginService(app_dir / TEMP_DATA, network=network, host=host, port=port, strict_port=True, rpc_url=rpc_url,
                           coordinator=coordinator, fund_gas=fund_gas)
        await svc.start()
        print(f"  - Local:        {svc.url}\n  - Contract:     {coordinator}\n ✓ Ready", flush=True)
        await _until_signalled(svc)

    try:
        asyncio.run(main())
    except LoginError as e:
        print(f"Error: listen EADDRINUSE: address already in use :::{port}" if "in use" in e.what else str(e),
              file=sys.stderr)
        return 1
    return 0


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m tests.helpers.modal_login_standin", description=__doc__.splitlines()[0])
    ap.add_argument("-p", "--port", type=int, default=None, help="exactly this port (default $PORT or 3000)")
    ap.add_argument("--rpc-url", default=os.environ.get("LOGIN_RPC_URL", ""), help="chain RPC (default $LOGIN_RPC_URL)")
    ap.add_argument("--fund-gas", action="store_true", help="top up accounts with anvil_setBalance")
    ap.add_argument("--network", default="local")
    ap.add_argument("-H", "--host", "--hostname", dest="host", default="127.0.0.1")
    a = ap.parse_args(argv)
    port = a.port if a.port is not None else int(os.environ.get("PORT") or DEFAULT_PORT)
    return serve_app_mode(Path.cwd(), port=port, network=a.network, rpc_url=a.rpc_url, fund_gas=a.fund_gas, host=a.host)


if __name__ == "__main__":
    sys.exit(main())
