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
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from analysis._util import finite_or_none
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
    """One model to compare: a checkpoint folder of a run, or any model (a folder, a hub id, "default").

    ``step`` is the training step (None for an arbitrary model). ``train_loss`` is the mean training loss of the steps
    logged last before it (None at step 0); ``eval_loss`` the held-out masked-LM loss (mean over the masked tokens of
    the fixed held-out masking). Both come from the checkpoint's ``trainer_state.json`` or the run's ``log.jsonl``,
    None when unknown. ``resumable``: the folder holds the optimizer and RNG state a run resumes from. ``name`` is
    what tables and figures show (the folder's name unless given). ``path`` is a Path for a run's checkpoints (as
    :func:`list_checkpoints` gives them) and the string given for other models ("default" = the packaged model).
    """

    step: int | None
    path: Path | str
    train_loss: float | None = None
    eval_loss: float | None = None
    resumable: bool = False
    name: str = ""

    def __post_init__(self):
        if not self.name:
            object.__setattr__(self, "name", Path(str(self.path)).name)

    @property
    def model(self) -> str | None:
        """The name to load the model by: None for the packaged default model, else the folder or hub id."""
        return None if self.path in (None, "", "default") else str(self.path)


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


# ------------------------------------------------------------------------------------------------ reading a run
def _read_json(path: Path) -> dict | None:
    """The JSON object in ``path``, or None when it is missing or cannot be read (half-written, or not ours)."""
    if not path.is_file():
        return None
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def list_checkpoints(out_dir: str | Path) -> list[Checkpoint]:
    """Complete checkpoints of a run folder, by step (``checkpoint-0`` is the base model).

    A folder counts when it holds ``trainer_state.json`` (written last) for its own step; half-written ones are
    hidden ``.checkpoint-*.partial`` folders and are never listed.
    """
    out = Path(out_dir)
    found = []
    if not out.is_dir():
        return found
    for p in out.iterdir():
        if not (p.is_dir() and p.name.startswith(CHECKPOINT_PREFIX)):
            continue
        suffix = p.name[len(CHECKPOINT_PREFIX):]
        state = _read_json(p / TRAINER_STATE) if suffix.isdigit() else None
        if state is None or int(state.get("step", -1)) != int(suffix):
            continue
        found.append(Checkpoint(step=int(suffix), path=p, train_loss=finite_or_none(state.get("train_loss")),
                                eval_loss=finite_or_none(state.get("eval_loss")),
                                resumable=(p / TRAINING_STATE).is_file()))
    return sorted(found, key=lambda c: c.step)


def read_losses(folder: str | Path, step: int | None = None) -> tuple[int | None, float | None, float | None]:
    """(step, train_loss, eval_loss) of a checkpoint folder, from its ``trainer_state.json``, else from the records
    of ``step`` in the parent's ``log.jsonl``.

    Understands SenseScope's own ``{step, train_loss, eval_loss}`` and the Hugging Face Trainer's
    ``{global_step, log_history: [...]}`` (its last logged ``loss`` and ``eval_loss``). Missing values are None.
    """
    folder = Path(folder)
    train = evl = None
    if (folder / TRAINER_STATE).is_file():
        data = _read_json(folder / TRAINER_STATE) or {}
        if "log_history" in data:  # Hugging Face Trainer
            step = data.get("global_step", step)
            for entry in data.get("log_history", []):
                train = finite_or_none(entry["loss"]) if "loss" in entry else train
                evl = finite_or_none(entry["eval_loss"]) if "eval_loss" in entry else evl
        else:
            step = data.get("step", step)
            train, evl = finite_or_none(data.get("train_loss")), finite_or_none(data.get("eval_loss"))
        return (int(step) if step is not None else None), train, evl
    if step is not None:
        for entry in _log_entries(folder.parent / LOG_FILE):
            if entry.get("step") == step:
                train = finite_or_none(entry["train_loss"]) if entry.get("train_loss") is not None else train
                evl = finite_or_none(entry["eval_loss"]) if entry.get("eval_loss") is not None else evl
    return step, train, evl


def _log_entries(path: Path) -> list[dict]:
    """The records of a ``log.jsonl`` that can be read (other lines are skipped)."""
    if not path.is_file():
        return []
    out = []
    for line in path.read_text(encoding="utf-8").splitlines():
        try:
            entry = json.loads(line)
        except ValueError:
            continue
        if isinstance(entry, dict):
            out.append(entry)
    return out


def read_log(out_dir: str | Path) -> list[dict]:
    """The records of ``<out>/log.jsonl`` (empty list if there is none yet)."""
    path = Path(out_dir) / LOG_FILE
    if not path.is_file():
        return []
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def read_progress(out_dir: str | Path) -> dict | None:
    """``<out>/progress.json`` as a dict, or None if the run has not started."""
    return _read_json(Path(out_dir) / PROGRESS_FILE)  # replaced atomically: unreadable only if someone else wrote it


def read_run_config(out_dir: str | Path) -> dict | None:
    """``<out>/run_config.json`` (the settings a resume must repeat) as a dict, or None for a new folder."""
    path = Path(out_dir) / RUN_CONFIG
    return json.loads(path.read_text(encoding="utf-8")) if path.is_file() else None


# ---------------------------------------------------------------------------------------------------- the lock
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


