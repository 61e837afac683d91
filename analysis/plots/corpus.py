"""Figures of the Corpus page."""

from __future__ import annotations

import pandas as pd
import plotly.graph_objects as go

from analysis.corpus import count_order_key
from analysis.plots import theme
from analysis.plots._text import esc, esc_all, esc_title


def plot_counts(counts: pd.DataFrame, *, column: str, title: str | None = None) -> go.Figure:
    """Bar chart of occurrence counts. ``counts`` has columns [column, "occurrences"] (in the order to draw)."""
    name = esc(column)  # a metadata column name comes from the user's file
    x = counts[column].astype(str) if column == "year" else esc_all(counts[column])
    fig = go.Figure(go.Bar(x=x, y=counts["occurrences"], marker_color=theme.PRIMARY,
                           hovertemplate=f"{name}: %{{x}}<br>occurrences: %{{y}}<extra></extra>"))
    theme.apply(fig, title=esc_title(title) or f"Occurrences per {name}", x_title=name, y_title="occurrences",
                height=300, legend=None)
    fig.update_yaxes(tickformat=",d", rangemode="tozero")
    if column == "year":
        fig.update_xaxes(tickformat="d")  # 1850, not 1,850 or 1.85k
    # years are numbers on a linear axis; periods and labels are categories even when they look like numbers
    fig.update_xaxes(type="linear" if column == "year" else "category")
    if column != "year":  # keep the table's (natural) order: s2 before s10
        fig.update_xaxes(categoryorder="array", categoryarray=x)
    return fig


def count_table(occ: pd.DataFrame, column: str) -> pd.DataFrame:
    """Occurrences per value of ``column`` (missing values shown as "(none)"), in natural order (s2 before s10)."""
    values = occ[column]
    if column == "year":
        values = values.astype("Int64")
        counts = values.dropna().astype(int).value_counts().sort_index()
    else:
        counts = values.astype("string").fillna("(none)").value_counts()
        counts = counts.loc[sorted(counts.index, key=count_order_key)]
    return counts.rename_axis(column).reset_index(name="occurrences")


#: The measures of :func:`plot_frequency`: column of ``frequency_table`` -> axis title.
FREQUENCY_MEASURES = {"hits": "hits", "per_million_words": "hits per million words",
                      "per_thousand_documents": "hits per 1,000 documents"}


def plot_frequency(table: pd.DataFrame, *, by: str = "year", measure: str = "hits",
                   title: str | None = None) -> go.Figure:
    """The target's frequency per year (a line over a linear year axis) or per period (bars), absolute or relative to
    the corpus's size there. ``table`` is ``analysis.corpus_index.query.frequency_table``'s output."""
    if measure not in FREQUENCY_MEASURES:
        raise KeyError(f"no frequency measure {measure!r}; use one of {', '.join(FREQUENCY_MEASURES)}")
    name = esc(by)
    d = table[table[by].astype(str) != "(none)"] if by == "year" else table
    y = d[measure].to_numpy(dtype=float)
    hover = [f"{name} {esc(k)}: {int(h):,} hits<br>{int(dc):,} documents, {int(w):,} words in the corpus"
             for k, h, dc, w in zip(d[by], d["hits"], d["documents"], d["words"])]
    if by == "year":
        fig = go.Figure(go.Scatter(x=d[by].astype(int), y=y, mode="lines+markers", marker=dict(size=5),
                                   line=dict(color=theme.PRIMARY, width=2), hovertext=hover, hoverinfo="text"))
        fig.update_xaxes(tickformat="d", type="linear")
    else:
        x = esc_all(d[by])
        fig = go.Figure(go.Bar(x=x, y=y, marker_color=theme.PRIMARY, hovertext=hover, hoverinfo="text"))
        fig.update_xaxes(type="category", categoryorder="array", categoryarray=x)
    label = FREQUENCY_MEASURES[measure]
    theme.apply(fig, title=esc_title(title) or f"{label[0].upper()}{label[1:]} per {name}", x_title=name,
                y_title=label, height=320, legend=None)
    fig.update_yaxes(rangemode="tozero", tickformat=",d" if measure == "hits" else theme.tick_format(y))
    return fig
