"""The official modal-login app (public testnet sign-in): locate or clone it, configure, build, run, pick up.

The public RL Swarm signs users in with its own Next.js app (`modal-login/` in the
gensyn-ai/rl-swarm repository; Alchemy account kit). Its run script edits `.env` with
`sed "3s/.*/…/"`, runs `yarn start` on port 3000 only, waits for `temp-data/userData.json`
and deletes both credential files on every exit, so each restart needs a browser sign-in.
swarmdeck drives the same app differently:

  * `.env` values are set by key (comments, order and other keys kept; written atomically).
  * `yarn install` / `yarn build` run only when package.json, yarn.lock or .env changed since
    the last build, with progress; their output goes to the profile's log dir (login-app.log).
  * `yarn start -p PORT -H 127.0.0.1` (loopback only) on a free port (the profile's
    login_port, else the next free one); the port is read back from the app's own output ("- Local: http://localhost:PORT").
  * When the two files appear in `temp-data/` they are copied into the profile's identity
    dir (0600). They stay there: on every later start they are put back into `temp-data/`,
    so the app can sign the node's writes after a restart without a new browser sign-in.
    swarmdeck never deletes them; a different account's files found in `temp-data/` are
    moved aside, never overwritten.
  * `get-api-key-status` is polled until `activated`.

One app directory serves one profile (the app keeps one user in `temp-data/`): several
profiles need several copies (`swarmdeck login --clone` makes one per profile).
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import subprocess
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from core.base import fsutil, procs
from core.base.i18n import M
from core.base.errors import IdentityError, SwarmdeckError
from core.base.paths import data_dir, ensure_private_dir
from core.config import settings as _config
from core.identity import files as identity
from core.identity import signin
from core.identity.profiles import list_profiles
from core.login.service import pick_port

# The public repository and the commit swarmdeck was checked against (Jan 2026: next 14.2.35,
# `.env` key SWARM_CONTRACT_ADDRESS, temp-data/ files as in RLSWARM_FACTS.md).
REPO_URL = "https://github.com/gensyn-ai/rl-swarm.git"
PINNED_COMMIT = "9c95410b1ac0d0a6005513c276b6b84f6db13bcd"
APP_SUBDIR = "modal-login"
CONTRACT_ENV_KEY = "SWARM_CONTRACT_ADDRESS"
TEMP_DATA = "temp-data"
FILES = ("userData.json", "userApiKey.json")
BUILD_STAMP = ".swarmdeck-build.json"
RUNTIME = "login-app.json"
# yarn's own lines around a script's output (never the reason a start failed)
_YARN_NOISE = ("yarn run v", "$ ", "info Visit https://yarnpkg.com", "error Command failed with exit code")
UNREADABLE_GRACE_S = 10.0  # how long the app's files may stay unparseable before we say so
LOG = "login-app.log"

# What Next.js (and our stand-in) print once the server listens: "- Local: http://localhost:3001",
# older "ready - started server on 0.0.0.0:3001, url: http://localhost:3001".
_URL_RE = re.compile(r"(?:Local:|url:|started server on|listening on)\s*\S*?(?:localhost|127\.0\.0\.1|0\.0\.0\.0|\[::\]|::):(\d{2,5})",
                     re.IGNORECASE)
_ENV_LINE_RE = re.compile(r"^(\s*(?:export\s+)?)([A-Za-z_][A-Za-z0-9_]*)(\s*=\s*)(.*)$")

Progress = Callable[..., None]  # progress(step, **params): step is an i18n key under "app."


class AppError(SwarmdeckError):
    pass


class AppFilesUnreadable(IdentityError):
    """The app's temp-data files do not parse: usually caught mid-write (the app does not write
    atomically), so callers look again before they believe it."""


def _nop(step: str, **kw) -> None:
    pass


# ------------------------------------------------------------------------------------------
# Locate / clone


def resolve_app_dir(path: str | Path) -> Path:
    """The modal-login directory from what the user gave: the app itself or an rl-swarm checkout."""
    p = Path(os.path.expanduser(str(path))).resolve()
    if not p.exists():
        raise AppError(M("err.app.missing", path=str(p)), where=str(p), fix=M("err.app.missing_fix"))
    if (p / APP_SUBDIR / "package.json").is_file():
        p = p / APP_SUBDIR
    pkg = p / "package.json"
    if not pkg.is_file():
        raise AppError(M("err.app.no_package", path=str(p)), where=str(p), fix=M("err.app.point_to", dir=APP_SUBDIR))
    try:
        scripts = json.loads(pkg.read_text(encoding="utf-8")).get("scripts") or {}
    except (ValueError, OSError, AttributeError) as e:
        raise AppError(M("err.app.unreadable", path=str(pkg), error=str(e)), where=str(pkg),
                       fix=M("err.app.restore_file")) from None
    missing = [s for s in ("build", "start") if s not in scripts]
    if missing:
        raise AppError(M("err.app.no_script", path=str(pkg), scripts=" / ".join(missing)),
                       where=str(pkg), fix=M("err.app.point_to", dir=APP_SUBDIR))
    return p


def default_clone_dir(profile: str) -> Path:
    return data_dir() / "apps" / f"rl-swarm-{profile}"


def pinned_source() -> tuple[str, str]:
    """(repository, commit) to clone: the public one, or a mirror named by SWARMDECK_RLSWARM_REPO /
    SWARMDECK_RLSWARM_COMMIT (machines without GitHub access, and the tests)."""
    return (os.environ.get("SWARMDECK_RLSWARM_REPO") or REPO_URL,
            os.environ.get("SWARMDECK_RLSWARM_COMMIT") or PINNED_COMMIT)


def clone_app(dest: Path, *, repo: str | None = None, commit: str | None = None,
              progress: Progress = _nop, log_path: Path | None = None) -> Path:
    """Clone `repo` at `commit` into `dest` (which must not exist yet); return its modal-login dir.

    Only called after the user agreed (CLI --clone / a TUI confirmation). A half-done clone is
    removed (it is ours and holds nothing of the user's)."""
    pr, pc = pinned_source()
    repo, commit = repo or pr, commit or pc
    dest = Path(dest)
    if dest.exists() and any(dest.iterdir()):
        return resolve_app_dir(dest)  # cloned before: reuse it
    git = shutil.which("git")
    if git is None:
        raise AppError(M("err.app.no_git"), fix=M("err.app.no_git_fix"))
    progress("clone", repo=repo, commit=commit[:8], dest=str(dest))
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = dest.with_name(dest.name + ".partial")
    shutil.rmtree(tmp, ignore_errors=True)
    steps = [[git, "init", "-q", str(tmp)],
             [git, "-C", str(tmp), "fetch", "-q", "--depth", "1", repo, commit],
             [git, "-C", str(tmp), "-c", "advice.detachedHead=false", "checkout", "-q", "FETCH_HEAD"]]
    try:
        for cmd in steps:
            r = subprocess.run(cmd, capture_output=True, text=True, timeout=600,
                               env={**os.environ, "GIT_TERMINAL_PROMPT": "0"})
            if log_path:
                _append_log(log_path, f"$ {' '.join(cmd)}\n{r.stdout}{r.stderr}")
            if r.returncode != 0:
                reason = (r.stderr.strip().splitlines() or [f"exit {r.returncode}"])[-1]
                raise AppError(M("err.app.clone_failed", repo=repo, commit=commit[:8], reason=reason), where=repo,
                               fix=M("err.app.clone_failed_fix"))
        tmp.rename(dest)
    except subprocess.TimeoutExpired:
        raise AppError(M("err.app.clone_slow", repo=repo), where=repo, fix=M("err.app.clone_slow_fix")) from None
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return resolve_app_dir(dest)


# ------------------------------------------------------------------------------------------
# .env


def write_env(app_dir: Path, values: dict[str, str]) -> bool:
    """Set KEY=VALUE lines in app_dir/.env by key (not by line number). Returns True if it changed.

    Other lines (comments, blank lines, other keys) are kept as they are; a key that is not
    there is appended; the file keeps its mode (0600 when new)."""
    path = Path(app_dir) / ".env"
    try:
        old = path.read_text(encoding="utf-8")
        mode = path.stat().st_mode & 0o777
    except FileNotFoundError:
        old, mode = "", 0o600
    lines = old.splitlines()
    todo = dict(values)
    for i, line in enumerate(lines):
        m = _ENV_LINE_RE.match(line)
        if m and m.group(2) in todo:
            lines[i] = f"{m.group(1)}{m.group(2)}{m.group(3)}{todo.pop(m.group(2))}"
    lines += [f"{k}={v}" for k, v in todo.items()]
    new = "\n".join(lines) + "\n"
    if new == old:
        return False
    fsutil.atomic_write_text(path, new, mode=mode)
    return True


def read_env(app_dir: Path) -> dict[str, str]:
    out: dict[str, str] = {}
    try:
        text = (Path(app_dir) / ".env").read_text(encoding="utf-8")
    except FileNotFoundError:
        return out
    for line in text.splitlines():
        m = _ENV_LINE_RE.match(line)
        if m:
            out[m.group(2)] = m.group(4).strip().strip('"').strip("'")
    return out


# ------------------------------------------------------------------------------------------
# yarn


def find_yarn() -> list[str]:
    """The yarn command: on PATH, else the one `just setup` installs with npm beside swarmdeck, else corepack."""
    y = shutil.which("yarn")
    if y:
        return [y]
    local = Path(__file__).resolve().parents[2] / "node_modules" / ".bin" / "yarn"
    if local.exists():
        return [str(local)]
    cp = shutil.which("corepack")
    if cp:
        return [cp, "yarn"]
    raise AppError(M("err.app.no_yarn"), fix=M("err.app.no_yarn_fix"))


def _append_log(path: Path, text: str) -> None:
    ensure_private_dir(Path(path).parent)
    with open(path, "a", encoding="utf-8", errors="replace") as f:
        f.write(text if text.endswith("\n") else text + "\n")


def _run_streamed(cmd: list[str], cwd: Path, log_path: Path, progress: Progress, step: str,
                  timeout: float, stop: threading.Event | None = None) -> None:
    """Run a build step; every output line goes to the log and, as `line`, to progress."""
    _append_log(log_path, f"$ {' '.join(cmd)}  (in {cwd})")
    proc = subprocess.Popen(cmd, cwd=str(cwd), stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            stdin=subprocess.DEVNULL, text=True, errors="replace", start_new_session=True)
    tail: list[str] = []
    build = procs.record_for(proc.pid, pgid=proc.pid)  # its own session: the group is the whole build
    killer = threading.Timer(timeout, lambda: procs.stop_group(build))
    killer.daemon = True
    killer.start()
    watcher = None
    if stop is not None:
        def watch():
            while proc.poll() is None:
                if stop.wait(0.2):
                    procs.stop_group(build)
                    return
        watcher = threading.Thread(target=watch, daemon=True)
        watcher.start()
    try:
        with open(log_path, "a", encoding="utf-8", errors="replace") as log:
            for line in proc.stdout:
                log.write(line)
                line = line.rstrip()
                if line:
                    tail = (tail + [line])[-15:]
                    progress(step, line=line[:200])
        rc = proc.wait()
    except BaseException:  # Ctrl-C: the build runs in its own session, so it would not see the signal
        procs.stop_group(build)
        raise
    finally:
        killer.cancel()
    if stop is not None and stop.is_set():
        raise AppError(M("err.app.cancelled_cmd", cmd=" ".join(cmd[-2:])), where=str(cwd), fix=M("err.app.again"))
    if rc != 0:
        last = "\n  ".join(tail[-5:]) or f"exit code {rc}"
        raise AppError(f"`{' '.join(Path(c).name if i == 0 else c for i, c in enumerate(cmd))}` failed in {cwd}:\n  {last}",
                       where=str(log_path), fix="read the log for the full output; fix what it says and sign in again")


def _inputs(app_dir: Path, names: tuple[str, ...]) -> str:
    h = hashlib.sha256()
    for name in names:
        p = app_dir / name
        h.update(name.encode() + b"\0" + (p.read_bytes() if p.exists() else b"<none>") + b"\0")
    return h.hexdigest()


_INSTALL_INPUTS = ("package.json",)  # yarn.lock is an output of a first install, so not an input here
_BUILD_INPUTS = ("package.json", "yarn.lock", ".env")


def _stamp(app_dir: Path) -> dict:
    try:
        v = json.loads((app_dir / BUILD_STAMP).read_text())
        return v if isinstance(v, dict) else {}
    except (FileNotFoundError, ValueError):
        return {}


def needs_install(app_dir: Path) -> bool:
    return not (app_dir / "node_modules").is_dir() or _stamp(app_dir).get("install") != _inputs(app_dir, _INSTALL_INPUTS)


def needs_build(app_dir: Path) -> bool:
    return not (app_dir / ".next").exists() or _stamp(app_dir).get("build") != _inputs(app_dir, _BUILD_INPUTS)


def _write_stamp(app_dir: Path, **updates: str) -> None:
    fsutil.atomic_write_json(app_dir / BUILD_STAMP, {**_stamp(app_dir), **updates, "at": time.time()}, mode=0o644)


def prepare(app_dir: Path, log_path: Path, *, progress: Progress = _nop, stop: threading.Event | None = None,
            install_timeout: float = 1800, build_timeout: float = 1800) -> dict:
    """yarn install and yarn build, each only when needed. Returns {"installed": bool, "built": bool}."""
    yarn = find_yarn()
    done = {"installed": False, "built": False}
    if needs_install(app_dir):
        progress("install")
        args = ["install", "--frozen-lockfile"] if (app_dir / "yarn.lock").exists() else ["install"]
        _run_streamed(yarn + args + ["--non-interactive"], app_dir, log_path, progress, "install",
                      install_timeout, stop)
        _write_stamp(app_dir, install=_inputs(app_dir, _INSTALL_INPUTS))
        done["installed"] = True
    if needs_build(app_dir):
        progress("build")
        _run_streamed(yarn + ["build"], app_dir, log_path, progress, "build", build_timeout, stop)
        _write_stamp(app_dir, build=_inputs(app_dir, _BUILD_INPUTS))
        done["built"] = True
    return done


# ------------------------------------------------------------------------------------------
# Running app


@dataclass(frozen=True)
class AppInfo:
    url: str
    port: int
    pid: int
    app_dir: str
    started: bool  # True when this call started it


def runtime_file(profile_paths) -> Path:
    return Path(profile_paths.run_dir) / RUNTIME


def log_file(profile_paths) -> Path:
    return Path(profile_paths.log_dir) / LOG


def key_status(url: str, org_id: str, timeout: float = 5.0) -> str | None:
    """The app's answer for orgId: "activated" | "pending"; None when it does not answer."""
    q = urllib.parse.urlencode({"orgId": org_id})
    try:
        with urllib.request.urlopen(f"{url.rstrip('/')}/api/get-api-key-status?{q}", timeout=timeout) as r:
            return r.read(64).decode("utf-8", "replace").strip().strip('"')
    except urllib.error.HTTPError as e:
        return f"error {e.code}"
    except (urllib.error.URLError, OSError, TimeoutError):
        return None


def _answers(url: str, timeout: float = 2.0) -> bool:
    """The app is up when its API answers HTTP at all (the official app says "pending" for an
    unknown orgId; swarmdeck's own service says 404 "user not found")."""
    return key_status(url, "swarmdeck-probe", timeout=timeout) is not None


def running_app(profile_paths, timeout: float = 2.0) -> AppInfo | None:
    """The profile's app when its process runs and its API answers within `timeout`, else None."""
    rec = procs.read_record(runtime_file(profile_paths))
    if not procs.alive(rec) or not rec.get("url") or not _answers(rec.get("url"), timeout):
        return None
    return AppInfo(rec.get("url"), int(rec.get("port")), rec.pid, rec.get("app_dir", ""), False)


def _port_from_log(log_path: Path, offset: int) -> int | None:
    try:
        with open(log_path, "rb") as f:
            f.seek(offset)
            text = f.read().decode("utf-8", "replace")
    except FileNotFoundError:
        return None
    found = _URL_RE.findall(text)
    return int(found[-1]) if found else None


def start_app(profile_paths, app_dir: Path, *, port: int, progress: Progress = _nop, timeout: float = 180.0,
              stop: threading.Event | None = None) -> AppInfo:
    """`yarn start -p PORT` in app_dir, in its own session so it outlives the caller (the node
    writes through it); the port is read back from the app's output. Idempotent."""
    app_dir = Path(app_dir)
    info = running_app(profile_paths)
    if info is not None and Path(info.app_dir) == app_dir:
        return info
    # Whatever the runtime file still names (another copy of the app, or one that stopped
    # answering) goes first: two apps of one profile would share one temp-data/ and one would be
    # left running unknown to us.
    stop_app(profile_paths)
    seed_temp_data(profile_paths, app_dir)
    chosen = pick_port("127.0.0.1", int(port))
    progress("start", port=chosen)
    logp = log_file(profile_paths)
    ensure_private_dir(logp.parent)
    ensure_private_dir(Path(profile_paths.run_dir))
    _append_log(logp, f"--- yarn start -p {chosen} -H 127.0.0.1 (in {app_dir}) at {time.strftime('%Y-%m-%d %H:%M:%S')}")
    offset = logp.stat().st_size
    logf = open(logp, "ab")
    try:
        # -H 127.0.0.1: Next.js listens on every interface by default, and this app signs chain
        # writes for whoever reaches it; from another machine use the ssh -L line.
        proc = subprocess.Popen(find_yarn() + ["start", "-p", str(chosen), "-H", "127.0.0.1"], cwd=str(app_dir),
                                env={**os.environ, "PORT": str(chosen)}, stdout=logf, stderr=subprocess.STDOUT,
                                stdin=subprocess.DEVNULL, start_new_session=True)
    finally:
        logf.close()
    try:
        return _await_app(profile_paths, proc, app_dir, logp, offset, timeout, stop)
    except BaseException:  # not up (error, Ctrl-C, cancelled): never leave an app we do not know about
        procs.stop_group(procs.record_for(proc.pid, pgid=proc.pid))
        raise


def _await_app(profile_paths, proc: subprocess.Popen, app_dir: Path, logp: Path, offset: int, timeout: float,
               stop: threading.Event | None) -> AppInfo:
    """Wait until the app prints its port and answers there; then record it in the runtime file."""
    deadline = time.monotonic() + timeout
    seen: int | None = None
    while time.monotonic() < deadline:
        if stop is not None and stop.is_set():
            raise AppError(M("err.app.cancelled"), fix=M("err.app.again"))
        if proc.poll() is not None:
            text = logp.read_bytes()[offset:].decode("utf-8", "replace").strip()
            said = [ln.strip() for ln in text.splitlines() if ln.strip() and not ln.startswith(_YARN_NOISE)]
            last = said[-1] if said else f"exit code {proc.returncode}"
            fix = ("another program took the port; try again (swarmdeck picks the next free one)"
                   if "EADDRINUSE" in text else "read the log; fix what it says and sign in again")
            raise AppError(f"the sign-in app exited at start: {last}", where=str(logp), fix=fix)
        seen = seen or _port_from_log(logp, offset)
        if seen:
            url = f"http://localhost:{seen}"
            if _answers(url):
                procs.write_record(runtime_file(profile_paths), procs.record_for(
                    proc.pid, pgid=proc.pid, url=url, port=seen, app_dir=str(app_dir), started_at=time.time()))
                return AppInfo(url, seen, proc.pid, str(app_dir), True)
        time.sleep(0.2)
    raise AppError(f"the sign-in app did not answer within {timeout:.0f} s"
                   + (f" (it said it listens on port {seen})" if seen else " (it never printed the port it listens on)"),
                   where=str(logp), fix="read the log; a first start of Next.js on a slow disk can take long: try again")


def stop_app(profile_paths, timeout: float = 10.0) -> bool:
    """Stop the profile's app (the whole process group: yarn and node). temp-data/ is left as it is."""
    rt = runtime_file(profile_paths)
    # the whole group (yarn, sh, node); SIGCONT first: a Ctrl-Z'd / SIGSTOPped app only acts on SIGTERM once continued
    stopped = procs.stop_group(procs.read_record(rt), timeout)
    rt.unlink(missing_ok=True)
    return stopped


# ------------------------------------------------------------------------------------------
# Credential files


def _login_files(d: Path) -> tuple[dict | None, dict | None]:
    return identity.read_user_data(d), identity.read_user_api_keys(d)


def _merge_keys(ours: list[dict], theirs: list[dict]) -> list[dict]:
    """Our entries, updated by theirs with the same publicKey, then theirs that are new (newest last)."""
    by_pub = {str(e.get("publicKey", "")).lower(): e for e in theirs}
    out = [by_pub.pop(str(e.get("publicKey", "")).lower(), e) for e in ours]
    return out + [e for e in theirs if str(e.get("publicKey", "")).lower() in by_pub]


def pick_up(profile_paths, app_dir: Path) -> identity.LoginInfo | None:
    """Copy the app's temp-data files into the profile's identity dir (0600). Returns the login, or None.

    Refuses (IdentityError) when the app signed in a different account than the profile's:
    the profile's files are never replaced by another account's."""
    tmp = Path(app_dir) / TEMP_DATA
    try:
        ud, keys = _login_files(tmp)
    except IdentityError as e:
        raise AppFilesUnreadable(e.what, where=e.where, fix="wait a moment (the app may be writing it); if it "
                                 "stays broken, move temp-data/ aside and sign in again") from None
    if not ud:
        return None
    org_id = next(iter(ud))
    ident_dir = Path(profile_paths.identity_dir)
    mine = identity.read_user_data(ident_dir) or {}
    if mine and org_id not in mine:
        other = next(iter(mine))
        raise IdentityError(
            f"the sign-in app signed in a different account (orgId {org_id}) than this profile's (orgId {other}); "
            "nothing was copied.", where=str(tmp / "userData.json"),
            fix="sign in with this profile's account (the email you used before), or make a new profile for "
                "the other account: `swarmdeck profile new NAME`")
    ensure_private_dir(ident_dir)
    if mine.get(org_id) != ud[org_id]:
        fsutil.atomic_write_json(ident_dir / "userData.json", {org_id: ud[org_id]}, mode=0o600)
    my_keys = identity.read_user_api_keys(ident_dir) or {}
    merged = _merge_keys(my_keys.get(org_id, []), (keys or {}).get(org_id, []))
    if merged != my_keys.get(org_id, []):
        fsutil.atomic_write_json(ident_dir / "userApiKey.json", {**my_keys, org_id: merged}, mode=0o600)
    return identity.read_login(ident_dir)


def seed_temp_data(profile_paths, app_dir: Path) -> bool:
    """Put the profile's files back into the app's temp-data/ (what the public script deletes on exit).

    The app's own newer entries for the same account are picked up first, so nothing is lost;
    another account's files there are moved aside into temp-data/replaced-<time>/. Returns
    True when the app now holds this profile's sign-in."""
    ident_dir = Path(profile_paths.identity_dir)
    mine = identity.read_user_data(ident_dir)
    if not mine:
        return False
    tmp = Path(app_dir) / TEMP_DATA
    org_id = next(iter(mine))
    try:
        theirs = identity.read_user_data(tmp)
        if theirs and org_id in theirs:
            pick_up(profile_paths, app_dir)  # the app's own newer keys for this account first
    except IdentityError:  # unreadable (AppFilesUnreadable included): kept aside, like another account's
        theirs = {"<unreadable>": {}}
    if theirs and org_id not in theirs:
        aside = tmp / f"replaced-{time.strftime('%Y%m%d-%H%M%S')}"
        aside.mkdir(parents=True, exist_ok=True)
        for f in FILES:
            if (tmp / f).exists():
                os.replace(tmp / f, aside / f)
    tmp.mkdir(parents=True, exist_ok=True)
    for f in FILES:
        src = ident_dir / f
        if src.exists():
            data = src.read_bytes()
            dst = tmp / f
            if not dst.exists() or dst.read_bytes() != data:
                fsutil.atomic_write_bytes(dst, data, mode=0o600)
    return True


# ------------------------------------------------------------------------------------------
# The whole sign-in


def app_dir_for(profile) -> Path | None:
    """The modal-login directory configured for the profile (config `login_app`), or None."""
    p = getattr(profile.settings, "login_app", "") or ""
    return resolve_app_dir(p) if p else None


def ensure_running(profile, *, progress: Progress = _nop, stop: threading.Event | None = None) -> AppInfo | None:
    """Configure, build (if needed) and start the profile's app; None when no app dir is configured
    (then the user runs the app themselves at the network's login_url)."""
    app_dir = app_dir_for(profile)
    if app_dir is None:
        return None
    check_not_shared(profile.name, app_dir)
    if profile.network.coordinator:
        if write_env(app_dir, {CONTRACT_ENV_KEY: profile.network.coordinator}):
            progress("env", var=CONTRACT_ENV_KEY, value=profile.network.coordinator)
    running = running_app(profile.paths)
    if running is not None and Path(running.app_dir) == app_dir and not needs_build(app_dir):
        return running
    if running is not None:
        stop_app(profile.paths)  # its .env or sources changed: rebuild and restart
    prepare(app_dir, log_file(profile.paths), progress=progress, stop=stop)
    return start_app(profile.paths, app_dir, port=int(profile.settings.login_port), progress=progress, stop=stop)


def check_not_shared(name: str, app_dir: Path) -> None:
    """Refuse an app directory another profile already uses (the app keeps one account)."""
    for p in list_profiles():
        other = getattr(p.settings, "login_app", "") or ""
        if p.name == name or not other:
            continue
        try:
            theirs = resolve_app_dir(other)
        except AppError:
            continue  # that profile's own setting is broken: its doctor/login says so, not ours
        if theirs == app_dir:
            raise AppError(
                f"profile {p.name!r} already uses the sign-in app in {app_dir}; the app keeps one "
                "account in its temp-data/, so two profiles cannot share it.",
                where=f"config.toml [profiles.{name}] login_app",
                fix=f"give this profile its own copy: `swarmdeck login -p {name} --clone`, "
                    f"or `cp -r {app_dir} {app_dir}-{name}` and `--app` that")


def wait_for_sign_in(profile, app: AppInfo, *, progress: Progress = _nop, stop: threading.Event | None = None,
                     timeout: float | None = None, poll: float = 1.0,
                     stale_key: str | None = None) -> identity.LoginInfo | None:
    """Wait for the two files in temp-data/, copy them, then poll get-api-key-status until activated.

    stale_key: a session key known to be dead (the chain refused it): only a newer key counts.
    Returns the activated login, or None on timeout / stop."""
    stop = stop or threading.Event()
    deadline = None if timeout is None else time.monotonic() + timeout
    app_dir = Path(app.app_dir)
    seen_org = None
    unreadable_since: float | None = None
    progress("wait_files", dir=str(app_dir / TEMP_DATA))
    while True:
        try:
            login = pick_up(profile.paths, app_dir)
            unreadable_since = None
        except AppFilesUnreadable:
            # half-written by the app right now: look again, but not forever
            unreadable_since = unreadable_since or time.monotonic()
            if time.monotonic() - unreadable_since > UNREADABLE_GRACE_S:
                raise
            login = None
        if login is not None and stale_key and str(login.api_public_key).lower() == stale_key.lower():
            login = None  # still the refused key: the browser sign-in has not happened yet
        if login is not None:
            if seen_org != login.org_id:
                seen_org = login.org_id
                progress("files", org=login.org_id, email=login.email or "", dir=str(profile.paths.identity_dir))
                progress("wait_activation")
            status = key_status(app.url, login.org_id)
            if status == "activated":
                if not login.activated and login.api_public_key:
                    identity.set_api_key_activated(profile.paths.identity_dir, login.org_id, login.api_public_key)
                _clear_sign_in_flag(profile.name)
                login = identity.read_login(profile.paths.identity_dir)
                progress("activated", email=login.email or login.org_id, address=login.address or "")
                return login
        if deadline is not None and time.monotonic() > deadline:
            return None
        if stop.wait(poll):
            return None


def _clear_sign_in_flag(name: str) -> None:
    signin.clear(name)


def set_app_dir(profile_name: str, app_dir: Path) -> None:
    """Remember the app directory in config.toml ([profiles.NAME] login_app)."""
    with _config.config_lock():
        cfg = _config.load_config()
        cfg.set_profile_value(profile_name, "login_app", str(app_dir))
        cfg.save()


def adopt_checkout(profile, src: Path) -> Path | None:
    """After `profile import` of an rl-swarm checkout: use its modal-login/ as the profile's sign-in
    app when the profile is on a public network and has none yet. Returns the dir, or None."""
    if profile.network.kind == "local" or getattr(profile.settings, "login_app", ""):
        return None
    try:
        app_dir = resolve_app_dir(Path(src) / APP_SUBDIR)
        check_not_shared(profile.name, app_dir)
    except AppError:
        return None  # not a checkout with the app, or another profile uses it: leave it to `swarmdeck login`
    set_app_dir(profile.name, app_dir)
    return app_dir
