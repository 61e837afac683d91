"""Which models to run the token sample through: the checkpoints in a folder, or several models.

Both give :class:`analysis.finetune.runs.Checkpoint` (the one checkpoint type), with the step and losses read by
:func:`analysis.finetune.runs.read_losses` where the folder has them.
"""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path
from typing import Sequence

from analysis.errors import ConfigError
from analysis.finetune.runs import TRAINING_STATE, Checkpoint, read_losses

#: Names of checkpoint folders: ``checkpoint-100`` (SenseScope, Hugging Face Trainer), ``step_100``, ``step100``.
_CKPT_RE = re.compile(r"^(?:checkpoint|step)[-_]?(\d+)$")


def _folder_checkpoint(folder: Path, step: int | None = None) -> Checkpoint:
    """The model folder ``folder`` as a checkpoint; ``step`` is its step when the folder's files do not say."""
    found, train, evl = read_losses(folder, step)
    return Checkpoint(name=folder.name, path=str(folder), step=step if found is None else found, train_loss=train,
                      eval_loss=evl, resumable=(folder / TRAINING_STATE).is_file())


def find_checkpoints(folder: str | Path) -> list[Checkpoint]:
    """The ``checkpoint-<step>`` (or ``step-<n>``) model folders (with ``config.json``) inside ``folder``, by step.

    A folder that is itself a model (has ``config.json``) and holds no checkpoint folders counts as one checkpoint.
    """
    root = Path(folder).expanduser()
    if not root.is_dir():
        raise ConfigError(f"checkpoint folder {str(folder)!r} does not exist")
    found = []
    for sub in root.iterdir():
        m = _CKPT_RE.match(sub.name)
        if m and sub.is_dir() and (sub / "config.json").is_file():
            found.append(_folder_checkpoint(sub, int(m.group(1))))
    if not found:
        if (root / "config.json").is_file():
            return [_folder_checkpoint(root)]
        raise ConfigError(f"no checkpoint-<step> model folders (with config.json) in {str(folder)!r}")
    return sorted(found, key=lambda c: (c.step, c.name))


def checkpoints_from_models(models: Sequence[str | None]) -> list[Checkpoint]:
    """Several models (hub ids, folders or None for the default), in the given order, as checkpoints.

    Only a model folder has a step and losses (when its files say); a checkpoint folder keeps its name
    (``checkpoint-100``), other models are named by what was given. Where two names clash (``checkpoint-100`` of two
    runs), every checkpoint is named by its path.
    """
    out = []
    for m in models:
        folder = Path(str(m)).expanduser() if m else None
        if folder is not None and folder.is_dir():
            ck = _folder_checkpoint(folder)
            ck = dataclasses.replace(ck, path=str(m), name=folder.name if _CKPT_RE.match(folder.name) else str(m))
        else:
            name = "all-MiniLM-L6-v2" if m in (None, "", "default") else str(m)
            ck = Checkpoint(name=name, path=str(m) if m else "default", step=None)
        out.append(ck)
    if not out:
        raise ConfigError("choose at least one model")
    names = [c.name for c in out]
    if len(set(names)) != len(names):  # two checkpoint-100 folders from different runs: use their full paths
        out = [dataclasses.replace(c, name=str(c.path)) for c in out]
    return out
