"""Figures of the Bias page: tidy tables from :mod:`analysis.bias` in, plotly figures out; nothing is computed here
beyond grouping and means for display.

Inputs are ``results_frame(results)`` (one row per test x level x model x layer) and ``items_frame(results)`` (one row
per target item with its s(w, A, B)), so the same figures can be drawn from a saved ``bias.json`` / CSV. Test names,
models, words, sentences and titles are escaped before they reach the figure (``analysis.plots._text``).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import plotly.graph_objects as go

from analysis.plots import theme
from analysis.plots._text import esc, esc_all, esc_title

SET_COLORS = {"X": theme.PRIMARY, "Y": theme.SECONDARY}


def significance_mark(p: float, alpha: float = 0.05) -> str:
    """"***" p < alpha/50, "**" p < alpha/5, "*" p < alpha (0.001 / 0.01 / 0.05 at the default), else ""."""
    if p is None or not np.isfinite(p):
        return ""
    if p < alpha / 50:
        return "***"
    if p < alpha / 5:
        return "**"
    return "*" if p < alpha else ""


def _row_label(df: pd.DataFrame) -> pd.Series:
    """The test name, plus the level and layer when the frame holds several of them (plain text: escape to draw)."""
    label = df["test"].astype(str)
    if df["level"].nunique() > 1:
        label = label + " · " + df["level"].astype(str)
    if df["layer"].nunique() > 1:
        label = label + " · L" + df["layer"].astype(str)
    return label


def _p_column(df: pd.DataFrame, p_col: str) -> str:
    if p_col not in df.columns:
        raise ValueError(f"the results frame has no column {p_col!r}")
    return p_col


def plot_effect_sizes(results: pd.DataFrame, *, p_col: str = "p_value", alpha: float = 0.05,
                      title: str | None = None) -> go.Figure:
    """Effect sizes d with their bootstrap intervals as bars, one colour (bar group) per model, stars for significance.

    Parameters
    ----------
    results : DataFrame from ``results_frame``: ``test``, ``level``, ``model``, ``layer``, ``effect_size``,
        ``ci_low``, ``ci_high`` and the p-value column
    p_col : "p_value" or "p_holm" (the Holm-adjusted p across the battery)
    alpha : level of the single star; ** and *** are alpha/5 and alpha/50
    """
    p_col = _p_column(results, p_col)
    df = results.copy()
    df["row"] = esc_all(_row_label(df))  # escaping is one-to-one, so the escaped names still key the rows
    rows = list(dict.fromkeys(df["row"]))
    fig = go.Figure()
    model_colors = theme.category_colors(df["model"].unique())
    values = df[["effect_size", "ci_low", "ci_high"]].to_numpy(float)
    span = float(np.nanmax(np.abs(values))) if np.isfinite(values).any() else 1.0
    pad = 0.04 * span
    for i, (model_raw, d) in enumerate(df.groupby("model", sort=False)):
        model = esc(model_raw)
        d = d.set_index("row").reindex(rows)
        y = d["effect_size"].to_numpy(float)
        lo, hi = d["ci_low"].to_numpy(float), d["ci_high"].to_numpy(float)
        pv = d[p_col].to_numpy(float)
        marks = [significance_mark(p, alpha) for p in pv]
        hover = [f"<b>{r}</b> ({model})<br>d = {v:.3f}" + (f" [{a:.2f}, {b:.2f}]" if np.isfinite(a) else "")
                 + f"<br>{p_col.replace('_', ' ')} = {p:.3g}" if np.isfinite(v) else f"<b>{r}</b> ({model}): d undefined"
                 for r, v, a, b, p in zip(rows, y, lo, hi, pv)]
        color = model_colors[model_raw]
        fig.add_trace(go.Bar(
            x=rows, y=y, name=model, marker_color=color, offsetgroup=str(i), legendgroup=model,
            hovertext=hover, hoverinfo="text",
            error_y=dict(type="data", symmetric=False, array=np.where(np.isfinite(hi), hi - y, 0),
                         arrayminus=np.where(np.isfinite(lo), y - lo, 0), thickness=1.2, width=3)))
        # Stars beyond the end of the interval (above for d >= 0, below for d < 0), in the bar's own slot.
        top = np.where(np.isfinite(hi), np.fmax(hi, y), y)
        bottom = np.where(np.isfinite(lo), np.fmin(lo, y), y)
        pos = np.where(np.nan_to_num(y) >= 0, top + pad, bottom - pad)
        fig.add_trace(go.Scatter(
            x=rows, y=pos, text=marks, mode="text", offsetgroup=str(i), legendgroup=model, showlegend=False,
            textposition=["top center" if v >= 0 else "bottom center" for v in np.nan_to_num(y)], textfont=dict(size=15, color=color), hoverinfo="skip",
            name=f"{model} significance", cliponaxis=False))
    fig.add_hline(y=0, line_color="#888", line_width=1)
    default = f"Effect size d per test (bars: bootstrap interval; * {p_col.replace('_', ' ')} < {alpha:g})"
    theme.apply(fig, title=esc_title(title) or default, x_title="test", y_title="effect size d", height=440,
                legend="right", legend_title="model")
    fig.update_layout(barmode="group", scattermode="group")
    fig.update_xaxes(tickangle=-40, type="category")
    finite = values[np.isfinite(values)]
    if finite.size:  # leave room for the stars beyond the intervals
        fig.update_yaxes(range=[min(0.0, finite.min()) - 4 * pad, max(0.0, finite.max()) + 4 * pad])
    fig.update_yaxes(zeroline=True, tickformat=".2f")
    return fig


def plot_layer_heatmap(results: pd.DataFrame, *, value: str = "effect_size", p_col: str = "p_value",
                       alpha: float = 0.05, title: str | None = None) -> go.Figure:
    """Test x layer heatmap of d (diverging, centred on 0), stars in the cells where p < alpha.

    Rows are tests (with the level and model when there are several); columns are hidden-state layers.
    """
    p_col = _p_column(results, p_col)
    df = results.copy()
    label = df["test"].astype(str)
    if df["level"].nunique() > 1:
        label = label + " · " + df["level"].astype(str)
    if df["model"].nunique() > 1:
        label = label + " · " + df["model"].astype(str)
    df["row"] = esc_all(label)
    rows = list(dict.fromkeys(df["row"]))
    layers = sorted(df["layer"].unique())
    z = df.pivot_table(index="row", columns="layer", values=value, aggfunc="first").reindex(index=rows,
                                                                                            columns=layers)
    p = df.pivot_table(index="row", columns="layer", values=p_col, aggfunc="first").reindex(index=rows,
                                                                                            columns=layers)
    zv, pv = z.to_numpy(float), p.to_numpy(float)
    text = [[significance_mark(pp, alpha) for pp in prow] for prow in pv]
    bound = float(np.nanmax(np.abs(zv))) if np.isfinite(zv).any() else 1.0
    fig = go.Figure(go.Heatmap(
        z=zv, x=[str(l) for l in layers], y=rows, text=text, texttemplate="%{text}", colorscale="RdBu",
        reversescale=True, zmid=0, zmin=-bound, zmax=bound, colorbar=dict(title="d"),
        customdata=pv, hovertemplate="%{y}<br>layer %{x}<br>d = %{z:.3f}<br>p = %{customdata:.3g}<extra></extra>"))
    theme.apply(fig, title=esc_title(title) or f"Effect size across layers (* {p_col.replace('_', ' ')} < {alpha:g})",
                x_title="layer (0 = embeddings)", y_title="test", height=max(300, 28 * len(rows) + 140), legend=None)
    fig.update_xaxes(type="category")
    fig.update_yaxes(autorange="reversed", type="category")
    return fig


def word_scores(items: pd.DataFrame) -> pd.DataFrame:
    """Per word: mean, min and max of s(w, A, B) over its items (occurrences / sentences), and their count.

    Items not tied to a word (bundled sentences without a located word) count as their own text.
    """
    df = items.copy()
    df["word"] = df["word"].where(df["word"].astype(str) != "", df["text"])
    g = df.groupby(["set", "set_name", "word"], sort=False)["s"]
    out = g.agg(["mean", "min", "max", "count"]).reset_index()
    return out.sort_values("mean", ascending=True).reset_index(drop=True)


def plot_word_associations(items: pd.DataFrame, *, title: str | None = None, max_points: int = 3000) -> go.Figure:
    """Which target words drive an effect: mean s(w, A, B) per word as horizontal bars coloured by target set, with
    each occurrence (contextual level) or sentence as a dot.

    Parameters
    ----------
    items : rows of ``items_frame`` for one test, level, model and layer (``set``, ``set_name``, ``word``, ``text``,
        ``s``)
    """
    keys = [c for c in ("test", "level", "model", "layer") if c in items.columns]
    if keys and (items[keys].drop_duplicates().shape[0] > 1):
        raise ValueError("plot_word_associations takes the items of one test, level, model and layer")
    scores = word_scores(items)
    order = esc_all(scores["word"])
    fig = go.Figure()
    for set_key, d in scores.groupby("set", sort=True):
        name = esc(d["set_name"].iloc[0])
        fig.add_trace(go.Bar(
            y=esc_all(d["word"]), x=d["mean"], orientation="h", name=f"{esc(set_key)}: {name}",
            marker_color=SET_COLORS.get(set_key, theme.NOISE_COLOR), opacity=0.85,
            hovertext=[f"<b>{esc(w)}</b> ({name})<br>mean s = {m:.4f} over {c} item(s)"
                       for w, m, c in zip(d["word"], d["mean"], d["count"])], hoverinfo="text"))
    if (scores["count"] > 1).any():
        pts = items.copy()
        pts["word"] = pts["word"].where(pts["word"].astype(str) != "", pts["text"])
        if len(pts) > max_points:
            pts = pts.sample(max_points, random_state=0)
        fig.add_trace(go.Scatter(
            y=esc_all(pts["word"]), x=pts["s"], mode="markers", name="items",
            marker=dict(size=5, color="#333", opacity=0.45),
            hovertext=[f"{esc(t)}<br>s = {s:.4f}" for t, s in zip(pts["text"], pts["s"])], hoverinfo="text"))
    fig.add_vline(x=0, line_color="#888", line_width=1)
    theme.apply(fig, title=esc_title(title) or "s(w, A, B) per target word (positive: closer to A than to B)",
                x_title="s(w, A, B) = mean cos(w, A) − mean cos(w, B)", y_title="target word",
                height=max(320, 18 * len(order) + 120), legend="top", legend_title="")
    fig.update_layout(barmode="overlay")
    fig.update_yaxes(categoryorder="array", categoryarray=order, type="category")
    return fig
