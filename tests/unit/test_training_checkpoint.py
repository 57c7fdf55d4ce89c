"""Checkpoints: LoRA + optimizer + round, atomic (write-then-rename), keep last N."""

from __future__ import annotations

import errno
import os

import pytest
import torch

from core.base.errors import TrainingError
from core.base.rollouts import Rollout
from core.training.checkpoint import CheckpointManager
from core.training.grpo import GRPOConfig, GRPOEngine
from core.training.model import load_model
from core.training.tiny import build_tiny_model


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    return str(build_tiny_model(tmp_path_factory.mktemp("tiny") / "m"))


def _trained_engine(tiny, mode="fp32", steps=2):
    eng = GRPOEngine(load_model(tiny, mode), GRPOConfig(learning_rate=1e-2, max_new_tokens=8), peer_id="QmCk")
    r = Rollout(task="basic_arithmetic", question="Calculate 1 + 2.", answer="3",
                completions=["<answer>3</answer>", "<answer>4</answer>", "3", "five"], rewards=[1.0, 0.0, 1.0, 0.0])
    for _ in range(steps):
        eng.train([r])
    return eng, r


@pytest.mark.parametrize("mode", ["fp32", "4bit"])
def test_save_and_resume_round_trip(tiny, tmp_path, mode):
    eng, r = _trained_engine(tiny, mode)
    mgr = CheckpointManager(tmp_path / "ck", keep=3)
    path = mgr.save(eng.model, eng.optimizer, 7, extra={"mode": mode})
    assert path.name == "round-00000007" and (path / "meta.json").is_file()
    assert mgr.latest().round == 7 and mgr.latest().meta["mode"] == mode

    fresh = GRPOEngine(load_model(tiny, mode), GRPOConfig(learning_rate=1e-2, max_new_tokens=8), peer_id="QmCk")
    assert any(not torch.equal(fresh.lora_state()[k], v) for k, v in eng.lora_state().items())
    info = CheckpointManager(tmp_path / "ck").load_latest(fresh.model, fresh.optimizer)
    assert info is not None and info.round == 7
    a, b = eng.lora_state(), fresh.lora_state()
    assert all(torch.equal(a[k], b[k]) for k in a)
    sa, sb = eng.optimizer.state_dict(), fresh.optimizer.state_dict()
    assert sa["state"].keys() == sb["state"].keys() and sa["state"]
    k = next(iter(sa["state"]))
    assert torch.equal(sa["state"][k]["exp_avg"], sb["state"][k]["exp_avg"])
    # and training continues identically from the restored state
    eng.train([r])
    fresh.train([r])
    a, b = eng.lora_state(), fresh.lora_state()
    assert all(torch.allclose(a[n], b[n], atol=1e-6) for n in a)


def test_failed_write_keeps_previous_valid(tiny, tmp_path, monkeypatch):
    eng, r = _trained_engine(tiny)
    mgr = CheckpointManager(tmp_path / "ck", keep=3)
    mgr.save(eng.model, eng.optimizer, 1)
    before = eng.lora_state()
    eng.train([r])

    def disk_full(*a, **kw):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(torch, "save", disk_full)  # the optimizer write hits a full disk
    with pytest.raises(TrainingError) as ei:
        mgr.save(eng.model, eng.optimizer, 2)
    assert "No space left" in str(ei.value) and "previous checkpoint is intact" in ei.value.fix
    monkeypatch.undo()
    assert [i.round for i in mgr.list()] == [1]
    assert sorted(os.listdir(tmp_path / "ck")) == ["round-00000001"]  # temp dir removed
    fresh = GRPOEngine(load_model(tiny, "fp32"), GRPOConfig(), peer_id="QmCk")
    assert mgr.load_latest(fresh.model, fresh.optimizer).round == 1
    assert all(torch.equal(before[k], v) for k, v in fresh.lora_state().items())


def test_torn_checkpoint_is_ignored_and_corrupt_one_skipped(tiny, tmp_path):
    eng, _ = _trained_engine(tiny, steps=1)
    mgr = CheckpointManager(tmp_path / "ck", keep=5)
    mgr.save(eng.model, eng.optimizer, 3)
    mgr.save(eng.model, eng.optimizer, 4)
    # a crash mid-write leaves a temp dir: never listed, swept on the next save
    torn = tmp_path / "ck" / ".tmp-round-00000005-abc"
    torn.mkdir()
    (torn / "adapter_model.safetensors").write_bytes(b"half")
    # round 4's weights get corrupted on disk: loading falls back to round 3
    (tmp_path / "ck" / "round-00000004" / "adapter_model.safetensors").write_bytes(b"garbage")
    assert [i.round for i in mgr.list()] == [3, 4]
    fresh = GRPOEngine(load_model(tiny, "fp32"), GRPOConfig(), peer_id="QmCk")
    assert mgr.load_latest(fresh.model, fresh.optimizer).round == 3
    mgr.save(eng.model, eng.optimizer, 5)
    assert not torn.exists()


def test_keeps_last_n(tiny, tmp_path):
    eng, _ = _trained_engine(tiny, steps=1)
    mgr = CheckpointManager(tmp_path / "ck", keep=2)
    for rnd in (1, 2, 3, 4):
        mgr.save(eng.model, eng.optimizer, rnd)
    assert [i.round for i in mgr.list()] == [3, 4]
    mgr.save(eng.model, eng.optimizer, 4)  # re-saving a round replaces it atomically
    assert [i.round for i in mgr.list()] == [3, 4]
    assert CheckpointManager(tmp_path / "empty").load_latest(eng.model) is None


def test_checkpoint_dir_is_a_peft_adapter(tiny, tmp_path):
    # the same directory is what hf_push uploads and what load_model(adapter_dir=...) reads
    eng, _ = _trained_engine(tiny, steps=1)
    path = CheckpointManager(tmp_path / "ck").save(eng.model, eng.optimizer, 9)
    lm = load_model(tiny, "fp32", adapter_dir=path)
    a = eng.lora_state()
    b = {n: p.detach().float() for n, p in lm.model.named_parameters() if "lora_" in n}
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    assert all(p.requires_grad for n, p in lm.model.named_parameters() if "lora_" in n)
