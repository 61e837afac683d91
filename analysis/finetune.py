"""Domain-adaptive fine-tuning: continued masked-LM training of an encoder on the user's texts, with checkpoints.

Why this module exists
----------------------
Simons (2024) made Astro-HEP-BERT by giving bert-base more masked-LM training on his field's papers, and Ruppik et al.
(2025) watch the local intrinsic dimension of token embeddings change across the checkpoints of such a run. SenseScope
lets a user make such a domain-adapted model from their own corpus and keep its checkpoints, so every page can compare
the base model (``checkpoint-0``) with the adapted ones.

What a run does
---------------
* Texts are deduplicated (exact copies), then a seeded share (``eval_fraction``) is held out. Each text is tokenized
  with the model's fast tokenizer and cut into pieces of at most ``max_length`` tokens (special tokens included), so
  nothing of a long text is lost.
* Masking is BERT's: 15 % of the non-special tokens (or of the words, with ``whole_word_mask``: all pieces of a chosen
  word, found through ``word_ids()``) are selected; of those 80 % become the mask token, 10 % a random token, 10 % stay.
  A sequence in which nothing was selected gets one token (or word) selected, so no batch has an undefined loss.
* The held-out pieces are masked ONCE, from the seed, so their loss is comparable across checkpoints. It is evaluated at
  step 0 (the base model) and at every checkpoint.
* AdamW (no weight decay on biases and LayerNorm weights), linear warm-up then linear decay to 0, gradient clipping.
* Everything random is derived from ``seed``: the head's initialisation, the data order (one permutation per epoch),
  the masking (one generator per step), and dropout (a torch RNG state carried through the run and saved in every
  checkpoint). Because of that, a run that is killed and resumed from its latest checkpoint ends with bit-identical
  weights: checked on the CPU, and on an H100 in fp32 and fp16 autocast. With bf16 autocast a resumed run differed
  from an uninterrupted one by up to ~1e-3 per weight after 10 more steps (two uninterrupted runs were identical), so
  there resuming is only close.
* A model without a masked-LM head (the packaged MiniLM has none) gets a new head whose decoder is tied to the input
  embeddings; the missing keys reported by ``from_pretrained`` reveal this, and the user is told.

Output folder
-------------
::

    <out>/run_config.json          settings, corpus hash, model path (a resume must match them)
    <out>/split.json               which texts (indices after deduplication) were held out
    <out>/log.jsonl                one JSON object per logged step: step, train_loss, lr, eval_loss?, checkpoint?
    <out>/progress.json            {"status": running|done|failed|stopped, "step", "total_steps", "message", ...}
    <out>/checkpoint-<step>/       config.json, model.safetensors, tokenizer files, trainer_state.json,
                                   training_state.pt (optimizer, scheduler, RNG; only in the latest checkpoint
                                   unless keep_training_state="all")

``log.jsonl`` and ``progress.json`` are replaced atomically (temp file + ``os.replace``) so a page can poll them; a
checkpoint is written into a hidden ``.checkpoint-<step>.partial`` folder and renamed when complete, so a half-written
checkpoint is never taken for one.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import math
import os
import random
import shutil
import time
import warnings
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Callable, Sequence

import numpy as np

from analysis.errors import ConfigError, CorpusError, ModelLoadError, SenseScopeError

CHECKPOINT_PREFIX = "checkpoint-"
TRAINER_STATE = "trainer_state.json"
TRAINING_STATE = "training_state.pt"
LOG_FILE = "log.jsonl"
PROGRESS_FILE = "progress.json"
RUN_CONFIG = "run_config.json"
SPLIT_FILE = "split.json"
FORMAT_VERSION = 1

ProgressFn = Callable[[dict], None]

# Model families whose masked-LM head is one module applied to the last hidden states (see _Run._find_head).
_HEAD_ONLY_TYPES = {"bert", "roberta", "xlm-roberta", "camembert", "data2vec-text", "mpnet", "megatron-bert",
                    "ernie", "nezha", "roformer"}

# Settings that change the trained weights: a resume must use the same values. The others (how often to save, log,
# evaluate; which device) may differ between the interrupted run and its resume.
_WEIGHT_SETTINGS = ("steps", "seed", "batch_size", "lr", "max_length", "mlm_probability", "whole_word_mask",
                    "eval_fraction", "max_eval_examples", "warmup_ratio", "weight_decay", "max_grad_norm")


@dataclass(frozen=True)
class FinetuneConfig:
    """Settings of a fine-tuning run (validated on construction; a bad value raises ConfigError).

    Parameters
    ----------
    model : hub id in the local cache, local folder, or None/"default" for the packaged all-MiniLM-L6-v2
    steps : number of optimizer steps (>= 1)
    save_every : save a checkpoint every this many steps (>= 1); step 0 and the last step are always saved
    seed : seeds the split, data order, masking, head initialisation and dropout
    batch_size : sequences per step
    lr : peak learning rate of AdamW
    max_length : tokens per sequence, special tokens included; None = min(128, what the model takes)
    mlm_probability : share of tokens (or words) selected for prediction
    whole_word_mask : select whole words (all their word pieces) instead of single tokens
    eval_fraction : share of the texts held out for the held-out masked-LM loss (0 < f < 1; at least one text)
    max_eval_examples : at most this many held-out sequences are evaluated (keeps evaluation fast on a CPU)
    warmup_ratio : share of the steps with a linearly rising learning rate
    weight_decay : AdamW weight decay (not applied to biases and LayerNorm weights)
    max_grad_norm : gradient-norm clipping threshold (None or 0 = no clipping)
    log_every : write a log line every this many steps; None = about 100 lines per run
    eval_every : extra held-out evaluations every this many steps; None = only at checkpoints
    device : "auto" (CUDA if available), "cpu", "cuda" or "cuda:N"
    precision : "auto" (= fp32), "fp32", or on CUDA "bf16" / "fp16" autocast (fp16 with a gradient scaler); bf16 pays
        off only for large models or batches (see ``_Run._amp_dtype``)
    keep_training_state : "last" keeps optimizer/RNG state only in the latest checkpoint (saves disk); "all" keeps it
    """

    model: str | None = None
    steps: int = 100
    save_every: int = 50
    seed: int = 0
    batch_size: int = 16
    lr: float = 5e-5
    max_length: int | None = None
    mlm_probability: float = 0.15
    whole_word_mask: bool = False
    eval_fraction: float = 0.1
    max_eval_examples: int = 256
    warmup_ratio: float = 0.06
    weight_decay: float = 0.01
    max_grad_norm: float | None = 1.0
    log_every: int | None = None
    eval_every: int | None = None
    device: str = "auto"
    precision: str = "auto"
    keep_training_state: str = "last"

    def __post_init__(self):
        def whole(name, lo=1):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < lo:
                raise ConfigError(f"{name} must be a whole number of at least {lo}, not {v!r}")

        whole("steps")
        whole("save_every")
        whole("batch_size")
        whole("max_eval_examples")
        if isinstance(self.seed, bool) or not isinstance(self.seed, (int, np.integer)) or self.seed < 0:
            raise ConfigError(f"seed must be a non-negative whole number, not {self.seed!r}")
        for name in ("log_every", "eval_every"):
            if getattr(self, name) is not None:
                whole(name)
        if self.max_length is not None:
            whole("max_length", 4)
        if not (isinstance(self.lr, (int, float)) and 0 < self.lr < 1):
            raise ConfigError(f"lr must be a learning rate between 0 and 1, not {self.lr!r}")
        if not 0 < self.mlm_probability < 1:
            raise ConfigError(f"mlm_probability must lie between 0 and 1, not {self.mlm_probability!r}")
        if not 0 < self.eval_fraction < 1:
            raise ConfigError(f"eval_fraction must lie between 0 and 1 (some texts must be held out), "
                              f"not {self.eval_fraction!r}")
        if not 0 <= self.warmup_ratio < 1:
            raise ConfigError(f"warmup_ratio must lie in [0, 1), not {self.warmup_ratio!r}")
        if self.weight_decay < 0:
            raise ConfigError(f"weight_decay must be >= 0, not {self.weight_decay!r}")
        if self.max_grad_norm is not None and self.max_grad_norm < 0:
            raise ConfigError(f"max_grad_norm must be >= 0 (or None for no clipping), not {self.max_grad_norm!r}")
        if self.precision not in {"auto", "fp32", "bf16", "fp16"}:
            raise ConfigError(f"precision must be auto, fp32, bf16 or fp16, not {self.precision!r}")
        if self.keep_training_state not in {"last", "all"}:
            raise ConfigError(f"keep_training_state must be 'last' or 'all', not {self.keep_training_state!r}")
        if not (self.device in {"auto", "cpu", "cuda"} or str(self.device).startswith("cuda:")):
            raise ConfigError(f"device must be auto, cpu, cuda or cuda:N, not {self.device!r}")

    @property
    def warmup_steps(self) -> int:
        return int(round(self.warmup_ratio * self.steps))


@dataclass(frozen=True)
class Checkpoint:
    """A complete checkpoint folder of a run.

    ``train_loss`` is the mean training loss of the steps logged last before it (None at step 0); ``eval_loss`` the
    held-out masked-LM loss (mean over the masked tokens of the fixed held-out masking).
    """

    step: int
    path: Path
    train_loss: float | None
    eval_loss: float | None
    resumable: bool


@dataclass(frozen=True)
class FinetuneResult:
    """What a call of :func:`finetune` did.

    ``status`` is "done" (all steps trained) or "stopped" (``stop_event`` was set; run again to resume).
    ``messages`` holds the notices the user should read (new MLM head, deduplicated texts, resume point, ...).
    """

    out_dir: Path
    status: str
    step: int
    total_steps: int
    head_created: bool
    messages: tuple[str, ...]
    checkpoints: tuple[Checkpoint, ...]
    resumed_from: int | None
    device: str
    seconds: float
    steps_per_second: float | None
    n_train_texts: int
    n_eval_texts: int
    n_train_sequences: int
    n_eval_sequences: int

    @property
    def final_eval_loss(self) -> float | None:
        return self.checkpoints[-1].eval_loss if self.checkpoints else None


# ------------------------------------------------------------------------------------------------------ small helpers
def _derive_seed(seed: int, *keys) -> int:
    """A 63-bit seed for one purpose ("mask", step) derived from the user's seed, so streams never overlap."""
    digest = hashlib.sha256(json.dumps([int(seed), *map(str, keys)]).encode()).digest()
    return int.from_bytes(digest[:8], "little") & ((1 << 63) - 1)


def _atomic_write_text(path: Path, text: str) -> None:
    """Replace ``path`` in one step so a poller never reads half a file (durability is not the point: no fsync)."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{id(text)}.tmp")
    try:
        tmp.write_text(text, encoding="utf-8")
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def _atomic_write_json(path: Path, obj) -> None:
    _atomic_write_text(path, json.dumps(obj, indent=1, sort_keys=True, allow_nan=False))


def _finite(x) -> float | None:
    return None if x is None or not math.isfinite(float(x)) else float(x)


def corpus_hash(texts: Sequence[str]) -> str:
    """sha256 of the texts in order (length-prefixed, so ["ab", "c"] and ["a", "bc"] differ)."""
    h = hashlib.sha256()
    for t in texts:
        b = t.encode("utf-8")
        h.update(len(b).to_bytes(8, "little"))
        h.update(b)
    return h.hexdigest()


def prepare_texts(texts: Sequence[str]) -> tuple[list[str], int]:
    """Strip texts, drop empty ones and exact duplicates (first kept, order kept). Returns (texts, n_dropped).

    Duplicates are dropped so that a held-out text never also appears in the training share.
    """
    if isinstance(texts, (str, bytes)):
        raise CorpusError("give the corpus as a list of texts, not one string")
    seen, out = set(), []
    n_in = 0
    for t in texts:
        n_in += 1
        if t is None or (isinstance(t, float) and math.isnan(t)):
            continue
        if not isinstance(t, str):
            raise CorpusError(f"text {n_in - 1} is a {type(t).__name__}, not a string")
        t = t.strip()
        if t and t not in seen:
            seen.add(t)
            out.append(t)
    if not out:
        raise CorpusError("the corpus has no non-empty texts to train on")
    return out, n_in - len(out)


def split_texts(texts: Sequence[str], eval_fraction: float = 0.1, seed: int = 0) -> tuple[list[int], list[int]]:
    """Seeded split of text indices into (train, held-out); the held-out share is at least one text.

    Use it with the texts returned by :func:`prepare_texts` (the indices refer to them); ``<out>/split.json`` of a run
    holds the same indices, so the held-out texts can be embedded later (e.g. for local intrinsic dimension).
    """
    n = len(texts)
    if n < 2:
        raise CorpusError(f"the corpus has {n} distinct text(s); at least 2 are needed so that one can be held out "
                          f"for the held-out loss")
    n_eval = min(n - 1, max(1, int(round(eval_fraction * n))))
    order = np.random.default_rng(_derive_seed(seed, "split")).permutation(n)
    return sorted(map(int, order[n_eval:])), sorted(map(int, order[:n_eval]))


# ---------------------------------------------------------------------------------------------------------- masking
def mask_batch(input_ids, word_ids, *, mask_token_id: int, replace_ids, probability: float = 0.15,
               whole_word: bool = False, generator=None):
    """BERT's masking of a padded batch: select, then 80 % mask token / 10 % random token / 10 % unchanged.

    Parameters
    ----------
    input_ids : LongTensor of shape (batch, seq)
    word_ids : LongTensor of shape (batch, seq); the word index of each token, -1 for special tokens and padding
        (those are never selected)
    mask_token_id : id that replaces 80 % of the selected tokens
    replace_ids : LongTensor of shape (n,); the ids a random replacement is drawn from (the non-special vocabulary)
    probability : chance that a token (or, with ``whole_word``, a word) is selected
    whole_word : select words; all pieces of a selected word are predicted
    generator : torch.Generator for reproducible masking

    Returns
    -------
    (masked_ids, labels) : LongTensors of shape (batch, seq); labels hold the original id at selected positions and
        -100 elsewhere. Every row with at least one candidate has at least one selected token.
    """
    import torch

    cand = word_ids >= 0
    b, t = input_ids.shape
    if whole_word:
        n_words = int(word_ids.max().item()) + 1 if cand.any() else 1
        word_pick = torch.rand((b, n_words), generator=generator) < probability
        selected = torch.gather(word_pick, 1, word_ids.clamp_min(0)) & cand
    else:
        selected = (torch.rand((b, t), generator=generator) < probability) & cand
    # Rows where nothing was selected (short sequences): select one candidate (or its whole word) at random.
    score = torch.rand((b, t), generator=generator).masked_fill(~cand, -1.0)
    empty = (~selected.any(dim=1)) & cand.any(dim=1)
    if empty.any():
        pick = score.argmax(dim=1)
        if whole_word:
            chosen_word = torch.gather(word_ids, 1, pick[:, None])
            forced = (word_ids == chosen_word) & cand
        else:
            forced = torch.zeros_like(selected)
            forced[torch.arange(b), pick] = True
        selected = selected | (forced & empty[:, None])
    r = torch.rand((b, t), generator=generator)
    to_mask = selected & (r < 0.8)
    to_random = selected & (r >= 0.8) & (r < 0.9)
    random_ids = replace_ids[torch.randint(len(replace_ids), (b, t), generator=generator)]
    masked = input_ids.clone()
    masked[to_mask] = mask_token_id
    masked[to_random] = random_ids[to_random]
    labels = torch.where(selected, input_ids, torch.full_like(input_ids, -100))
    return masked, labels


# ----------------------------------------------------------------------------------------------- model + tokenizer
def _resolve_model(name: str | None) -> tuple[str, bool]:
    """(path or hub id, local_files_only) through analysis.encoder, which knows the packaged default model."""
    from analysis import encoder

    path = encoder.resolve_model_path(name)
    allow = getattr(encoder, "_allow_download", lambda: False)()
    return path, not allow


@contextlib.contextmanager
def _quiet():
    """Silence transformers' load reports and progress bars for the duration (and restore them afterwards)."""
    import transformers
    from transformers.utils import logging as hf_logging

    level = hf_logging.get_verbosity()
    bars = hf_logging.is_progress_bar_enabled()
    hf_logging.set_verbosity_error()
    hf_logging.disable_progress_bar()
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            yield transformers
    finally:
        hf_logging.set_verbosity(level)
        if bars:
            hf_logging.enable_progress_bar()


def _load_tokenizer(path: str, name, local_only: bool):
    from transformers import AutoTokenizer

    with _quiet():
        try:
            tok = AutoTokenizer.from_pretrained(path, local_files_only=local_only, trust_remote_code=False)
        except Exception as exc:
            raise ModelLoadError(f"cannot load the tokenizer of model {name!r}: "
                                 f"{(str(exc).splitlines() or [''])[0][:200]}") from exc
    if not getattr(tok, "is_fast", False):
        raise ModelLoadError(f"model {name!r} has no fast tokenizer (tokenizer.json); fine-tuning needs one to find "
                             f"word boundaries for masking")
    if tok.mask_token_id is None:
        raise ModelLoadError(f"model {name!r} has no mask token, so it cannot be trained as a masked language model "
                             f"(choose an encoder such as BERT or RoBERTa)")
    if tok.pad_token_id is None:
        raise ModelLoadError(f"model {name!r}'s tokenizer has no padding token")
    return tok


def _head_keys(model, missing: Sequence[str]) -> tuple[list[str], list[str]]:
    """Split missing weight names into those of the LM head and those of the encoder body."""
    prefix = getattr(model, "base_model_prefix", "") + "."
    head = sorted(k for k in missing if not k.startswith(prefix))
    body = sorted(k for k in missing if k.startswith(prefix))
    return head, body


def _tie_head(model) -> bool:
    """Make sure the output projection shares the input embedding matrix; True if it had to be tied here."""
    out_emb, in_emb = model.get_output_embeddings(), model.get_input_embeddings()
    if out_emb is None or in_emb is None:
        raise ModelLoadError("this model has no output projection to tie to its input embeddings")
    if out_emb.weight is in_emb.weight:
        return False
    out_emb.weight = in_emb.weight
    model.config.tie_word_embeddings = True
    return True


def _load_model(path: str, name, local_only: bool, torch_state):
    """Load an AutoModelForMaskedLM; returns (model, head_message or None, body_message or None).

    ``torch_state`` is the RNG state a new head is initialised from (so the initialisation is seeded).
    """
    import torch
    from transformers import AutoModelForMaskedLM

    with _quiet(), torch.random.fork_rng(devices=[]):
        torch.set_rng_state(torch_state)
        try:
            model, info = AutoModelForMaskedLM.from_pretrained(
                path, local_files_only=local_only, trust_remote_code=False, dtype=torch.float32,
                output_loading_info=True)
        except ValueError as exc:
            if "Unrecognized configuration class" in str(exc):
                raise ModelLoadError(f"model {name!r} is not an encoder with a masked-LM form (e.g. GPT-style models "
                                     f"cannot be trained with masked-LM); choose a BERT-like model") from exc
            raise ModelLoadError(f"cannot load model {name!r}: {(str(exc).splitlines() or [''])[0][:200]}") from exc
        except Exception as exc:
            raise ModelLoadError(f"cannot load model {name!r}: {(str(exc).splitlines() or [''])[0][:200]}") from exc
    head, body = _head_keys(model, list(info.get("missing_keys", ())))
    head_msg = body_msg = None
    if head:
        _tie_head(model)
        n_new = sum(p.numel() for n, p in model.named_parameters() if n in head)
        head_msg = (f"model {name!r} has no masked-LM head: a new head was created ({len(head)} weight tensors, "
                    f"{n_new:,} parameters, randomly initialised from the seed) with its decoder tied to the input "
                    f"embeddings; the held-out loss at step 0 reflects this untrained head")
    else:
        _check_tied(model)
    if body:
        body_msg = (f"{len(body)} weight tensors of the encoder were missing from {name!r} and are randomly "
                    f"initialised (first: {body[0]})")
    return model, head_msg, body_msg


def _check_tied(model) -> None:
    """Keep a tied head tied (transformers ties on load when the config asks for it)."""
    if getattr(model.config, "tie_word_embeddings", False):
        _tie_head(model)


def _max_length(tokenizer, model, wanted: int | None) -> int:
    config = model.config
    positions = getattr(config, "max_position_embeddings", None) or 512
    if config.model_type in {"roberta", "xlm-roberta", "camembert", "data2vec-text"}:
        positions -= 2  # RoBERTa-style models reserve padding_idx + 1 positions
    tok_max = getattr(tokenizer, "model_max_length", None) or positions
    limit = int(min(positions, tok_max if tok_max < 1e9 else positions))
    if wanted is None:
        return min(128, limit)
    if wanted > limit:
        raise ConfigError(f"max_length {wanted} is longer than this model takes ({limit} tokens)")
    return int(wanted)


# ----------------------------------------------------------------------------------------------------------- data
@dataclass
class _Data:
    train: list[tuple[list[int], list[int]]]   # (input ids incl. specials, word ids with -1 for specials)
    eval: list[tuple[list[int], list[int]]]
    n_train_texts: int
    n_eval_texts: int


def _encode(tokenizer, texts: list[str], max_length: int) -> list[tuple[list[int], list[int]]]:
    """Pieces of at most ``max_length`` tokens (special tokens included), with word ids; nothing is cut away."""
    if not texts:
        return []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        enc = tokenizer(texts, truncation=True, max_length=max_length, return_overflowing_tokens=True,
                        add_special_tokens=True, verbose=False)
    out = []
    for i, ids in enumerate(enc["input_ids"]):
        words = [-1 if w is None else int(w) for w in enc.word_ids(i)]
        if any(w >= 0 for w in words):
            out.append((list(ids), words))
    return out


def _pad(examples, pad_id: int):
    import torch

    width = max(len(ids) for ids, _ in examples)
    ids = torch.full((len(examples), width), pad_id, dtype=torch.long)
    words = torch.full((len(examples), width), -1, dtype=torch.long)
    attn = torch.zeros((len(examples), width), dtype=torch.long)
    for i, (x, w) in enumerate(examples):
        ids[i, : len(x)] = torch.tensor(x, dtype=torch.long)
        words[i, : len(w)] = torch.tensor(w, dtype=torch.long)
        attn[i, : len(x)] = 1
    return ids, words, attn


# ------------------------------------------------------------------------------------------------ reading a run
def list_checkpoints(out_dir: str | Path) -> list[Checkpoint]:
    """Complete checkpoints of a run folder, by step (``checkpoint-0`` is the base model).

    A folder counts when it holds ``trainer_state.json`` (written last); half-written ones are hidden
    ``.checkpoint-*.partial`` folders and are never listed.
    """
    out = Path(out_dir)
    found = []
    if not out.is_dir():
        return found
    for p in out.iterdir():
        if not (p.is_dir() and p.name.startswith(CHECKPOINT_PREFIX)):
            continue
        suffix = p.name[len(CHECKPOINT_PREFIX):]
        if not suffix.isdigit() or not (p / TRAINER_STATE).is_file():
            continue
        try:
            state = json.loads((p / TRAINER_STATE).read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError):
            continue
        if int(state.get("step", -1)) != int(suffix):
            continue
        found.append(Checkpoint(step=int(suffix), path=p, train_loss=state.get("train_loss"),
                                eval_loss=state.get("eval_loss"), resumable=(p / TRAINING_STATE).is_file()))
    return sorted(found, key=lambda c: c.step)


def read_log(out_dir: str | Path) -> list[dict]:
    """The records of ``<out>/log.jsonl`` (empty list if there is none yet)."""
    path = Path(out_dir) / LOG_FILE
    if not path.is_file():
        return []
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def read_progress(out_dir: str | Path) -> dict | None:
    """``<out>/progress.json`` as a dict, or None if the run has not started."""
    path = Path(out_dir) / PROGRESS_FILE
    if not path.is_file():
        return None
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError):
        return None  # replaced atomically, so this only happens if someone else wrote it


def read_run_config(out_dir: str | Path) -> dict | None:
    path = Path(out_dir) / RUN_CONFIG
    return json.loads(path.read_text(encoding="utf-8")) if path.is_file() else None


# --------------------------------------------------------------------------------------------------------- trainer
class _Lock:
    """An exclusive lock on ``<out>/.lock`` (released by the OS if the process dies, so a killed run can resume)."""

    def __init__(self, folder: Path):
        self.path = folder / ".lock"
        self.fh = None

    def __enter__(self):
        self.fh = open(self.path, "a+")
        try:
            import fcntl
        except ImportError:  # pragma: no cover - Windows: no locking
            return self
        try:
            fcntl.flock(self.fh.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as exc:
            self.fh.close()
            raise ConfigError(f"another fine-tuning run is writing to {str(self.path.parent)!r}; wait for it, stop "
                              f"it, or choose another output folder") from exc
        return self

    def __exit__(self, *exc):
        if self.fh is not None:
            self.fh.close()  # closing the descriptor releases the flock
        return False


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


def finetune(texts: Sequence[str], out_dir: str | Path, config: FinetuneConfig | None = None, *,
             stop_event=None, on_progress: ProgressFn | None = None, **settings) -> FinetuneResult:
    """Continue masked-LM training of an encoder on ``texts``, saving checkpoints into ``out_dir``.

    Rerunning with the same ``out_dir`` (and the same settings and texts) resumes from the latest complete checkpoint
    and ends with the same weights as an uninterrupted run; a finished run returns at once.

    Parameters
    ----------
    texts : sequence of str; the corpus (empty and duplicate texts are dropped, a seeded share is held out)
    out_dir : the run folder (see the module docstring for its layout)
    config : a :class:`FinetuneConfig`; or give its fields as keyword arguments (``steps=``, ``save_every=``, ...)
    stop_event : a ``threading.Event``; when set, the run stops after the current step, saves a checkpoint there and
        returns with status "stopped"
    on_progress : called with the progress dict (the content of ``progress.json``) whenever that file is written

    Returns
    -------
    FinetuneResult

    Raises
    ------
    CorpusError : no usable text, or fewer than two distinct texts
    ModelLoadError : the model cannot be loaded offline, has no fast tokenizer or no mask token, or has no masked-LM form
    ConfigError : a setting is out of range, or ``out_dir`` holds a run with other settings, or is in use
    """
    if config is not None and settings:
        raise ConfigError("give either a FinetuneConfig or keyword settings, not both")
    if config is None:
        known = {f.name for f in fields(FinetuneConfig)}
        unknown = sorted(set(settings) - known)
        if unknown:
            raise ConfigError(f"unknown fine-tuning setting(s): {', '.join(unknown)}")
        config = FinetuneConfig(**settings)
    out = Path(out_dir).expanduser()
    if out.exists() and not out.is_dir():
        raise ConfigError(f"output path {str(out)!r} is a file; give a folder")
    out.mkdir(parents=True, exist_ok=True)
    with _Lock(out):
        run = _Run(texts, out, config, stop_event, on_progress)
        try:
            return run.run()
        except KeyboardInterrupt:
            _safe_progress(run, "stopped", "interrupted; run again with the same output folder to resume from the "
                                           "latest checkpoint")
            raise
        except BaseException as exc:
            _safe_progress(run, "failed", str(exc).splitlines()[0][:300] if str(exc) else type(exc).__name__)
            raise


def _safe_progress(run: _Run, status: str, message: str) -> None:
    if not run.owns_folder:
        return
    with contextlib.suppress(Exception):
        run.write_progress(status, message, force=True)
