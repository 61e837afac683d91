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
from analysis.plots import raster, theme
from analysis.plots._text import esc, esc_all, esc_title

#: Columns whose values are senses (clusters, gold labels, curated senses): coloured by :func:`theme.sense_color`,
#: so that a sense has the colour it has on the Shift page. Other categories (periods, selections) take the palette
#: in their order.
SENSE_COLUMNS = {"cluster", "cluster_name", "label", "sense", "sense_name", "curated_sense"}
NOISE_COLOUR = theme.NOISE_COLOR
#: Above this many points the scatter is drawn for size: in 2-D every point goes into a density image
#: (:mod:`analysis.plots.raster`) under WebGL markers for :data:`MARKERS` of them; the markers' coordinates are sent as
#: float32/int32 binary arrays and their hover is the ``kwic`` line, the group and the occurrence id (the group line
#: written once per trace). A 3-D scatter draws every point as a marker.
LARGE_SCATTER = 100_000
#: Above :data:`LARGE_SCATTER` points a 2-D scatter is drawn as a density image of every point (analysis.plots.raster)
#: with markers for at most this many of them: the rows with a ``kwic`` context, else a seeded sample.
MARKERS = 20_000
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


VIRIDIS = ["#440154", "#482878", "#3e4989", "#31688e", "#26828e", "#1f9e89", "#35b779", "#6ece58", "#b5de2b",
           "#fde725"]


def _ids_and_hover(df: pd.DataFrame, fields, large: bool) -> tuple[np.ndarray, np.ndarray]:
    """Occurrence ids (int32 for a big scatter, sent as binary) and hover texts: the full hover, or for a big scatter
    the ``kwic`` line alone (the group and id lines are written once per trace by the hover template)."""
    ids = df["occurrence_id"].to_numpy() if "occurrence_id" in df.columns else np.arange(len(df))
    if not large:
        return ids, np.asarray(_hover(df, fields), dtype=object)
    ids = ids.astype(np.int32) if len(ids) and 0 <= ids.min() and ids.max() < 2**31 else ids
    hover = np.full(len(df), "", dtype=object)
    if "kwic" in df.columns:  # only the rows with a context get a line (a sample of a big scatter)
        kw = df["kwic"].to_numpy(dtype=object)
        lit = np.flatnonzero(pd.notna(kw) & (kw != ""))
        hover[lit] = [f"{v}<br>" for v in kw[lit]]
    return ids, hover


def _categories(col: pd.Series, is_sense: bool, category_order) -> tuple[pd.Series, dict]:
    """The column as strings ("(none)" for missing) and {category: colour} in legend order: ``category_order`` first,
    then natural order (senses by :func:`theme.sense_order`)."""
    values = col.astype("string").fillna("(none)")
    present = set(values.unique())
    natural = theme.sense_order(values.unique()) if is_sense else sorted(values.unique(), key=natural_key)
    cats = [c for c in (category_order or []) if c in present]
    cats += [c for c in natural if c not in cats]
    colours = ({c: theme.sense_color(c) for c in cats} if is_sense else
               {c: (theme.NOISE_COLOR if c == "(none)" else v) for c, v in theme.category_colors(cats).items()})
    return values, colours


def _add_image(fig: go.Figure, uri: str, info: dict, *, markers: int) -> None:
    """The density image of every point under the sampled markers, with fixed axis ranges (a layout image does not
    take part in autorange) and what it shows in ``layout.meta.raster``."""
    x0, x1, y0, y1 = info["box"]
    fig.add_layout_image(source=uri, xref="x", yref="y", x=x0, y=y1, sizex=x1 - x0, sizey=y1 - y0,
                         sizing="stretch", layer="below", opacity=1)
    fig.update_xaxes(range=[x0, x1])
    fig.update_yaxes(range=[y0, y1])
    fig.update_layout(meta={"raster": {**info, "markers": markers}})


def _pick(a, m):
    """``a`` (array or Series), or its rows where the mask ``m`` is true."""
    return a if m is None else a[m] if isinstance(a, np.ndarray) else a.loc[m]


def _template(large: bool, color: str, group) -> str:
    """The hover template: the point's text, or for a big scatter its context, its group and its occurrence id."""
    if not large:
        return "%{text}<extra></extra>"
    first = f"{esc(color.replace('_', ' '))}: {esc(group)}<br>" if group is not None else ""
    return "%{text}" + first + "occurrence %{customdata}<extra></extra>"


def _markers(df: pd.DataFrame) -> np.ndarray:
    """Rows of a big scatter drawn as markers: those with a context to hover (at most :data:`MARKERS`), else a
    seeded sample of :data:`MARKERS`."""
    n = len(df)
    if "kwic" in df.columns:
        has = (df["kwic"].fillna("").astype(str) != "").to_numpy()
        if 0 < has.sum() <= MARKERS:
            return has
    keep = np.zeros(n, dtype=bool)
    keep[np.random.default_rng(0).choice(n, size=min(n, MARKERS), replace=False)] = True
    return keep


def _is_numeric(s: pd.Series) -> bool:
    return pd.api.types.is_numeric_dtype(s) and not pd.api.types.is_bool_dtype(s) and s.nunique(dropna=True) > 12


def plot_projection(df: pd.DataFrame, *, color: str = "cluster_name", xy: tuple[str, str] = ("x", "y"),
                    z: str | None = None, title: str | None = None, hover_fields: list[tuple[str, str]] | None = None,
                    category_order: list | None = None, method: str | None = None, explained=None,
                    senses: bool | None = None) -> go.Figure:
    """Scatter of the projected occurrences, coloured by any column.

    Parameters
    ----------
    df : DataFrame, one row per occurrence
        Columns ``x``, ``y`` (and ``z`` for 3-D); ``kwic`` (HTML-escaped keyword-in-context line); ``occurrence_id``
        (carried as customdata so selections map back to rows); optionally ``year``, ``label``, ``cluster_name``.
    color : str
        Column to colour by. Categorical columns get one trace per value (legend entries, toggled by click); a
        numeric column with many values (e.g. year) gets a continuous colour scale.
    xy, z : the coordinate columns (default ``x``, ``y``); with a ``z`` column, a 3-D scatter.
    hover_fields : list of (label, column)
        Lines under the KWIC line; default year, gold label, cluster. Above :data:`LARGE_SCATTER` points the hover
        shows the ``kwic`` line, the trace's group and the occurrence id instead, for the sampled markers.
    category_order : list, optional
        Order of the categories in the legend (e.g. cluster names in cluster order); default natural order (s2
        before s10), noise last.
    method : "umap", "tsne" or "pca", optional
        The projection, for the axis titles ("UMAP 1", "PC 1 (23 % of variance)" with ``explained``); without it
        the axes are "dimension 1", "dimension 2". Projection coordinates have no unit, so no tick labels are drawn.
    senses : bool, optional
        Whether the categories are senses (colour by :func:`theme.sense_color`); default: ``color`` is one of
        :data:`SENSE_COLUMNS`.
    """
    if color not in df.columns:
        raise KeyError(f"no column {color!r} to colour by")
    hover_fields = hover_fields or [("year", "year"), ("gold label", "label"), ("cluster", "cluster_name")]
    x, y = xy
    three = z is not None
    large = len(df) > LARGE_SCATTER
    size = 2 if large else 3 if len(df) > 5000 else 5 if len(df) > 1000 else 7  # smaller markers for more points
    Scatter = go.Scatter3d if three else go.Scattergl if large or len(df) > 2000 else go.Scatter
    ids, hover = _ids_and_hover(df, hover_fields, large)
    opacity = 0.5 if large else 0.8
    dense = large and not three  # every point in a density image, markers for a sample (see MARKERS)
    keep = _markers(df) if dense else None

    def rows(m=None):
        return keep if m is None else m if keep is None else m & keep

    def column(name: str, m=None):
        v = _pick(df[name], rows(m))
        return v.to_numpy(dtype=np.float32) if large else v

    fig = go.Figure()
    col = df[color]
    if _is_numeric(col):
        coords = {"x": column(x), "y": column(y)} | ({"z": column(z)} if three else {})
        fig.add_trace(Scatter(**coords, mode="markers", customdata=_pick(ids, rows()), text=_pick(hover, rows()),
                              hovertemplate=_template(large, color, None), name=esc(color),
                              marker=dict(size=size if not dense else 3, color=_pick(col, rows()),
                                          colorscale="Viridis", showscale=True, cmin=col.min(), cmax=col.max(),
                                          colorbar=dict(title=esc(color)), opacity=0.85)))
        if dense:
            image = raster.density_image(df[x].to_numpy(), df[y].to_numpy(), values=col.to_numpy(),
                                         colorscale=[(i / (len(VIRIDIS) - 1), c) for i, c in enumerate(VIRIDIS)])
    else:
        values, colours = _categories(col, color in SENSE_COLUMNS if senses is None else senses, category_order)
        for cat in colours:
            m = (values == cat).to_numpy()
            coords = {"x": column(x, m), "y": column(y, m)} | ({"z": column(z, m)} if three else {})
            fig.add_trace(Scatter(**coords, mode="markers", customdata=ids[rows(m)], text=hover[rows(m)],
                                  hovertemplate=_template(large, color, cat), name=esc(cat),
                                  marker=dict(size=size if not dense else 3, color=colours[cat], opacity=opacity)))
        if dense:
            image = raster.density_image(df[x].to_numpy(), df[y].to_numpy(), groups=values, colours=colours)
    theme.apply(fig, title=esc_title(title), legend="right", legend_title=esc(color.replace("_", " ")),
                height=560)
    fig.update_layout(dragmode="lasso" if not three else None)
    if dense:
        _add_image(fig, *image, markers=int(keep.sum()))
    _axis_titles(fig, method, three, explained)
    return fig


def _axis_titles(fig: go.Figure, method, three: bool, explained) -> None:
    titles = theme.projection_titles(method, 3 if three else 2, explained) if method else \
        [f"dimension {i + 1}" for i in range(3 if three else 2)]
    if three:
        fig.update_scenes(xaxis_title_text=titles[0], yaxis_title_text=titles[1], zaxis_title_text=titles[2])
    else:
        fig.update_xaxes(showticklabels=False, title_text=titles[0], zeroline=False)
        fig.update_yaxes(showticklabels=False, title_text=titles[1], zeroline=False, scaleanchor=None)


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
                               line=dict(color=theme.PRIMARY),
                               hovertemplate="k = %{x}<br>silhouette = %{y:.3f}<extra></extra>"))
    if chosen is not None and chosen in set(d["k"]):
        fig.add_trace(go.Scatter(x=[chosen], y=d.loc[d["k"] == chosen, "silhouette"], mode="markers",
                                 name=f"k = {chosen}", marker=dict(size=14, symbol="circle-open", line=dict(width=3),
                                                                   color=theme.TERTIARY)))
    theme.apply(fig, title=esc_title(title), x_title="k (number of clusters)", y_title="silhouette", height=280,
                legend=None)
    fig.update_xaxes(dtick=1)
    theme.format_axis(fig, d["silhouette"])
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
    theme.apply(fig, title=esc_title(title), x_title="gold label", y_title="cluster", legend=None,
                height=max(260, 60 + 36 * len(rows)))
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
    colours = theme.category_colors(d[model])
    for name, g in d.groupby(model, sort=False):
        g = g.sort_values("_x")
        fig.add_trace(go.Scatter(x=g["_x"], y=g[score], mode="lines+markers", name=esc(name),
                                 text=esc_all(g[layer]), line=dict(color=colours[name]),
                                 hovertemplate=f"{_esc(name)}<br>layer %{{text}}<br>{score_name} = "
                                               "%{y:.3f}<extra></extra>"))
    theme.apply(fig, title=esc_title(title), x_title="layer (0 = embeddings)", y_title=score_name, height=380,
                legend="right", legend_title="model")
    fig.update_xaxes(dtick=1)
    theme.format_axis(fig, d[score])
    return fig
