"""The run folder: file names, checkpoints, the log and progress files, and the lock on the folder.

::

    <out>/run_config.json          settings, corpus hash, model path (a resume must match them)
    <out>/split.json               which texts (indices after deduplication) were held out
    <out>/log.jsonl                one JSON object per logged step: step, train_loss, lr, eval_loss?, checkpoint?
    <out>/progress.json            {"status": running|done|failed|stopped, "step", "total_steps", "message", ...}
    <out>/checkpoint-<step>/       config.json, model.safetensors, tokenizer files, trainer_state.json,
                                   training_state.pt (optimizer, scheduler, RNG; only in the latest checkpoint
                                   unless keep_training_state="all")
"""

from __future__ import annotations

import json
import math
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from analysis.errors import ConfigError

CHECKPOINT_PREFIX = "checkpoint-"
TRAINER_STATE = "trainer_state.json"
TRAINING_STATE = "training_state.pt"
LOG_FILE = "log.jsonl"
PROGRESS_FILE = "progress.json"
RUN_CONFIG = "run_config.json"
SPLIT_FILE = "split.json"
FORMAT_VERSION = 1

ProgressFn = Callable[[dict], None]


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


