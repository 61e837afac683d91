"""Figures of the Corpus page."""

from __future__ import annotations

import pandas as pd
import plotly.graph_objects as go


def plot_counts(counts: pd.DataFrame, *, column: str, title: str | None = None) -> go.Figure:
    """Bar chart of occurrence counts. ``counts`` has columns [column, "occurrences"]."""
    fig = go.Figure(go.Bar(x=counts[column].astype(str), y=counts["occurrences"], marker_color="#4C78A8",
                           hovertemplate=f"{column}: %{{x}}<br>occurrences: %{{y}}<extra></extra>"))
    fig.update_layout(title=title or f"Occurrences per {column}", xaxis_title=column, yaxis_title="occurrences",
                      height=300, margin=dict(l=40, r=10, t=40, b=40))
    # years are numbers on a linear axis; periods and labels are categories even when they look like numbers
    fig.update_xaxes(type="linear" if column == "year" else "category")
    return fig


def count_table(occ: pd.DataFrame, column: str) -> pd.DataFrame:
    """Occurrences per value of ``column`` (missing values shown as "(none)")."""
    values = occ[column]
    if column == "year":
        values = values.astype("Int64")
        counts = values.dropna().astype(int).value_counts().sort_index()
    else:
        counts = values.astype("string").fillna("(none)").value_counts()
        # natural order: numeric labels as numbers (DWUG clusters 0, 1, 2, ..., 10), then the rest, "(none)" last
        counts = counts.loc[sorted(counts.index, key=_natural_key)]
    return counts.rename_axis(column).reset_index(name="occurrences")


def _natural_key(value: str):
    text = str(value)
    if text == "(none)":
        return (2, 0, text)
    try:
        return (0, float(text), text)
    except ValueError:
        return (1, 0, text)
