"""Exports with their parameters: figures to PNG/SVG/PDF/HTML, tables to CSV, and a manifest JSON beside each.

Static images (PNG/SVG/PDF) need kaleido and a Chrome/Chromium on the machine; HTML needs nothing (plotly.js is
inlined so the file opens offline). :func:`static_export_available` tells whether static images can be written, and
:func:`save_figure` says clearly which formats it skipped and why, instead of failing.

Two presets: ``"screen"`` (the figure as the dashboard shows it; PNG at 2x) and ``"paper"`` (:class:`PaperSpec`): a
width in centimetres (8.5 cm single column, 17.4 cm double column), the height from the figure's aspect ratio, white
background, no grid, one font family and size (pt) everywhere, no title (it goes in the caption); SVG and PDF are
vector with the text as text (Chromium embeds the fonts used in the PDF), PNG is 300 dpi (pixel width =
round(width_cm / 2.54 * 300), with the resolution written into the file).

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
import struct
import time
import zlib
from dataclasses import asdict, dataclass
from pathlib import Path

import pandas as pd

from analysis import __version__
from analysis.paths import display_path

# Cells a spreadsheet would evaluate (OWASP "CSV injection"); tab and CR too, since some programs strip them first.
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
# ... except plain numbers written as text ("-1", "+2.5e3"), which a spreadsheet reads as the number they are.
_PLAIN_NUMBER = re.compile(r"[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?")

_STATIC: dict[str, str | None] = {}

FIGURE_FORMATS = ("html", "png", "svg", "pdf")
PRESETS = ("screen", "paper")
#: Column widths of most journals (Elsevier, Springer, Nature: 8.5-9 cm single, 17-18 cm double).
PAPER_WIDTHS_CM = {"single column": 8.5, "double column": 17.4}
#: Font families offered for paper figures (the first one installed is used; DejaVu Sans is the fallback here).
PAPER_FONTS = {"sans-serif (Arial / Helvetica)": "Arial, Helvetica, 'Liberation Sans', 'DejaVu Sans', sans-serif",
               "serif (Times)": "'Times New Roman', Times, 'Liberation Serif', 'DejaVu Serif', serif",
               "DejaVu Sans": "'DejaVu Sans', sans-serif", "DejaVu Serif": "'DejaVu Serif', serif"}
PAPER_DPI = 300
_CSS_DPI = 96  # kaleido sizes are CSS pixels: 96 per inch (a PDF point is 1/72 inch)


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
    """(True, "") when PNG/SVG/PDF can be written here, else (False, the reason in one sentence)."""
    if "reason" not in _STATIC:
        try:
            import kaleido  # noqa: F401
        except ImportError:
            _STATIC["reason"] = "kaleido is not installed, so PNG/SVG/PDF cannot be written (HTML is)"
        else:
            path = chromium_path()
            _STATIC["reason"] = "" if path else ("no Chrome/Chromium was found, so PNG/SVG/PDF cannot be written here "
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


def figure_image(fig, fmt: str, scale: float = 2.0, *, width: float | None = None,
                 height: float | None = None) -> bytes:
    """PNG, SVG or PDF bytes of a figure, rendered by kaleido in a Chromium kept running between calls."""
    if fmt not in ("png", "svg", "pdf"):
        raise ValueError(f"no static image format {fmt!r}; use png, svg or pdf")
    ok, reason = static_export_available()
    if not ok:
        raise RuntimeError(reason)
    _kaleido_server()
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # plotly: "kopts ignored when using a server"
        return fig.to_image(format=fmt, scale=scale if fmt == "png" else 1.0, width=width, height=height)


@dataclass(frozen=True)
class PaperSpec:
    """The "paper" preset: width (cm), height (cm; default from the figure's aspect ratio), font family and size
    (pt), and whether the title stays (default: no, a journal puts it in the caption)."""

    width_cm: float = 8.5
    height_cm: float | None = None
    font_family: str = PAPER_FONTS["sans-serif (Arial / Helvetica)"]
    font_size_pt: float = 8.0
    keep_title: bool = False

    def __post_init__(self):
        from analysis.errors import ConfigError

        if not (isinstance(self.width_cm, (int, float)) and 3.0 <= float(self.width_cm) <= 40.0):
            raise ConfigError(f"the paper width must be between 3 and 40 cm (8.5 = single column, 17.4 = double), "
                              f"not {self.width_cm!r}")
        if self.height_cm is not None and not 2.0 <= float(self.height_cm) <= 40.0:
            raise ConfigError(f"the paper height must be between 2 and 40 cm, not {self.height_cm!r}")
        if not 4.0 <= float(self.font_size_pt) <= 16.0:
            raise ConfigError(f"the paper font size must be between 4 and 16 pt, not {self.font_size_pt!r}")
        if not str(self.font_family).strip() or any(c in str(self.font_family) for c in "<>;{}"):
            raise ConfigError(f"{self.font_family!r} is not a font family name")

    @property
    def png_width_px(self) -> int:
        """Pixel width of the 300 dpi PNG."""
        return round(self.width_cm / 2.54 * PAPER_DPI)

    def css_size(self, fig) -> tuple[float, float]:
        """(width, height) in CSS pixels (96 per inch): the width asked for, the height from ``height_cm`` or from the
        figure's own aspect ratio (its layout size, 700 x 450 when unset), kept between 0.4 and 1.6 times the width."""
        width = self.width_cm / 2.54 * _CSS_DPI
        if self.height_cm is not None:
            return width, self.height_cm / 2.54 * _CSS_DPI
        w = fig.layout.width or 700
        h = fig.layout.height or 450
        return width, width * min(1.6, max(0.4, h / w))

    def to_dict(self) -> dict:
        return {"preset": "paper", **asdict(self), "png_dpi": PAPER_DPI}


def paper_figure(fig, spec: PaperSpec | None = None):
    """A copy of ``fig`` in the paper style of ``spec`` (see :func:`analysis.plots.theme.paper_style`)."""
    from analysis.plots.theme import paper_style

    spec = spec or PaperSpec()
    width, height = spec.css_size(fig)
    return paper_style(fig, width=width, height=height, font_family=spec.font_family,
                       font_size=spec.font_size_pt * _CSS_DPI / 72.0, keep_title=spec.keep_title)


def paper_image(fig, fmt: str, spec: PaperSpec | None = None) -> bytes:
    """SVG, PDF (vector, the page exactly ``width_cm`` wide) or PNG (300 dpi) bytes of ``fig`` in the paper style
    (with ``height_cm`` unset, a legend adds its rows to the height)."""
    spec = spec or PaperSpec()
    styled = paper_figure(fig, spec)
    width, height = styled.layout.width, styled.layout.height  # the height grows with a legend above the axes
    if fmt != "png":
        return figure_image(styled, fmt, width=width, height=height)
    # kaleido truncates the CSS size to whole pixels: size the page in whole pixels and let the scale hit the target
    css_w, css_h = max(10, round(width)), max(10, round(height))
    scale = (spec.png_width_px + 0.5) / css_w
    styled.update_layout(width=css_w, height=css_h)
    return png_with_dpi(figure_image(styled, "png", scale=scale, width=css_w, height=css_h), PAPER_DPI)


def png_with_dpi(data: bytes, dpi: int) -> bytes:
    """The PNG ``data`` with its resolution (a pHYs chunk) set to ``dpi``, so that layout programs size it right."""
    if data[:8] != b"\x89PNG\r\n\x1a\n":
        raise ValueError("not a PNG")
    ppm = round(dpi / 0.0254)
    body = b"pHYs" + struct.pack(">IIB", ppm, ppm, 1)
    chunk = struct.pack(">I", 9) + body + struct.pack(">I", zlib.crc32(body) & 0xFFFFFFFF)
    out, pos, inserted = bytearray(data[:8]), 8, False
    while pos < len(data):
        length = struct.unpack(">I", data[pos:pos + 4])[0]
        kind = data[pos + 4:pos + 8]
        end = pos + 12 + length
        if kind != b"pHYs":  # an old resolution is replaced
            out += data[pos:end]
        if kind == b"IHDR" and not inserted:
            out += chunk
            inserted = True
        pos = end
    return bytes(out)


def save_figure(fig, out_dir: str | Path, stem: str, params: dict, formats=None, *, preset: str = "screen",
                width_cm: float = 8.5, font_family: str | None = None, font_size_pt: float = 8.0,
                height_cm: float | None = None) -> dict:
    """Write ``stem.<format>`` for each format and ``stem.manifest.json``; return {"written": [...], "skipped": str}.

    ``preset="screen"`` (default formats html, png, svg) writes the figure as shown; ``preset="paper"`` (default
    formats svg, pdf, png) writes it in the paper style of :class:`PaperSpec` (``width_cm``, ``font_family``,
    ``font_size_pt``, ``height_cm``), and its HTML, if asked for, is the paper-styled figure too. The manifest
    records the preset and its settings.
    """
    from analysis.errors import ConfigError

    if preset not in PRESETS:
        raise ConfigError(f"unknown export preset {preset!r}; use {' or '.join(PRESETS)}")
    spec = None
    if preset == "paper":
        spec = PaperSpec(width_cm=float(width_cm), height_cm=height_cm, font_size_pt=float(font_size_pt),
                         **({"font_family": font_family} if font_family else {}))
    formats = tuple(formats) if formats else (("svg", "pdf", "png") if spec else ("html", "png", "svg"))
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    written, skipped = [], ""
    for fmt in formats:
        path = out / f"{stem}.{fmt}"
        if fmt == "html":
            path.write_text(figure_html(paper_figure(fig, spec) if spec else fig), encoding="utf-8")
            written.append(str(path))
            continue
        ok, reason = static_export_available()
        if not ok:
            skipped = reason
            continue
        path.write_bytes(paper_image(fig, fmt, spec) if spec else figure_image(fig, fmt))
        written.append(str(path))
    export_params = spec.to_dict() if spec else {"preset": "screen"}
    (out / f"{stem}.manifest.json").write_text(manifest_json({**params, "export": export_params},
                                                             kind=f"figure:{stem}"), encoding="utf-8")
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
    """"html,png,svg" -> ("html", "png", "svg") (pdf too); ConfigError for anything else (every CLI command)."""
    from analysis.errors import ConfigError

    fmts = tuple(f.strip().lower() for f in text.split(",") if f.strip())
    bad = [f for f in fmts if f not in FIGURE_FORMATS]
    if bad:
        raise ConfigError(f"unknown figure format(s) {', '.join(bad)}; use {', '.join(FIGURE_FORMATS)}")
    return fmts
