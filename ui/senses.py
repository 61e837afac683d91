"""Cached wrappers and the background projection worker for the Senses page (the work is in analysis.senses).

Caching: prepared vectors, clusters, scores and probes are ``st.cache_data`` keyed on the embedding set's key (a hash
of model, corpus and spans) plus the parameters, so moving a widget that does not change them redraws at once. The
embedding set itself is passed as an unhashed ``_es`` argument (hashing a memory-mapped array would read it all).

Slow projections (UMAP, t-SNE) run in a background thread so that the page draws PCA, the scores and the heatmap at
once and swaps in the slower projection when it is ready. Each job fits its own reducer (UMAP reducers are not
thread-safe and are never shared); one lock lets one slow projection run at a time, and finished coordinates are kept
(plain arrays, at most :data:`MAX_JOBS`) for every session to reuse.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict

import numpy as np
import pandas as pd
import streamlit as st

from analysis import senses as S

MAX_JOBS = 32


# ------------------------------------------------------------------------------------------------ cached analyses
@st.cache_data(show_spinner=False, max_entries=32)
def prepared(key: str, layer, prep: S.Preprocessing, _es) -> np.ndarray:
    """Prepared (n, dim) vectors of one layer spec of the embedding set ``key``."""
    return S.preprocess(S.layer_vectors(_es.vectors, list(_es.layers), layer), prep)


def prepared_vectors(es, layer, prep: S.Preprocessing) -> np.ndarray:
    return prepared(es.key, layer, prep, es)


@st.cache_data(show_spinner="Clustering…", max_entries=64)
def clusters(key: str, layer, prep: S.Preprocessing, method: str, k, k_range: tuple, seed: int,
             min_cluster_size: int | None, _X) -> S.ClusterResult:
    return S.cluster_vectors(_X, method=method, k=k, k_range=k_range, random_state=seed,
                             min_cluster_size=min_cluster_size)


@st.cache_data(show_spinner="Projecting (PCA)…", max_entries=64)
def pca(key: str, layer, prep: S.Preprocessing, n_components: int, seed: int, _X) -> S.ProjectionResult:
    return S.project(_X, method="pca", n_components=n_components, random_state=seed)


@st.cache_data(show_spinner="Predicting the known senses…", max_entries=64)
def probe(key: str, layer, prep: S.Preprocessing, labels: tuple, split: tuple | None, seed: int, _X) -> S.ProbeResult:
    return S.predict_senses(_X, np.asarray(labels, dtype=object), split=None if split is None else np.asarray(split),
                            random_state=seed)


@st.cache_data(show_spinner="Scoring every layer…", max_entries=32)
def layer_table(key: str, model: str, labels: tuple, split: tuple | None, method: str, k, prep: S.Preprocessing,
                seed: int, _es) -> pd.DataFrame:
    """Scores for every stored layer and the default mix of one embedding set (model x layer comparison)."""
    layers = list(_es.layers)
    specs = layers + ([S.DEFAULT_LAYER] if not isinstance(S.DEFAULT_LAYER, int) else [])
    return S.score_layers(_es.vectors, layers, np.asarray(labels, dtype=object), layers=specs,
                          split=None if split is None else np.asarray(split), method=method, k=k,
                          preprocessing=prep, random_state=seed, model=model)


# --------------------------------------------------------------------------------------- background projections
class _Jobs:
    """Slow projections computed in background threads; results shared by key across sessions."""

    def __init__(self):
        self.lock = threading.Lock()      # guards the dicts
        self.run_lock = threading.Lock()  # one slow projection at a time (2 cores; UMAP's numba JIT is not re-entrant)
        self.results: OrderedDict[str, object] = OrderedDict()
        self.running: dict[str, float] = {}

    def get(self, key: str):
        """The finished ProjectionResult (or the exception it raised), or None while pending/absent."""
        with self.lock:
            return self.results.get(key)

    def pending(self, key: str) -> bool:
        with self.lock:
            return key in self.running

    def submit(self, key: str, X: np.ndarray, kwargs: dict) -> None:
        with self.lock:
            if key in self.results or key in self.running:
                return
            self.running[key] = time.time()
        threading.Thread(target=self._work, args=(key, np.array(X, copy=True), kwargs), daemon=True,
                         name=f"projection-{key[:12]}").start()

    def _work(self, key: str, X: np.ndarray, kwargs: dict) -> None:
        try:
            with self.run_lock:
                res = S.project(X, **kwargs)
        except Exception as exc:  # delivered to the page, which shows it
            res = exc
        with self.lock:
            self.running.pop(key, None)
            self.results[key] = res
            while len(self.results) > MAX_JOBS:
                self.results.popitem(last=False)


@st.cache_resource
def jobs() -> _Jobs:
    return _Jobs()


def projection_key(es_key: str, layer, prep: S.Preprocessing, method: str, n_components: int, seed: int,
                   n_neighbors: int, min_dist: float, perplexity: float) -> str:
    return "|".join(map(str, (es_key, layer, prep, method, n_components, seed, n_neighbors, min_dist, perplexity)))


