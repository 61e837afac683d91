"""Figures of the Shift page: tidy tables from :mod:`analysis.shift` in, plotly figures out; nothing is fitted here.

Inputs are the frames the result objects produce (``Periods.counts_frame()``, ``SenseShares.to_frame()``,
``ShiftResult.pairs_frame()``, ``Trajectory.prototype_frame()``, ``rank_targets(...)``), so that a notebook user can
draw the same figures from saved CSVs. Every data string (period, sense and target names, titles) is escaped before
it reaches the figure (``analysis.plots._text``), so names holding HTML are shown as text, never as live markup.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from analysis.plots import theme
from analysis.plots._text import esc, esc_all

NOISE_COLOR = theme.NOISE_COLOR
_METRIC_NAMES = {"apd": "APD", "prt": "PRT", "jsd": "JSD"}
_METRIC_AXES = {"apd": "APD (cosine distance)", "prt": "PRT (cosine distance)", "jsd": "JSD (nats)"}


def _layout(fig: go.Figure, title: str, height: int = 380, **kwargs) -> go.Figure:
    # Titles are plain text (callers' titles name targets and periods; defaults name metrics): escaped here, once.
    return theme.apply(fig, title=esc(title), height=height, **kwargs)


def plot_period_counts(counts: pd.DataFrame, *, thin_count: int = 30, title: str | None = None) -> go.Figure:
    """Bars of occurrences per period; periods under ``thin_count`` are drawn in orange and named in the hover.

    Parameters
    ----------
    counts : DataFrame with columns ``period``, ``count`` (in time order)
    thin_count : int
    """
    thin = counts["count"] < thin_count
    colors = np.where(thin, theme.SECONDARY, theme.PRIMARY)
    hover = [f"{esc(p)}: {c} occurrences" + (" (too thin to trust)" if t else "")
             for p, c, t in zip(counts["period"], counts["count"], thin)]
    fig = go.Figure(go.Bar(x=esc_all(counts["period"]), y=counts["count"], marker_color=list(colors),
                           hovertext=hover, hoverinfo="text", name="occurrences"))
    if len(counts) and counts["count"].min() < 2 * thin_count:  # the line only matters near thin periods
        fig.add_hline(y=thin_count, line_dash="dot", line_color=theme.SECONDARY,
                      annotation_text=f"thin below {thin_count}", annotation_position="top right")
    fig.update_xaxes(title="period", type="category")
    fig.update_yaxes(title="occurrences")
    return _layout(fig, title or "Occurrences per period", height=300, legend=None)


def plot_sense_shares(shares: pd.DataFrame, *, kind: str = "bar", title: str | None = None) -> go.Figure:
    """Sense shares per period with bootstrap intervals, and markers for first appearance and takeover.

    Parameters
    ----------
    shares : DataFrame from ``SenseShares.to_frame()``: ``period``, ``order``, ``sense``, ``sense_name``, ``share``,
        ``ci_low``, ``ci_high``, ``count``, ``first``, ``largest_from``
    kind : {"bar", "area"}
        Bars side by side, one per sense in each period, each with its interval as a whisker (clipped to [0, 1]; a
        stacked bar's whisker would start at the stack below it, not at zero, and poke above 100 %); or a stacked
        area (the composition at a glance; the interval in the hover).

    Each sense has its colour from :func:`analysis.plots.theme.sense_color` (the one it has on the Senses page);
    noise is grey and drawn last. Markers, from the second period on: a triangle above a sense's bar where it first
    appears, a star where it first becomes the largest sense (on the area chart, inside its band).
    """
    if kind not in ("bar", "area"):
        raise ValueError(f"kind must be 'bar' or 'area', not {kind!r}")
    df = shares.sort_values(["order", "sense"]).copy()
    df["period"] = df["period"].astype(str)
    periods = list(dict.fromkeys(df.sort_values("order")["period"]))
    xs = esc_all(periods)  # what the axis shows; ``periods`` (raw) index the frame
    senses = list(dict.fromkeys(df.sort_values("sense")["sense"]))
    senses = [s for s in senses if s != -1] + [s for s in senses if s == -1]  # noise last
    fig = go.Figure()
    df["share0"] = df["share"].fillna(0.0)
    cum = {p: 0.0 for p in periods}
    marks = {"first": [], "largest": []}
    for s in senses:
        d = df[df["sense"] == s].set_index("period").reindex(periods)
        raw = str(d["sense_name"].dropna().iloc[0]) if d["sense_name"].notna().any() else f"cluster {s}"
        name = esc(raw)
        color = NOISE_COLOR if s == -1 else theme.sense_color(raw)
        share = d["share0"].to_numpy(dtype=float)
        lo, hi = d["ci_low"].to_numpy(dtype=float), d["ci_high"].to_numpy(dtype=float)
        lo_c, hi_c = theme.clip_share_interval(lo, hi)
        hover = [f"<b>{name}</b><br>{p}: {sh:.1%} ({int(c) if pd.notna(c) else 0} occ.)"
                 + (f"<br>{a:.1%} – {b:.1%}" if np.isfinite(a) else "")
                 for p, sh, c, a, b in zip(xs, share, d["count"], lo_c, hi_c)]
        if kind == "bar":
            fig.add_trace(go.Bar(x=xs, y=share, name=name, marker_color=color, hovertext=hover, hoverinfo="text",
                                 legendgroup=str(s), offsetgroup=str(s),
                                 error_y=dict(type="data", symmetric=False, **theme.share_error_bars(share, lo, hi),
                                              thickness=1.2, width=3, color="#333")))
        else:
            fig.add_trace(go.Scatter(x=xs, y=share, name=name, mode="lines", stackgroup="shares",
                                     line=dict(color=color, width=0.5), hovertext=hover, hoverinfo="text",
                                     legendgroup=str(s)))
        top = np.where(np.isfinite(hi_c), np.fmax(hi_c, share), share)
        for p, x, sh, t, first, largest in zip(periods, xs, share, top, d["first"].fillna(False),
                                               d["largest_from"].fillna(False)):
            for flag, on, y_bar, y_area in (("first", first, t + 0.035, cum[p] + sh / 3),
                                            ("largest", largest, t + (0.085 if first else 0.035),
                                             cum[p] + 2 * sh / 3)):
                if on and p != periods[0]:  # in the first period every sense "appears": no news to mark
                    marks[flag].append((s, x, y_bar if kind == "bar" else y_area, name))
        for p, sh in zip(periods, share):
            cum[p] += sh
    for flag, symbol, label in (("first", "triangle-up", "first appears"), ("largest", "star", "becomes largest")):
        pts = marks[flag]
        # on bars, one marker trace per sense, in that sense's slot of the group (scattermode="group")
        groups = [[m for m in pts if m[0] == s] for s in senses] if kind == "bar" else [pts]
        shown = False
        for group in groups:
            if not group:
                continue
            fig.add_trace(go.Scatter(
                x=[m[1] for m in group], y=[m[2] for m in group], mode="markers", name=label, legendgroup=flag,
                showlegend=not shown, offsetgroup=str(group[0][0]) if kind == "bar" else None,
                marker=dict(symbol=symbol, size=13 if flag == "largest" else 10, color="white",
                            line=dict(color="black", width=1.5)), cliponaxis=False,
                hovertext=[f"{m[3]} {label} in {m[1]}" for m in group], hoverinfo="text"))
            shown = True
    if kind == "bar":
        fig.update_layout(barmode="group", scattermode="group", bargap=0.25, bargroupgap=0.05)
    fig.update_xaxes(type="category", categoryorder="array", categoryarray=xs)
    fig.update_yaxes(tickformat=".0%", range=[0, 1.12 if kind == "bar" else 1.0])
    return _layout(fig, title or "Sense shares per period (95% bootstrap intervals)", height=420,
                   x_title="period", y_title="share of occurrences", legend="right", legend_title="sense")


def plot_metrics_over_time(pairs: pd.DataFrame, *, metrics=None, alpha: float = 0.05,
                           title: str | None = None) -> go.Figure:
    """One panel per metric: change between consecutive periods and from the first period, over time.

    Parameters
    ----------
    pairs : DataFrame from ``ShiftResult.pairs_frame()``: ``earlier``, ``later``, ``later_order``, ``consecutive``,
        ``vs_first``, ``metric``, ``value``, ``p_value``, ``ci_low``, ``ci_high``, ``n_permutations``
    metrics : list of str, optional
        Default: those present in ``pairs``.
    alpha : float
        Points with p < alpha are filled, others hollow.

    The x axis is the later period of each pair; error bars are the bootstrap intervals.
    """
    metrics = list(metrics or list(dict.fromkeys(pairs["metric"])))
    fig = make_subplots(rows=len(metrics), cols=1, shared_xaxes=True, vertical_spacing=0.08,
                        subplot_titles=[esc(_METRIC_AXES.get(m, m)) for m in metrics])
    order = esc_all(pairs.drop_duplicates("later").sort_values("later_order")["later"])
    styles = (("consecutive", "vs previous period", theme.PRIMARY, "solid"),
              ("vs_first", "vs first period", theme.TERTIARY, "dash"))
    for r, m in enumerate(metrics, start=1):
        d = pairs[pairs["metric"] == m]
        for col, label, color, dash in styles:
            s = d[d[col]].sort_values("later_order")
            if s.empty:
                continue
            val = s["value"].to_numpy(dtype=float)
            lo = pd.to_numeric(s["ci_low"], errors="coerce").to_numpy(dtype=float)
            hi = pd.to_numeric(s["ci_high"], errors="coerce").to_numpy(dtype=float)
            p = pd.to_numeric(s["p_value"], errors="coerce").to_numpy(dtype=float)
            sig = np.where(np.isfinite(p), p < alpha, False)
            hover = [f"{esc(_METRIC_NAMES.get(m, m))} {esc(e)} → {esc(l)}: {v:.4f}"
                     + (f"<br>p = {pp:.3g} ({int(n)} permutations)" if np.isfinite(pp) else "")
                     + (f"<br>interval {a:.4f} – {b:.4f}" if np.isfinite(a) else "")
                     for e, l, v, pp, n, a, b in zip(s["earlier"], s["later"], val, p, s["n_permutations"], lo, hi)]
            fig.add_trace(go.Scatter(
                x=esc_all(s["later"]), y=val, mode="lines+markers", name=label, legendgroup=col,
                showlegend=r == 1, line=dict(color=color, dash=dash),
                marker=dict(size=9, color=[color if g else "white" for g in sig], line=dict(color=color, width=2)),
                error_y=dict(type="data", symmetric=False, array=np.nan_to_num(hi - val),
                             arrayminus=np.nan_to_num(val - lo), color=color, thickness=1),
                hovertext=hover, hoverinfo="text"), row=r, col=1)
        fig.update_yaxes(title_text=esc(_METRIC_NAMES.get(m, m)), rangemode="tozero", row=r, col=1)
    fig.update_xaxes(type="category", categoryorder="array", categoryarray=order)
    fig.update_xaxes(title_text="later period of the pair", row=len(metrics), col=1)
    return _layout(fig, title or f"Change over time (filled: p < {alpha:g})", height=220 * len(metrics) + 80,
                   legend="top")


def plot_trajectory(usages: pd.DataFrame, prototypes: pd.DataFrame, *, explained=None,
                    title: str | None = None) -> go.Figure:
    """Usages and period prototypes in one projection, prototypes joined in time order.

    Parameters
    ----------
    usages : DataFrame with ``x``, ``y``, ``period`` and optional ``hover`` (HTML KWIC line)
    prototypes : DataFrame with ``x``, ``y``, ``period``, ``order``
    explained : (float, float), optional
        Variance ratios of the two axes (PCA) for the axis titles.
    """
    periods = prototypes.sort_values("order")["period"].astype(str).tolist()
    colors = theme.category_colors(periods)
    fig = go.Figure()
    for p in periods:
        u = usages[usages["period"].astype(str) == p]
        if u.empty:
            continue
        fig.add_trace(go.Scattergl(x=u["x"], y=u["y"], mode="markers", name=esc(p), legendgroup=esc(p),
                                   marker=dict(size=5, color=colors[p], opacity=0.35),
                                   hovertext=u["hover"] if "hover" in u.columns else None,
                                   hoverinfo="text" if "hover" in u.columns else "x+y"))
    pr = prototypes.sort_values("order").dropna(subset=["x", "y"])
    fig.add_trace(go.Scatter(x=pr["x"], y=pr["y"], mode="lines+markers+text", name="prototypes (time order)",
                             text=esc_all(pr["period"]), textposition="top center",
                             line=dict(color="black", width=2),
                             marker=dict(size=14, symbol="diamond", color=[colors[p] for p in pr["period"].astype(str)],
                                         line=dict(color="black", width=1.5)),
                             hovertext=[f"prototype of {esc(p)}" for p in pr["period"]], hoverinfo="text"))
    for (x0, y0), (x1, y1) in zip(pr[["x", "y"]].to_numpy()[:-1], pr[["x", "y"]].to_numpy()[1:]):
        fig.add_annotation(x=x1, y=y1, ax=x0, ay=y0, xref="x", yref="y", axref="x", ayref="y", showarrow=True,
                           arrowhead=3, arrowsize=1.4, arrowwidth=1.5, arrowcolor="black", text="",
                           standoff=9, startstandoff=9)
    x_title, y_title = theme.projection_titles("pca", 2, explained)
    return _layout(fig, title or "Trajectory of the period prototypes", height=480, x_title=x_title,
                   y_title=y_title, legend="right", legend_title="period")


def plot_ranking(ranking: pd.DataFrame, *, metric: str = "apd", title: str | None = None) -> go.Figure:
    """Horizontal bars of the targets ordered by one metric (largest change on top), p-values in the hover.

    Parameters
    ----------
    ranking : DataFrame from ``rank_targets``: ``target``, the metric and optionally ``<metric>_p``
    """
    d = ranking.dropna(subset=[metric]).sort_values(metric, ascending=True)
    p = d[f"{metric}_p"] if f"{metric}_p" in d.columns else pd.Series(np.nan, index=d.index)
    hover = [f"{esc(t)}: {v:.4f}" + (f"<br>p = {pp:.3g}" if pd.notna(pp) else "")
             for t, v, pp in zip(d["target"], d[metric], p)]
    fig = go.Figure(go.Bar(x=d[metric], y=esc_all(d["target"]), orientation="h", marker_color=theme.PRIMARY,
                           hovertext=hover, hoverinfo="text", name=esc(_METRIC_NAMES.get(metric, metric))))
    fig.update_xaxes(title=esc(_METRIC_AXES.get(metric, metric)))
    fig.update_yaxes(type="category")
    theme.format_axis(fig, d[metric], axis="x")
    return _layout(fig, title or f"Targets ranked by {_METRIC_NAMES.get(metric, metric)}",
                   height=max(300, 22 * len(d) + 100), y_title="target", legend=None)


def plot_metric_vs_gold(df: pd.DataFrame, *, metric: str, gold: str = "gold", rho: float | None = None,
                        title: str | None = None) -> go.Figure:
    """Scatter of a change metric against the gold score, one labelled point per target.

    Parameters
    ----------
    df : DataFrame with ``target``, the metric column and the ``gold`` column
    rho : float, optional
        Spearman's rho to show in the title.
    """
    d = df.dropna(subset=[metric, gold])
    fig = go.Figure(go.Scatter(x=d[gold], y=d[metric], mode="markers+text", text=esc_all(d["target"]),
                               textposition="top center", textfont=dict(size=10),
                               marker=dict(size=9, color=theme.PRIMARY), name="targets",
                               hovertext=[f"{esc(t)}: gold {g:.3f}, {esc(_METRIC_NAMES.get(metric, metric))} {v:.4f}"
                                          for t, g, v in zip(d["target"], d[gold], d[metric])], hoverinfo="text"))
    fig.update_xaxes(title="gold change score")
    fig.update_yaxes(title=esc(_METRIC_AXES.get(metric, metric)))
    has_rho = rho is not None and np.isfinite(rho)
    rho_txt = f" (Spearman ρ = {rho:.3f}, n = {len(d)})" if has_rho else f" (n = {len(d)})"
    return _layout(fig, title or f"{_METRIC_NAMES.get(metric, metric)} vs gold{rho_txt}", height=420, legend=None)


def plot_layer_sweep(by_layer: pd.DataFrame, *, title: str | None = None) -> go.Figure:
    """APD, PRT and JSD per hidden layer, to show how much a conclusion depends on the layer. Three kinds of table:
    ``shift-rank --all-layers``' rho_by_layer (``layer``, ``metric``, ``mean`` and, with gold, ``rho``,
    ``rho_low``, ``rho_high``: Spearman's rho with its bootstrap interval over targets, else the mean score over
    targets), or one target's :func:`analysis.shift.shift_by_layer` (``value``, ``ci_low``, ``ci_high``: the
    score with its bootstrap interval)."""
    if "value" in by_layer.columns:  # one target: its scores and intervals
        by_layer = by_layer.rename(columns={"value": "rho", "ci_low": "rho_low", "ci_high": "rho_high"})
        one_target = True
    else:
        one_target = False
    has_rho = "rho" in by_layer.columns and by_layer["rho"].notna().any()
    layers = list(dict.fromkeys(by_layer["layer"].astype(str)))
    xs = esc_all(layers)
    metrics = list(dict.fromkeys(by_layer["metric"]))
    colors = theme.category_colors(metrics)
    fig = go.Figure()
    for m in metrics:
        d = by_layer[by_layer["metric"] == m].assign(layer=lambda x: x["layer"].astype(str)).set_index("layer")
        d = d.reindex(layers)
        y = d["rho" if has_rho else "mean"].to_numpy(dtype=float)
        err = None
        if has_rho:
            lo, hi = d["rho_low"].to_numpy(dtype=float), d["rho_high"].to_numpy(dtype=float)
            err = dict(type="data", symmetric=False, array=np.where(np.isfinite(hi), np.fmax(hi - y, 0), 0),
                       arrayminus=np.where(np.isfinite(lo), np.fmax(y - lo, 0), 0), thickness=1.2, width=4)
        fig.add_trace(go.Scatter(x=xs, y=y, mode="lines+markers", name=esc(str(m).upper()), error_y=err,
                                 line=dict(color=colors[m], width=2), marker=dict(size=7, color=colors[m]),
                                 hovertemplate=f"{esc(str(m).upper())}, layer %{{x}}: %{{y:.3f}}<extra></extra>"))
    if has_rho and not one_target:
        fig.add_hline(y=0, line_color="#888", line_width=1)
    if one_target:
        y_title, default = "change score (bootstrap interval)", "Change between the first and last period per layer"
    else:
        y_title = "Spearman ρ vs gold (95 % interval over targets)" if has_rho else "mean score over targets"
        default = "Change scores per layer" + (" against gold" if has_rho else "")
    _layout(fig, title or default, height=380, x_title="layer (0 = embeddings)", y_title=y_title, legend="right",
            legend_title="metric")
    fig.update_xaxes(type="category", categoryorder="array", categoryarray=xs)
    return fig
