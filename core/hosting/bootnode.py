"""The swarm's front door: a DHT-only bootnode, one of the swarm host's parts.

`python -m core.hosting bootnode NAME` (started and watched by the host process, core.hosting.host)
runs a hivemind DHT peer and nothing else: no model, no training, no chain writes. It

  * listens on every interface at the host's fixed DHT port and announces
    /ip4/PUBLIC_ADDR/tcp/DHT_PORT (what members dial);
  * has a stable identity, identity_file(NAME) (0600 in a 0700 dir), so its peer id, and with it
    the address published on chain, survives restarts; a swarm hosted before this part existed
    keeps its old bootnode profile's swarm.pem (migrate_identity copies it, never overwrites);
  * validates records like any node (core.swarm.validator, via core.swarm.dht.SwarmDHT);
  * writes status_file(NAME) every few seconds: pid, peer id, its multiaddrs, when.

Exit codes: 0 on SIGTERM; EXIT_CONFIG (78) when a restart cannot help (the DHT port is taken by
another program, the identity is used elsewhere): the host's part watcher gives up at once and
`swarm host` shows the message. Other failures exit 1 and are restarted with backoff.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import sys
import threading
import time
from pathlib import Path

from core.base import fsutil
from core.base import paths as _paths
from core.base.constants import EXIT_CONFIG
from core.base.errors import SwarmdeckError

log = logging.getLogger("swarmdeck.bootnode")
STATUS_EVERY_S = 5.0


def identity_dir(name: str) -> Path:
    return _paths.network_dir(name) / "bootnode"


def identity_file(name: str) -> Path:
    return identity_dir(name) / "swarm.pem"


def status_file(name: str) -> Path:
    return _paths.network_dir(name) / "bootnode-status.json"


def log_file(name: str) -> Path:
    return _paths.network_dir(name) / "bootnode.log"


def migrate_identity(name: str, legacy_pem: Path | None) -> str:
    """The bootnode's identity, made once. A swarm whose bootnode was a profile (`NAME-boot`) keeps
    that profile's key: its bytes are copied here (the profile's file is left as it is), so the peer id
    and the published address do not change. An identity already here is never replaced.
    Returns the peer id."""
    from core.identity import files as _identity

    path = identity_file(name)
    _paths.ensure_private_dir(path.parent)
    if not path.exists() and legacy_pem is not None and Path(legacy_pem).is_file():
        raw = Path(legacy_pem).read_bytes()
        _identity.peer_id_from_bytes(raw, str(legacy_pem))  # a damaged key is an error, not a new identity
        with contextlib.suppress(FileExistsError):
            fsutil.create_exclusive(path, raw)
    return _identity.load_or_create_swarm_pem(path).peer_id


def lost_identity_error(name: str, published_peer_id: str) -> SwarmdeckError | None:
    """The swarm's bootnode had an identity (its peer id is in host.json, on chain and in every invite)
    but its key file is gone: making a new one silently would orphan every member's invite. The error
    says so and how to get it back (`swarm restore`, naming the last verified backup); None if the key
    is there or the swarm never had one."""
    if not published_peer_id or identity_file(name).exists():
        return None
    from core.base.i18n import M
    from core.hosting.bootnode_backup import backup_state

    archive = backup_state(name).get("archive")
    fix = (M("err.host.bootnode_key_lost_fix", archive=archive, name=name) if archive
           else M("err.host.bootnode_key_lost_fix_none", name=name))
    return SwarmdeckError(M("err.host.bootnode_key_lost", name=name, peer=published_peer_id),
                          where=str(identity_file(name)), fix=fix)


def serve(name: str) -> int:
    from core.hosting.host import load_settings
    from core.swarm.dht import SwarmDHT

    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    signal.signal(signal.SIGHUP, signal.SIG_IGN)
    s = load_settings(name)
    if s is None:
        print(f"no host settings for swarm {name!r}: run `swarmdeck swarm host`", file=sys.stderr)
        return EXIT_CONFIG
    lost = lost_identity_error(name, s.bootnode_peer_id)
    if lost is not None:  # a restart cannot help: the key must come back from its backup
        print(f"bootnode: {lost.what} {lost.fix}", file=sys.stderr, flush=True)
        return EXIT_CONFIG
    try:
        dht = SwarmDHT(identity_file(name), host="0.0.0.0", port=s.dht_port, announce_host=s.public_addr,
                       announce_port=s.dht_port, initial_peers=(), start=True)
    except SwarmdeckError as e:
        print(f"bootnode: {e}", file=sys.stderr, flush=True)
        return 1 if getattr(e, "retriable", True) else EXIT_CONFIG
    log.info("bootnode of swarm %s up: peer %s, listening on 0.0.0.0:%d, announcing /ip4/%s/tcp/%d",
             name, dht.peer_id, s.dht_port, s.public_addr, s.dht_port)
    try:
        key = identity_file(name).read_bytes()  # the key this bootnode runs with, to put back if deleted
    except OSError:
        key = None
    try:
        while True:
            if key is not None and not identity_file(name).exists():
                # deleted while running: a DHT restart would make a new identity (new peer id, every
                # invite orphaned), so the key goes back from memory, with a warning in the log
                with contextlib.suppress(FileExistsError, OSError):
                    _paths.ensure_private_dir(identity_dir(name))
                    fsutil.create_exclusive(identity_file(name), key)
                    print(f"bootnode: its identity {identity_file(name)} was deleted while it ran; written back "
                          f"(peer id {dht.peer_id}). Keep a backup: swarmdeck swarm backup --name {name} PATH",
                          file=sys.stderr, flush=True)
            with contextlib.suppress(OSError):
                fsutil.atomic_write_json(status_file(name), {
                    "pid": os.getpid(), "peer_id": dht.peer_id, "maddrs": dht.multiaddrs,
                    "port": s.dht_port, "dht_restarts": dht.restarts, "at": time.time()})
            if stop.wait(STATUS_EVERY_S):
                break
            try:
                dht._ensure_alive()  # the DHT process died or hangs: a new one, same identity and port
            except SwarmdeckError as e:
                print(f"bootnode: {e}", file=sys.stderr, flush=True)
                return 1
    finally:
        dht.shutdown()
        with contextlib.suppress(FileNotFoundError):
            status_file(name).unlink()
    return 0


def ping(maddr: str, timeout: float = 30.0) -> tuple[bool, str]:
    """A real DHT ping: a throwaway client-mode hivemind peer bootstraps from `maddr` (hivemind refuses
    to start when none of its initial peers answers its ping). (ok, reason)."""
    try:
        from hivemind import DHT
    except Exception as e:  # noqa: BLE001 - hivemind missing: say so
        return False, f"hivemind is not importable: {e}"
    dht = None
    try:
        dht = DHT(initial_peers=[maddr], client_mode=True, start=True, startup_timeout=timeout,
                  await_ready=False, daemon=True)
        dht.wait_until_ready(timeout=timeout + 5)
        return True, "answered"
    except BaseException as e:  # noqa: BLE001 - every failure is "did not answer", with hivemind's words
        msg = str(e).strip().splitlines()[0][:200] if str(e).strip() else type(e).__name__
        return False, msg
    finally:
        if dht is not None:
            with contextlib.suppress(Exception):
                dht.shutdown()
                dht.join(5)
            with contextlib.suppress(Exception):
                if dht.is_alive():
                    dht.kill()
