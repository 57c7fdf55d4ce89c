"""TUI suite fixtures: UTC and English, set-up profiles. The helpers live in tests/helpers/tui.py."""

from __future__ import annotations

import time

import pytest

from core.config.settings import load_config
from core.identity import profiles as prof
from tui.model import i18n


@pytest.fixture(autouse=True)
def utc_and_english(monkeypatch):
    monkeypatch.setenv("TZ", "UTC")
    time.tzset()
    monkeypatch.setenv("LANG", "C.UTF-8")
    monkeypatch.delenv("LC_ALL", raising=False)
    monkeypatch.delenv("LC_MESSAGES", raising=False)
    yield
    i18n.set_language("en")


@pytest.fixture
def profiles():
    """Factory: create set-up profiles (identity, state) and drop the example's 'default'."""
    cfg = load_config()
    if "default" in cfg.profile_names():
        cfg.remove_profile("default")
        cfg.set_current_profile("")
        cfg.save()

    def make(*names: str, **settings):
        for n in names:
            prof.create_profile(n, **settings)
        prof.use_profile(names[0])
        return names

    return make
