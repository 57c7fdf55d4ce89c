"""Checkpoints: LoRA adapter + optimizer state + round number, written atomically.

Layout under the profile's checkpoints dir:
    round-00000012/  adapter_model.safetensors, adapter_config.json, optimizer.pt, meta.json
A checkpoint is written into a hidden temp dir next to it, every file fsync'd, meta.json last
(it is the "complete" marker), then the dir is renamed into place and the parent fsync'd.
A crash or a full disk at any point leaves the previous checkpoints untouched and valid; a
half-written temp dir is removed (or ignored and swept on the next save). The last `keep`
checkpoints are kept.
"""

from __future__ import annotations

import json
import logging
import os
import re
import shutil
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from core.base.errors import TrainingError

log = logging.getLogger("swarmdeck.training")

_NAME_RE = re.compile(r"^round-(\d{8,})$")
FORMAT_VERSION = 1


@dataclass
class CheckpointInfo:
    round: int
    path: Path
    meta: dict


def _fsync_file(p: Path) -> None:
    fd = os.open(p, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _fsync_dir(p: Path) -> None:
    try:
        _fsync_file(p)
    except OSError:
        pass


class CheckpointManager:
    def __init__(self, directory: Path, keep: int = 3):
        self.dir = Path(directory)
        self.keep = max(1, int(keep))

    # ------------------------------------------------------------------ write
    def save(self, model, optimizer, round_: int, extra: dict | None = None) -> Path:
        """Write a checkpoint for `round_`; returns its directory. Raises TrainingError on I/O failure
        (the previous checkpoints stay valid)."""
        import torch
        from peft import get_peft_model_state_dict
        from safetensors.torch import save_file

        self.dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        self._sweep_temps()
        final = self.dir / f"round-{int(round_):08d}"
        tmp = Path(tempfile.mkdtemp(prefix=f".tmp-{final.name}-", dir=self.dir))
        try:
            state = {k: v.detach().contiguous().cpu() for k, v in get_peft_model_state_dict(model).items()}
            save_file(state, str(tmp / "adapter_model.safetensors"))
            peft_cfg = model.peft_config["default"]
            peft_cfg.save_pretrained(str(tmp))
            if optimizer is not None:
                torch.save(optimizer.state_dict(), tmp / "optimizer.pt")
            meta = {"format": FORMAT_VERSION, "round": int(round_), "saved_at": time.time(),
                    "files": sorted(p.name for p in tmp.iterdir()), **(extra or {})}
            (tmp / "meta.json").write_text(json.dumps(meta, indent=2, sort_keys=True, default=str))
            for p in tmp.iterdir():
                _fsync_file(p)
            _fsync_dir(tmp)
            if final.exists():  # re-saving the same round: move the old one aside first
                old = self.dir / f".old-{final.name}-{os.getpid()}-{time.monotonic_ns()}"
                os.rename(final, old)
                os.rename(tmp, final)
                shutil.rmtree(old, ignore_errors=True)
            else:
                os.rename(tmp, final)
            _fsync_dir(self.dir)
        except OSError as e:
            shutil.rmtree(tmp, ignore_errors=True)
            raise TrainingError(f"could not write checkpoint for round {round_}: {e.strerror or e}",
                                where=str(self.dir),
                                fix="free disk space or fix permissions; the previous checkpoint is intact") from None
        except Exception as e:
            shutil.rmtree(tmp, ignore_errors=True)
            # safetensors (SafetensorError) and torch.save (RuntimeError) report a full disk as their
            # own error types, not OSError: name it like one instead of crashing the node.
            msg = str(e)
            if any(s in msg for s in ("No space left", "I/O error", "failed writing file", "Disk quota")):
                raise TrainingError(f"could not write checkpoint for round {round_}: {msg[:200]}",
                                    where=str(self.dir),
                                    fix="free disk space or fix permissions; the previous checkpoint is intact") from None
            raise
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
        self._prune()
        return final

    def _sweep_temps(self) -> None:
        for p in self.dir.glob(".tmp-round-*"):
            shutil.rmtree(p, ignore_errors=True)
        for p in self.dir.glob(".old-round-*"):
            shutil.rmtree(p, ignore_errors=True)

    def _prune(self) -> None:
        cps = self.list()
        for info in cps[:-self.keep]:
            shutil.rmtree(info.path, ignore_errors=True)

    # ------------------------------------------------------------------ read
    def list(self) -> list[CheckpointInfo]:
        """Complete checkpoints, oldest first (a dir without a readable meta.json is not one)."""
        out = []
        if not self.dir.is_dir():
            return out
        for p in self.dir.iterdir():
            m = _NAME_RE.match(p.name)
            if not m or not p.is_dir():
                continue
            try:
                meta = json.loads((p / "meta.json").read_text())
                if int(meta["round"]) != int(m.group(1)):
                    continue
                if not (p / "adapter_model.safetensors").is_file():
                    continue
            except (OSError, ValueError, KeyError, TypeError):
                continue
            out.append(CheckpointInfo(round=int(meta["round"]), path=p, meta=meta))
        out.sort(key=lambda i: i.round)
        return out

    def latest(self) -> CheckpointInfo | None:
        cps = self.list()
        return cps[-1] if cps else None

    def load_latest(self, model, optimizer=None) -> CheckpointInfo | None:
        """Restore the newest loadable checkpoint into model (+ optimizer). None when there is none.

        A checkpoint that fails to load (corrupt file) is skipped in favour of the one before it.
        """
        for info in reversed(self.list()):
            try:
                self.load(info, model, optimizer)
                return info
            except Exception as e:  # corrupt / incompatible: try the previous one
                log.warning("checkpoint %s unusable (%s: %s); trying the previous one", info.path,
                            type(e).__name__, e)
        return None

    @staticmethod
    def load(info: CheckpointInfo, model, optimizer=None) -> None:
        import torch
        from peft import set_peft_model_state_dict
        from safetensors.torch import load_file

        state = load_file(str(info.path / "adapter_model.safetensors"))
        res = set_peft_model_state_dict(model, state)
        unexpected = getattr(res, "unexpected_keys", None)
        if unexpected:
            raise ValueError(f"adapter does not match the model ({len(unexpected)} unexpected keys)")
        opt_path = info.path / "optimizer.pt"
        if optimizer is not None and opt_path.is_file():
            sd: Any = torch.load(opt_path, map_location="cpu", weights_only=True)
            optimizer.load_state_dict(sd)
