"""Message catalogs and message keys: every user-visible string goes through a key and its catalog.

Catalogs are plain TOML data, one file per language in each registered directory: core's own
messages (errors, events, hardware) in core/base/messages/<lang>.toml; the TUI registers
tui/i18n/ on import. Sections flatten to dotted keys ([err] backup_missing = "..." ->
"err.backup_missing"); placeholders use str.format syntax ("{round}"). English is the
reference: a key missing in another language falls back to English, and a key missing
everywhere shows the key itself (visible, never a crash).

Core code never formats a user-visible sentence itself: it builds a `Msg` (key + params) and
hands it to an error (SwarmdeckError(what=Msg(...))) or an event (LogEvent(message=Msg(...)));
those keep the English text (for logs, old readers and `str(e)`) and the key, and the UI and
the CLI render the key in the user's language.
"""

from __future__ import annotations

import os
import re
import string
import tomllib
from functools import lru_cache
from pathlib import Path
from typing import Any, Mapping

CORE_CATALOG_DIR = Path(__file__).resolve().parent / "messages"
DEFAULT_LANGUAGE = "en"
_FORMATTER = string.Formatter()
_catalog_dirs: list[Path] = [CORE_CATALOG_DIR]


def add_catalog_dir(path: Path) -> None:
    """Merge the <lang>.toml files of `path` into every catalog (the TUI's strings, for one)."""
    path = Path(path).resolve()
    if path not in _catalog_dirs:
        _catalog_dirs.append(path)
        load_catalog.cache_clear()
        global _current
        _current = Translator(_current.lang)


def catalog_dirs() -> list[Path]:
    return list(_catalog_dirs)


def available_languages() -> list[str]:
    return sorted({p.stem for d in _catalog_dirs for p in d.glob("*.toml")})


def _flatten(d: dict[str, Any], prefix: str = "") -> dict[str, str]:
    out: dict[str, str] = {}
    for k, v in d.items():
        key = f"{prefix}{k}"
        if isinstance(v, dict):
            out.update(_flatten(v, key + "."))
        else:
            out[key] = str(v)
    return out


def load_file(path: Path) -> dict[str, str]:
    with open(path, "rb") as f:
        return _flatten(tomllib.load(f))


@lru_cache(maxsize=None)
def load_catalog(lang: str) -> dict[str, str]:
    """The flat {key: message} catalog of `lang`, all directories merged ({} when there is none)."""
    if not re.fullmatch(r"[a-z]{2}(_[A-Z]{2})?", lang or ""):
        return {}
    out: dict[str, str] = {}
    for d in _catalog_dirs:
        try:
            out.update(load_file(d / f"{lang}.toml"))
        except FileNotFoundError:
            pass
    return out


def detect_language(configured: str | None = None, environ: Mapping[str, str] | None = None) -> str:
    """Language from config (`language = "ru"`), else LC_ALL / LC_MESSAGES / LANG, else English."""
    env = os.environ if environ is None else environ
    candidates = [configured or ""]
    candidates += [env.get(k, "") for k in ("LC_ALL", "LC_MESSAGES", "LANG")]
    have = set(available_languages())
    for c in candidates:
        c = c.strip()
        if not c or c in ("C", "POSIX") or c.lower() == "auto":
            continue
        code = c.split(".")[0].split("_")[0].lower()
        if code in have:
            return code
    return DEFAULT_LANGUAGE


def placeholders(message: str) -> set[str]:
    """Names of the {placeholders} in a message (for catalog completeness checks)."""
    names = set()
    for _, field, _, _ in _FORMATTER.parse(message):
        if field is not None:
            names.add(field.split(".")[0].split("[")[0])
    return names


class Translator:
    def __init__(self, lang: str = DEFAULT_LANGUAGE):
        self.lang = lang if load_catalog(lang) else DEFAULT_LANGUAGE
        self._cat = load_catalog(self.lang)
        self._en = load_catalog(DEFAULT_LANGUAGE)

    def has(self, key: str) -> bool:
        return key in self._cat or key in self._en

    def __call__(self, key: str, **fields: Any) -> str:
        msg = self._cat.get(key) or self._en.get(key)
        if msg is None:
            return key
        if not fields:
            return msg
        fields = {k: (v.render(self) if isinstance(v, Msg) else v) for k, v in fields.items()}
        try:
            return msg.format(**fields)
        except (KeyError, IndexError, ValueError, TypeError):
            # A translator's typo must not crash a screen; show the raw message instead.
            return msg


_current = Translator(DEFAULT_LANGUAGE)


def set_language(lang: str) -> Translator:
    global _current
    _current = Translator(lang)
    return _current


def current() -> Translator:
    return _current


def t(key: str, **fields: Any) -> str:
    return _current(key, **fields)


def english() -> Translator:
    return Translator(DEFAULT_LANGUAGE)


class Msg(str):
    """A user-visible message as data: a catalog key and its parameters (a parameter may be a Msg).

    A Msg *is* its English text (a str subclass): code that logs it, compares it, puts it in an
    f-string or in JSON keeps working and gets English. `msg.render()` is the text in the current
    language, and `t(...)`/`Translator` render a Msg parameter in the language too. On the wire
    (events): {"key": ..., "params": {...}}."""

    key: str
    params: dict[str, Any]

    def __new__(cls, key: str, /, **params: Any) -> "Msg":
        obj = super().__new__(cls, _english_translator()(key, **params))
        obj.key = key
        obj.params = params
        return obj

    def render(self, tr: Translator | None = None) -> str:
        return (tr or _current)(self.key, **self.params)

    def english(self) -> str:
        return str.__str__(self)

    def __str__(self) -> str:
        return str.__str__(self)

    def __repr__(self) -> str:
        return f"Msg({self.key!r}, **{self.params!r})"

    def __reduce__(self):  # pickle / copy: rebuilt from key and params
        return (_rebuild, (self.key, self.params))

    def to_wire(self) -> dict[str, Any]:
        return {"key": self.key, "params": {k: (v.to_wire() if isinstance(v, Msg) else _plain(v))
                                            for k, v in self.params.items()}}

    @staticmethod
    def from_wire(d: Any) -> "Msg | None":
        """The Msg of a wire dict; None for anything else (a newer or broken writer: the caller shows its text)."""
        if not isinstance(d, Mapping) or not isinstance(d.get("key"), str):
            return None
        params = d.get("params") or {}
        if not isinstance(params, Mapping):
            params = {}
        out = {}
        for k, v in params.items():
            sub = Msg.from_wire(v) if isinstance(v, Mapping) and set(v) <= {"key", "params"} else None
            out[str(k)] = sub if sub is not None else v
        return Msg(d["key"], **out)


def _rebuild(key: str, params: dict[str, Any]) -> Msg:
    return Msg(key, **params)


M = Msg  # short alias at call sites: raise IdentityError(M("event.err.chain_round", error=e), ...)


def _plain(v: Any) -> Any:
    if isinstance(v, (str, int, float, bool)) or v is None:
        return v
    if isinstance(v, (list, tuple)):
        return [_plain(x) for x in v]
    return str(v)


def _english_translator() -> Translator:
    # rebuilt when a catalog directory is added (load_catalog's cache is cleared then)
    global _EN
    if _EN is None or _EN._en is not load_catalog(DEFAULT_LANGUAGE):
        _EN = Translator(DEFAULT_LANGUAGE)
    return _EN


_EN: Translator | None = None


def text(x: "str | Msg | None", tr: Translator | None = None) -> str:
    """A message in the current language: a Msg rendered, a plain string as it is ('' for None)."""
    if x is None:
        return ""
    if isinstance(x, Msg):
        return x.render(tr)
    return str(x)
