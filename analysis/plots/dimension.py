"""Figures of the Dimension page: tidy tables from :mod:`analysis.dimension` in, plotly figures out; nothing is fitted.

Inputs are ``DimensionRun.records`` (one row per checkpoint x layer: ``checkpoint``, ``step``, ``order``, ``layer``,
``mean``, ``median``, ``std``, ``global``, ``train_loss``, ``eval_loss``, ...), ``DimensionRun.token_lid`` (one row per
checkpoint x layer x token: ``checkpoint``, ``order``, ``layer``, ``lid``) and a fine-tuning log (``log.jsonl`` rows:
``step``, ``train_loss``, ``eval_loss``), so the same figures can be drawn from saved ``dimension.json`` / CSV files.
Checkpoint names and titles are escaped before they reach the figure (``analysis.plots._text``).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from analysis.plots import theme
from analysis.plots._text import esc, esc_all

LID_COLOR = theme.PRIMARY
GLOBAL_COLOR = theme.QUATERNARY
TRAIN_COLOR = theme.SECONDARY
EVAL_COLOR = theme.TERTIARY


def _layout(fig: go.Figure, title: str, height: int = 400, legend: str | None = "right") -> go.Figure:
    return theme.apply(fig, title=esc(title), height=height, legend=legend, legend_title="")


def _checkpoint_axis(df: pd.DataFrame) -> tuple[list, str, bool]:
    """x values for the checkpoints of ``df`` (in run order): training steps when every checkpoint has a distinct
    step, else the checkpoint names as categories. Returns (values per row, axis title, numeric?)."""
    steps = pd.to_numeric(df["step"], errors="coerce") if "step" in df else pd.Series(np.nan, index=df.index)
    per_ck = df.assign(_s=steps).drop_duplicates("checkpoint")
    if per_ck["_s"].notna().all() and per_ck["_s"].is_unique:
        return steps.tolist(), "training step", True
    return esc_all(df["checkpoint"]), "checkpoint", False


def _last_layer(df: pd.DataFrame) -> int:
    return int(df["layer"].max())


def _ordered(df: pd.DataFrame) -> pd.DataFrame:
    key = "order" if "order" in df else "step"
    return df.sort_values([key, "checkpoint"], kind="stable")


def plot_lid_trajectory(records: pd.DataFrame, *, layer: int | None = None, show_global: bool = True,
                        title: str | None = None) -> go.Figure:
    """Mean local ID per checkpoint (error bars: ±1 standard deviation over tokens) beside the losses.

    Parameters
    ----------
    records : DataFrame of checkpoint x layer records
    layer : int, optional
        The layer to draw (default: the deepest one in ``records``).
    show_global : bool
        Also draw the global TwoNN per checkpoint (dotted).

    The training and held-out masked-LM losses, where known, go on a second y axis. The x axis is the training step
    when every checkpoint has one, else the checkpoint names in run order.
    """
    layer = _last_layer(records) if layer is None else int(layer)
    df = _ordered(records[records["layer"] == layer])
    if df.empty:
        raise ValueError(f"no records for layer {layer}")
    x, xtitle, numeric = _checkpoint_axis(df)
    fig = make_subplots(specs=[[{"secondary_y": True}]])
    hover = [f"<b>{esc(c)}</b><br>mean LID {m:.2f} ± {s:.2f}<br>median {md:.2f}<br>{int(n)} tokens, "
             f"{int(d)} duplicates"
             for c, m, s, md, n, d in zip(df["checkpoint"], df["mean"], df["std"], df["median"], df["n_tokens"],
                                          df["n_duplicates"])]
    fig.add_trace(go.Scatter(x=x, y=df["mean"], mode="lines+markers", name=f"mean LID (layer {layer})",
                             line=dict(color=LID_COLOR, width=3), error_y=dict(type="data", array=df["std"].tolist(),
                                                                                visible=True, thickness=1),
                             hovertext=hover, hoverinfo="text"), secondary_y=False)
    if show_global and "global" in df and pd.to_numeric(df["global"], errors="coerce").notna().any():
        fig.add_trace(go.Scatter(x=x, y=pd.to_numeric(df["global"], errors="coerce"), mode="lines+markers",
                                 name="global TwoNN", line=dict(color=GLOBAL_COLOR, dash="dot")), secondary_y=False)
    for col, name, color in (("train_loss", "training loss", TRAIN_COLOR), ("eval_loss", "held-out loss", EVAL_COLOR)):
        if col in df:
            y = pd.to_numeric(df[col], errors="coerce")
            if y.notna().any():
                fig.add_trace(go.Scatter(x=x, y=y, mode="lines+markers", name=name, connectgaps=True,
                                         line=dict(color=color, dash="dash"), marker=dict(symbol="diamond")),
                              secondary_y=True)
    fig.update_xaxes(title=xtitle, type="linear" if numeric else "category")
    if numeric:
        theme.format_axis(fig, x, axis="x")
    lid_values = np.concatenate([(df["mean"] - df["std"]).to_numpy(float), (df["mean"] + df["std"]).to_numpy(float)])
    fig.update_yaxes(title_text="local intrinsic dimension", secondary_y=False)
    theme.format_axis(fig, lid_values, secondary_y=False)
    losses = [pd.to_numeric(df[c], errors="coerce") for c in ("train_loss", "eval_loss") if c in df]
    loss_values = pd.concat(losses).dropna().to_numpy(float) if losses else np.array([])
    # tickmode "auto": an overlaying axis would otherwise sync its ticks to the LID axis (odd values like 2.32, 2.39)
    fig.update_yaxes(title_text="masked-LM loss", secondary_y=True, showgrid=False, zeroline=False,
                     visible=bool(loss_values.size), tickmode="auto")
    if loss_values.size:  # ticks that fit the losses' own spread (the axis is independent of the LID axis)
        theme.format_axis(fig, loss_values, secondary_y=True)
    return _layout(fig, title or f"Mean local intrinsic dimension per checkpoint (layer {layer}) and loss")


def plot_lid_violins(token_lid: pd.DataFrame, *, layer: int | None = None, title: str | None = None,
                     max_points: int = 4000) -> go.Figure:
    """Distribution of the per-token LID per checkpoint, one violin each (box and mean line inside).

    Parameters
    ----------
    token_lid : DataFrame with ``checkpoint``, ``order`` (or ``step``), ``layer``, ``lid``
    layer : int, optional (default: the deepest)
    max_points : int
        Tokens per checkpoint drawn (an even subsample, so the browser stays fast; the kernel density is the same
        shape).
    """
    layer = _last_layer(token_lid) if layer is None else int(layer)
    df = _ordered(token_lid[(token_lid["layer"] == layer)].dropna(subset=["lid"]))
    if df.empty:
        raise ValueError(f"no token values for layer {layer}")
    fig = go.Figure()
    for ck, part in df.groupby("checkpoint", sort=False):
        vals = part["lid"].to_numpy()
        if len(vals) > max_points:
            vals = np.sort(vals)[np.linspace(0, len(vals) - 1, max_points).astype(int)]
        fig.add_trace(go.Violin(y=vals, name=esc(ck), box_visible=True, meanline_visible=True, points=False,
                                spanmode="hard",  # no smoothing tails below the smallest LID (never below 0)
                                line_color=LID_COLOR, fillcolor=theme.rgba(LID_COLOR, 0.35), showlegend=False))
    fig.update_xaxes(title="checkpoint", type="category")
    fig.update_yaxes(title="local intrinsic dimension per token", tickformat=theme.tick_format(df["lid"]))
    return _layout(fig, title or f"Per-token local intrinsic dimension (layer {layer})", legend=None)


def plot_lid_heatmap(records: pd.DataFrame, *, value: str = "mean", title: str | None = None) -> go.Figure:
    """Layer x checkpoint heatmap of the mean (or ``value``) local ID, annotated with the numbers."""
    df = _ordered(records)
    cks = list(dict.fromkeys(df["checkpoint"].astype(str)))
    layers = sorted(df["layer"].unique())
    grid = df.assign(checkpoint=df["checkpoint"].astype(str)).pivot_table(index="layer", columns="checkpoint",
                                                                          values=value, aggfunc="first")
    grid = grid.reindex(index=layers, columns=cks)
    z = grid.to_numpy(dtype=float)
    text = [[("" if not np.isfinite(v) else f"{v:.1f}") for v in row] for row in z]
    fig = go.Figure(go.Heatmap(z=z, x=esc_all(cks), y=[str(l) for l in layers], colorscale="Viridis", text=text,
                               texttemplate="%{text}", colorbar=dict(title=esc(value)),
                               hovertemplate=f"checkpoint %{{x}}<br>layer %{{y}}<br>{esc(value)} %{{z:.2f}}"
                                             "<extra></extra>"))
    fig.update_xaxes(title="checkpoint", type="category")
    fig.update_yaxes(title="layer (0 = embeddings)", type="category")
    return _layout(fig, title or f"{value.capitalize()} local intrinsic dimension per layer and checkpoint",
                   height=max(300, 60 + 40 * len(layers)), legend=None)


def plot_training_log(log: pd.DataFrame, *, total_steps: int | None = None, title: str | None = None) -> go.Figure:
    """Training loss per logged step and held-out loss where evaluated (the live chart of a fine-tuning run).

    Parameters
    ----------
    log : DataFrame of ``log.jsonl`` rows: ``step``, ``train_loss`` and optionally ``eval_loss``
    total_steps : int, optional
        Fixes the x range to the whole run so the chart does not rescale while it grows.
    """
    fig = go.Figure()
    if "train_loss" in log and log["train_loss"].notna().any():
        d = log.dropna(subset=["train_loss"])
        fig.add_trace(go.Scatter(x=d["step"], y=d["train_loss"], mode="lines", name="training loss",
                                 line=dict(color=TRAIN_COLOR)))
    if "eval_loss" in log and log["eval_loss"].notna().any():
        d = log.dropna(subset=["eval_loss"])
        fig.add_trace(go.Scatter(x=d["step"], y=d["eval_loss"], mode="lines+markers", name="held-out loss",
                                 line=dict(color=EVAL_COLOR)))
    fig.update_xaxes(title="training step", range=[0, total_steps] if total_steps else None, tickformat=",d")
    losses = [log[c] for c in ("train_loss", "eval_loss") if c in log]
    fig.update_yaxes(title="masked-LM loss")
    if losses:
        theme.format_axis(fig, pd.concat(losses).dropna().to_numpy(float))
    return _layout(fig, title or "Fine-tuning loss", height=320)

