"""Settings of a fine-tuning run: :class:`FinetuneConfig`, and which of them a resume must repeat."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from analysis.errors import ConfigError

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


