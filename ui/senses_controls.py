"""The Senses page's settings and clusters, as named functions: which vectors and projection (VectorSettings), which
clustering (ClusterSettings), and the clusters of one run of the page with their names (a PageRun)."""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
import streamlit as st

from analysis import senses as S
from analysis.errors import SenseScopeError
from analysis.plots import senses as P
from ui import state, widgets
from ui import senses as us
from ui.senses_sections import PageRun
from ui.widgets import md_escape

PROJECTIONS = {"umap": "UMAP", "pca": "PCA", "tsne": "t-SNE"}
METHODS = {"kmeans": "k-means", "agglomerative": "Agglomerative (cosine, average linkage)", "hdbscan": "HDBSCAN",
           "affinity": "Affinity propagation (cosine)", "correlation": "Correlation clustering (cosine graph)",
           "chinese_whispers": "Chinese Whispers (cosine graph)"}
#: The stability test's threshold offered on the page: the best of bench/cv_senses.py's grid on the Senses path.
STABILITY_THRESHOLD = 0.9


class VectorSettings(NamedTuple):
    """Which vectors, prepared how, projected how."""
    layer_spec: object
    layer_name: str
    prep: S.Preprocessing
    proj_method: str
    dims: int
    seed: int
    n_neighbors: int
    min_dist: float
    perplexity: float
    large: bool


class ClusterSettings(NamedTuple):
    """Which clustering, with its own settings (``options``: the one-sense test, the graph methods' settings)."""
    method: str
    k: object
    k_range: tuple
    min_cluster_size: int | None
    options: dict


def vector_settings(es, n: int) -> VectorSettings:
    """The layer (or layer mix), projection, dimensions, seed and vector preparation."""
    layers = list(es.layers)
    default_label = S.layer_label(layers, S.DEFAULT_LAYER)
    side_layer = state.current_layer(es)
    layer_modes = {"default": f"Default: {'mean of layers ' if '-' in default_label else 'layer '}{default_label}",
                   "sidebar": f"Sidebar layer ({side_layer})", "range": "Mean of a layer range…"}
    c1, c2, c3, c4 = st.columns([2, 2, 1, 1])
    layer_mode = c1.selectbox("Vectors", list(layer_modes), format_func=layer_modes.get, key="senses_layer_mode",
                              index=0 if state.get("layer") is None else 1,
                              help="The default (the last layer) won the leave-words-out selection on "
                                   "CoarseWSD-20 and DWUG EN (BENCHMARKS.md); the sidebar layer is shared with the "
                                   "other pages.")
    if layer_mode == "default":
        layer_spec = S.DEFAULT_LAYER
    elif layer_mode == "sidebar":
        layer_spec = int(side_layer)
    else:
        lo, hi = c1.select_slider("Layers to average", options=layers,
                                  value=(layers[max(0, len(layers) - 4)], layers[-1]), key="senses_layer_range")
        layer_spec = (int(lo), int(hi))
    layer_name = S.layer_label(layers, layer_spec)
    proj_labels = PROJECTIONS
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
        n_dirs = int(a2.number_input("Also remove top principal directions", 0, 20,
                                     S.DEFAULT_PREPROCESSING.n_directions, key="senses_n_dirs"))
        n_neighbors = int(a3.number_input("UMAP neighbours", 2, 200, 15, key="senses_neighbors"))
        min_dist = float(a4.number_input("UMAP min. distance", 0.0, 1.0, 0.1, step=0.05, key="senses_min_dist"))
        perplexity = float(a5.number_input("t-SNE perplexity", 2.0, 100.0, 30.0, step=1.0, key="senses_perplexity"))
    prep = S.Preprocessing(normalize=True, remove_mean=remove_mean, n_directions=n_dirs)
    return VectorSettings(layer_spec, layer_name, prep, proj_method, int(dims), seed, n_neighbors, min_dist,
                          perplexity, large)


def cluster_settings(n: int) -> ClusterSettings:
    """The clustering method and its settings."""
    st.subheader("Clusters")
    k1, k2, k3, k4 = st.columns([2, 1, 1, 2])
    methods = METHODS
    method = k1.selectbox("Clustering", list(methods), format_func=methods.get, key="senses_method",
                          index=list(methods).index(S.DEFAULT_METHOD),
                          help="HDBSCAN and the graph methods (affinity propagation, correlation clustering, Chinese "
                               "Whispers) find the number of clusters themselves and can answer one sense.")
    min_cluster_size, k_range, options = None, S.DEFAULT_K_RANGE, {}
    if method in ("hdbscan", *S.GRAPH_METHODS):
        k = "auto"
        # HDBSCAN needs more occurrences than the minimum cluster size, so the default stays below n. The graph
        # methods merge clusters smaller than it into the most similar larger one.
        min_cluster_size = int(k2.number_input(
            "Min. cluster size", 2, max(2, n - 1),
            max(2, min(n - 1, max(5 if method == "hdbscan" else 3, round(0.02 * n)))), key="senses_mcs"))
        if method == "affinity":
            options["preference"] = float(k3.number_input(
                "Preference (quantile)", 0.0, 1.0, float(S.DEFAULT_PREFERENCE), step=0.05, key="senses_preference",
                help="Each occurrence's preference to be an exemplar, as a quantile of the pairwise cosine "
                     "similarities: lower gives fewer clusters."))
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
                         help="The one-sense test: answer one cluster when the best silhouette over the k range is "
                              "below a threshold (the default, chosen by leave-words-out cross-validation on "
                              "CoarseWSD-20 and DWUG EN), or when the chosen clusters are not stable across "
                              "random subsamples (scale-free; better on the Senses benchmarks, worse for shift's "
                              "JSD: BENCHMARKS.md)."):
                test = k3.radio("Test", ["silhouette", "stability"], horizontal=True, key="senses_one_sense_test",
                                label_visibility="collapsed")
                if test == "stability":
                    options["min_stability"] = float(k3.number_input(
                        "if stability <", 0.0, 1.0, STABILITY_THRESHOLD, step=0.05, key="senses_min_stab"))
                else:
                    options["min_silhouette"] = float(k3.number_input(
                        "if best silhouette <", 0.0, 1.0, float(S.DEFAULT_MIN_SILHOUETTE or 0.13), step=0.01,
                        key="senses_min_sil"))
        else:
            k = int(k3.number_input("k", 1, max(1, n), min(3, n), key="senses_k"))
    return ClusterSettings(method, k, tuple(k_range), min_cluster_size, options)


def clusters(es, occ, target: str, vs: VectorSettings, cs: ClusterSettings) -> PageRun:
    """The clusters of the prepared vectors, their names (kept per clustering) and the run's parameters."""
    n = len(occ)
    layer_spec, layer_name, prep, seed = vs.layer_spec, vs.layer_name, vs.prep, vs.seed
    method, k, k_range, min_cluster_size, options = cs
    try:
        X = us.prepared_vectors(es, layer_spec, prep)
        if isinstance(X, S.LazyLayer):  # the chart's PCA rides on the clusters' pass over the set (one read, not two)
            S.plan_pca(X, vs.dims, seed)
        cl = us.clusters(es.key, layer_name, prep, method, k, tuple(k_range), seed, min_cluster_size, X, **options)
    except SenseScopeError as exc:
        widgets.stop_with(exc)
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
    return PageRun(es, occ, n, target, layer_name, prep, seed, X, cl, name_map, params, cnames, order, signature,
                   names, layer_spec)
