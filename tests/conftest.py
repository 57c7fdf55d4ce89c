"""Shared fixtures. Every test runs with HOME/XDG/SWARMDECK_HOME pointed at a temp dir."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import pytest

from tests.helpers.chain import local_chain

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

REPO = Path(__file__).resolve().parents[1]
# matplotlib (pulled in by the training stack) builds its font cache under $MPLCONFIGDIR: one shared
# place, not each test's fresh HOME, so it is built once instead of in every test.
os.environ.setdefault("MPLCONFIGDIR", os.path.join(tempfile.gettempdir(), f"swarmdeck-tests-mpl-{os.getuid()}"))
# Child processes (the modal-login stand-in, fake nodes) import `tests.helpers.*` from any cwd.
os.environ["PYTHONPATH"] = os.pathsep.join([str(REPO), *filter(None, [os.environ.get("PYTHONPATH")])])


@pytest.fixture(autouse=True)
def isolated_home(tmp_path_factory, monkeypatch) -> Path:
    """A fresh swarmdeck home per test: config, data, logs, runtime all under tmp."""
    home = tmp_path_factory.mktemp("home")
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("SWARMDECK_HOME", str(home / "sd"))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(home / ".config"))
    monkeypatch.setenv("XDG_DATA_HOME", str(home / ".local/share"))
    monkeypatch.setenv("XDG_STATE_HOME", str(home / ".local/state"))
    monkeypatch.delenv("XDG_RUNTIME_DIR", raising=False)
    monkeypatch.delenv("SSH_CONNECTION", raising=False)
    monkeypatch.delenv("TMUX", raising=False)
    monkeypatch.delenv("STY", raising=False)
    # "auto" on a GPU-less local network means the demo model (pretrained for minutes on first use,
    # core.training.demo); tests that run nodes use the seconds-to-build tiny model instead unless
    # they set this themselves.
    monkeypatch.setenv("SWARMDECK_LOCAL_MODEL", "tiny")
    # English unless a test asks for another language: the CLI, the TUI and alert delivery follow the
    # locale, so a runner with LANG=ru_RU would otherwise change what English-checking tests see
    monkeypatch.setenv("LANG", "C.UTF-8")
    monkeypatch.delenv("LC_ALL", raising=False)
    monkeypatch.delenv("LC_MESSAGES", raising=False)
    return home


@pytest.fixture
def chain():
    """A fresh local chain (anvil + coordinator) for one test, under its isolated home.
    Suites that need another shape (a round advancer, another network) define their own `chain`."""
    with local_chain() as c:
        yield c
