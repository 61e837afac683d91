"""One look for every figure: the palette, the sense -> colour rule, the layout, tick formats and share intervals.

Every plot module draws through these helpers, so that a sense has one colour on every page, figure and export, and
every chart has readable fonts, axis titles and a legend beside (never over) the data.

Sense colours (:func:`sense_color`, :func:`sense_colors`) depend on the sense's own id or name only, never on which
other senses are drawn with it:

* noise (cluster ``-1``, ``"noise"``, a missing label, ``"(none)"``) is always :data:`NOISE_COLOR` (grey);
* a number, or a name that is a word followed by a number (``3``, ``"3"``, ``"cluster 3"``, ``"s3"``, ``"sense 3"``),
  takes palette slot ``3`` (modulo the palette's length), so cluster ids go by their number and natural-sorted gold
  labels (s1, s2, ..., s10) take the slots in their natural order;
* any other name (``"aircraft"``) takes the slot of a stable hash of the name (the same in every process and run).

Colours repeat after :data:`PALETTE`'s 16 slots, and two free names can share a slot; the order of a legend is
:func:`sense_order` (natural order, noise last).
"""

from __future__ import annotations

import hashlib
import math
import re
from typing import Iterable

import numpy as np
import plotly.graph_objects as go

from analysis._util import natural_key

#: Okabe & Ito (2008) first (colour-blind safe; its black is left out, yellow comes last), then Paul Tol's "muted"
#: scheme for more senses. Grey is kept for noise.
PALETTE = ["#0072B2", "#E69F00", "#009E73", "#CC79A7", "#56B4E9", "#D55E00", "#F0E442",
           "#332288", "#88CCEE", "#44AA99", "#117733", "#999933", "#DDCC77", "#CC6677", "#882255", "#AA4499"]
NOISE_COLOR = "#BBBBBB"
#: Colours of single series that are not senses (bars of counts, a metric's line, a second line).
PRIMARY = PALETTE[0]
SECONDARY = PALETTE[1]
TERTIARY = PALETTE[5]
QUATERNARY = PALETTE[2]
#: Period and other non-sense categories: the palette in the categories' own order.
CATEGORY_PALETTE = PALETTE

FONT_FAMILY = "'Source Sans Pro', 'DejaVu Sans', Arial, sans-serif"
FONT_SIZE = 13
TITLE_SIZE = 15

_NOISE_NAMES = {"-1", "noise", "(none)", "(missing)", "", "nan", "<na>", "none"}
_NUMBERED = re.compile(r"^\D*?(-?\d+)$")
_NO_AXES = {"pie", "table", "sunburst", "treemap", "sankey", "indicator", "parcats", "parcoords"}


# ----------------------------------------------------------------------------------------------------------- senses
def is_noise(sense) -> bool:
    """True for the noise cluster (-1), "noise", and a missing label (None, NaN, "(none)")."""
    if sense is None:
        return True
    if isinstance(sense, float) and math.isnan(sense):
        return True
    try:
        if isinstance(sense, (int, np.integer)) and not isinstance(sense, bool):
            return int(sense) == -1
    except (TypeError, ValueError):
        pass
    text = str(sense).strip().lower()
    if text in _NOISE_NAMES:
        return True
    m = _NUMBERED.match(text)
    return bool(m) and int(m.group(1)) == -1


def sense_slot(sense) -> int | None:
    """The palette slot of a sense (see the module notes); None for noise."""
    if is_noise(sense):
        return None
    if isinstance(sense, (int, np.integer)) and not isinstance(sense, bool):
        return int(sense) % len(PALETTE)
    if isinstance(sense, (float, np.floating)) and float(sense).is_integer():
        return int(sense) % len(PALETTE)
    text = str(sense).strip()
    m = _NUMBERED.match(text)
    if m:
        return int(m.group(1)) % len(PALETTE)
    digest = hashlib.blake2b(text.encode("utf-8"), digest_size=4).digest()
    return int.from_bytes(digest, "big") % len(PALETTE)


def sense_color(sense) -> str:
    """The colour of one sense (an id, a gold label or a cluster name): the same wherever it is drawn."""
    slot = sense_slot(sense)
    return NOISE_COLOR if slot is None else PALETTE[slot]


def sense_colors(senses: Iterable) -> dict:
    """{sense: colour} for each distinct sense given (keys as given); each colour is :func:`sense_color`'s."""
    return {s: sense_color(s) for s in dict.fromkeys(senses)}


def sense_order(senses: Iterable) -> list:
    """Distinct senses in natural order (s2 before s10, 2 before 10), noise and missing labels last."""
    values = list(dict.fromkeys(senses))
    return sorted([s for s in values if not is_noise(s)], key=natural_key) + [s for s in values if is_noise(s)]


def category_colors(categories: Iterable) -> dict:
    """{category: colour} for non-sense categories (periods, models) in their given order."""
    return {c: CATEGORY_PALETTE[i % len(CATEGORY_PALETTE)] for i, c in enumerate(dict.fromkeys(categories))}


def rgba(color: str, alpha: float) -> str:
    """``"#RRGGBB"`` as an ``rgba(...)`` string with the given opacity (fills of violins and areas)."""
    h = color.lstrip("#")
    r, g, b = (int(h[i:i + 2], 16) for i in (0, 2, 4))
    return f"rgba({r},{g},{b},{alpha:g})"


# ----------------------------------------------------------------------------------------------------------- layout
def apply(fig: go.Figure, *, title: str | None = None, x_title: str | None = None, y_title: str | None = None,
          height: int | None = None, legend: str | None = "right", legend_title: str | None = None,
          hovermode: str | None = None) -> go.Figure:
    """The one layout: white template, fonts, margins that grow to fit, the legend outside the data, axis titles.

    Parameters
    ----------
    title : the figure's title (already escaped: plot functions pass ``esc(...)``); None leaves it as it is
    x_title, y_title : titles of the first x and y axes (None leaves them as they are; every chart needs them, see
        :func:`missing_axis_titles`)
    legend : "right" (vertical, beside the plot area), "top" (horizontal, above the plot area, below the title),
        "bottom" (horizontal, under the x axis title) or None (no legend)
    legend_title : text above the legend entries ("" for none)
    """
    has_title = bool(title) or bool(fig.layout.title.text)
    fig.update_layout(template="plotly_white", font=dict(family=FONT_FAMILY, size=FONT_SIZE, color="#222"),
                      title=dict(font=dict(size=TITLE_SIZE), x=0.0, xanchor="left", xref="container", pad=dict(l=12)),
                      hoverlabel=dict(align="left"),
                      margin=dict(l=60, r=20, t=(90 if legend == "top" else 60) if has_title else 30, b=55))
    if title is not None:
        fig.update_layout(title_text=title)
    if height is not None:
        fig.update_layout(height=height)
    if hovermode is not None:
        fig.update_layout(hovermode=hovermode)
    _legend(fig, legend, legend_title)
    fig.update_xaxes(automargin=True, title_standoff=8)
    fig.update_yaxes(automargin=True, title_standoff=8)
    if x_title is not None:
        fig.update_layout(xaxis_title_text=x_title)
    if y_title is not None:
        fig.update_layout(yaxis_title_text=y_title)
    return fig


def _legend(fig: go.Figure, where: str | None, legend_title: str | None) -> None:
    if where is None:
        fig.update_layout(showlegend=False)
        return
    spots = {"right": dict(orientation="v", x=1.02, xanchor="left", y=1.0, yanchor="top"),
             "top": dict(orientation="h", x=0.0, xanchor="left", y=1.02, yanchor="bottom"),
             "bottom": dict(orientation="h", x=0.0, xanchor="left", y=-0.18, yanchor="top")}
    if where not in spots:
        raise ValueError(f"legend must be one of {', '.join(spots)} or None, not {where!r}")
    fig.update_layout(legend=dict(**spots[where], bgcolor="rgba(255,255,255,0)", itemsizing="constant"))
    if legend_title is not None:
        fig.update_layout(legend_title_text=legend_title)


def projection_titles(method: str, n: int = 2, explained=None) -> list[str]:
    """Axis titles of a projection: "UMAP 1", "t-SNE 2", "PC 1 (23 % of variance)" (PCA with ``explained``)."""
    names = {"umap": "UMAP", "tsne": "t-SNE", "t-sne": "t-SNE", "pca": "PC"}
    base = names.get(str(method).lower(), str(method))
    out = []
    for i in range(n):
        text = f"{base} {i + 1}"
        if base == "PC" and explained is not None and i < len(explained) and np.isfinite(explained[i]):
            text += f" ({explained[i]:.0%} of variance)"
        out.append(text)
    return out


def missing_axis_titles(fig: go.Figure) -> list[str]:
    """The names of the axes the figure's traces use that have no title (empty list: every axis is titled).

    Exempt: x axes that only repeat a shared axis (``matches`` another and show no tick labels, as in stacked
    subplots), hidden axes, and traces without cartesian or 3-D axes (pies, tables).
    """
    layout = fig.to_plotly_json()["layout"]
    used = []
    for t in fig.data:
        kind = getattr(t, "type", "")
        if kind in _NO_AXES:
            continue
        if kind == "scatter3d":
            scene = getattr(t, "scene", None) or "scene"
            used += [f"{scene}.{a}" for a in ("xaxis", "yaxis", "zaxis")]
            continue
        used += ["xaxis" + (getattr(t, "xaxis", None) or "x")[1:], "yaxis" + (getattr(t, "yaxis", None) or "y")[1:]]
    missing = []
    for name in dict.fromkeys(used):
        if "." in name:
            scene, ax = name.split(".")
            axis = (layout.get(scene) or {}).get(ax) or {}
        else:
            axis = layout.get(name) or {}
        if axis.get("visible") is False or (axis.get("matches") and axis.get("showticklabels") is False):
            continue
        if not _title_text(axis):
            missing.append(name)
    return missing


def _title_text(axis: dict) -> str:
    title = axis.get("title")
    if isinstance(title, dict):
        return str(title.get("text") or "").strip()
    return str(title or "").strip()


# ------------------------------------------------------------------------------------------------------------ ticks
def tick_format(values, *, percent: bool = False) -> str:
    """A d3 tick format that fits the data: whole numbers without decimals, otherwise as many decimals as the
    spread of the values needs (at most 4); ``percent`` for shares (``.0%``, or ``.1%`` for a narrow spread)."""
    v = np.asarray([x for x in np.ravel(np.asarray(values, dtype=float)) if np.isfinite(x)], dtype=float)
    if percent:
        span = float(v.max() - v.min()) if v.size else 1.0
        return ".1%" if 0 < span < 0.1 else ".0%"
    if not v.size:
        return ""
    if np.all(np.isclose(v, np.round(v))) and float(v.max() - v.min()) >= 4:
        return ",d"
    span = float(v.max() - v.min()) or abs(float(v.max())) or 1.0
    decimals = int(np.clip(math.ceil(-math.log10(span / 5.0)), 0, 4))
    return f",.{decimals}f"


def format_axis(fig: go.Figure, values, *, axis: str = "y", percent: bool = False, nticks: int = 6, **selector):
    """Set a fitting tick format (:func:`tick_format`) and at most ``nticks`` ticks on the x or y axes of ``fig``
    (``selector`` as for ``update_yaxes``, e.g. ``secondary_y=True``)."""
    update = fig.update_yaxes if axis == "y" else fig.update_xaxes
    update(tickformat=tick_format(values, percent=percent), nticks=nticks, **selector)
    return fig


# --------------------------------------------------------------------------------------------------------- intervals
def clip_share_interval(lo, hi):
    """A share's interval bounds clipped to [0, 1] (NaN stays NaN); arrays or scalars in, the same out."""
    lo_a, hi_a = np.asarray(lo, dtype=float), np.asarray(hi, dtype=float)
    lo_c, hi_c = np.clip(lo_a, 0.0, 1.0), np.clip(hi_a, 0.0, 1.0)
    if lo_a.ndim == 0:
        return float(lo_c), float(hi_c)
    return lo_c, hi_c


def share_error_bars(share, lo, hi) -> dict:
    """Plotly ``error_y`` arrays for shares with interval [lo, hi]: clipped to [0, 1], never negative, 0 where the
    interval is unknown. Returns {"array": plus, "arrayminus": minus} (pass with ``type="data", symmetric=False``)."""
    s = np.clip(np.nan_to_num(np.asarray(share, dtype=float)), 0.0, 1.0)
    lo_c, hi_c = clip_share_interval(np.atleast_1d(lo), np.atleast_1d(hi))
    plus = np.where(np.isfinite(hi_c), np.maximum(hi_c - s, 0.0), 0.0)
    minus = np.where(np.isfinite(lo_c), np.maximum(s - lo_c, 0.0), 0.0)
    return {"array": plus, "arrayminus": minus}


# ------------------------------------------------------------------------------------------------------------ paper
def paper_style(fig: go.Figure, *, width: float, height: float, font_family: str, font_size: float,
                keep_title: bool = False) -> go.Figure:
    """A copy of ``fig`` styled for print: white background, no grid, axis lines with outside ticks, one font at one
    size everywhere (subplot titles and annotations too), the legend above the plot area, tight margins that grow
    to fit, and (unless ``keep_title``) no title, which a journal puts in the caption. Sizes are CSS pixels."""
    out = go.Figure(fig)
    axis = dict(showgrid=False, zeroline=False, showline=True, linecolor="#222", linewidth=1, ticks="outside",
                tickcolor="#222", ticklen=3, mirror=False, title_font=dict(size=font_size),
                tickfont=dict(size=font_size))
    out.update_xaxes(**axis)
    out.update_yaxes(**axis)
    out.update_scenes(xaxis_showgrid=False, yaxis_showgrid=False, zaxis_showgrid=False,
                      xaxis_backgroundcolor="white", yaxis_backgroundcolor="white", zaxis_backgroundcolor="white")
    out.update_layout(template="plotly_white", width=width, height=height, paper_bgcolor="white",
                      plot_bgcolor="white", font=dict(family=font_family, size=font_size, color="black"),
                      margin=dict(l=8, r=8, t=8, b=8, pad=0), hoverlabel=None)
    if keep_title and out.layout.title.text:
        out.update_layout(title=dict(font=dict(size=font_size * 1.15), x=0.0, xanchor="left"),
                          margin=dict(t=font_size * 3))
    else:
        out.update_layout(title_text=None)
    if out.layout.showlegend is not False:
        out.update_layout(legend=dict(orientation="h", x=0.0, xanchor="left", y=1.02, yanchor="bottom",
                                      font=dict(size=font_size), title_font=dict(size=font_size),
                                      bgcolor="rgba(255,255,255,0)", itemsizing="constant", itemwidth=30,
                                      tracegroupgap=2))
        names = [str(t.name or "") for t in out.data if t.showlegend is not False and t.name]
        entry = max((len(n) for n in names), default=0) * font_size * 0.62 + 45  # longest entry, generously
        per_row = 2 if len(names) > 1 and 2 * entry <= 0.8 * width else 1  # two to a row where they surely fit
        if per_row == 2:
            out.update_layout(legend=dict(entrywidthmode="pixels", entrywidth=entry))
        # the legend sits above the plot area: the figure grows by its rows, so the axes keep their height
        rows = -(-len(names) // per_row)
        out.update_layout(height=height + rows * font_size * 1.6 + 6 if len(names) > 1 else height)
    out.update_annotations(font_size=font_size)
    out.update_coloraxes(colorbar_tickfont_size=font_size)
    for trace in out.data:  # colour bars of heatmaps and scatters carry their own font sizes
        if hasattr(trace, "colorbar") and trace.colorbar is not None:
            trace.colorbar.tickfont.size = font_size
            trace.colorbar.title.font.size = font_size
        marker = getattr(trace, "marker", None)
        if marker is not None and getattr(marker, "colorbar", None) is not None and marker.showscale:
            marker.colorbar.tickfont.size = font_size
    return out
