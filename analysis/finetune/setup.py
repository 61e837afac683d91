"""Setting a run up (:class:`_RunSetup`): texts, tokenizer, model, run folder, data, optimizer and held-out batches."""

from __future__ import annotations

import shutil
import time
from dataclasses import asdict

from analysis.errors import ConfigError, CorpusError
from analysis.finetune.config import _WEIGHT_SETTINGS
from analysis.finetune.data import (_Data, _derive_seed, _encode, _pad, corpus_hash, mask_batch, prepare_texts,
                                    split_texts)
from analysis.finetune.model import _load_model, _load_tokenizer, _max_length, _resolve_model
from analysis.finetune.runs import (CHECKPOINT_PREFIX, FORMAT_VERSION, RUN_CONFIG, SPLIT_FILE, Checkpoint,
                                    _atomic_write_json, list_checkpoints, read_run_config)


class _RunSetup:
    """The set-up half of :class:`analysis.finetune.trainer._Run` (which holds the state these methods fill in)."""

    def settings(self) -> dict:
        """The settings that change the trained weights (a resume must repeat them)."""
        d = asdict(self.cfg)
        return {k: d[k] for k in _WEIGHT_SETTINGS}

    def prepare(self) -> Checkpoint | None:
        """Load and split the texts, the tokenizer and the model (new, or the latest resumable checkpoint's), write
        ``run_config.json`` and ``split.json``, encode the data and build the optimizer and held-out batches.

        Returns the checkpoint to resume from, or None for a fresh run.
        """
        cfg = self.cfg
        self.out.mkdir(parents=True, exist_ok=True)
        texts, n_dropped = prepare_texts(self.raw_texts)
        train_idx, eval_idx = split_texts(texts, cfg.eval_fraction, cfg.seed)
        self.model_path, self.local_only = _resolve_model(cfg.model)
        self.tokenizer = _load_tokenizer(self.model_path, cfg.model or "default", self.local_only)
        self.device = self._device()
        self.amp_dtype = self._amp_dtype()
        run_config = {"format": FORMAT_VERSION, "model": cfg.model, "model_path": self.model_path,
                      "settings": self.settings(), "corpus_sha256": corpus_hash(texts), "n_texts": len(texts)}
        existing, resume = self._claim_folder(run_config)
        if n_dropped:
            self.messages.append(f"{n_dropped} empty or duplicate text(s) were left out; {len(texts)} distinct "
                                 f"texts remain")
        self._load_weights(resume, existing, run_config)
        _atomic_write_json(self.out / SPLIT_FILE, {"seed": cfg.seed, "eval_fraction": cfg.eval_fraction,
                                                   "n_texts": len(texts), "train": train_idx, "heldout": eval_idx,
                                                   "corpus_sha256": corpus_hash(texts)})
        self._encode_data(texts, train_idx, eval_idx)
        self.model.to(self.device)
        self._make_optimizer()
        self._make_eval_batches()
        self._head = None
        self._head = self._find_head()
        return resume

    def _claim_folder(self, run_config: dict) -> tuple[dict | None, Checkpoint | None]:
        """(the folder's run_config.json, the checkpoint to resume from); ConfigError when the folder holds another
        run. From here on the folder is this run's (see ``owns_folder``)."""
        existing = read_run_config(self.out)
        resume = None
        if existing is not None:
            self._check_same_run(existing, run_config)
            resumable = [c for c in list_checkpoints(self.out) if c.resumable]
            resume = resumable[-1] if resumable else None
        elif any(p.name.startswith(CHECKPOINT_PREFIX) for p in self.out.iterdir()):
            raise ConfigError(f"{str(self.out)!r} holds checkpoints but no {RUN_CONFIG}; choose an empty output folder")
        self.owns_folder = True
        return existing, resume

    def _load_weights(self, resume: Checkpoint | None, existing: dict | None, run_config: dict) -> None:
        """The model: the resume checkpoint's, or the base model (a new head seeded from the run's seed), in which
        case ``run_config.json`` is written."""
        import torch

        cfg = self.cfg
        if resume is not None:
            self.model, _, _ = _load_model(str(resume.path), str(resume.path), True, torch.get_rng_state())
            self.head_created = bool(existing.get("head_created", False))
            if self.head_created:
                self.messages.append(existing.get("head_message", "a new masked-LM head was created at step 0"))
            return
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

    def _encode_data(self, texts: list[str], train_idx: list[int], eval_idx: list[int]) -> None:
        """Tokenized training and held-out pieces, and the ids a random replacement is drawn from."""
        import torch

        self.max_length = _max_length(self.tokenizer, self.model, self.cfg.max_length)
        train = _encode(self.tokenizer, [texts[i] for i in train_idx], self.max_length)
        held = _encode(self.tokenizer, [texts[i] for i in eval_idx], self.max_length)
        if not train or not held:
            raise CorpusError("after tokenization no training or held-out sequence has a token to predict")
        self.data = _Data(train=train, eval=held[: self.cfg.max_eval_examples], n_train_texts=len(train_idx),
                          n_eval_texts=len(eval_idx))
        specials = set(self.tokenizer.all_special_ids)
        vocab = len(self.tokenizer)
        n_out = self.model.get_output_embeddings().weight.shape[0]
        self.replace_ids = torch.tensor([i for i in range(min(vocab, n_out)) if i not in specials], dtype=torch.long)

    def _clear_partials(self) -> None:
        """Remove half-written ``.checkpoint-<step>.partial`` folders an interrupted run left behind."""
        for stale in self.out.iterdir():
            if stale.name.startswith(f".{CHECKPOINT_PREFIX}") and stale.name.endswith(".partial"):
                shutil.rmtree(stale, ignore_errors=True)

    def _device(self) -> str:
        """The torch device asked for ("auto": CUDA when there is a GPU); ConfigError for CUDA without a GPU."""
        import torch

        want = self.cfg.device
        if want == "auto":
            return "cuda" if torch.cuda.is_available() else "cpu"
        if want.startswith("cuda") and not torch.cuda.is_available():
            raise ConfigError(f"device {want!r} was asked for but no CUDA GPU is available here")
        return want

    def _amp_dtype(self):
        """The autocast dtype of the precision asked for, or None for fp32."""
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
        """ConfigError unless the folder's run has the same weight settings, corpus and model as this one."""
        diffs = [k for k in _WEIGHT_SETTINGS if existing.get("settings", {}).get(k) != current["settings"][k]]
        if existing.get("corpus_sha256") != current["corpus_sha256"]:
            diffs.append("corpus")
        if existing.get("model_path") != current["model_path"]:
            diffs.append("model")
        if diffs:
            raise ConfigError(f"{str(self.out)!r} holds a run with other settings ({', '.join(diffs)} differ); "
                              f"resume it with the same settings or choose a new output folder")

    def _make_optimizer(self):
        """AdamW (no weight decay on biases and LayerNorm weights), linear warm-up then linear decay to 0, and a
        gradient scaler for fp16."""
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

