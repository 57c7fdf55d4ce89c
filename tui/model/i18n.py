"""The TUI's view of the message catalogs (core.base.i18n): every user-facing string goes through `t(key, **fields)`.

The loader lives in core (core/ renders its errors and events through the same catalogs and never
imports the TUI); this module registers the TUI's own catalog directory, tui/i18n/<lang>.toml, and
re-exports the API the screens use.
"""

from __future__ import annotations

from pathlib import Path

from core.base.i18n import (DEFAULT_LANGUAGE, M, Msg, Translator, add_catalog_dir, available_languages,  # noqa: F401
                            current, detect_language, english, load_catalog, placeholders, set_language, t, text)

CATALOG_DIR = Path(__file__).resolve().parents[1] / "i18n"
add_catalog_dir(CATALOG_DIR)


def error_text(e: BaseException) -> str:
    """An exception for the user: our errors as what / where / fix in the current language, others as str(e)."""
    from core.base.errors import SwarmdeckError

    return e.render() if isinstance(e, SwarmdeckError) else str(e)
