"""The alert URLs (apprise URLs such as tgram://BOT_TOKEN/CHAT_ID): secrets, kept out of config.toml.

They live one per line in a file of their own, `alert-urls` beside config.toml unless [alerts] urls_file
(or [profiles.NAME.alerts] urls_file) names another. The file is written 0600 and refused when it is
readable by others (the fix is named: chmod 600 PATH). A URL is never printed or logged in full: redact()
keeps its scheme alone ("tgram://…"), which is what `swarmdeck alerts list`, errors and logs show.
"""

from __future__ import annotations

import os
import re
import stat
from pathlib import Path

from core.base import paths as _paths
from core.base.errors import ConfigError
from core.base.fsutil import atomic_write_text
from core.config.settings import AlertSettings

DEFAULT_NAME = "alert-urls"
_SCHEME_RE = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]{0,31})://")


def urls_path(settings: AlertSettings | None = None) -> Path:
    """The URL file the settings name (relative names are beside config.toml)."""
    name = (settings.urls_file if settings else "") or DEFAULT_NAME
    p = Path(name).expanduser()
    return p if p.is_absolute() else _paths.config_dir() / p


def redact(url: str) -> str:
    """A URL as it may be shown: its scheme alone."""
    m = _SCHEME_RE.match(url.strip())
    return f"{m[1]}://…" if m else "(not a URL)"


def redact_text(text: str, urls: list[str]) -> str:
    """`text` with every URL (and its secret-looking parts) replaced by the redacted form."""
    for u in sorted(urls, key=len, reverse=True):
        text = text.replace(u, redact(u))
        rest = _SCHEME_RE.sub("", u)
        for part in re.split(r"[/?&=@:]", rest):
            if len(part) >= 6:
                text = text.replace(part, "…")
    return text


def _check_private(path: Path) -> None:
    st = path.stat()
    if st.st_mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise ConfigError(f"the alert URL file is readable by other users (mode {stat.S_IMODE(st.st_mode):o}); it "
                          f"holds bot tokens", where=str(path), fix=f"chmod 600 {path}")


def load_urls(path: Path) -> list[str]:
    """The URLs in the file ([] when it does not exist). Blank lines and # comments are skipped."""
    path = Path(path)
    try:
        _check_private(path)
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return []
    except (OSError, UnicodeDecodeError) as e:
        raise ConfigError(f"cannot read the alert URL file ({type(e).__name__})", where=str(path),
                          fix=f"check it is a text file you own, mode 600: chmod 600 {path}") from None
    return [ln.strip() for ln in text.splitlines() if ln.strip() and not ln.strip().startswith("#")]


def check_url(url: str) -> None:
    """Raise ConfigError unless apprise understands the URL (the error shows the scheme alone)."""
    import apprise

    url = url.strip()
    if not _SCHEME_RE.match(url) or apprise.Apprise.instantiate(url, suppress_exceptions=True) is None:
        raise ConfigError(f"apprise does not understand the alert URL {redact(url)}", where="swarmdeck alerts add",
                          fix="use an apprise URL, e.g. tgram://BOT_TOKEN/CHAT_ID, discord://WEBHOOK_ID/TOKEN, "
                              "ntfy://TOPIC, mailtos://USER:PASSWORD@HOST, json://HOST/PATH "
                              "(https://github.com/caronc/apprise/wiki)")


def _write(path: Path, urls: list[str]) -> None:
    _paths.ensure_private_dir(path.parent)
    atomic_write_text(path, "".join(u + "\n" for u in urls), mode=0o600)
    os.chmod(path, 0o600)


def add_url(path: Path, url: str) -> int:
    """Append a URL (checked by apprise first); its 1-based number in the file."""
    check_url(url)
    urls = load_urls(path)
    if url.strip() not in urls:
        urls.append(url.strip())
    _write(Path(path), urls)
    return urls.index(url.strip()) + 1


def remove_url(path: Path, number: int) -> str:
    """Remove URL number `number` (1-based); its redacted form."""
    urls = load_urls(path)
    if not 1 <= number <= len(urls):
        raise ConfigError(f"there is no alert URL number {number} ({len(urls)} configured)", where=str(path),
                          fix="see the numbers with: swarmdeck alerts list")
    gone = urls.pop(number - 1)
    _write(Path(path), urls)
    return redact(gone)
