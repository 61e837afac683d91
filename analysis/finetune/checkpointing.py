"""Saving and restoring a run's checkpoints (:class:`_Checkpointing`): weights, optimizer, scheduler and RNG state.

A checkpoint is written into a hidden ``.checkpoint-<step>.partial`` folder and renamed when complete;
``trainer_state.json`` is written last, so its presence marks a complete checkpoint (see :mod:`analysis.finetune.runs`).
"""

from __future__ import annotations

import json
import math
import os
import shutil
import time
from pathlib import Path

from analysis._util import finite_or_none
from analysis.finetune.data import _derive_seed
from analysis.finetune.model import _quiet
from analysis.finetune.runs import (CHECKPOINT_PREFIX, FORMAT_VERSION, TRAINER_STATE, TRAINING_STATE, Checkpoint,
                                    list_checkpoints, read_log)


class _Checkpointing:
    """The checkpoint half of :class:`analysis.finetune.trainer._Run` (which holds the state saved here)."""

    def save_checkpoint(self, step: int, eval_loss: float | None, train_loss: float | None) -> Path:
        """Write ``checkpoint-<step>``: the model and tokenizer, ``training_state.pt`` (optimizer, scheduler, scaler,
        the run's dropout RNG state) and ``trainer_state.json`` (step, losses, position in the data). With
        ``keep_training_state="last"`` older checkpoints lose their training state."""
        import torch

        final = self.out / f"{CHECKPOINT_PREFIX}{step}"
        tmp = self.out / f".{CHECKPOINT_PREFIX}{step}.partial"
        if tmp.exists():
            shutil.rmtree(tmp)
        tmp.mkdir()
        with _quiet():
            self.model.save_pretrained(tmp)
            self.tokenizer.save_pretrained(tmp)
        training_state = {
            "optimizer": self.optimizer.state_dict(),
            "scheduler": self.scheduler.state_dict(),
            "scaler": self.scaler.state_dict() if self.scaler is not None else {},
            "torch_rng": self.torch_rng.clone(),
            "cuda_rng": self.cuda_rng.clone() if self.cuda_rng is not None else torch.empty(0, dtype=torch.uint8),
        }
        torch.save(training_state, tmp / TRAINING_STATE)
        # trainer_state.json is written last: its presence marks the folder complete.
        (tmp / TRAINER_STATE).write_text(json.dumps(self._trainer_state(step, eval_loss, train_loss), sort_keys=True),
                                         encoding="utf-8")
        if final.exists():
            shutil.rmtree(final)
        os.replace(tmp, final)
        if self.cfg.keep_training_state == "last":
            for c in list_checkpoints(self.out):
                if c.step != step and c.resumable:
                    (c.path / TRAINING_STATE).unlink(missing_ok=True)
        return final

    def _trainer_state(self, step: int, eval_loss: float | None, train_loss: float | None) -> dict:
        """The content of a checkpoint's ``trainer_state.json``."""
        n, bs = len(self.data.train), self.cfg.batch_size
        epoch, pos = divmod(step, math.ceil(n / bs))
        return {"step": step, "total_steps": self.cfg.steps, "train_loss": finite_or_none(train_loss),
                "eval_loss": finite_or_none(eval_loss), "epoch": epoch, "position_in_epoch": pos,
                "n_train_sequences": n, "batch_size": bs, "lr": self.scheduler.get_last_lr()[0],
                "seed": self.cfg.seed, "head_created": self.head_created, "model": self.cfg.model,
                "base_model_path": self.model_path, "time": time.time(), "format": FORMAT_VERSION}

    def restore(self, ckpt: Checkpoint) -> None:
        """Continue from ``ckpt``: optimizer, scheduler, scaler and RNG state, step and log as they were there."""
        import torch

        ts = torch.load(ckpt.path / TRAINING_STATE, map_location="cpu", weights_only=True)
        self.optimizer.load_state_dict(ts["optimizer"])
        self.scheduler.load_state_dict(ts["scheduler"])
        if self.scaler is not None and ts.get("scaler"):
            self.scaler.load_state_dict(ts["scaler"])
        self.torch_rng = ts["torch_rng"]
        cuda = ts.get("cuda_rng")
        self.cuda_rng = cuda if (cuda is not None and cuda.numel() and self.device.startswith("cuda")) else None
        if self.device.startswith("cuda") and self.cuda_rng is None:
            self.cuda_rng = self._fresh_cuda_rng()
        state = json.loads((ckpt.path / TRAINER_STATE).read_text(encoding="utf-8"))
        self.step = ckpt.step
        self.last_train_loss = state.get("train_loss")
        # Forget what the interrupted run logged after this checkpoint; those steps are trained again.
        self.log = [r for r in read_log(self.out) if r.get("step", 0) <= ckpt.step]
        self._clear_partials()
        self.write_log()
        self.resumed_from = ckpt.step

    def _fresh_cuda_rng(self):
        """A CUDA RNG state derived from the seed, made without touching the process's own CUDA generator."""
        import torch

        with torch.random.fork_rng(devices=[self.device]):
            torch.cuda.manual_seed(_derive_seed(self.cfg.seed, "dropout-cuda"))
            return torch.cuda.get_rng_state(self.device)
