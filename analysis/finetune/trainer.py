"""The training loop of one run (:class:`_Run`): steps, held-out evaluation, progress and the log.

Set-up is in :mod:`analysis.finetune.setup`, checkpoints in :mod:`analysis.finetune.checkpointing`.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import time
from pathlib import Path

import numpy as np

from analysis._util import finite_or_none
from analysis.errors import SenseScopeError
from analysis.finetune.checkpointing import _Checkpointing
from analysis.finetune.config import FinetuneConfig
from analysis.finetune.data import _derive_seed, _pad, mask_batch
from analysis.finetune.model import _HEAD_ONLY_TYPES
from analysis.finetune.runs import (LOG_FILE, PROGRESS_FILE, FinetuneResult, ProgressFn, _atomic_write_json,
                                    _atomic_write_text, list_checkpoints)
from analysis.finetune.setup import _RunSetup


class _Run(_RunSetup, _Checkpointing):
    """One call of :func:`finetune`: holds the model, optimizer and the bookkeeping files."""

    def __init__(self, texts, out_dir: Path, cfg: FinetuneConfig, stop_event, on_progress: ProgressFn | None):
        self.cfg, self.out, self.stop_event, self.on_progress = cfg, out_dir, stop_event, on_progress
        self.raw_texts = texts
        self.messages: list[str] = []
        self.log: list[dict] = []
        self.t0 = time.monotonic()
        self.last_progress_write = 0.0
        self.head_created = False
        self.resumed_from: int | None = None
        self.step = 0
        self.recent_losses: list[float] = []
        self.last_train_loss: float | None = None
        self.speed_t0 = None
        self.speed_steps0 = 0
        # Set once the folder is known to be this run's (fresh, or the same settings): only then may a failure be
        # recorded in its progress.json (a mismatched rerun must not mark a finished run "failed").
        self.owns_folder = False

    # ---------------------------------------------------------------------------------------------- files
    def write_progress(self, status: str, message: str = "", force: bool = False) -> None:
        """Replace ``progress.json`` (at most every 0.5 s unless ``force``) and pass it to ``on_progress``."""
        now = time.monotonic()
        if not force and now - self.last_progress_write < 0.5:
            return
        self.last_progress_write = now
        sps = self.steps_per_second()
        remaining = self.cfg.steps - self.step
        prog = {"status": status, "step": int(self.step), "total_steps": int(self.cfg.steps), "message": message,
                "train_loss": finite_or_none(self.last_train_loss),
                "eval_loss": finite_or_none(next((r["eval_loss"] for r in reversed(self.log) if "eval_loss" in r),
                                                 None)),
                "head_created": self.head_created, "messages": list(self.messages),
                "elapsed_s": round(now - self.t0, 3), "steps_per_second": sps,
                "eta_s": round(remaining / sps, 1) if sps else None, "updated": time.time(), "pid": os.getpid()}
        _atomic_write_json(self.out / PROGRESS_FILE, prog)
        if self.on_progress is not None:
            self.on_progress(prog)

    def steps_per_second(self) -> float | None:
        """Training speed of this call (steps since the loop started here, per second); None before a step."""
        if self.speed_t0 is None or self.step <= self.speed_steps0:
            return None
        dt = time.monotonic() - self.speed_t0
        return round((self.step - self.speed_steps0) / dt, 4) if dt > 0 else None

    def write_log(self) -> None:
        """Replace ``log.jsonl`` with the records so far."""
        _atomic_write_text(self.out / LOG_FILE, "".join(json.dumps(r, sort_keys=True) + "\n" for r in self.log))

    def _autocast(self):
        """Autocast to the run's reduced precision on CUDA, or nothing for fp32."""
        import torch

        if self.amp_dtype is None:
            return contextlib.nullcontext()
        return torch.autocast(device_type="cuda", dtype=self.amp_dtype)

    def _find_head(self):
        """The LM head module if it can be applied to the masked positions alone, else None.

        The output projection onto a 30k vocabulary costs about as much as MiniLM's whole encoder; only the ~15 %
        masked positions have a loss, so computing logits there alone nearly halves a step on a CPU. This is done
        for model families whose head is one module taking the hidden states (checked once against the full
        forward pass); others take the ordinary path.
        """
        import torch

        if self.model.config.model_type not in _HEAD_ONLY_TYPES:
            return None
        prefix = self.model.base_model_prefix
        kids = [(n, m) for n, m in self.model.named_children() if n != prefix and any(True for _ in m.parameters())]
        if len(kids) != 1 or not hasattr(self.model, prefix):
            return None
        head = kids[0][1]
        masked, attn, labels = self.eval_batches[0]
        self.model.eval()
        try:
            with torch.no_grad():
                full = self.model(input_ids=masked.to(self.device), attention_mask=attn.to(self.device),
                                  labels=labels.to(self.device)).loss.float()
                self._head = head
                fast = self._loss(masked, attn, labels).float()
        except Exception:
            return None
        finally:
            self._head = None
            self.model.train()
        return head if torch.allclose(full, fast, rtol=1e-4, atol=1e-5) else None

    def _loss(self, masked, attn, labels):
        """Mean cross-entropy over the selected positions (what ``model(..., labels=labels).loss`` gives)."""
        import torch

        masked, attn, labels = masked.to(self.device), attn.to(self.device), labels.to(self.device)
        with self._autocast():
            if self._head is None:
                return self.model(input_ids=masked, attention_mask=attn, labels=labels).loss
            base = getattr(self.model, self.model.base_model_prefix)
            hidden = base(input_ids=masked, attention_mask=attn)[0]
            sel = labels != -100
            logits = self._head(hidden[sel])
        return torch.nn.functional.cross_entropy(logits.float(), labels[sel])

    def evaluate(self) -> float:
        import torch

        self.model.eval()
        total, count = 0.0, 0
        with torch.no_grad():
            for masked, attn, labels in self.eval_batches:
                n = int((labels != -100).sum())
                total += float(self._loss(masked, attn, labels).float()) * n
                count += n
        self.model.train()
        return total / count

    def batch_for(self, step: int):
        """Sequences of training step ``step`` (0-based): epoch e uses permutation e of the training pieces."""
        import torch

        n, bs = len(self.data.train), self.cfg.batch_size
        per_epoch = math.ceil(n / bs)
        epoch, pos = divmod(step, per_epoch)
        if getattr(self, "_perm_epoch", None) != epoch:
            g = torch.Generator().manual_seed(_derive_seed(self.cfg.seed, "order", epoch))
            self._perm = torch.randperm(n, generator=g).tolist()
            self._perm_epoch = epoch
        idx = self._perm[pos * bs:(pos + 1) * bs]
        ids, words, attn = _pad([self.data.train[i] for i in idx], self.tokenizer.pad_token_id)
        g = torch.Generator().manual_seed(_derive_seed(self.cfg.seed, "mask", step))
        masked, labels = mask_batch(ids, words, mask_token_id=self.tokenizer.mask_token_id,
                                    replace_ids=self.replace_ids, probability=self.cfg.mlm_probability,
                                    whole_word=self.cfg.whole_word_mask, generator=g)
        return masked, attn, labels, epoch, pos

    # ---------------------------------------------------------------------------------------------- loop
    def run(self) -> FinetuneResult:
        """Set up, evaluate and save the base model (or resume), train to ``steps``, and say how it ended."""
        cfg = self.cfg
        resume = self.prepare()
        if resume is None:
            self._start_fresh()
        else:
            self.restore(resume)
            self.messages.append(f"resumed from {resume.path.name} (step {resume.step} of {cfg.steps})")
        if self.step >= cfg.steps:
            msg = f"already complete: {cfg.steps} steps trained"
            self.messages.append(msg)
            self.write_progress("done", msg, force=True)
            return self.result("done")
        status = self._train()
        if status == "stopped":
            self._save_stop_point()
            msg = f"stopped at step {self.step} of {cfg.steps}; run again with the same output folder to resume"
        else:
            msg = f"done: {cfg.steps} steps"
        self.messages.append(msg)
        self.write_progress(status, msg, force=True)
        return self.result(status)

    def _start_fresh(self) -> None:
        """The dropout RNG state from the seed, then checkpoint-0: the base model and its held-out loss."""
        import torch

        self.torch_rng = torch.Generator().manual_seed(_derive_seed(self.cfg.seed, "dropout")).get_state()
        self.cuda_rng = self._fresh_cuda_rng() if self.device.startswith("cuda") else None
        self._clear_partials()
        self.write_progress("running", "evaluating the base model", force=True)
        loss0 = self.evaluate()
        path = self.save_checkpoint(0, loss0, None)
        self.log = [{"step": 0, "train_loss": None, "lr": 0.0, "eval_loss": finite_or_none(loss0),
                     "checkpoint": path.name, "elapsed_s": round(time.monotonic() - self.t0, 3)}]
        self.write_log()

    def _train(self) -> str:
        """Train until ``steps`` ("done") or until ``stop_event`` is set ("stopped"), logging, evaluating and saving
        on the way."""
        cfg = self.cfg
        log_every = cfg.log_every or max(1, cfg.steps // 100)
        self.model.train()
        self.speed_t0, self.speed_steps0 = time.monotonic(), self.step
        self.write_progress("running", "training", force=True)
        while self.step < cfg.steps:
            if self.stop_event is not None and self.stop_event.is_set():
                return "stopped"
            loss = self.train_step(self.step)
            self.step += 1
            self.recent_losses.append(loss)
            s = self.step
            save = s % cfg.save_every == 0 or s == cfg.steps
            evaluate = save or (cfg.eval_every is not None and s % cfg.eval_every == 0)
            if s % log_every == 0 or evaluate:
                self._log_step(evaluate, save)
            else:
                self.last_train_loss = loss
                self.write_progress("running", f"step {s}")
        return "done"

    def _log_step(self, evaluate: bool, save: bool) -> None:
        """A log record for the current step: the mean training loss since the last one, the held-out loss when
        ``evaluate``, and a checkpoint when ``save``."""
        s = self.step
        record = {"step": s, "train_loss": finite_or_none(float(np.mean(self.recent_losses))),
                  "lr": self.scheduler.get_last_lr()[0], "elapsed_s": round(time.monotonic() - self.t0, 3)}
        self.last_train_loss = record["train_loss"]
        self.recent_losses = []
        if evaluate:
            record["eval_loss"] = finite_or_none(self.evaluate())
        if save:
            record["checkpoint"] = self.save_checkpoint(s, record["eval_loss"], record["train_loss"]).name
        self.log.append(record)
        self.write_log()
        self.write_progress("running", f"step {s}", force=bool(save))

    def _save_stop_point(self) -> None:
        """Save where a stopped run stopped (its state is exact), so that no finished step is lost."""
        if any(c.step == self.step and c.resumable for c in list_checkpoints(self.out)):
            return
        tl = finite_or_none(float(np.mean(self.recent_losses))) if self.recent_losses else self.last_train_loss
        ev = finite_or_none(self.evaluate())
        path = self.save_checkpoint(self.step, ev, tl)
        self.log.append({"step": self.step, "train_loss": tl, "lr": self.scheduler.get_last_lr()[0],
                         "eval_loss": ev, "checkpoint": path.name, "stopped": True,
                         "elapsed_s": round(time.monotonic() - self.t0, 3)})
        self.recent_losses = []
        self.write_log()

    def train_step(self, step: int) -> float:
        import torch

        masked, attn, labels, _, _ = self.batch_for(step)
        devices = [self.device] if self.device.startswith("cuda") else []
        # Dropout draws from torch's global RNG: run the step on this run's own RNG state and keep it, so the stream
        # is exactly resumable and other users of the global RNG in this process neither disturb nor see it.
        with torch.random.fork_rng(devices=devices):
            torch.set_rng_state(self.torch_rng)
            if self.cuda_rng is not None:
                torch.cuda.set_rng_state(self.cuda_rng, self.device)
            loss = self._loss(masked, attn, labels)
            if not torch.isfinite(loss):
                raise SenseScopeError(f"the training loss became {float(loss)} at step {step + 1}; lower the "
                                      f"learning rate (lr={self.cfg.lr})")
            self.optimizer.zero_grad(set_to_none=True)
            if self.scaler is not None:
                self.scaler.scale(loss).backward()
                self.scaler.unscale_(self.optimizer)
            else:
                loss.backward()
            if self.cfg.max_grad_norm:
                torch.nn.utils.clip_grad_norm_(self.model.parameters(), self.cfg.max_grad_norm)
            if self.scaler is not None:
                self.scaler.step(self.optimizer)
                self.scaler.update()
            else:
                self.optimizer.step()
            self.scheduler.step()
            self.torch_rng = torch.get_rng_state()
            if self.cuda_rng is not None:
                self.cuda_rng = torch.cuda.get_rng_state(self.device)
        return float(loss.detach().float())

    def result(self, status: str) -> FinetuneResult:
        ckpts = tuple(list_checkpoints(self.out))
        return FinetuneResult(out_dir=self.out, status=status, step=int(self.step), total_steps=self.cfg.steps,
                              head_created=self.head_created, messages=tuple(self.messages), checkpoints=ckpts,
                              resumed_from=self.resumed_from, device=self.device,
                              seconds=round(time.monotonic() - self.t0, 3), steps_per_second=self.steps_per_second(),
                              n_train_texts=self.data.n_train_texts, n_eval_texts=self.data.n_eval_texts,
                              n_train_sequences=len(self.data.train), n_eval_sequences=len(self.data.eval))
