"""Message keys in core: errors and events carry key + params, render in the user's language, keep English."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from core.base import i18n
from core.base.errors import IdentityError, SwarmdeckError, message_of
from core.base.i18n import M, Translator, load_catalog
from core.events.types import ErrorEvent, Event, LogEvent

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(autouse=True)
def english_after():
    yield
    i18n.set_language("en")


def test_every_key_core_uses_exists_in_english():
    used = set()
    for path in (ROOT / "core").rglob("*.py"):
        used |= set(re.findall(r"""\bM(?:sg)?\(\s*["']([a-z_]+\.[a-z0-9_.\-]+)["']""", path.read_text(encoding="utf-8")))
    assert len(used) > 20
    en = load_catalog("en")
    assert sorted(k for k in used if k not in en and not k.endswith(".")) == []  # "x." + name: a prefix
    assert all(f"identity.kind.{k}" in en for k in ("peer_id", "org_id", "session_key"))


def test_an_error_is_english_as_before_and_russian_when_rendered():
    e = IdentityError(M("event.err.rejoin", error=M("event.err.no_local_bootnode")), where="127.0.0.1:38331",
                      fix=M("event.err.transient_retry"))
    # old callers: the English text, the same shape as a plain-string error
    assert e.what == "could not rejoin the swarm: no local bootnode answers"
    assert "fix:   transient; the next round retries" in str(e)
    assert e.to_dict()["msgs"]["what"]["params"]["error"]["key"] == "event.err.no_local_bootnode"
    i18n.set_language("ru")
    block = e.render()
    assert block.splitlines()[0] == "не удалось заново подключиться к рою: локальный загрузочный узел не отвечает"
    assert "где: 127.0.0.1:38331" in block and "исправить: временная ошибка" in block
    # a plain-string error (code not moved yet) still renders, as written, with translated labels
    assert SwarmdeckError("boom", where="x").render() == "boom\n  где: x"
    assert message_of(ValueError("bad")) == "bad" and message_of(e).key == "event.err.rejoin"


def test_an_event_keeps_english_on_the_wire_and_renders_its_key():
    ev = LogEvent(level="info", message=M("event.round_done", round=20, reward=0.51234, n_local=4, n_external=4,
                                          peers=2, seconds=3.04, outcome=M("event.loss", loss=0.125)))
    wire = json.loads(ev.to_json())
    assert wire["message"] == "round 20: reward 0.512, 4 local + 4 peer rollouts from 2 peer(s), loss 0.1250, 3.0 s"
    back = Event.from_wire(wire)
    assert back == ev and back.text("message") == wire["message"]
    ru = Translator("ru")
    assert back.text("message", ru).startswith("раунд 20: награда 0.512, роллауты: 4 своих + 4 от пиров")
    assert "потери 0.1250" in back.text("message", ru)
    # an event without keys (an older node) shows its text; a broken msgs entry is ignored, not fatal
    old = Event.from_wire({"v": 1, "type": "error", "where": "DHT", "what": "x failed",
                           "msgs": {"what": {"nokey": 1}}})
    assert isinstance(old, ErrorEvent) and old.text("what", ru) == "x failed" and old.text("fix") == ""
