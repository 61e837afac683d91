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


def add_preset_arguments(parser) -> None:
    """Add the figure export preset options every subcommand that writes figures shares.

    ``--preset {screen,paper}`` (default screen: figures as the dashboard shows them), ``--width-cm`` (paper
    width: 8.5 single column, 17.4 double column), ``--font`` (paper font family) and ``--font-size`` (pt). Read them
    back with :func:`preset_options` and pass the result to ``analysis.export.save_figure(..., **options)``.
    """
    group = parser.add_argument_group("figure preset")
    group.add_argument("--preset", choices=("screen", "paper"), default="screen",
                       help="screen: figures as the dashboard shows them; paper: white, no grid, one font, no title, "
                            "width in cm, SVG/PDF vector and PNG at 300 dpi (default formats svg,pdf,png)")
    group.add_argument("--width-cm", type=float, default=8.5,
                       help="paper figure width in cm (8.5 = single column, 17.4 = double column; default %(default)s)")
    group.add_argument("--font", default=None,
                       help="paper font family, e.g. 'Arial' or 'Times New Roman' (default: Arial/Helvetica, "
                            "falling back to DejaVu Sans)")
    group.add_argument("--font-size", type=float, default=8.0, help="paper font size in pt (default %(default)s)")


def figure_options(args, default_formats: str) -> dict:
    """``save_figure`` keywords for a subcommand's ``--formats`` (default text ``default_formats``) and preset
    options, checked before any long work. Under ``--preset paper`` a ``--formats`` left at its default becomes
    svg,pdf,png (vector and 300 dpi PNG); one the user gave is kept."""
    from analysis.export import parse_formats

    text = getattr(args, "formats", None) or default_formats
    if (getattr(args, "preset", "screen") or "screen") == "paper" and text == default_formats:
        text = "svg,pdf,png"
    return preset_options(args, parse_formats(text))


def preset_options(args, formats=None) -> dict:
    """The keyword arguments of ``save_figure`` for the preset options in ``args`` (ConfigError for bad values, so a
    bad ``--width-cm`` fails before any long work). With ``formats`` (the subcommand's parsed ``--formats``) the
    result also holds ``formats``: under ``--preset paper``, a left-at-default html-only list becomes svg,pdf,png.
    """
    from analysis.export import PaperSpec

    preset = getattr(args, "preset", "screen") or "screen"
    if preset == "screen":
        out: dict = {"preset": "screen"}
    else:
        spec = PaperSpec(width_cm=float(args.width_cm), font_size_pt=float(args.font_size),
                         **({"font_family": args.font} if getattr(args, "font", None) else {}))
        out = {"preset": "paper", "width_cm": spec.width_cm, "font_family": spec.font_family,
               "font_size_pt": spec.font_size_pt}
    if formats is not None:
        formats = tuple(formats)
        if preset == "paper" and formats in (("html",), ()):
            formats = ("svg", "pdf", "png")
        out["formats"] = formats
    return out


def add_min_silhouette_argument(parser) -> None:
    """``--min-silhouette`` (senses, shift, shift-rank): the one-sense test of k-means / agglomerative with k auto."""
    from analysis.senses._base import DEFAULT_MIN_SILHOUETTE

    parser.add_argument("--min-silhouette", type=_min_silhouette_type,
                        default="none" if DEFAULT_MIN_SILHOUETTE is None else str(DEFAULT_MIN_SILHOUETTE),
                        help="kmeans / agglomerative with --k auto: one cluster when the best silhouette is below "
                             "this ('none' = never; default %(default)s, chosen by leave-words-out cross-validation, "
                             "BENCHMARKS.md)")


def word_or_number(text, flag: str, words: dict, number: type):
    """An option that takes a number (``number(text)``) or one of ``words`` (word -> the value it stands for); a
    ConfigError that names ``flag`` and what it takes otherwise."""
    t = str(text).strip().lower()
    if t in words:
        return words[t]
    try:
        return number(t)
    except ValueError:
        choices = " or ".join(repr(w) for w in words if w)
        raise ConfigError(f"cannot read {flag} {text!r}: give a number or {choices}") from None


def parse_min_silhouette(text) -> float | None:
    """``--min-silhouette``: a number, or "none" (never answer one cluster)."""
    return word_or_number(text, "--min-silhouette", {"none": None, "": None}, float)


def _min_silhouette_type(text) -> float | None:
    return _argparse_type(parse_min_silhouette, text)


def add_min_stability_argument(parser) -> None:
    """``--min-stability`` (senses): the stability test of k-means / agglomerative with k auto (off by default)."""
    parser.add_argument("--min-stability", type=_min_stability_type, default=None,
                        help="kmeans / agglomerative with --k auto: one cluster when the chosen k's clusters are less "
                             "stable than this across subsamples (mean ARI between fits on random 80 %% subsamples, "
                             "0-1; 'none' = off, the default; give --min-silhouette none to use it alone; 0.9 scored "
                             "best on the Senses path, BENCHMARKS.md)")


def _min_stability_type(text) -> float | None:
    return _argparse_type(lambda t: word_or_number(t, "--min-stability", {"none": None, "": None}, float), text)


def _argparse_type(parse, text):
    """``parse(text)``, a ConfigError turned into argparse's own error (exit 2 with the option named)."""
    import argparse

    try:
        return parse(text)
    except ConfigError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None
