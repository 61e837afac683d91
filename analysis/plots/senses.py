"""Figures of the Senses view: projection scatter, silhouette curve, contingency heatmap, model x layer comparison.

Each function takes tidy data and returns a plotly Figure; nothing is fitted here. Hover texts are HTML: corpus text
must arrive already escaped (``analysis.corpus.kwic_html`` escapes it and bolds the target); every other data string
(labels, names, legend entries, categories, titles) is escaped here (``analysis.plots._text``).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import plotly.graph_objects as go

from analysis._util import natural_key
from analysis.plots._text import esc, esc_all, esc_title

# Okabe-Ito first (colour-blind safe), then Plotly's defaults for more clusters.
PALETTE = ["#0072B2", "#E69F00", "#009E73", "#CC79A7", "#56B4E9", "#D55E00", "#F0E442", "#000000",
           "#636EFA", "#EF553B", "#00CC96", "#AB63FA", "#FFA15A", "#19D3F3", "#FF6692", "#B6E880"]
NOISE_COLOUR = "#BBBBBB"
SCORE_NAMES = {"purity": "purity", "inverse_purity": "inverse purity", "purity_f": "purity F (harmonic mean)",
               "ari": "ARI", "nmi": "NMI", "v_measure": "V-measure", "centroid_accuracy": "centroid accuracy",
               "centroid_macro_f1": "centroid macro-F1", "logreg_accuracy": "log. regression accuracy",
               "logreg_macro_f1": "log. regression macro-F1", "macro_f1": "macro-F1"}


def _esc(v) -> str:
    """A hover value: escaped, a dash when missing."""
    return esc(v, "–")


def _hover(df: pd.DataFrame, fields: list[tuple[str, str]]) -> list[str]:
    """One HTML hover text per row: the KWIC line (already escaped) then "name: value" lines (escaped here)."""
    kwic = df["kwic"].astype(str).tolist() if "kwic" in df.columns else [""] * len(df)
    cols = [(label, df[c].tolist()) for label, c in fields if c in df.columns]
    out = []
    for i in range(len(df)):
        lines = [kwic[i]] if kwic[i] else []
        lines += [f"{label}: {_esc(vals[i])}" for label, vals in cols]
        out.append("<br>".join(lines))
    return out


def _is_numeric(s: pd.Series) -> bool:
    return pd.api.types.is_numeric_dtype(s) and not pd.api.types.is_bool_dtype(s) and s.nunique(dropna=True) > 12


def plot_projection(df: pd.DataFrame, *, color: str = "cluster_name", xy: tuple[str, str] = ("x", "y"),
                    z: str | None = None, title: str | None = None, hover_fields: list[tuple[str, str]] | None = None,
                    category_order: list | None = None) -> go.Figure:
    """Scatter of the projected occurrences, coloured by any column.

    Parameters
    ----------
    df : DataFrame, one row per occurrence
        Columns ``x``, ``y`` (and ``z`` for 3-D); ``kwic`` (HTML-escaped keyword-in-context line); ``occurrence_id``
        (carried as customdata so selections map back to rows); optionally ``year``, ``label``, ``cluster_name``.
    color : str
        Column to colour by. Categorical columns get one trace per value (legend entries, toggled by click); a
        numeric column with many values (e.g. year) gets a continuous colour scale.
    xy : (str, str)
        The coordinate columns (default ``x``, ``y``).
    z : str, optional
        Third coordinate column: a 3-D scatter.
    hover_fields : list of (label, column)
        Lines under the KWIC line; default year, gold label, cluster.
    category_order : list, optional
        Order of the categories in the legend (e.g. cluster names in cluster order).

    Returns
    -------
    go.Figure
    """
    if color not in df.columns:
        raise KeyError(f"no column {color!r} to colour by")
    hover_fields = hover_fields or [("year", "year"), ("gold label", "label"), ("cluster", "cluster_name")]
    x, y = xy
    three = z is not None
    size = 3 if len(df) > 5000 else 5 if len(df) > 1000 else 7  # smaller markers for more points
    Scatter = go.Scatter3d if three else go.Scattergl if len(df) > 2000 else go.Scatter
    ids = df["occurrence_id"].to_numpy() if "occurrence_id" in df.columns else np.arange(len(df))
    hover = np.asarray(_hover(df, hover_fields), dtype=object)
    fig = go.Figure()
    col = df[color]
    if _is_numeric(col):
        coords = {"x": df[x], "y": df[y]} | ({"z": df[z]} if three else {})
        fig.add_trace(Scatter(**coords, mode="markers", customdata=ids, text=hover,
                              hovertemplate="%{text}<extra></extra>", name=esc(color),
                              marker=dict(size=size, color=col, colorscale="Viridis", showscale=True,
                                          colorbar=dict(title=esc(color)), opacity=0.85)))
    else:
        values = col.astype("string").fillna("(none)")
        natural = sorted(values.unique(), key=natural_key)  # s2 before s10
        cats = list(category_order) if category_order else natural
        cats = [c for c in cats if c in set(values)] + [c for c in natural if c not in cats]
        for i, cat in enumerate(cats):
            m = (values == cat).to_numpy()
            colour = NOISE_COLOUR if cat in ("noise", "(none)") else PALETTE[i % len(PALETTE)]
            coords = {"x": df.loc[m, x], "y": df.loc[m, y]} | ({"z": df.loc[m, z]} if three else {})
            fig.add_trace(Scatter(**coords, mode="markers", customdata=ids[m], text=hover[m],
                                  hovertemplate="%{text}<extra></extra>", name=esc(cat),
                                  marker=dict(size=size, color=colour, opacity=0.8)))
    fig.update_layout(title=esc_title(title), legend_title_text=esc(color.replace("_", " ")), template="plotly_white",
                      hoverlabel=dict(align="left"), margin=dict(l=10, r=10, t=50 if title else 20, b=10),
                      dragmode="lasso" if not three else None, height=560)
    if not three:
        fig.update_xaxes(showticklabels=False, title=None, zeroline=False)
        fig.update_yaxes(showticklabels=False, title=None, zeroline=False, scaleanchor=None)
    return fig


def plot_silhouette(silhouette: dict | pd.DataFrame, *, chosen: int | None = None, title: str | None = None) -> go.Figure:
    """Silhouette score against k (the curve auto-k was chosen from); the chosen k is marked.

    Parameters
    ----------
    silhouette : dict {k: score} or DataFrame with columns k, silhouette
    chosen : int, optional
    """
    if isinstance(silhouette, dict):
        silhouette = pd.DataFrame({"k": list(silhouette), "silhouette": list(silhouette.values())})
    d = silhouette.sort_values("k")
    fig = go.Figure(go.Scatter(x=d["k"], y=d["silhouette"], mode="lines+markers", name="silhouette",
                               hovertemplate="k = %{x}<br>silhouette = %{y:.3f}<extra></extra>"))
    if chosen is not None and chosen in set(d["k"]):
        fig.add_trace(go.Scatter(x=[chosen], y=d.loc[d["k"] == chosen, "silhouette"], mode="markers", name=f"k = {chosen}",
                                 marker=dict(size=14, symbol="circle-open", line=dict(width=3), color="#D55E00")))
    fig.update_layout(title=esc_title(title), xaxis_title="k (number of clusters)", yaxis_title="silhouette",
                      template="plotly_white", height=280, showlegend=False, margin=dict(l=10, r=10, t=40 if title else 10, b=10))
    fig.update_xaxes(dtick=1)
    return fig


def plot_contingency(table: pd.DataFrame, *, normalize: str | None = None, title: str | None = None) -> go.Figure:
    """Heatmap of a cluster x gold-label contingency table, counts written in the cells.

    Parameters
    ----------
    table : DataFrame, index = clusters (names, drawn in the table's order), columns = gold labels (drawn in natural
        order: s2 before s10), values = counts
    normalize : None, "row" or "column"
        Colour by the share within each cluster (row) or label (column); cells still show counts.
    """
    table = table.reindex(columns=sorted(table.columns, key=natural_key))
    counts = table.to_numpy(dtype=float)
    z = counts
    if normalize == "row":
        z = counts / np.maximum(counts.sum(axis=1, keepdims=True), 1)
    elif normalize == "column":
        z = counts / np.maximum(counts.sum(axis=0, keepdims=True), 1)
    rows = esc_all(table.index, "–")
    cols = esc_all(table.columns, "–")
    fig = go.Figure(go.Heatmap(z=z, x=cols, y=rows, text=counts.astype(int), texttemplate="%{text}",
                               colorscale="Blues", showscale=normalize is not None,
                               hovertemplate="cluster %{y}<br>label %{x}<br>%{text} occurrences<extra></extra>"))
    fig.update_layout(title=esc_title(title), xaxis_title="gold label", yaxis_title="cluster", template="plotly_white",
                      height=max(260, 60 + 36 * len(rows)), margin=dict(l=10, r=10, t=40 if title else 10, b=10))
    fig.update_yaxes(autorange="reversed", type="category")
    fig.update_xaxes(type="category")
    return fig


def plot_layer_comparison(df: pd.DataFrame, *, score: str = "ari", model: str = "model", layer: str = "layer",
                          title: str | None = None) -> go.Figure:
    """Score against layer, one line per model (the paper's comparison of models on one term).

    Parameters
    ----------
    df : DataFrame with columns model, layer, and the score column (one row per model x layer).
        Single layers (``"3"``) sort numerically; mixed ranges (``"4-6"``) are placed at their last layer.
    score : column to plot (ari, purity, nmi, v_measure, centroid_accuracy, logreg_accuracy, macro_f1, ...)
    """
    if score not in df.columns:
        raise KeyError(f"no score column {score!r}")
    d = df.copy()
    d["_x"] = [int(str(v).split("-")[-1]) for v in d[layer]]
    fig = go.Figure()
    score_name = esc(SCORE_NAMES.get(score, score))
    for i, (name, g) in enumerate(d.groupby(model, sort=False)):
        g = g.sort_values("_x")
        fig.add_trace(go.Scatter(x=g["_x"], y=g[score], mode="lines+markers", name=esc(name),
                                 text=esc_all(g[layer]), line=dict(color=PALETTE[i % len(PALETTE)]),
                                 hovertemplate=f"{_esc(name)}<br>layer %{{text}}<br>{score_name} = "
                                               "%{y:.3f}<extra></extra>"))
    fig.update_layout(title=esc_title(title), xaxis_title="layer (0 = embeddings)",
                      yaxis_title=score_name,
                      template="plotly_white", height=380, legend_title_text="model",
                      margin=dict(l=10, r=10, t=40 if title else 10, b=10))
    fig.update_xaxes(dtick=1)
    return fig
