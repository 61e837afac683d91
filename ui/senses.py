"""Cached wrappers and the background projection worker for the Senses page (the work is in analysis.senses).

Caching: prepared vectors, clusters, scores and probes are ``st.cache_data`` keyed on the embedding set's key (a hash
of model, corpus and spans) plus the parameters, so moving a widget that does not change them redraws at once. The
embedding set itself is passed as an unhashed ``_es`` argument (hashing a memory-mapped array would read it all).

Slow work runs as background jobs (ui/jobs.py): UMAP and t-SNE, so that the page draws PCA, the scores and the
heatmap at once and swaps in the slower projection when it is ready, and the comparison of models and layers. The
work functions here take ``report(fraction, message)`` first and never call Streamlit (they run in a worker thread);
each projection fits its own reducer (UMAP reducers are never shared). Job keys name everything a result depends on.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import streamlit as st

from analysis import senses as S
from analysis.corpus import kwic_html
from analysis.errors import SenseScopeError
from analysis.plots import senses as P
from ui import jobs


# ------------------------------------------------------------------------------------------------ cached analyses
#: Above :data:`analysis.plots.senses.LARGE_SCATTER` points, the contexts of a seeded sample of this many points go to
#: the browser (they are the scatter's markers; every point is in its density image) and a selection lists the
#: contexts of all the occurrences under it below the chart.
HOVER_SAMPLE = P.MARKERS

#: A selection lists the contexts of at most this many occurrences (a box over a million points may hold most).
SELECTION_ROWS = 2_000


@st.cache_resource(show_spinner=False, max_entries=4)
def prepared(key: str, layer, prep: S.Preprocessing, _es):
    """Prepared (n, dim) vectors of one layer spec of the embedding set ``key``: one read-only array shared by the
    reruns and sessions that ask for it (a cache_data entry would be copied on every rerun: 1.5 GB at a million
    MiniLM vectors).

    Above :data:`analysis.senses.MAX_KMEANS_POINTS` it is a :class:`analysis.senses.LazyLayer`: the clusters and the
    PCA the chart needs read a sample and one pass of blocks from the set, so the chart draws without making the
    matrix, and the first section below it that needs every vector makes it (once, for every session)."""
    if len(_es.vectors) > S.MAX_KMEANS_POINTS:
        return S.lazy_layer(_es.vectors, list(_es.layers), layer, prep)
    X = S.prepared_layer(_es.vectors, list(_es.layers), layer, prep)
    X.flags.writeable = False
    return X


def prepared_vectors(es, layer, prep: S.Preprocessing):
    """:func:`prepared` of the embedding set ``es``: an array, or a :class:`analysis.senses.LazyLayer` for a big set."""
    return prepared(es.key, layer, prep, es)


@st.cache_data(show_spinner=False, max_entries=8)
def hover_lines(key: str, n: int, size: int, seed: int, _occ: pd.DataFrame, _rows: np.ndarray) -> list[str]:
    """The hover contexts (KWIC HTML) of the rows ``_rows`` of the embedding set ``key``: the seeded sample of
    ``size`` of its ``n`` occurrences, which the arguments name. Made once, not on every rerun (20,000 lines at a
    million points); only these rows' texts leave the (Arrow) column."""
    shown = _occ.iloc[_rows]
    return [kwic_html(t, int(s), int(e), 60) for t, s, e in
            zip(shown["text"].tolist(), shown["start"].tolist(), shown["end"].tolist())]


@st.cache_data(show_spinner="Clustering…", max_entries=64)
def clusters(key: str, layer, prep: S.Preprocessing, method: str, k, k_range: tuple, seed: int,
             min_cluster_size: int | None, _X, min_silhouette: float | None = None, threshold: float | None = None,
             preference: float | None = None, min_stability: float | None = None) -> S.ClusterResult:
    """:func:`analysis.senses.cluster_vectors` of the prepared vectors, cached on every setting (``min_silhouette``,
    ``min_stability``: the one-sense tests of auto-k; ``threshold``, ``preference``: the graph methods' own
    settings)."""
    return S.cluster_vectors(_X, method=method, k=k, k_range=k_range, seed=seed,
                             min_cluster_size=min_cluster_size, min_silhouette=min_silhouette, threshold=threshold,
                             preference=preference, min_stability=min_stability)


@st.cache_data(show_spinner="Describing the clusters…", max_entries=16)
def describe(signature: str, names: tuple, gold_signature: str | None, _X, _labels, _occ, _forms, _gold):
    """Words and nearest occurrences of each cluster of the clustering ``signature`` (which names the embedding set
    and every clustering setting), with the names given and the gold labels whose signature is given."""
    windows = S.context_windows(_occ["text"].tolist(), _occ["start"].tolist(), _occ["end"].tolist(), window=10)
    desc = S.describe_clusters(_X, _labels, windows, names=dict(names), exclude=_forms, gold=_gold)
    return desc, S.nearest_to_centroids(_X, _labels, n=5)


@st.cache_data(show_spinner="Projecting (PCA)…", max_entries=64)
def pca(key: str, layer, prep: S.Preprocessing, n_components: int, seed: int, _X) -> S.ProjectionResult:
    return S.project(_X, method="pca", n_components=n_components, seed=seed)


@st.cache_data(show_spinner="Predicting the known senses…", max_entries=64)
def probe(key: str, layer, prep: S.Preprocessing, labels: tuple, split: tuple | None, seed: int, _X) -> S.ProbeResult:
    return S.predict_senses(_X, np.asarray(labels, dtype=object), split=None if split is None else np.asarray(split),
                            seed=seed)


@st.cache_data(show_spinner="Scoring every layer…", max_entries=32)
def layer_table(key: str, model: str, labels: tuple, split: tuple | None, method: str, k, prep: S.Preprocessing,
                seed: int, _es) -> pd.DataFrame:
    """Scores for every stored layer of one embedding set (model x layer comparison)."""
    layers = list(_es.layers)
    return S.score_layers(_es.vectors, layers, np.asarray(labels, dtype=object), layers=layers,
                          split=None if split is None else np.asarray(split), method=method, k=k,
                          preprocessing=prep, seed=seed, model=model)


# ---------------------------------------------------------------------------------------------- background jobs
def projection_key(es_key: str, layer, prep: S.Preprocessing, method: str, n_components: int, seed: int,
                   n_neighbors: int, min_dist: float, perplexity: float) -> str:
    """The job key of one slow projection: the embedding set, the vectors' layer and preparation, and every setting."""
    return jobs.key_of("senses:projection", es_key, str(layer), repr(prep), method, int(n_components), int(seed),
                       int(n_neighbors), float(min_dist), float(perplexity))


def projection_work(report, X: np.ndarray, kwargs: dict) -> S.ProjectionResult:
    report(None, f"fitting {kwargs['method'].upper()} on {len(X):,} vectors")
    return S.project(X, **kwargs)


def comparison_key(es_key: str, models: list[str], labels: tuple, split: tuple | None, method: str,
                   prep: S.Preprocessing, seed: int) -> str:
    """The job key of a model x layer comparison: the occurrences (via the embedding set), models, gold, settings."""
    return jobs.key_of("senses:comparison", es_key, list(models), list(map(str, labels)),
                       None if split is None else list(map(str, split)), method, repr(prep), int(seed))


def comparison_work(report, occ: pd.DataFrame, models: list[tuple[str, object]], labels: tuple, split: tuple | None,
                    method: str, prep: S.Preprocessing, seed: int):
    """Embed the occurrences with every model (cached on disk) and score each stored layer against the gold senses.

    ``models`` holds (name, loaded model or None); a model that cannot be used is reported, the others still run.
    Returns (the table of every model x layer or None, a list of messages for the models that failed).
    """
    from analysis.encoder import load_model
    from analysis.store import get_or_compute

    frames, failed = [], []
    gold = np.asarray(labels, dtype=object)
    sp = None if split is None else np.asarray(split)
    for i, (name, loaded) in enumerate(models):
        shown = name or "the default model"
        share = 1.0 / max(1, len(models))
        try:
            loaded = loaded if loaded is not None else load_model(name or None)
            es_m = get_or_compute(occ, name or None, loaded=loaded, progress=lambda d, t, i=i, shown=shown: report(
                (i + 0.5 * d / max(t, 1)) * share, f"{shown}: embedding {d}/{t}"))
            report((i + 0.5) * share, f"{shown}: scoring every layer")
            layers = list(es_m.layers)
            frames.append(S.score_layers(es_m.vectors, layers, gold, layers=layers, split=sp, method=method, k="gold",
                                         preprocessing=prep, seed=seed, model=es_m.model))
        except SenseScopeError as exc:
            failed.append(f"{shown}: {exc}")
    return (pd.concat(frames, ignore_index=True) if frames else None), failed
