"""Which paths on the server the dashboard may read: the allowed roots.

A dashboard served to a class must not read ``/etc``, ``/proc`` or home directories. The page's "a file or folder
on this machine" source and its model box accept only paths under an allowed root; the command line keeps accepting
any path (its user already has a shell).

Allowed roots, by default: the project's ``data/`` folder, the cache (``cache/`` or ``$SENSESCOPE_CACHE``) and the
Hugging Face cache (``$HF_HOME``/``$HF_HUB_CACHE``, else ``~/.cache/huggingface``). More folders come from
``$SENSESCOPE_DATA_ROOTS`` (separated by ``os.pathsep``, ``:`` on Linux).

Paths are resolved (symbolic links, ``..`` and ``~``) before the check, so a link inside a root that points outside
it is refused too. The refusal says which roots are allowed and nothing about the path itself (not whether it exists).
"""

from __future__ import annotations

import os
from pathlib import Path

from analysis.errors import SenseScopeError

ROOT = Path(__file__).resolve().parents[1]
ENV_ROOTS = "SENSESCOPE_DATA_ROOTS"


class PathNotAllowedError(SenseScopeError):
    """A server path outside the allowed roots was asked for from the dashboard."""


def _cache_root() -> Path:
    env = os.environ.get("SENSESCOPE_CACHE")
    return Path(env).expanduser() if env else ROOT / "cache"


def hf_cache_root() -> Path:
    """The local Hugging Face cache folder."""
    for var in ("HF_HUB_CACHE", "HF_HOME"):
        if os.environ.get(var):
            return Path(os.environ[var]).expanduser()
    return Path("~/.cache/huggingface").expanduser()


def allowed_roots() -> list[Path]:
    """The folders under which the dashboard may read files, resolved, without duplicates."""
    roots = [ROOT / "data", _cache_root(), hf_cache_root()]
    extra = os.environ.get(ENV_ROOTS, "")
    roots += [Path(p).expanduser() for p in extra.split(os.pathsep) if p.strip()]
    out: list[Path] = []
    for r in roots:
        resolved = Path(os.path.realpath(r))
        if resolved not in out:
            out.append(resolved)
    return out


def _describe_roots(roots: list[Path]) -> str:
    return ", ".join(display_path(r) for r in roots)


def check_allowed(path: str | Path, *, roots: list[Path] | None = None, what: str = "path") -> Path:
    """The resolved ``path`` if it lies under an allowed root; else :class:`PathNotAllowedError`.

    Relative paths are taken relative to the project folder (where the dashboard runs). The message is the same
    whether or not the path exists, so that the dashboard reveals nothing about files outside the roots.
    """
    roots = allowed_roots() if roots is None else [Path(os.path.realpath(r)) for r in roots]
    if "\x00" in str(path):  # os.path.realpath raises ValueError on NUL; the answer is the same refusal
        raise PathNotAllowedError(f"a {what} cannot contain a NUL character")
    raw = Path(str(path).strip()).expanduser()
    if not raw.is_absolute():
        raw = ROOT / raw
    resolved = Path(os.path.realpath(raw))
    if not any(resolved == r or resolved.is_relative_to(r) for r in roots):
        raise PathNotAllowedError(
            f"this dashboard reads a {what} only under its allowed folders: {_describe_roots(roots)}. Put the files "
            f"there, or ask whoever runs the dashboard to add a folder to {ENV_ROOTS}.")
    return resolved


def display_path(path: str | Path) -> str:
    """A path as it may appear in manifests and messages: relative to the project or a cache, never absolute.

    Under the project folder: relative to it (``data/demo/dwug_en``); under the cache: ``cache/...``; under the
    Hugging Face cache: ``hf-cache/...``; anywhere else: the last folder/file name only.
    """
    p = Path(os.path.realpath(Path(str(path)).expanduser()))
    for base, label in ((_cache_root(), "cache"), (hf_cache_root(), "hf-cache"), (ROOT, "")):
        base = Path(os.path.realpath(base))
        if p == base or p.is_relative_to(base):
            rel = p.relative_to(base).as_posix()
            if not label:
                return rel or "."
            return label if rel == "." else f"{label}/{rel}"
    return p.name
