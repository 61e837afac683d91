"""Senses page: see, name and score the senses of a term; compare models and layers on them."""

from __future__ import annotations

import numpy as np
import pandas as pd
import streamlit as st

from analysis import export
from analysis import senses as S
from analysis.corpus import kwic, kwic_html, kwic_table
from analysis.errors import SenseScopeError
from analysis.plots import senses as P
from ui import jobs, state, widgets
from ui import curate as uc
from ui import explore as ue
from ui import kwic as uk
from ui import senses as us
from ui import senses_sections as sections
from ui.widgets import md_escape

st.title("Senses")
st.caption("Project the occurrences of the term, cluster their vectors into candidate senses, read and name the "
           "clusters, and score them against known senses (purity, ARI, NMI, V-measure, and classifiers that "
           "predict the known meanings). Clustering uses the full vectors, never the 2-D projection.")

es = state.require_embeddings()
occ = es.occurrences.reset_index(drop=True)
layers = list(es.layers)
target = str(occ["target"].iloc[0]) if "target" in occ.columns and len(occ) else state.get("target")
n = len(occ)

# ------------------------------------------------------------------------------------------------------- settings
default_label = S.layer_label(layers, S.DEFAULT_LAYER)
side_layer = state.current_layer(es)
layer_modes = {"default": f"Default: {'mean of layers ' if '-' in default_label else 'layer '}{default_label}",
               "sidebar": f"Sidebar layer ({side_layer})", "range": "Mean of a layer range…"}
c1, c2, c3, c4 = st.columns([2, 2, 1, 1])
layer_mode = c1.selectbox("Vectors", list(layer_modes), format_func=layer_modes.get, key="senses_layer_mode",
                          index=0 if state.get("layer") is None else 1,
                          help="The default (the last layer, or a layer mix) was chosen on CoarseWSD-20, see "
                               "BENCHMARKS.md; "
                               "the sidebar layer is shared with the other pages.")
if layer_mode == "default":
    layer_spec = S.DEFAULT_LAYER
elif layer_mode == "sidebar":
    layer_spec = int(side_layer)
else:
    lo, hi = c1.select_slider("Layers to average", options=layers, value=(layers[max(0, len(layers) - 4)], layers[-1]),
                              key="senses_layer_range")
    layer_spec = (int(lo), int(hi))
layer_name = S.layer_label(layers, layer_spec)
proj_labels = {"umap": "UMAP", "pca": "PCA", "tsne": "t-SNE"}
large = n > P.LARGE_SCATTER
proj_method = c2.radio("Projection", list(proj_labels), format_func=proj_labels.get, horizontal=True,
                       key="senses_projection", index=1 if large else 0,
                       help="UMAP (default) and t-SNE are computed in the background; PCA is shown meanwhile."
                            + (f" With {n:,} occurrences PCA is the default: UMAP and t-SNE are fitted on a sample "
                               f"of {S.MAX_FIT_POINTS:,} and place the other points one by one, which takes many "
                               "minutes here." if large else ""))
dims = c3.radio("Dimensions", [2, 3], horizontal=True, key="senses_dims")
seed = int(c4.number_input("Seed", min_value=0, max_value=2**31 - 1, value=0, step=1, key="senses_seed"))
with st.expander("Vector preparation and projection settings"):
    a1, a2, a3, a4, a5 = st.columns(5)
    remove_mean = a1.checkbox("Remove the common mean direction", value=S.DEFAULT_PREPROCESSING.remove_mean,
                              key="senses_remove_mean",
                              help="Contextual vectors share a large common direction; removing it (then "
                                   "length-normalising) sharpens sense clusters (see BENCHMARKS.md).")
    n_dirs = int(a2.number_input("Also remove top principal directions", 0, 20, S.DEFAULT_PREPROCESSING.n_directions,
                                 key="senses_n_dirs"))
    n_neighbors = int(a3.number_input("UMAP neighbours", 2, 200, 15, key="senses_neighbors"))
    min_dist = float(a4.number_input("UMAP min. distance", 0.0, 1.0, 0.1, step=0.05, key="senses_min_dist"))
    perplexity = float(a5.number_input("t-SNE perplexity", 2.0, 100.0, 30.0, step=1.0, key="senses_perplexity"))
prep = S.Preprocessing(normalize=True, remove_mean=remove_mean, n_directions=n_dirs)

st.subheader("Clusters")
k1, k2, k3, k4 = st.columns([2, 1, 1, 2])
methods = {"kmeans": "k-means", "agglomerative": "Agglomerative (cosine, average linkage)", "hdbscan": "HDBSCAN",
           "affinity": "Affinity propagation (cosine)", "correlation": "Correlation clustering (cosine graph)",
           "chinese_whispers": "Chinese Whispers (cosine graph)"}
method = k1.selectbox("Clustering", list(methods), format_func=methods.get, key="senses_method",
                      index=list(methods).index(S.DEFAULT_METHOD),
                      help="HDBSCAN and the graph methods (affinity propagation, correlation clustering, Chinese "
                           "Whispers) find the number of clusters themselves and can answer one sense.")
min_cluster_size, k_range, options = None, S.DEFAULT_K_RANGE, {}
if method in ("hdbscan", *S.GRAPH_METHODS):
    k = "auto"
    # HDBSCAN needs more occurrences than the minimum cluster size, so the default stays below n. The graph methods
    # merge clusters smaller than it into the most similar larger one.
    min_cluster_size = int(k2.number_input("Min. cluster size", 2, max(2, n - 1),
                                           max(2, min(n - 1, max(5 if method == "hdbscan" else 3, round(0.02 * n)))),
                                           key="senses_mcs"))
    if method == "affinity":
        options["preference"] = float(k3.number_input(
            "Preference (quantile)", 0.0, 1.0, float(S.DEFAULT_PREFERENCE), step=0.05, key="senses_preference",
            help="Each occurrence's preference to be an exemplar, as a quantile of the pairwise cosine similarities: "
                 "lower gives fewer clusters."))
    elif method in S.GRAPH_METHODS:
        options["threshold"] = float(k3.number_input(
            "Same-sense cosine", 0.0, 0.999, float(S.DEFAULT_THRESHOLD), step=0.025, key="senses_threshold",
            help="Two occurrences whose vectors have a cosine above this count as the same sense (an edge of the "
                 "graph); higher gives more clusters."))
else:
    auto = k2.toggle("Auto k", value=True, key="senses_auto_k",
                     help="Choose k by the silhouette score over the k range, or one sense when even the best "
                          "silhouette is low")
    if auto:
        k = "auto"
        k_range = k4.slider("k range", 2, 20, S.DEFAULT_K_RANGE, key="senses_k_range")
        if k3.toggle("One sense", value=S.DEFAULT_MIN_SILHOUETTE is not None, key="senses_one_sense",
                     help="The one-sense test: answer one cluster when the best silhouette over the k range is below "
                          "the threshold (below). The default was chosen by leave-words-out cross-validation on "
                          "CoarseWSD-20 and DWUG EN (BENCHMARKS.md)."):
            options["min_silhouette"] = float(k3.number_input(
                "if best silhouette <", 0.0, 1.0, float(S.DEFAULT_MIN_SILHOUETTE or 0.15), step=0.01,
                key="senses_min_sil"))
    else:
        k = int(k3.number_input("k", 1, max(1, n), min(3, n), key="senses_k"))

try:
    X = us.prepared_vectors(es, layer_spec, prep)
    cl = us.clusters(es.key, layer_name, prep, method, k, tuple(k_range), seed, min_cluster_size, X, **options)
except SenseScopeError as exc:
    widgets.error(exc)
    st.stop()
if cl.notice:
    st.info(md_escape(cl.notice))

# Names: kept per clustering (a cluster id means something else once the clustering changes).
signature = (f"{es.key}|{layer_name}|{prep}|{method}|{k}|{tuple(k_range)}|{seed}|{min_cluster_size}|"
             f"{sorted(options.items())}")
all_names = st.session_state.setdefault("senses_names", {})
names = all_names.setdefault(signature, {})
cnames = S.cluster_names(cl.labels, names)
first = np.unique(cl.labels, return_index=True)[1]  # one row of each cluster gives its name
name_map = {int(cl.labels[i]): cnames[i] for i in first}
order = [name_map[c] for c in sorted(name_map)]
st.session_state["cluster_labels"] = cl.labels
st.session_state["cluster_names"] = dict(names)

params = {"corpus": state.corpus_label(), "target": target, "model": es.model, "embedding_key": es.key,
          "layer": layer_name, "preprocessing": prep.describe(), "clustering": method, "k": k,
          "k_range": list(k_range), "k_found": cl.k, "min_cluster_size": min_cluster_size, "seed": seed,
          "clustering_params": cl.params,
          "cluster_names": {int(c): nm for c, nm in name_map.items()}}

# ----------------------------------------------------------------------------------------------------- projection
try:
    pca_res = us.pca(es.key, layer_name, prep, int(dims), seed, X)
except SenseScopeError as exc:
    if int(dims) != 3:
        widgets.error(exc)
        st.stop()
    # Too few occurrences for 3-D: keep the clusters and scores, draw in 2-D.
    st.warning(f"{md_escape(exc)} The projection is shown in 2-D.")
    dims = 2
    try:
        pca_res = us.pca(es.key, layer_name, prep, 2, seed, X)
    except SenseScopeError as exc2:
        widgets.error(exc2)
        st.stop()
proj = pca_res
pending = False
if proj_method != "pca":
    # A background job keyed on everything the coordinates depend on: started once, whatever the page does meanwhile.
    pkey = us.projection_key(es.key, layer_name, prep, proj_method, int(dims), seed, n_neighbors, min_dist, perplexity)
    try:
        S.check_projection(n, method=proj_method, n_components=int(dims), n_neighbors=n_neighbors,
                           perplexity=perplexity)
        done = jobs.checked(pkey, us.projection_work, X,
                            {"method": proj_method, "n_components": int(dims), "random_state": seed,
                             "n_neighbors": n_neighbors, "min_dist": min_dist, "perplexity": perplexity},
                            label=f"Computing {proj_labels[proj_method]}")
        pending = done is None
        proj = done or pca_res
    except SenseScopeError as exc:
        st.error(f"{proj_labels[proj_method]} cannot be computed: {md_escape(exc)} PCA is shown instead.")
    except Exception as exc:  # an unexpected failure, shown once (the next rerun tries again)
        widgets.error(exc)
if proj.notice:
    st.info(md_escape(proj.notice))

# Contexts to hover: every point's, or above LARGE_SCATTER points those of a seeded sample (the scatter's markers;
# every point is in its density image, and a box or lasso lists the contexts of all the points under it).
hover_rows = S.seeded_sample(n, us.HOVER_SAMPLE if large else n, seed)
hover = np.full(n, "", dtype=object)
texts, starts, ends = occ["text"].to_numpy(), occ["start"].to_numpy(), occ["end"].to_numpy()
hover[hover_rows] = [kwic_html(texts[i], int(starts[i]), int(ends[i]), 60) for i in hover_rows]
view = pd.DataFrame({"occurrence_id": occ["occurrence_id"].to_numpy(), "x": proj.coords[:, 0],
                     "y": proj.coords[:, 1], "kwic": hover, "cluster": cl.labels, "cluster_name": cnames})
if proj.coords.shape[1] == 3:
    view["z"] = proj.coords[:, 2]
meta_cols = [c for c in occ.columns if c not in {"occurrence_id", "text", "start", "end", "doc_id"}
             and occ[c].notna().any() and (occ[c].nunique(dropna=True) <= 50 or pd.api.types.is_numeric_dtype(occ[c]))]
for c in meta_cols:
    if c not in view.columns:
        view[c] = occ[c].to_numpy()
curated = uc.curated_labels(es)
if curated is not None:
    view["curated_sense"] = uc.curation(es).sense_names()
colour_options = ["cluster_name"] + (["curated_sense"] if curated is not None else []) + \
                 [c for c in ("label", "year", "period") if c in meta_cols] + \
                 [c for c in meta_cols if c not in ("label", "year", "period")]
colour_names = {"cluster_name": "cluster", "curated_sense": "your senses", "label": "gold label", "year": "year",
                "period": "period"}
colour = st.selectbox("Colour by", colour_options, format_func=lambda c: colour_names.get(c, c), key="senses_colour")
shown = proj_labels[proj.method]
ex = ue.controls(es, occ, layer_spec, layer_name)  # search, neighbours, isolation (drawn above the chart)
drawn = view[ex.show].reset_index(drop=True)
title = (f"{shown} of {len(drawn):,} {'' if ex.show_name == 'all' else f'({ex.show_name}) of {n:,} '}occurrences of "
         f"{target} — {es.model}, layer {layer_name}")
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
    st.caption(f"Showing PCA while {proj_labels[proj_method]} is being computed in the background…")
else:
    how = "Box or lasso select points" if dims == 2 else "Click points"
    st.caption(f"Showing {shown} (seed {seed}; fitted on {proj.n_fit:,} of {n:,} occurrences). {how} to list their "
               f"contexts; one selected point (clicked with the chart's Pan or Zoom tool, or lassoed alone) shows its "
               f"nearest neighbours; click legend entries to hide groups."
               + (f" All {len(drawn):,} points are drawn as a density image (the more occurrences a pixel holds, "
                  f"the more opaque it is); {P.MARKERS:,} of them (a random sample) are drawn as points that show "
                  f"their context on hover. A box or lasso lists every occurrence under it; hiding a group in the "
                  f"legend hides its sampled points only." if dense else ""))

picked = ue.selected_ids(sel, drawn[["occurrence_id", "x", "y"]] if dense else None)
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

# Assignments export: occurrences with cluster, name and coordinates.
assign = pd.DataFrame({"occurrence_id": occ["occurrence_id"].to_numpy(), "cluster": cl.labels,
                       "cluster_name": cnames, "x": proj.coords[:, 0], "y": proj.coords[:, 1]})
if proj.coords.shape[1] == 3:
    assign["z"] = proj.coords[:, 2]
for c in ("doc_id", "form", "start", "end", "year", "period", "label"):
    if c in occ.columns:
        assign[c] = occ[c].to_numpy()


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
e2.download_button("Their parameters (JSON)", data=lambda: export.manifest_json(proj_params, kind="table:assignments"),
                   file_name=f"senses_assignments_{target}.manifest.json", mime="application/json",
                   key="senses_assign_manifest", on_click="ignore")

if cl.silhouette:
    with st.expander(f"Silhouette by k (k = {cl.k} chosen)", expanded=False):
        widgets.figure(P.plot_silhouette(cl.silhouette, chosen=cl.k), name=f"senses_silhouette_{target}",
                       params=params, key="senses_silhouette")

# ---------------------------------------------------------------------------------------------------- gold scores
run = sections.PageRun(es, occ, n, target, layer_name, prep, seed, X, cl, name_map, params)
gold, one_sense, split = sections.gold_scores(run)

# --------------------------------------------------------------------------------------------- cluster descriptions
sections.descriptions(run, signature, names, gold)

# ------------------------------------------------------------------------------------ curation, KWIC and collocates
picks = {"selection": ue.rows_of(occ, picked)} if picked else {}
if ex.hits is not None and ex.hits.n:
    picks["hits"] = np.flatnonzero(ex.hits.mask)
picks.update({f"named:{nm}": ue.rows_of(occ, ids) for nm, ids in ue.named(es).items()})
uc.section(es, occ, labels=cl.labels, names=dict(names), gold=gold, X=X, picks=picks, params=params,
           source={k: params[k] for k in ("layer", "preprocessing", "clustering", "k", "k_found", "seed")},
           space=f"layer {layer_name}, {prep.describe()}")

st.subheader("Keyword in context and collocates")
kw_groups = {"cluster": cnames}
if uc.curated_labels(es) is not None:
    kw_groups["your sense"] = uc.curation(es).sense_names()
kw_groups.update({c: occ[c].to_numpy() for c in ("period", "label") if c in meta_cols})
uk.lines_section(occ, groups=kw_groups, key="senses_kwic", params=params, name=f"senses_kwic_{target}",
                 cache_key=es.key)
uk.collocates_section(occ, groups=kw_groups, key="senses_coll", params=params, name=f"senses_collocates_{target}",
                      cache_key=es.key)

# --------------------------------------------------------------------------------------- model and layer comparison
sections.comparison(run, gold, one_sense, split, method, methods[method])
