"""Figures that only the guided tour draws (the other tour steps reuse the pages' own plot functions).

Same contract as the other plot modules: tidy data in, a themed plotly Figure out, nothing fitted, every data string
escaped (``analysis.plots._text``); hover texts arrive already escaped (``analysis.corpus.kwic_html``).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import plotly.graph_objects as go

from analysis.plots import theme
from analysis.plots._text import esc, esc_all, esc_title


def plot_similarities(df: pd.DataFrame, *, sense: str = "sense", title: str | None = None) -> go.Figure:
    """Cosine similarity of every occurrence to one chosen occurrence, most similar first, coloured by sense.

    Parameters
    ----------
    df : DataFrame, one row per other occurrence: ``similarity`` (cosine), the ``sense`` column (gold label or
        cluster name; missing = no label) and optionally ``kwic`` (HTML-escaped context line for the hover)
    """
    d = df.sort_values("similarity", ascending=False, kind="stable").reset_index(drop=True)
    d["rank"] = np.arange(1, len(d) + 1)
    values = d[sense].astype("string").fillna("(none)")
    hover = d["kwic"].astype(str) if "kwic" in d.columns else pd.Series([""] * len(d))
    fig = go.Figure()
    for s in theme.sense_order(values.unique()):
        m = (values == s).to_numpy()
        fig.add_trace(go.Scatter(
            x=d.loc[m, "rank"], y=d.loc[m, "similarity"], mode="markers", name=esc(s),
            marker=dict(size=7, color=theme.sense_color(s), line=dict(width=0.5, color="white")),
            text=[f"{h}<br>sense: {esc(s)}" for h in hover[m]],
            hovertemplate="%{text}<br>cosine similarity %{y:.3f}<extra></extra>"))
    theme.apply(fig, title=esc_title(title) or "How similar is each occurrence to the chosen one?",
                x_title="other occurrences, most similar first", y_title="cosine similarity to the chosen one",
                height=380, legend="right", legend_title="sense")
    theme.format_axis(fig, d["similarity"])
    fig.update_xaxes(tickformat=",d", rangemode="tozero")
    return fig


def plot_lid_by_layer(records: pd.DataFrame, *, title: str | None = None) -> go.Figure:
    """Mean local ID against the layer, one line per checkpoint (error bars: ±1 standard deviation over tokens).

    Parameters
    ----------
    records : DataFrame of checkpoint x layer records from :mod:`analysis.dimension` (``checkpoint``, ``layer``,
        ``mean``, ``std``; ``order`` or ``step`` give the checkpoints' order)
    """
    if records.empty:
        raise ValueError("no records to draw")
    key = "order" if "order" in records else "step"
    df = records.sort_values([key, "layer"], kind="stable")
    cks = list(dict.fromkeys(df["checkpoint"].astype(str)))
    colors = theme.category_colors(cks)
    fig = go.Figure()
    for ck, shown in zip(cks, esc_all(cks)):
        d = df[df["checkpoint"].astype(str) == ck]
        fig.add_trace(go.Scatter(x=d["layer"], y=d["mean"], mode="lines+markers", name=shown,
                                 line=dict(color=colors[ck], width=2.5),
                                 error_y=dict(type="data", array=d["std"].tolist(), visible=True, thickness=1),
                                 hovertemplate=f"{shown}<br>layer %{{x}}<br>mean LID %{{y:.2f}}<extra></extra>"))
    theme.apply(fig, title=esc_title(title) or "Mean local intrinsic dimension per layer",
                x_title="layer (0 = embeddings)", y_title="mean local intrinsic dimension", height=380,
                legend="right" if len(cks) > 1 else None)
    fig.update_xaxes(dtick=1)
    theme.format_axis(fig, np.r_[df["mean"] - df["std"], df["mean"] + df["std"]])
    return fig
