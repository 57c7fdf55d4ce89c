"""Small shared helpers for screens: translated bindings, short formats."""

from __future__ import annotations

import dataclasses
import time

from tui.model.i18n import t


def translate_bindings(node) -> None:
    """Replace each binding's description (an i18n key like 'keys.quit') by its translation.

    Bindings are declared at class level, before the language is known, so every screen
    calls this in __init__ once the app has chosen its language.
    """
    kb = node._bindings.key_to_bindings
    for key, blist in list(kb.items()):
        kb[key] = [dataclasses.replace(b, description=t(b.description)) if b.description.startswith("keys.")
                   else b for b in blist]


def ago(ts: float | None, now: float | None = None) -> str:
    if ts is None:
        return t("common.na")
    s = max(0, int((now if now is not None else time.time()) - ts))
    if s < 60:
        return t("common.seconds_ago", n=s)
    if s < 3600:
        return t("common.minutes_ago", n=s // 60)
    return t("common.hours_ago", n=s // 3600)


def short_id(peer_id: str | None, keep: int = 6) -> str:
    if not peer_id:
        return t("common.na")
    return peer_id if len(peer_id) <= 2 * keep + 1 else f"{peer_id[:keep]}…{peer_id[-keep:]}"
