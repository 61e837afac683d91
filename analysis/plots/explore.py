"""Figures for reading occurrences: search hits highlighted on a projection, links to an occurrence's nearest
neighbours, and bar charts of collocates per group.

The first two add traces to a projection made by :func:`analysis.plots.senses.plot_projection` (so colours, legend
and hovers stay as they are); points keep their ``occurrence_id`` as customdata, so clicking a highlighted point
selects the occurrence as the others do. Hover texts take the escaped ``kwic`` column of the view; every other data
string (words, group names, labels) is escaped here.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from analysis.plots import theme
from analysis.plots._text import esc, esc_title

HIGHLIGHT = theme.TERTIARY
LINK = "#333333"
MEASURE_NAMES = {"g2": "log-likelihood (G²)", "pmi": "PMI (bits)"}


def _scatter_cls(fig: go.Figure, three: bool, n: int):
    if three:
        return go.Scatter3d
    return go.Scattergl if n > 2000 else go.Scatter


def _coords(df: pd.DataFrame, rows, z: str | None) -> dict:
    out = {"x": df["x"].to_numpy()[rows], "y": df["y"].to_numpy()[rows]}
    if z is not None:
        out["z"] = df[z].to_numpy()[rows]
    return out


#: At most this many hits are ringed (a seeded sample of them beyond it; the legend says so): on a big scatter a search
#: may match most of a million points.
MAX_RINGS = 20_000


def add_highlight(fig: go.Figure, view: pd.DataFrame, mask, *, name: str = "search hits",
                  z: str | None = None) -> go.Figure:
    """Ring the points where ``mask`` is true (one extra trace, named ``name`` in the legend); returns ``fig``."""
    mask = np.asarray(mask, dtype=bool)
    if len(mask) != len(view):
        raise ValueError(f"a highlight mask of {len(mask)} rows for {len(view)} points")
    rows = np.flatnonzero(mask)
    label = f"{esc(name)} ({len(rows):,})"
    if len(rows) > MAX_RINGS:  # a seeded sample is ringed: a trace of every hit would be selectable, and big
        rows = np.sort(np.random.default_rng(0).choice(rows, size=MAX_RINGS, replace=False))
        label = f"{esc(name)} ({int(mask.sum()):,}; {MAX_RINGS:,} ringed)"
    ids = view["occurrence_id"].to_numpy()[rows] if "occurrence_id" in view.columns else rows
    hover = view["kwic"].astype(str).to_numpy()[rows] if "kwic" in view.columns else None
    Scatter = _scatter_cls(fig, z is not None, len(view))
    fig.add_trace(Scatter(**_coords(view, rows, z), mode="markers", name=label,
                          customdata=ids, text=hover, hovertemplate="%{text}<extra>hit</extra>",
                          marker=dict(size=14 if z is None else 7, symbol="circle-open", color=HIGHLIGHT,
                                      line=dict(width=2.5, color=HIGHLIGHT))))
    return fig


def add_neighbour_links(fig: go.Figure, view: pd.DataFrame, source: int, neighbours, similarities, *,
                        z: str | None = None) -> go.Figure:
    """Segments from row ``source`` to each row in ``neighbours`` (hover: rank and cosine similarity), the source
    drawn as a star; returns ``fig``."""
    neighbours = np.asarray(neighbours, dtype=int)
    sims = np.asarray(similarities, dtype=float)
    xs, ys, zs, texts = [], [], [], []
    for rank, (j, s) in enumerate(zip(neighbours, sims), start=1):
        for row in (source, j):
            xs.append(view["x"].iat[row])
            ys.append(view["y"].iat[row])
            zs.append(view[z].iat[row] if z is not None else None)
            texts.append(f"neighbour {rank}: cosine {s:.3f}")
        xs.append(None), ys.append(None), zs.append(None), texts.append("")
    three = z is not None
    Line = go.Scatter3d if three else go.Scatter
    line = {"x": xs, "y": ys} | ({"z": zs} if three else {})
    fig.add_trace(Line(**line, mode="lines", name=f"nearest neighbours ({len(neighbours)})", text=texts,
                       hovertemplate="%{text}<extra></extra>", line=dict(color=LINK, width=1.5)))
    ids = view["occurrence_id"].to_numpy() if "occurrence_id" in view.columns else np.arange(len(view))
    ends = {"x": view["x"].to_numpy()[neighbours], "y": view["y"].to_numpy()[neighbours]}
    if three:
        ends["z"] = view[z].to_numpy()[neighbours]
    Scatter = _scatter_cls(fig, three, len(view))
    fig.add_trace(Scatter(**ends, mode="markers", name="neighbours", customdata=ids[neighbours],
                          text=[f"rank {r}, cosine {s:.3f}" for r, s in enumerate(sims, start=1)],
                          hovertemplate="%{text}<extra></extra>", showlegend=False,
                          marker=dict(size=11 if not three else 5, symbol="circle-open", color=LINK,
                                      line=dict(width=2, color=LINK))))
    src = {"x": [view["x"].iat[source]], "y": [view["y"].iat[source]]}
    if three:
        src["z"] = [view[z].iat[source]]
    hover = [str(view["kwic"].iat[source])] if "kwic" in view.columns else None
    fig.add_trace(Scatter(**src, mode="markers", name="chosen occurrence", customdata=[ids[source]], text=hover,
                          hovertemplate="%{text}<extra>chosen</extra>",
                          marker=dict(size=18 if not three else 8, symbol="star", color=HIGHLIGHT,
                                      line=dict(width=1, color="#000000"))))
    return fig


def plot_collocates(table: pd.DataFrame, *, measure: str = "g2", top_n: int = 10, title: str | None = None,
                    group_label: str = "group") -> go.Figure:
    """Horizontal bars of the top ``top_n`` collocates of each group (one panel per group, strongest on top).

    ``table`` is :func:`analysis.kwic.collocates`' output (group, word, count, g2, pmi, ...)."""
    if measure not in MEASURE_NAMES:
        raise KeyError(f"no collocate measure {measure!r}")
    groups = list(dict.fromkeys(table["group"].astype(str))) if len(table) else []
    n = max(1, len(groups))
    cols = min(3, n)
    rows = math.ceil(n / cols)
    fig = make_subplots(rows=rows, cols=cols, subplot_titles=[f"{esc(group_label)} {esc(g)}" for g in groups] or None,
                        horizontal_spacing=0.12, vertical_spacing=0.5 / rows if rows > 1 else 0.1)
    for i, g in enumerate(groups):
        d = table[table["group"].astype(str) == g].sort_values(measure, ascending=False).head(top_n)
        d = d.iloc[::-1]  # strongest at the top
        r, c = i // cols + 1, i % cols + 1
        fig.add_trace(go.Bar(x=d[measure], y=[esc(w) for w in d["word"]], orientation="h", name=esc(g),
                             customdata=d["count"], showlegend=False, marker_color=theme.sense_color(g),
                             hovertemplate="%{y}: %{x:.2f}<br>%{customdata} times near the target<extra></extra>"),
                      row=r, col=c)
        fig.update_xaxes(title_text=MEASURE_NAMES[measure], row=r, col=c)
        fig.update_yaxes(title_text="word", type="category", row=r, col=c)
    theme.apply(fig, title=esc_title(title), height=max(300, 60 + rows * (40 + 22 * top_n)), legend=None)
    fig.update_layout(margin=dict(t=80 if title else 40), bargap=0.25)
    return fig
