"""The training loop of one run (:class:`_Run`): set-up, steps, held-out evaluation, checkpoints and resume."""

from __future__ import annotations

import contextlib
import json
import math
import os
import random
import shutil
import time
from dataclasses import asdict
from pathlib import Path

import numpy as np

from analysis.errors import ConfigError, CorpusError, SenseScopeError
from analysis.finetune.config import _WEIGHT_SETTINGS, FinetuneConfig
from analysis.finetune.data import (_Data, _derive_seed, _encode, _pad, corpus_hash, mask_batch, prepare_texts,
                                    split_texts)
from analysis.finetune.model import _HEAD_ONLY_TYPES, _load_model, _load_tokenizer, _max_length, _quiet, _resolve_model
from analysis.finetune.runs import (CHECKPOINT_PREFIX, FORMAT_VERSION, LOG_FILE, PROGRESS_FILE, RUN_CONFIG, SPLIT_FILE,
                                    TRAINER_STATE, TRAINING_STATE, Checkpoint, FinetuneResult, ProgressFn,
                                    _atomic_write_json, _atomic_write_text, _finite, list_checkpoints, read_log,
                                    read_run_config)


class _Run:
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
        now = time.monotonic()
        if not force and now - self.last_progress_write < 0.5:
            return
        self.last_progress_write = now
        sps = self.steps_per_second()
        remaining = self.cfg.steps - self.step
        prog = {"status": status, "step": int(self.step), "total_steps": int(self.cfg.steps), "message": message,
                "train_loss": _finite(self.last_train_loss),
                "eval_loss": _finite(next((r["eval_loss"] for r in reversed(self.log) if "eval_loss" in r), None)),
                "head_created": self.head_created, "messages": list(self.messages),
                "elapsed_s": round(now - self.t0, 3), "steps_per_second": sps,
                "eta_s": round(remaining / sps, 1) if sps else None, "updated": time.time(), "pid": os.getpid()}
        _atomic_write_json(self.out / PROGRESS_FILE, prog)
        if self.on_progress is not None:
            self.on_progress(prog)

    def steps_per_second(self) -> float | None:
        if self.speed_t0 is None or self.step <= self.speed_steps0:
            return None
        dt = time.monotonic() - self.speed_t0
        return round((self.step - self.speed_steps0) / dt, 4) if dt > 0 else None

    def write_log(self) -> None:
        _atomic_write_text(self.out / LOG_FILE, "".join(json.dumps(r, sort_keys=True) + "\n" for r in self.log))

    # ---------------------------------------------------------------------------------------------- set-up
    def settings(self) -> dict:
        d = asdict(self.cfg)
        return {k: d[k] for k in _WEIGHT_SETTINGS}

    def prepare(self):
        import torch

        cfg = self.cfg
        self.out.mkdir(parents=True, exist_ok=True)
        texts, n_dropped = prepare_texts(self.raw_texts)
        train_idx, eval_idx = split_texts(texts, cfg.eval_fraction, cfg.seed)
        self.model_path, self.local_only = _resolve_model(cfg.model)
        self.tokenizer = _load_tokenizer(self.model_path, cfg.model or "default", self.local_only)
        self.device = self._device()
        self.amp_dtype = self._amp_dtype()

        existing = read_run_config(self.out)
        run_config = {"format": FORMAT_VERSION, "model": cfg.model, "model_path": self.model_path,
                      "settings": self.settings(), "corpus_sha256": corpus_hash(texts), "n_texts": len(texts)}
        resume = None
        if existing is not None:
            self._check_same_run(existing, run_config)
            resumable = [c for c in list_checkpoints(self.out) if c.resumable]
            resume = resumable[-1] if resumable else None
        elif any(p.name.startswith(CHECKPOINT_PREFIX) for p in self.out.iterdir()):
            raise ConfigError(f"{str(self.out)!r} holds checkpoints but no {RUN_CONFIG}; choose an empty output folder")
        self.owns_folder = True
        if n_dropped:
            self.messages.append(f"{n_dropped} empty or duplicate text(s) were left out; {len(texts)} distinct "
                                 f"texts remain")

        if resume is not None:
            self.model, _, _ = _load_model(str(resume.path), str(resume.path), True, torch.get_rng_state())
            self.head_created = bool(existing.get("head_created", False))
            if self.head_created:
                self.messages.append(existing.get("head_message", "a new masked-LM head was created at step 0"))
        else:
            init_state = torch.Generator().manual_seed(_derive_seed(cfg.seed, "init")).get_state()
            self.model, head_msg, body_msg = _load_model(self.model_path, cfg.model or "default", self.local_only,
                                                         init_state)
            self.head_created = head_msg is not None
            for m in (head_msg, body_msg):
                if m:
                    self.messages.append(m)
            from analysis.store import _versions  # the same version stamp as cached embedding sets

            run_config.update(head_created=self.head_created, head_message=head_msg, created=time.time(),
                              versions=_versions())
            _atomic_write_json(self.out / RUN_CONFIG, run_config)
        _atomic_write_json(self.out / SPLIT_FILE, {"seed": cfg.seed, "eval_fraction": cfg.eval_fraction,
                                                   "n_texts": len(texts), "train": train_idx, "heldout": eval_idx,
                                                   "corpus_sha256": corpus_hash(texts)})

        self.max_length = _max_length(self.tokenizer, self.model, cfg.max_length)
        train = _encode(self.tokenizer, [texts[i] for i in train_idx], self.max_length)
        held = _encode(self.tokenizer, [texts[i] for i in eval_idx], self.max_length)
        if not train or not held:
            raise CorpusError("after tokenization no training or held-out sequence has a token to predict")
        self.data = _Data(train=train, eval=held[: cfg.max_eval_examples], n_train_texts=len(train_idx),
                          n_eval_texts=len(eval_idx))
        specials = set(self.tokenizer.all_special_ids)
        vocab = len(self.tokenizer)
        n_out = self.model.get_output_embeddings().weight.shape[0]
        self.replace_ids = torch.tensor([i for i in range(min(vocab, n_out)) if i not in specials], dtype=torch.long)
        self.model.to(self.device)
        self._make_optimizer()
        self._make_eval_batches()
        self._head = None
        self._head = self._find_head()
        return resume

    def _device(self) -> str:
        import torch

        want = self.cfg.device
        if want == "auto":
            return "cuda" if torch.cuda.is_available() else "cpu"
        if want.startswith("cuda") and not torch.cuda.is_available():
            raise ConfigError(f"device {want!r} was asked for but no CUDA GPU is available here")
        return want

    def _amp_dtype(self):
        import torch

        p = self.cfg.precision
        if self.device == "cpu":
            if p in {"bf16", "fp16"}:
                raise ConfigError(f"precision {p} is only offered on CUDA; on this CPU it is slower than fp32 "
                                  f"(use fp32)")
            return None
        if p in {"auto", "fp32"}:
            # Measured on an H100 with a MiniLM-sized model: fp32 48 steps/s vs bf16 autocast 35 at batch 16x128
            # (too little work per kernel to gain), bf16 ahead only from batch 64 (32 vs 23). fp32 also resumes
            # bit-identically there, so it is the default; bf16/fp16 are for large models and batches.
            return None
        return torch.bfloat16 if p == "bf16" else torch.float16

    def _check_same_run(self, existing: dict, current: dict) -> None:
        diffs = [k for k in _WEIGHT_SETTINGS if existing.get("settings", {}).get(k) != current["settings"][k]]
        if existing.get("corpus_sha256") != current["corpus_sha256"]:
            diffs.append("corpus")
        if existing.get("model_path") != current["model_path"]:
            diffs.append("model")
        if diffs:
            raise ConfigError(f"{str(self.out)!r} holds a run with other settings ({', '.join(diffs)} differ); "
                              f"resume it with the same settings or choose a new output folder")

    def _make_optimizer(self):
        import torch

        cfg = self.cfg
        decay, no_decay = [], []
        for name, p in self.model.named_parameters():
            if p.requires_grad:
                (no_decay if p.ndim < 2 else decay).append(p)  # biases and LayerNorm weights are not decayed
        self.optimizer = torch.optim.AdamW([{"params": decay, "weight_decay": cfg.weight_decay},
                                            {"params": no_decay, "weight_decay": 0.0}], lr=cfg.lr, betas=(0.9, 0.999),
                                           eps=1e-8)
        warm, total = cfg.warmup_steps, cfg.steps

        def factor(s: int) -> float:
            if s < warm:
                return (s + 1) / (warm + 1)
            return max(0.0, (total - s) / max(1, total - warm))

        self.scheduler = torch.optim.lr_scheduler.LambdaLR(self.optimizer, factor)
        self.scaler = (torch.amp.GradScaler("cuda") if self.amp_dtype == torch.float16 else None)

    def _make_eval_batches(self):
        """The held-out sequences, padded and masked once from the seed (the same masking at every checkpoint)."""
        import torch

        g = torch.Generator().manual_seed(_derive_seed(self.cfg.seed, "eval-mask"))
        self.eval_batches = []
        ev = self.data.eval
        for i in range(0, len(ev), self.cfg.batch_size):
            ids, words, attn = _pad(ev[i:i + self.cfg.batch_size], self.tokenizer.pad_token_id)
            masked, labels = mask_batch(ids, words, mask_token_id=self.tokenizer.mask_token_id,
                                        replace_ids=self.replace_ids, probability=self.cfg.mlm_probability,
                                        whole_word=self.cfg.whole_word_mask, generator=g)
            self.eval_batches.append((masked, attn, labels))

    # ---------------------------------------------------------------------------------------------- state
    def _autocast(self):
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

    def save_checkpoint(self, step: int, eval_loss: float | None, train_loss: float | None) -> Path:
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
        n, bs = len(self.data.train), self.cfg.batch_size
        epoch, pos = divmod(step, math.ceil(n / bs))
        py_state = random.getstate()
        np_state = np.random.get_state()
        state = {"step": step, "total_steps": self.cfg.steps, "train_loss": _finite(train_loss),
                 "eval_loss": _finite(eval_loss), "epoch": epoch, "position_in_epoch": pos,
                 "n_train_sequences": n, "batch_size": bs, "lr": self.scheduler.get_last_lr()[0],
                 "seed": self.cfg.seed, "head_created": self.head_created, "model": self.cfg.model,
                 "base_model_path": self.model_path, "time": time.time(),
                 "python_rng_state": [py_state[0], list(py_state[1]), py_state[2]],
                 "numpy_rng_state": [np_state[0], np_state[1].tolist(), int(np_state[2]), int(np_state[3]),
                                     float(np_state[4])],
                 "format": FORMAT_VERSION}
        # trainer_state.json is written last: its presence marks the folder complete.
        (tmp / TRAINER_STATE).write_text(json.dumps(state, sort_keys=True), encoding="utf-8")
        if final.exists():
            shutil.rmtree(final)
        os.replace(tmp, final)
        if self.cfg.keep_training_state == "last":
            for c in list_checkpoints(self.out):
                if c.step != step and c.resumable:
                    (c.path / TRAINING_STATE).unlink(missing_ok=True)
        return final

    def restore(self, ckpt: Checkpoint) -> None:
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
        py = state["python_rng_state"]
        random.setstate((py[0], tuple(py[1]), py[2]))
        npst = state["numpy_rng_state"]
        np.random.set_state((npst[0], np.asarray(npst[1], dtype=np.uint32), npst[2], npst[3], npst[4]))
        self.step = ckpt.step
        self.last_train_loss = state.get("train_loss")
        # Forget what the interrupted run logged after this checkpoint; those steps are trained again.
        self.log = [r for r in read_log(self.out) if r.get("step", 0) <= ckpt.step]
        for stale in self.out.iterdir():
            if stale.name.startswith(f".{CHECKPOINT_PREFIX}") and stale.name.endswith(".partial"):
                shutil.rmtree(stale, ignore_errors=True)
        self.write_log()
        self.resumed_from = ckpt.step

    def _fresh_cuda_rng(self):
        import torch

        with torch.random.fork_rng(devices=[self.device]):
            torch.cuda.manual_seed(_derive_seed(self.cfg.seed, "dropout-cuda"))
            return torch.cuda.get_rng_state(self.device)

    # ---------------------------------------------------------------------------------------------- loop
    def run(self) -> FinetuneResult:
        import torch

        cfg = self.cfg
        resume = self.prepare()
        if resume is None:
            random.seed(_derive_seed(cfg.seed, "python"))
            np.random.seed(_derive_seed(cfg.seed, "numpy") % (2 ** 32))
            self.torch_rng = torch.Generator().manual_seed(_derive_seed(cfg.seed, "dropout")).get_state()
            self.cuda_rng = self._fresh_cuda_rng() if self.device.startswith("cuda") else None
            for stale in self.out.iterdir():
                if stale.name.startswith(f".{CHECKPOINT_PREFIX}") and stale.name.endswith(".partial"):
                    shutil.rmtree(stale, ignore_errors=True)
            self.write_progress("running", "evaluating the base model", force=True)
            loss0 = self.evaluate()
            path = self.save_checkpoint(0, loss0, None)
            self.log = [{"step": 0, "train_loss": None, "lr": 0.0, "eval_loss": _finite(loss0),
                         "checkpoint": path.name, "elapsed_s": round(time.monotonic() - self.t0, 3)}]
            self.write_log()
        else:
            self.restore(resume)
            self.messages.append(f"resumed from {resume.path.name} (step {resume.step} of {cfg.steps})")
        if self.step >= cfg.steps:
            msg = f"already complete: {cfg.steps} steps trained"
            self.messages.append(msg)
            self.write_progress("done", msg, force=True)
            return self.result("done")

        log_every = cfg.log_every or max(1, cfg.steps // 100)
        eval_every = cfg.eval_every
        self.model.train()
        self.speed_t0, self.speed_steps0 = time.monotonic(), self.step
        self.write_progress("running", "training", force=True)
        status = "done"
        while self.step < cfg.steps:
            if self.stop_event is not None and self.stop_event.is_set():
                status = "stopped"
                break
            loss = self.train_step(self.step)
            self.step += 1
            self.recent_losses.append(loss)
            s = self.step
            save = s % cfg.save_every == 0 or s == cfg.steps
            evaluate = save or (eval_every is not None and s % eval_every == 0)
            if s % log_every == 0 or evaluate:
                record = {"step": s, "train_loss": _finite(float(np.mean(self.recent_losses))),
                          "lr": self.scheduler.get_last_lr()[0], "elapsed_s": round(time.monotonic() - self.t0, 3)}
                self.last_train_loss = record["train_loss"]
                self.recent_losses = []
                if evaluate:
                    record["eval_loss"] = _finite(self.evaluate())
                if save:
                    record["checkpoint"] = self.save_checkpoint(s, record["eval_loss"], record["train_loss"]).name
                self.log.append(record)
                self.write_log()
                self.write_progress("running", f"step {s}", force=bool(save))
            else:
                self.last_train_loss = loss
                self.write_progress("running", f"step {s}")
        if status == "stopped":
            if not any(c.step == self.step and c.resumable for c in list_checkpoints(self.out)):
                # Save where we stopped (state is exact), so no finished step is lost.
                tl = _finite(float(np.mean(self.recent_losses))) if self.recent_losses else self.last_train_loss
                ev = _finite(self.evaluate())
                path = self.save_checkpoint(self.step, ev, tl)
                self.log.append({"step": self.step, "train_loss": tl, "lr": self.scheduler.get_last_lr()[0],
                                 "eval_loss": ev, "checkpoint": path.name, "stopped": True,
                                 "elapsed_s": round(time.monotonic() - self.t0, 3)})
                self.recent_losses = []
                self.write_log()
            msg = f"stopped at step {self.step} of {cfg.steps}; run again with the same output folder to resume"
        else:
            msg = f"done: {cfg.steps} steps"
        self.messages.append(msg)
        self.write_progress(status, msg, force=True)
        return self.result(status)

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
