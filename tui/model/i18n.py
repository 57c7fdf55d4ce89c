"""Message catalogs: every user-facing string of the TUI goes through `t(key, **fields)`.

Catalogs are plain TOML data under tui/i18n/<lang>.toml (sections flatten to dotted keys,
e.g. [wizard] title = "..." -> "wizard.title"). core/ may read them because they are data,
not UI code. English is the reference: a key missing in another language falls back to
English, and a key missing everywhere shows the key itself (visible, never a crash).
Placeholders use str.format syntax: "{round}".
"""

from __future__ import annotations

import os
import re
import string
import tomllib
from functools import lru_cache
from pathlib import Path
from typing import Any

CATALOG_DIR = Path(__file__).resolve().parents[1] / "i18n"
DEFAULT_LANGUAGE = "en"
_FORMATTER = string.Formatter()


def available_languages() -> list[str]:
    return sorted(p.stem for p in CATALOG_DIR.glob("*.toml"))


def _flatten(d: dict[str, Any], prefix: str = "") -> dict[str, str]:
    out: dict[str, str] = {}
    for k, v in d.items():
        key = f"{prefix}{k}"
        if isinstance(v, dict):
            out.update(_flatten(v, key + "."))
        else:
            out[key] = str(v)
    return out


@lru_cache(maxsize=None)
def load_catalog(lang: str) -> dict[str, str]:
    """The flat {key: message} catalog of `lang` ({} when there is no such catalog)."""
    if not re.fullmatch(r"[a-z]{2}(_[A-Z]{2})?", lang or ""):
        return {}
    path = CATALOG_DIR / f"{lang}.toml"
    try:
        with open(path, "rb") as f:
            return _flatten(tomllib.load(f))
    except FileNotFoundError:
        return {}


def detect_language(configured: str | None = None, environ: dict[str, str] | None = None) -> str:
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
        try:
            return msg.format(**fields)
        except (KeyError, IndexError, ValueError):
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
