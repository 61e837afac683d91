"""Exports with their parameters: figures to PNG/SVG/HTML, tables to CSV, and a manifest JSON beside each.

Static images (PNG/SVG) need kaleido and a Chrome/Chromium on the machine; HTML needs nothing (plotly.js is inlined so
the file opens offline). :func:`static_export_available` tells whether PNG/SVG can be written, and :func:`save_figure`
says clearly which formats it skipped and why, instead of failing.

CSV exports are made safe to open in a spreadsheet: a text cell that starts like a formula (``=``, ``+``, ``-``, ``@``,
a tab or a carriage return, e.g. ``=HYPERLINK(...)``) gets a leading ``'``, which spreadsheet programs read as "this
is text" (numbers, also negative ones, stay numbers). Manifests never carry absolute paths: a parameter value that is
an absolute path is written as :func:`analysis.paths.display_path` gives it (relative to the project or a cache).
"""

from __future__ import annotations

import importlib.metadata as md
import json
import os
import re
import shutil
import time
from pathlib import Path

import pandas as pd

from analysis import __version__
from analysis.paths import display_path

# Cells a spreadsheet would evaluate (OWASP "CSV injection"); tab and CR too, since some programs strip them first.
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
# ... except plain numbers written as text ("-1", "+2.5e3"), which a spreadsheet reads as the number they are.
_PLAIN_NUMBER = re.compile(r"[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?")

_STATIC: dict[str, str | None] = {}


def versions() -> dict:
    out = {"sensescope": __version__}
    for pkg in ("torch", "transformers", "numpy", "scikit-learn", "umap-learn", "scikit-dimension", "plotly",
                "pandas"):
        try:
            out[pkg] = md.version(pkg)
        except md.PackageNotFoundError:
            pass
    return out


def manifest(params: dict, *, kind: str) -> dict:
    """The parameters that made an export, with versions and a timestamp; absolute paths become relative names."""
    return {"kind": kind, "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"), "parameters": _jsonable(params),
            "versions": versions()}


def _is_absolute_path(text: str) -> bool:
    """An absolute (or ``~``) path, not text that merely contains a slash."""
    return (text.startswith("~/") or text == "~" or os.path.isabs(text)) and "\n" not in text


def _jsonable(obj):
    if isinstance(obj, dict):
        return {str(k): _jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple, set)):
        return [_jsonable(v) for v in obj]
    if hasattr(obj, "item") and callable(obj.item):
        try:
            value = obj.item()  # numpy scalars (np.str_ paths included) become Python values
        except (ValueError, TypeError):
            value = obj
        if value is not obj:
            return _jsonable(value)
    if isinstance(obj, str):
        # an install or home path says who and where the exporter is, and means nothing on another machine
        return display_path(obj) if _is_absolute_path(obj) else obj
    if isinstance(obj, (int, float, bool)) or obj is None:
        return obj
    if isinstance(obj, Path):
        return display_path(obj) if obj.is_absolute() or str(obj).startswith("~") else obj.as_posix()
    return str(obj)


def manifest_json(params: dict, *, kind: str) -> str:
    return json.dumps(manifest(params, kind=kind), indent=1, ensure_ascii=False)


def chromium_path() -> str | None:
    """A Chrome/Chromium binary kaleido can drive, or None."""
    for env in ("BROWSER_PATH", "CHROME_PATH"):
        if os.environ.get(env) and Path(os.environ[env]).exists():
            return os.environ[env]
    for name in ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable", "chrome"):
        found = shutil.which(name)
        if found:
            return found
    return None


def static_export_available() -> tuple[bool, str]:
    """(True, "") when PNG/SVG can be written here, else (False, the reason in one sentence)."""
    if "reason" not in _STATIC:
        try:
            import kaleido  # noqa: F401
        except ImportError:
            _STATIC["reason"] = "kaleido is not installed, so PNG/SVG cannot be written (HTML is)"
        else:
            path = chromium_path()
            _STATIC["reason"] = "" if path else ("no Chrome/Chromium was found, so PNG/SVG cannot be written here "
                                                 "(HTML is; install chromium, or use the chart's download button)")
            if path:
                os.environ.setdefault("BROWSER_PATH", path)
    return (not _STATIC["reason"], _STATIC["reason"] or "")


def figure_html(fig) -> str:
    """Standalone HTML with plotly.js inlined (opens offline)."""
    return fig.to_html(include_plotlyjs=True, full_html=True, config={"displaylogo": False})


def _kaleido_server() -> None:
    """Keep one kaleido browser running for the process (about 0.4 s per image instead of about 4 s)."""
    if not _STATIC.get("server"):
        import atexit

        import kaleido

        kaleido.start_sync_server(silence_warnings=True)
        atexit.register(_stop_kaleido)
        _STATIC["server"] = "started"


def _stop_kaleido() -> None:
    import kaleido

    import gc

    kaleido.stop_sync_server(silence_warnings=True)
    time.sleep(1.0)  # let Chromium finish writing its profile before Python removes its temporary folder
    gc.collect()


def figure_image(fig, fmt: str, scale: float = 2.0) -> bytes:
    """PNG or SVG bytes of a figure, rendered by kaleido in a Chromium kept running between calls."""
    ok, reason = static_export_available()
    if not ok:
        raise RuntimeError(reason)
    _kaleido_server()
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # plotly: "kopts ignored when using a server"
        return fig.to_image(format=fmt, scale=scale if fmt == "png" else 1.0)


def save_figure(fig, out_dir: str | Path, stem: str, params: dict, formats=("html", "png", "svg")) -> dict:
    """Write ``stem.html`` / ``.png`` / ``.svg`` and ``stem.manifest.json``; return {"written": [...], "skipped": str}."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    written, skipped = [], ""
    for fmt in formats:
        path = out / f"{stem}.{fmt}"
        if fmt == "html":
            path.write_text(figure_html(fig), encoding="utf-8")
            written.append(str(path))
            continue
        ok, reason = static_export_available()
        if not ok:
            skipped = reason
            continue
        path.write_bytes(figure_image(fig, fmt))
        written.append(str(path))
    (out / f"{stem}.manifest.json").write_text(manifest_json(params, kind=f"figure:{stem}"), encoding="utf-8")
    return {"written": written, "skipped": skipped}


def save_table(df: pd.DataFrame, out_dir: str | Path, stem: str, params: dict) -> str:
    """Write ``stem.csv`` and ``stem.manifest.json``; return the CSV path."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    path = out / f"{stem}.csv"
    path.write_bytes(table_csv(df))
    (out / f"{stem}.manifest.json").write_text(manifest_json(params, kind=f"table:{stem}"), encoding="utf-8")
    return str(path)


def table_csv(df: pd.DataFrame) -> bytes:
    """UTF-8 CSV of ``df`` (no index) with formula-like text cells and headers neutralised (see the module notes)."""
    return neutralize_formulas(df).to_csv(index=False).encode("utf-8")


def _safe_cell(value):
    if isinstance(value, str) and value.startswith(_FORMULA_START) and not _PLAIN_NUMBER.fullmatch(value):
        return "'" + value
    return value


def neutralize_formulas(df: pd.DataFrame) -> pd.DataFrame:
    """A copy of ``df`` in which text cells (and column names) that a spreadsheet would run as a formula start with
    ``'``; numeric columns are left as they are."""
    out = df.copy()
    out.columns = [_safe_cell(str(c)) if isinstance(c, str) else c for c in out.columns]
    for i in range(out.shape[1]):
        col = out.iloc[:, i]
        if pd.api.types.is_numeric_dtype(col) or pd.api.types.is_bool_dtype(col):
            continue
        if isinstance(col.dtype, pd.CategoricalDtype):
            col = col.astype(object)
        out.isetitem(i, col.map(_safe_cell))
    return out


def parse_formats(text: str) -> tuple[str, ...]:
    """"html,png,svg" -> ("html", "png", "svg"); ConfigError for anything else (used by every CLI command)."""
    from analysis.errors import ConfigError

    fmts = tuple(f.strip().lower() for f in text.split(",") if f.strip())
    bad = [f for f in fmts if f not in ("html", "png", "svg")]
    if bad:
        raise ConfigError(f"unknown figure format(s) {', '.join(bad)}; use html, png, svg")
    return fmts
