"""Checks every subcommand shares, so that bad input gives ``error: ...`` and exit status 2, never a traceback.

Not a subcommand module (the leading underscore keeps it out of discovery in ``analysis/cli/__init__.py``).
"""

from __future__ import annotations

import os
from pathlib import Path

from analysis.errors import ConfigError


def prepare_out_dir(path, *, create: bool = True, option: str = "--out") -> Path:
    """The output folder ``path`` as a Path, created (with its parents) unless ``create`` is False.

    Call it with ``create=False`` before any long work, so that a bad ``--out`` fails at once and leaves nothing
    behind, and again (or with ``create=True``) when writing. ConfigError when ``path`` names an existing file, when
    one of its parents is a file, or when the folder cannot be created or written to.
    """
    out = Path(str(path)).expanduser()
    if out.exists() and not out.is_dir():
        raise ConfigError(f"{option} {str(path)!r} is a file, not a folder; give a folder (it is created if missing)")
    if out.is_dir():
        if not os.access(out, os.W_OK | os.X_OK):
            raise ConfigError(f"cannot write in the output folder {str(path)!r} (no permission)")
    else:
        parent = next((p for p in out.absolute().parents if p.exists()), None)
        if parent is not None and not parent.is_dir():
            raise ConfigError(f"{option} {str(path)!r} cannot be created: {str(parent)!r} is a file, not a folder")
        if parent is not None and not os.access(parent, os.W_OK | os.X_OK):
            raise ConfigError(f"{option} {str(path)!r} cannot be created: no permission to write in {str(parent)!r}")
    if create:
        try:
            out.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise ConfigError(f"cannot create the output folder {str(path)!r}: {exc.strerror or exc}") from exc
    return out


def positive_int(value, option: str) -> int:
    """``value`` if it is a whole number >= 1 (counts such as --chunk-size, --batch-size); ConfigError otherwise."""
    try:
        ok = not isinstance(value, bool) and int(value) == value and value >= 1
    except (TypeError, ValueError):
        ok = False
    if not ok:
        raise ConfigError(f"{option} must be a whole number of at least 1, not {value!r}")
    return int(value)
