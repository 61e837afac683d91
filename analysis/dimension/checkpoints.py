"""Which models to run the token sample through: a run folder's checkpoints, or several models."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np

from analysis.errors import ConfigError

# --------------------------------------------------------------------------------------------------------------------
# Checkpoints
# --------------------------------------------------------------------------------------------------------------------

_CKPT_RE = re.compile(r"^(?:checkpoint|step)[-_]?(\d+)$")


@dataclass(frozen=True)
class Checkpoint:
    """One model to run the token sample through.

    ``step`` is the training step (None for an arbitrary model); ``train_loss`` and ``eval_loss`` (held-out
    masked-LM loss) come from the checkpoint's ``trainer_state.json`` or the run's ``log.jsonl`` when present.
    """

    name: str
    path: str
    step: int | None = None
    train_loss: float | None = None
    eval_loss: float | None = None


def _num(v) -> float | None:
    try:
        v = float(v)
    except (TypeError, ValueError):
        return None
    return v if np.isfinite(v) else None


def read_losses(folder: str | Path, step: int | None = None) -> tuple[int | None, float | None, float | None]:
    """(step, train_loss, eval_loss) from ``folder/trainer_state.json``, else from the parent's ``log.jsonl``.

    Understands SenseScope's own ``{step, train_loss, eval_loss}`` and the Hugging Face Trainer's
    ``{global_step, log_history: [...]}``. Missing values are None.
    """
    folder = Path(folder)
    state = folder / "trainer_state.json"
    train = evl = None
    if state.is_file():
        try:
            data = json.loads(state.read_text())
        except (OSError, ValueError):
            data = {}
        if "log_history" in data:  # Hugging Face Trainer
            step = data.get("global_step", step)
            for entry in data.get("log_history", []):
                if "loss" in entry:
                    train = _num(entry["loss"])
                if "eval_loss" in entry:
                    evl = _num(entry["eval_loss"])
        else:
            step = data.get("step", step)
            train, evl = _num(data.get("train_loss")), _num(data.get("eval_loss"))
        return (int(step) if step is not None else None), train, evl
    log = folder.parent / "log.jsonl"
    if step is not None and log.is_file():
        for line in log.read_text().splitlines():
            try:
                entry = json.loads(line)
            except ValueError:
                continue
            if entry.get("step") == step:
                train = _num(entry.get("train_loss")) if entry.get("train_loss") is not None else train
                evl = _num(entry.get("eval_loss")) if entry.get("eval_loss") is not None else evl
    return step, train, evl


def find_checkpoints(folder: str | Path) -> list[Checkpoint]:
    """The ``checkpoint-<step>`` (or ``step-<n>``) model folders inside ``folder``, by step.

    A folder that is itself a model (has ``config.json``) and holds no checkpoint folders counts as one checkpoint.
    """
    root = Path(folder).expanduser()
    if not root.is_dir():
        raise ConfigError(f"checkpoint folder {str(folder)!r} does not exist")
    found = []
    for sub in root.iterdir():
        m = _CKPT_RE.match(sub.name)
        if m and sub.is_dir() and (sub / "config.json").is_file():
            step, train, evl = read_losses(sub, int(m.group(1)))
            found.append(Checkpoint(name=sub.name, path=str(sub), step=int(m.group(1)) if step is None else step,
                                    train_loss=train, eval_loss=evl))
    if not found:
        if (root / "config.json").is_file():
            step, train, evl = read_losses(root)
            return [Checkpoint(name=root.name, path=str(root), step=step, train_loss=train, eval_loss=evl)]
        raise ConfigError(f"no checkpoint-<step> model folders (with config.json) in {str(folder)!r}")
    return sorted(found, key=lambda c: (c.step, c.name))


def checkpoints_from_models(models: Sequence[str | None]) -> list[Checkpoint]:
    """Several models (hub ids, folders or None for the default), in the given order, as checkpoints without steps."""
    out = []
    for m in models:
        name = "all-MiniLM-L6-v2" if m in (None, "", "default") else str(m)
        step = train = evl = None
        if m and Path(str(m)).expanduser().is_dir():
            step, train, evl = read_losses(Path(str(m)).expanduser())
            name = Path(str(m)).name if _CKPT_RE.match(Path(str(m)).name) else name
        out.append(Checkpoint(name=name, path=str(m) if m else "default", step=step, train_loss=train, eval_loss=evl))
    if not out:
        raise ConfigError("choose at least one model")
    names = [c.name for c in out]
    if len(set(names)) != len(names):  # two checkpoint-100 folders from different runs: use their full paths
        out = [Checkpoint(name=c.path, path=c.path, step=c.step, train_loss=c.train_loss, eval_loss=c.eval_loss)
               for c in out]
    return out
