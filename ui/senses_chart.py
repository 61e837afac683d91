"""The Senses page's chart, as named functions of one run (a PageRun): the projection (PCA at once, UMAP or t-SNE as
a background job), the scatter with its search and selection tools, the selected contexts, and the assignments
export."""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
import pandas as pd
import streamlit as st

from analysis import export
from analysis import senses as S
from analysis.corpus import kwic, kwic_table
from analysis.errors import SenseScopeError
from analysis.plots import senses as P
from ui import jobs, widgets
from ui import curate as uc
from ui import explore as ue
from ui import kwic as uk
from ui import senses as us
from ui.senses_controls import PROJECTIONS, VectorSettings
from ui.senses_sections import PageRun
from ui.widgets import md_escape


class Projection(NamedTuple):
    """The coordinates shown (``proj``), whether a slower projection is still running, and its dimensions."""
    proj: S.ProjectionResult
    pending: bool
    dims: int


class Chart(NamedTuple):
    """What the sections below the chart need of it: the selected ids, the search/isolation state, the parameters."""
    picked: list
    ex: object
    params: dict
    meta_cols: list


def meta_columns(occ: pd.DataFrame) -> list[str]:
    """Metadata columns worth colouring or grouping by: few distinct values, or numbers."""
    return [c for c in occ.columns if c not in {"occurrence_id", "text", "start", "end", "doc_id"}
            and occ[c].notna().any() and (occ[c].nunique(dropna=True) <= 50 or pd.api.types.is_numeric_dtype(occ[c]))]


def projection(run: PageRun, vs: VectorSettings) -> Projection:
    """PCA at once; UMAP or t-SNE as a background job keyed on everything the coordinates depend on."""
    es, n, layer_name, prep, seed, X = run.es, run.n, run.layer_name, run.prep, run.seed, run.X
    dims, proj_method, proj_labels = vs.dims, vs.proj_method, PROJECTIONS
    try:
        pca_res = us.pca(es.key, layer_name, prep, int(dims), seed, X)
    except SenseScopeError as exc:
        if int(dims) != 3:
            widgets.stop_with(exc)
        # Too few occurrences for 3-D: keep the clusters and scores, draw in 2-D.
        st.warning(f"{md_escape(exc)} The projection is shown in 2-D.")
        dims = 2
        try:
            pca_res = us.pca(es.key, layer_name, prep, 2, seed, X)
        except SenseScopeError as exc2:
            widgets.stop_with(exc2)
    proj = pca_res
    pending = False
    if proj_method != "pca":
        # A background job keyed on everything the coordinates depend on: started once, whatever the page does
        # meanwhile.
        pkey = us.projection_key(es.key, layer_name, prep, proj_method, int(dims), seed, vs.n_neighbors, vs.min_dist,
                                 vs.perplexity)
        try:
            S.check_projection(n, method=proj_method, n_components=int(dims), n_neighbors=vs.n_neighbors,
                               perplexity=vs.perplexity)
            done = jobs.checked(pkey, us.projection_work, X,
                                {"method": proj_method, "n_components": int(dims), "random_state": seed,
                                 "n_neighbors": vs.n_neighbors, "min_dist": vs.min_dist,
                                 "perplexity": vs.perplexity},
                                label=f"Computing {proj_labels[proj_method]}")
            pending = done is None
            proj = done or pca_res
        except SenseScopeError as exc:
            st.error(f"{proj_labels[proj_method]} cannot be computed: {md_escape(exc)} PCA is shown instead.")
        except Exception as exc:  # an unexpected failure, shown once (the next rerun tries again)
            widgets.error(exc)
    if proj.notice:
        st.info(md_escape(proj.notice))
    return Projection(proj, pending, int(dims))


def scatter(run: PageRun, vs: VectorSettings, pr: Projection) -> Chart:
    """The scatter (a density image under sampled markers above LARGE_SCATTER points), coloured by a choice, with
    search, neighbours and isolation drawn above it; returns the selection."""
    es, occ, n, target, layer_name, seed, cl = run.es, run.occ, run.n, run.target, run.layer_name, run.seed, run.cl
    cnames, order, params = run.cnames, run.order, run.params
    proj, pending, dims, large, proj_labels = pr.proj, pr.pending, pr.dims, vs.large, PROJECTIONS
    # Contexts to hover: every point's, or above LARGE_SCATTER points those of a seeded sample (the scatter's
    # markers; every point is in its density image, and a box or lasso lists the contexts of all the points under it).
    hover_rows = S.seeded_sample(n, us.HOVER_SAMPLE if large else n, seed)
    hover = np.full(n, "", dtype=object)
    hover[hover_rows] = us.hover_lines(es.key, n, len(hover_rows), seed, occ, hover_rows)
    view = pd.DataFrame({"occurrence_id": occ["occurrence_id"].to_numpy(), "x": proj.coords[:, 0],
                         "y": proj.coords[:, 1], "kwic": hover, "cluster": cl.labels, "cluster_name": cnames})
    if proj.coords.shape[1] == 3:
        view["z"] = proj.coords[:, 2]
    meta_cols = meta_columns(occ)
    for c in meta_cols:
        if c not in view.columns:
            view[c] = occ[c].array  # as stored (Arrow strings stay Arrow: no million Python strings per rerun)
    curated = uc.curated_labels(es)
    if curated is not None:
        view["curated_sense"] = uc.curation(es).sense_names()
    colour_options = ["cluster_name"] + (["curated_sense"] if curated is not None else []) + \
                     [c for c in ("label", "year", "period") if c in meta_cols] + \
                     [c for c in meta_cols if c not in ("label", "year", "period")]
    colour_names = {"cluster_name": "cluster", "curated_sense": "your senses", "label": "gold label", "year": "year",
                    "period": "period"}
    colour = st.selectbox("Colour by", colour_options, format_func=lambda c: colour_names.get(c, c),
                          key="senses_colour")
    shown = proj_labels[proj.method]
    ex = ue.controls(es, occ, run.layer_spec, layer_name)  # search, neighbours, isolation (drawn above the chart)
    drawn = view[ex.show].reset_index(drop=True)
    title = (f"{shown} of {len(drawn):,} {'' if ex.show_name == 'all' else f'({ex.show_name}) of {n:,} '}"
             f"occurrences of {target} — {es.model}, layer {layer_name}")
    fig = P.plot_projection(drawn, color=colour, z="z" if "z" in view.columns else None, title=title,
                            category_order=order if colour == "cluster_name" else None, method=proj.method,
                            explained=proj.params.get("explained_variance_ratio"))
    fig = ue.decorate(fig, drawn, ex, z="z" if "z" in view.columns else None)
    proj_params = {**params, "projection": proj.method, "n_components": proj.n_components, **proj.params,
                   "projection_fitted_on": proj.n_fit}
    dense = len(drawn) > P.LARGE_SCATTER and dims == 2  # drawn as a density image: selections resolved on all points
    sel = widgets.figure(fig, name=f"senses_{proj.method}_{target}_layer{layer_name}", params=proj_params,
                         key=ue.SCATTER_KEY, on_select=ue.clicked,
                         selection_mode=("points", "box", "lasso") if dims == 2 else ("points",))
    if pending:  # the job's status line (above) follows it and reruns the page once when it is done
        st.caption(f"Showing PCA while {proj_labels[vs.proj_method]} is being computed in the background…")
    else:
        how = "Box or lasso select points" if dims == 2 else "Click points"
        st.caption(f"Showing {shown} (seed {seed}; fitted on {proj.n_fit:,} of {n:,} occurrences). {how} to list "
                   f"their contexts; one selected point (clicked with the chart's Pan or Zoom tool, or lassoed alone) "
                   f"shows its nearest neighbours; click legend entries to hide groups."
                   + (f" All {len(drawn):,} points are drawn as a density image (the more occurrences a pixel holds, "
                      f"the more opaque it is); {P.MARKERS:,} of them (a random sample) are drawn as points that "
                      f"show their context on hover. A box or lasso lists every occurrence under it; hiding a group "
                      f"in the legend hides its sampled points only." if dense else ""))

    picked = ue.selected_ids(sel, drawn[["occurrence_id", "x", "y"]] if dense else None)
    return Chart(picked, ex, proj_params, meta_cols)


def selection(run: PageRun, chart: Chart) -> None:
    """The search and neighbour lists, the selected contexts, and keeping, isolating and comparing selections."""
    es, occ, target, cnames = run.es, run.occ, run.target, run.cnames
    picked, ex, proj_params = chart.picked, chart.ex, chart.params
    ue.lists(occ, ex, cnames, proj_params)
    if picked:
        idx = occ.index[occ["occurrence_id"].isin(picked)]
        st.markdown(f"**{len(idx):,} selected occurrences**" + (f" (the first {us.SELECTION_ROWS:,} are listed)"
                                                               if len(idx) > us.SELECTION_ROWS else ""))
        idx = idx[:us.SELECTION_ROWS]
        sub = kwic_table(occ.loc[idx]).assign(cluster=cnames[idx])
        widgets.table(sub, name=f"senses_selection_{target}", params=proj_params, key="senses_selection",
                      hide_index=True)
    with st.expander("Selections: keep, isolate, compare", expanded=bool(picked) or bool(ue.named(es))):
        ue.keep(es, occ, picked, ex.hits)
        ue.compare(es, occ, cnames, proj_params, exclude=uk.function_words(occ))


def assignments(run: PageRun, pr: Projection, chart: Chart) -> None:
    """Download the occurrences with their cluster, name and coordinates (and the parameters)."""
    occ, target, cl, cnames, proj, proj_params = run.occ, run.target, run.cl, run.cnames, pr.proj, chart.params
    assign = pd.DataFrame({"occurrence_id": occ["occurrence_id"].to_numpy(), "cluster": cl.labels,
                           "cluster_name": cnames, "x": proj.coords[:, 0], "y": proj.coords[:, 1]})
    if proj.coords.shape[1] == 3:
        assign["z"] = proj.coords[:, 2]
    for c in ("doc_id", "form", "start", "end", "year", "period", "label"):
        if c in occ.columns:
            assign[c] = occ[c].array  # as stored: no Python strings made per rerun

    def assignments_csv() -> str:
        """The assignments with each occurrence's context, made when the button is pressed (a million contexts take
        seconds to cut)."""
        contexts = [f"{l}[{m}]{r}" for l, m, r in (kwic(t, int(s), int(e), 60)
                                                   for t, s, e in zip(occ["text"], occ["start"], occ["end"]))]
        return export.table_csv(assign.assign(context=contexts))

    e1, e2 = st.columns(2)
    e1.download_button("Occurrences with clusters and coordinates (CSV)", data=assignments_csv,
                       file_name=f"senses_assignments_{target}.csv", mime="text/csv", key="senses_assign_csv",
                       on_click="ignore")
    e2.download_button("Their parameters (JSON)",
                       data=lambda: export.manifest_json(proj_params, kind="table:assignments"),
                       file_name=f"senses_assignments_{target}.manifest.json", mime="application/json",
                       key="senses_assign_manifest", on_click="ignore")


def silhouette(run: PageRun) -> None:
    """The silhouette of each k that auto-k tried."""
    cl = run.cl
    if cl.silhouette:
        with st.expander(f"Silhouette by k (k = {cl.k} chosen)", expanded=False):
            widgets.figure(P.plot_silhouette(cl.silhouette, chosen=cl.k), name=f"senses_silhouette_{run.target}",
                           params=run.params, key="senses_silhouette")
