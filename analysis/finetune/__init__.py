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
  checkpoint; steps run inside ``torch.random.fork_rng``, so the process's own generators, and Python's and numpy's
  global random state, are neither used nor changed). Because of that, a run that is killed and resumed from its
  latest checkpoint ends with bit-identical weights: checked on the CPU, and on an H100 in fp32 and fp16 autocast. With
  bf16 autocast a resumed run differed from an uninterrupted one by up to ~1e-3 per weight after 10 more steps (two
  uninterrupted runs were identical), so there resuming is only close.
* A model without a masked-LM head (the packaged MiniLM has none) gets a new head whose decoder is tied to the input
  embeddings; the missing keys reported by ``from_pretrained`` reveal this, and the user is told.

Output folder
-------------
``run_config.json``, ``split.json``, ``log.jsonl``, ``progress.json`` and ``checkpoint-<step>/`` folders: see
:mod:`analysis.finetune.runs`, the one place that defines the run folder.

``log.jsonl`` and ``progress.json`` are replaced atomically (temp file + ``os.replace``) so a page can poll them; a
checkpoint is written into a hidden ``.checkpoint-<step>.partial`` folder and renamed when complete, so a half-written
checkpoint is never taken for one.

Modules
-------
``config`` (:class:`FinetuneConfig`), ``data`` (texts, split, tokenized pieces, masking), ``model`` (loading the
masked-LM model and tokenizer offline, a new tied head), ``runs`` (the run folder: :class:`Checkpoint`, the log,
progress and lock; read by the pages and the LID analysis too), ``setup`` / ``checkpointing`` / ``trainer`` (one run:
set-up, checkpoints, the loop) and ``jobs`` (:func:`finetune`, the entry point).
"""

from analysis.finetune.config import _WEIGHT_SETTINGS, FinetuneConfig  # noqa: F401
from analysis.finetune.data import (_Data, _derive_seed, _encode, _pad, corpus_hash, mask_batch,  # noqa: F401
                                    prepare_texts, split_texts)
from analysis.finetune.jobs import _safe_progress, finetune  # noqa: F401
from analysis.finetune.model import (_HEAD_ONLY_TYPES, _check_tied, _head_keys, _load_model,  # noqa: F401
                                     _load_tokenizer, _max_length, _quiet, _resolve_model, _tie_head)
from analysis.finetune.runs import (CHECKPOINT_PREFIX, FORMAT_VERSION, LOG_FILE, PROGRESS_FILE,  # noqa: F401
                                    RUN_CONFIG, SPLIT_FILE, TRAINER_STATE, TRAINING_STATE, Checkpoint,
                                    FinetuneResult, ProgressFn, _atomic_write_json, _atomic_write_text, _Lock,
                                    list_checkpoints, read_log, read_losses, read_progress, read_run_config)
from analysis.finetune.trainer import _Run  # noqa: F401
