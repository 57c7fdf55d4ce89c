"""Atomic writes: the old file or the new one, never half; exclusive creation never overwrites."""

import json
import os

import pytest

from core.base import fsutil


def test_atomic_write_replaces_whole_file_with_mode(tmp_path):
    p = tmp_path / "state.json"
    fsutil.atomic_write_json(p, {"round": 1})
    fsutil.atomic_write_json(p, {"round": 2}, mode=0o640)
    assert json.loads(p.read_text()) == {"round": 2}
    assert p.stat().st_mode & 0o777 == 0o640
    assert os.listdir(tmp_path) == ["state.json"]  # no temp file left behind


def test_failed_rename_keeps_old_file_and_removes_temp(tmp_path, monkeypatch):
    p = tmp_path / "ckpt"
    fsutil.atomic_write_text(p, "old")

    def boom(src, dst):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "replace", boom)
    with pytest.raises(OSError):
        fsutil.atomic_write_text(p, "new")
    assert p.read_text() == "old"
    assert os.listdir(tmp_path) == ["ckpt"]


def test_create_exclusive_never_overwrites(tmp_path):
    p = tmp_path / "swarm.pem"
    fsutil.create_exclusive(p, b"first")
    with pytest.raises(FileExistsError):
        fsutil.create_exclusive(p, b"second")
    assert p.read_bytes() == b"first"
    assert p.stat().st_mode & 0o777 == 0o600
    assert os.listdir(tmp_path) == ["swarm.pem"]
