"""The entry point :func:`finetune`: one locked, resumable run in a folder."""

from __future__ import annotations

import contextlib
from dataclasses import fields
from pathlib import Path
from typing import Sequence

from analysis.errors import ConfigError
from analysis.finetune.config import FinetuneConfig
from analysis.finetune.runs import FinetuneResult, ProgressFn, _Lock
from analysis.finetune.trainer import _Run


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
    ModelLoadError : the model cannot be loaded offline, has no fast tokenizer or no mask token, or has no masked-LM
        form
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
