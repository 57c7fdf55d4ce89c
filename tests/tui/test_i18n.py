"""Message catalogs: Russian complete, placeholders match, every key the UI uses exists."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tui.model import i18n
from tui.model.i18n import Translator, detect_language, load_catalog, placeholders

ROOT = Path(__file__).resolve().parents[2]


def test_russian_has_every_key_with_the_same_placeholders():
    en, ru = load_catalog("en"), load_catalog("ru")
    assert len(en) > 150
    assert sorted(set(en) - set(ru)) == [], "keys missing in ru.toml"
    assert sorted(set(ru) - set(en)) == [], "keys in ru.toml that en.toml lacks"
    bad = {k: (placeholders(en[k]), placeholders(ru[k])) for k in en if placeholders(en[k]) != placeholders(ru[k])}
    assert bad == {}
    # the same text in both is allowed only for names and units (VRAM, RPC URL...), never for a sentence
    untranslated = [k for k in en if en[k] == ru[k] and re.search(r"[A-Za-z]{4,}", re.sub(r"\{[^}]*\}", "", en[k]))
                    and k not in ("dash.vram", "wizard.field.rpc_url", "wizard.field.chain_id",
                                      "alert.title", "alert.fleet_title")]  # product name + placeholders
    assert untranslated == []


def test_every_key_used_in_the_ui_exists():
    used = set()
    for path in list((ROOT / "tui").rglob("*.py")):
        src = path.read_text(encoding="utf-8")
        used |= set(re.findall(r"""\bt\(\s*["']([a-z_]+\.[a-z0-9_.\-]+)["']""", src))
        used |= set(re.findall(r"""Binding\([^)]*["'](keys\.[a-z_]+)["']""", src))
    assert len(used) > 80
    en = load_catalog("en")
    assert sorted(k for k in used if k not in en and not k.endswith(".")) == []
    # keys built from a prefix at run time
    for prefix, names in (("state.", ("running", "stopped", "crashed", "needs_login", "needs_backup", "starting",
                                      "stopping", "gave_up")),
                          ("wizard.step.", ("name", "network", "custom", "participation", "hardware", "hf", "ports",
                                            "confirm")),
                          ("wizard.help.", ("name", "network", "custom", "participation", "hardware", "hf", "ports",
                                            "confirm")),
                          ("login.status.", ("waiting", "signed_in", "activated", "registered")),
                          ("verb.", ("start", "stop", "restart")), ("confirm.", ("stop", "restart"))):
        for n in names:
            assert prefix + n in en, prefix + n
    for key, _ in __import__("tui.model.wizard", fromlist=["x"]).Wizard(None, name="x").summary():
        assert "wizard.field." + key in en


@pytest.mark.parametrize("configured,env,want", [
    ("ru", {"LANG": "en_US.UTF-8"}, "ru"),
    ("auto", {"LANG": "ru_RU.UTF-8"}, "ru"),
    (None, {"LC_ALL": "ru_RU.UTF-8", "LANG": "en_US.UTF-8"}, "ru"),
    ("auto", {"LANG": "C"}, "en"),
    ("auto", {"LANG": "de_DE.UTF-8"}, "en"),
    ("xx", {}, "en"),
])
def test_language_from_config_then_lang(configured, env, want):
    assert detect_language(configured, env) == want


def test_translator_falls_back_and_never_crashes():
    ru = Translator("ru")
    assert ru("keys.quit") == "Выход (узлы работают)"
    assert ru("dash.peers_count", n=3) == "пиров: 3"
    assert ru("no.such.key") == "no.such.key"
    assert ru("dash.peers_count", wrong=1) == load_catalog("ru")["dash.peers_count"]
    assert Translator("zz").lang == "en"
    i18n.set_language("ru")
    try:
        assert i18n.t("common.yes") == "да"
    finally:
        i18n.set_language("en")


def test_each_catalog_directory_is_complete_and_no_key_is_defined_twice():
    """core/base/messages and tui/i18n each have every key in both languages (same placeholders), and a
    key lives in one directory only (else which text wins would depend on the load order)."""
    from core.base.i18n import catalog_dirs, load_file

    dirs = catalog_dirs()
    assert {d.name for d in dirs} >= {"messages", "i18n"}
    seen: dict[str, Path] = {}
    for d in dirs:
        en, ru = load_file(d / "en.toml"), load_file(d / "ru.toml")
        assert sorted(set(en) ^ set(ru)) == [], d
        assert {k for k in en if placeholders(en[k]) != placeholders(ru[k])} == set(), d
        for k in en:
            assert k not in seen, f"{k} is in {seen.get(k)} and {d}"
            seen[k] = d


def test_every_message_key_the_tui_builds_exists():
    used = set()
    for path in (ROOT / "tui").rglob("*.py"):
        used |= set(re.findall(r"""\bM(?:sg)?\(\s*["']([a-z_]+\.[a-z0-9_.\-]+)["']""", path.read_text(encoding="utf-8")))
    assert len(used) > 20
    en = load_catalog("en")
    assert sorted(k for k in used if k not in en and not k.endswith(".")) == []  # "x." + name: prefixes
