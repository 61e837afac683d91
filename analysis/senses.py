"""Sense clusters: read the senses of a term off the contextual vectors of its occurrences.

The pipeline behind the Senses page, the ``senses`` CLI command and ``bench/eval_senses.py``:

1. :func:`layer_vectors` picks one layer (or the mean of a layer range, "layer mixing") out of an embedding set;
2. :class:`VectorPreprocessor` length-normalises the vectors and can remove the common mean direction and the top
   principal directions ("all-but-the-top", Mu & Viswanath 2018), which otherwise dominate cosine similarities of
   contextual vectors (Ethayarajh 2019);
3. :func:`project` maps them to 2-D/3-D for viewing (PCA, UMAP, t-SNE; seeded);
4. :func:`cluster_vectors` clusters the *full* vectors (k-means, agglomerative with cosine/average linkage, HDBSCAN),
   with k given or chosen by silhouette;
5. :func:`cluster_scores` compares clusters with gold senses (purity, inverse purity, their harmonic mean, ARI, NMI,
   V-measure, contingency table) and :func:`predict_senses` scores two classifiers that predict the known meanings
   (nearest sense centroid by cosine, as in the CoarseWSD-20 1-NN evaluation, and logistic regression);
6. :func:`class_tfidf`, :func:`nearest_to_centroids` and :func:`describe_clusters` describe clusters so that a
   reader can name them.

Everything here is numpy/scikit-learn/umap; nothing imports streamlit or torch. The module-level ``DEFAULT_*``
constants are the defaults chosen on CoarseWSD-20 by ``bench/eval_senses.py`` (see BENCHMARKS.md, "Sense clusters").
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Iterable, Sequence

import numpy as np
import pandas as pd

from analysis._util import natural_sorted
from analysis.errors import ConfigError, TooFewPointsError

__all__ = [
    "DEFAULT_LAYER", "DEFAULT_PREPROCESSING", "DEFAULT_METHOD", "DEFAULT_PROJECTION", "DEFAULT_K_RANGE",
    "CLUSTER_METHODS", "PROJECTION_METHODS", "MAX_FIT_POINTS", "MAX_PAIRWISE_POINTS", "SILHOUETTE_SAMPLE",
    "Preprocessing", "VectorPreprocessor", "ProjectionResult", "ClusterResult", "ClusterScores", "ProbeResult",
    "NearestCentroidClassifier", "check_projection", "resolve_layers", "layer_vectors", "layer_label", "preprocess", "project",
    "cluster_vectors", "contingency_table", "purity", "inverse_purity", "cluster_scores", "predict_senses",
    "context_windows", "class_tfidf", "nearest_to_centroids", "describe_clusters", "cluster_names",
    "score_layers",
]

# ----------------------------------------------------------------------------------------------------------------
# Defaults (chosen by bench/eval_senses.py on the ten CoarseWSD-20 words with the packaged MiniLM; see BENCHMARKS.md)
# ----------------------------------------------------------------------------------------------------------------

#: Layer spec used when the user names none: an int is one hidden-state index, a pair ``(a, b)`` is the mean of
#: layers a..b inclusive; negative numbers count from the last layer (-1 = last), so the default carries over to
#: models of any depth. The last layer beat every other layer and every mix of the last 2-6 layers on both
#: CoarseWSD-20 and DWUG EN with the default model (BENCHMARKS.md).
DEFAULT_LAYER: int | tuple[int, int] = -1

#: Clustering method used when the user names none (one of :data:`CLUSTER_METHODS`).
DEFAULT_METHOD = "kmeans"

#: Projection used for the scatter plot when the user names none (one of :data:`PROJECTION_METHODS`).
DEFAULT_PROJECTION = "umap"

#: Range of k searched by silhouette when k is "auto" (inclusive).
DEFAULT_K_RANGE = (2, 10)

CLUSTER_METHODS = ("kmeans", "agglomerative", "hdbscan")
PROJECTION_METHODS = ("umap", "pca", "tsne")

#: UMAP and t-SNE are fitted on a seeded sample of at most this many points; UMAP places the rest with
#: ``transform``, t-SNE (which has no transform) at the mean position of each point's nearest sampled neighbours.
MAX_FIT_POINTS = 10_000

#: Agglomerative clustering and HDBSCAN need all pairwise distances (n^2 memory); above this many points they run
#: on a seeded sample and the other points join the nearest cluster centroid (cosine). A notice says so.
MAX_PAIRWISE_POINTS = 5_000

#: Silhouette scores (O(n^2)) are computed on a seeded sample of at most this many points.
SILHOUETTE_SAMPLE = 3_000


@dataclass(frozen=True)
class Preprocessing:
    """How vectors are prepared before projection, clustering and classification.

    Parameters
    ----------
    normalize : bool
        Scale every vector to unit length (before and after the removals below), so that Euclidean k-means works on
        cosine geometry.
    remove_mean : bool
        Subtract the mean vector of the occurrences: contextual vectors share a large common direction
        (anisotropy, Ethayarajh 2019) that makes all cosines high. It helps cosine-based agglomerative clustering on
        some data but, followed by re-normalisation, hurt k-means and the centroid classifier in our benchmark
        (the centroid of a dominant sense lies near the mean, so its direction becomes noise).
    n_directions : int
        Also project out this many top principal directions of the centred vectors ("all-but-the-top", Mu &
        Viswanath 2018). Meant for vocabularies of many words; among one word's occurrences the top direction is
        usually the sense contrast itself, so this is off by default.
    """

    normalize: bool = True
    remove_mean: bool = False
    n_directions: int = 0

    def describe(self) -> str:
        parts = []
        if self.normalize:
            parts.append("L2-normalised")
        if self.remove_mean:
            parts.append("common mean removed")
        if self.n_directions:
            parts.append(f"top {self.n_directions} principal directions removed")
        return ", ".join(parts) or "raw vectors"


#: Preprocessing used when the user names none: length normalisation only. Removing the common mean (then
#: re-normalising) lowered k-means ARI and centroid accuracy, and removing top principal directions destroyed the
#: sense signal — in one word's occurrences the top direction *is* the main sense contrast (BENCHMARKS.md).
DEFAULT_PREPROCESSING = Preprocessing(normalize=True, remove_mean=False, n_directions=0)


# ----------------------------------------------------------------------------------------------------------------
# Input checks
# ----------------------------------------------------------------------------------------------------------------

def _as_matrix(X, name: str = "X") -> np.ndarray:
    X = np.asarray(X, dtype=np.float32)
    if X.ndim != 2:
        raise ConfigError(f"{name} must be a 2-D array of shape (n_occurrences, dim), got shape {X.shape}.")
    if X.shape[0] == 0:
        raise TooFewPointsError("There are no occurrences to analyse.")
    if not np.isfinite(X).all():
        raise ConfigError(f"{name} contains NaN or infinite values.")
    return X


#: Below this many points, numeric work runs on one thread. OpenMP/BLAS threads busy-wait, and on a loaded 2-core
#: machine that made k-means on 1,200 x 384 vectors 27x slower (12.8 s vs 0.47 s) and t-SNE on 60 points take 30 s;
#: small problems gain nothing from threads anyway.
SINGLE_THREAD_BELOW = 20_000


def _threads(n: int):
    """Context manager limiting BLAS/OpenMP to one thread for problems of fewer than SINGLE_THREAD_BELOW points."""
    from contextlib import nullcontext

    if n >= SINGLE_THREAD_BELOW:
        return nullcontext()
    from threadpoolctl import threadpool_limits

    return threadpool_limits(limits=1)


def _rng(random_state) -> np.random.Generator:
    return np.random.default_rng(random_state)


def _seed_int(random_state) -> int:
    """An int seed for libraries that want one (sklearn, umap), derived reproducibly from ``random_state``."""
    if isinstance(random_state, (int, np.integer)):
        return int(random_state)
    return int(_rng(random_state).integers(0, 2**31 - 1))


def _sample(n: int, size: int, random_state) -> np.ndarray:
    """Sorted indices of a seeded sample of ``size`` out of ``n`` (all indices when n <= size)."""
    if n <= size:
        return np.arange(n)
    return np.sort(_rng(random_state).choice(n, size=size, replace=False))


def _unit(X: np.ndarray) -> np.ndarray:
    norms = np.linalg.norm(X, axis=1, keepdims=True)
    return X / np.maximum(norms, 1e-12)


# ----------------------------------------------------------------------------------------------------------------
# Layers and preprocessing
# ----------------------------------------------------------------------------------------------------------------

def resolve_layers(available: Sequence[int], layer) -> list[int]:
    """Positions (into the embedding set's layer axis) of a layer spec.

    Parameters
    ----------
    available : sequence of int
        Hidden-state indices stored in the embedding set (0 = embedding layer), in axis order.
    layer : int, tuple (a, b), "a-b" str, or None
        One hidden-state index, or an inclusive range whose vectors are averaged. Negative numbers count from the
        last available layer (-1 = last). None means :data:`DEFAULT_LAYER`.

    Returns
    -------
    list of int
        Positions into the layer axis, in increasing hidden-state order.
    """
    available = [int(a) for a in available]
    if not available:
        raise ConfigError("The embedding set holds no layers.")
    if layer is None:
        layer = DEFAULT_LAYER
    top = max(available)

    def absolute(v: int) -> int:
        return top + 1 + v if v < 0 else v

    if isinstance(layer, str):
        m = re.fullmatch(r"\s*(-?\d+)\s*(?:-|\.\.|:)\s*(-?\d+)\s*", layer)
        if m:
            layer = (int(m.group(1)), int(m.group(2)))
        elif re.fullmatch(r"\s*-?\d+\s*", layer):
            layer = int(layer)
        else:
            raise ConfigError(f"Cannot read the layer {layer!r}: give a number such as 6 or a range such as 3-6.")
    if isinstance(layer, (int, np.integer)):
        lo = hi = absolute(int(layer))
    else:
        try:
            a, b = layer
        except (TypeError, ValueError):
            raise ConfigError(f"Cannot read the layer {layer!r}: give a number or a pair (first, last).") from None
        lo, hi = absolute(int(a)), absolute(int(b))
        if lo > hi:
            lo, hi = hi, lo
    wanted = [h for h in available if lo <= h <= hi]
    missing = [h for h in range(lo, hi + 1) if h not in available]
    if missing or not wanted:
        raise ConfigError(f"Layer {lo if lo == hi else f'{lo}-{hi}'} is not in the embedding set, which holds layers "
                          f"{', '.join(map(str, available))}.")
    return [available.index(h) for h in wanted]


def layer_label(available: Sequence[int], layer) -> str:
    """Human-readable name of a layer spec, e.g. ``"6"`` or ``"4-6"`` (absolute hidden-state indices)."""
    pos = resolve_layers(available, layer)
    hs = [int(available[p]) for p in pos]
    return str(hs[0]) if len(hs) == 1 else f"{hs[0]}-{hs[-1]}"


def layer_vectors(vectors, available: Sequence[int], layer=None) -> np.ndarray:
    """One layer, or the mean of a layer range, of an embedding set.

    Parameters
    ----------
    vectors : ndarray of shape (n_occurrences, n_layers, dim)
        The embedding set's vectors (may be a float16 memmap).
    available : sequence of int
        Hidden-state index of each position on the layer axis.
    layer : int, tuple or str, optional
        See :func:`resolve_layers`; default :data:`DEFAULT_LAYER`.

    Returns
    -------
    ndarray of shape (n_occurrences, dim), float32
    """
    if np.ndim(vectors) != 3:
        raise ConfigError(f"Expected vectors of shape (n_occurrences, n_layers, dim), got shape {np.shape(vectors)}.")
    if np.shape(vectors)[1] != len(available):
        raise ConfigError(f"The vectors hold {np.shape(vectors)[1]} layers but {len(available)} layer indices were given.")
    pos = resolve_layers(available, layer)
    if len(pos) == 1:
        return np.asarray(vectors[:, pos[0], :], dtype=np.float32)
    # Accumulate in float32 one layer at a time: a float16 memmap is never materialised whole.
    out = np.zeros((vectors.shape[0], vectors.shape[2]), dtype=np.float32)
    for p in pos:
        out += np.asarray(vectors[:, p, :], dtype=np.float32)
    return out / len(pos)


class VectorPreprocessor:
    """Length normalisation and removal of the common mean / top principal directions (estimator shape).

    Parameters
    ----------
    normalize, remove_mean, n_directions
        See :class:`Preprocessing`.

    Attributes
    ----------
    mean_ : ndarray of shape (dim,) or None
        Mean of the (normalised) fitting vectors, subtracted by :meth:`transform`.
    directions_ : ndarray of shape (n_directions, dim) or None
        Top principal directions removed by :meth:`transform`.
    """

    def __init__(self, normalize: bool = True, remove_mean: bool = False, n_directions: int = 0):
        self.normalize = normalize
        self.remove_mean = remove_mean
        self.n_directions = n_directions

    @classmethod
    def from_config(cls, config: Preprocessing | None) -> "VectorPreprocessor":
        config = DEFAULT_PREPROCESSING if config is None else config
        return cls(config.normalize, config.remove_mean, config.n_directions)

    def fit(self, X) -> "VectorPreprocessor":
        """Learn the mean and principal directions from X of shape (n, dim); returns self."""
        X = _as_matrix(X)
        if self.n_directions < 0 or self.n_directions >= X.shape[1]:
            raise ConfigError(f"The number of removed directions must be between 0 and {X.shape[1] - 1}.")
        if self.n_directions and self.n_directions >= X.shape[0]:
            raise TooFewPointsError(f"Removing {self.n_directions} principal directions needs more than "
                                    f"{self.n_directions} occurrences; there are {X.shape[0]}.")
        Z = _unit(X) if self.normalize else X
        center = self.remove_mean or self.n_directions > 0
        self.mean_ = Z.mean(axis=0) if center else None
        self.directions_ = None
        if self.n_directions:
            C = Z - self.mean_
            # Right singular vectors = principal directions; a thin SVD of (n, dim) is cheap for dim ~ 1k.
            _, _, vt = np.linalg.svd(C.astype(np.float64), full_matrices=False)
            self.directions_ = vt[: self.n_directions].astype(np.float32)
        return self

    def transform(self, X) -> np.ndarray:
        """Apply the learned preprocessing; returns float32 of shape (n, dim)."""
        X = _as_matrix(X)
        Z = _unit(X) if self.normalize else X.copy()
        if self.mean_ is not None and (self.remove_mean or self.directions_ is not None):
            Z = Z - self.mean_
        if self.directions_ is not None:
            Z = Z - (Z @ self.directions_.T) @ self.directions_
        if self.normalize:
            Z = _unit(Z)
        return Z.astype(np.float32, copy=False)

    def fit_transform(self, X) -> np.ndarray:
        return self.fit(X).transform(X)


def preprocess(X, config: Preprocessing | None = None) -> np.ndarray:
    """Fit :class:`VectorPreprocessor` on X (n, dim) and return the prepared (n, dim) float32 vectors."""
    return VectorPreprocessor.from_config(config).fit_transform(X)


# ----------------------------------------------------------------------------------------------------------------
# Projection
# ----------------------------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class ProjectionResult:
    """A 2-D or 3-D view of the occurrences.

    Attributes
    ----------
    coords : ndarray of shape (n_occurrences, n_components)
    method : str
    n_components : int
    random_state : int
    n_fit : int
        Number of points the projection was fitted on (smaller than n when a sample was used).
    notice : str or None
        A sentence for the user when a sample was used.
    params : dict
        The method's parameters (for the export manifest).
    """

    coords: np.ndarray
    method: str
    n_components: int
    random_state: int
    n_fit: int
    notice: str | None = None
    params: dict = field(default_factory=dict)


def project(X, *, method: str = DEFAULT_PROJECTION, n_components: int = 2, random_state=0, n_neighbors: int = 15,
            min_dist: float = 0.1, perplexity: float = 30.0, max_fit: int = MAX_FIT_POINTS) -> ProjectionResult:
    """Project vectors to 2-D or 3-D.

    Parameters
    ----------
    X : ndarray of shape (n_occurrences, dim)
        Prepared vectors (see :func:`preprocess`).
    method : {"umap", "pca", "tsne"}
        UMAP uses the cosine metric; t-SNE uses cosine with PCA initialisation.
    n_components : {2, 3}
    random_state : int
        Seed; the same seed gives the same coordinates.
    n_neighbors, min_dist : UMAP parameters.
    perplexity : t-SNE parameter.
    max_fit : int
        UMAP and t-SNE are fitted on a seeded sample of at most this many points (see :data:`MAX_FIT_POINTS`).

    Returns
    -------
    ProjectionResult
    """
    X = _as_matrix(X)
    n = X.shape[0]
    method = check_projection(n, method=method, n_components=n_components, n_neighbors=n_neighbors,
                              perplexity=perplexity, max_fit=max_fit)
    seed = _seed_int(random_state)
    with _threads(n):
        if method == "pca":
            return _project_pca(X, n_components, seed)
        if method == "umap":
            return _project_umap(X, n_components, seed, n_neighbors, min_dist, max_fit)
        return _project_tsne(X, n_components, seed, perplexity, max_fit)


def check_projection(n: int, *, method: str = DEFAULT_PROJECTION, n_components: int = 2, n_neighbors: int = 15,
                     perplexity: float = 30.0, max_fit: int = MAX_FIT_POINTS) -> str:
    """Raise the error :func:`project` would raise for these settings and n points, without computing anything.

    Lets a caller (the page) report an impossible setting at once instead of from a background job. Returns the
    normalised method name.
    """
    method = str(method).lower().replace("-", "")
    if method not in PROJECTION_METHODS:
        raise ConfigError(f"Unknown projection {method!r}; choose one of {', '.join(PROJECTION_METHODS)}.")
    if n_components not in (2, 3):
        raise ConfigError("Projections have 2 or 3 dimensions.")
    if method == "pca" and n < n_components + 1:
        raise TooFewPointsError(f"A {n_components}-D PCA needs at least {n_components + 1} occurrences; there are {n}.")
    if method == "umap":
        if n_neighbors < 2:
            raise ConfigError("UMAP needs at least 2 neighbours.")
        # UMAP's spectral initialisation and neighbour graph need more points than neighbours.
        if n <= n_neighbors:
            raise TooFewPointsError(f"UMAP with {n_neighbors} neighbours needs at least {n_neighbors + 1} occurrences; "
                                    f"there are {n}. Use PCA or fewer neighbours.")
    if method == "tsne":
        m = min(n, max_fit)
        if m <= perplexity or m < 4:
            raise TooFewPointsError(f"t-SNE with perplexity {perplexity:g} needs more than {max(int(perplexity), 3)} "
                                    f"occurrences; there are {m}. Use PCA or a lower perplexity.")
    return method


def _project_pca(X, n_components, seed) -> ProjectionResult:
    from sklearn.decomposition import PCA

    n = X.shape[0]
    coords = PCA(n_components=n_components, random_state=seed).fit_transform(X)
    return ProjectionResult(coords.astype(np.float32), "pca", n_components, seed, n, None, {})


def _project_umap(X, n_components, seed, n_neighbors, min_dist, max_fit) -> ProjectionResult:
    n = X.shape[0]
    import warnings

    import umap  # slow first import (numba); only paid when UMAP is asked for

    fit_idx = _sample(n, max_fit, seed)
    reducer = umap.UMAP(n_components=n_components, n_neighbors=n_neighbors, min_dist=min_dist, metric="cosine",
                        random_state=seed, transform_seed=seed)
    with warnings.catch_warnings():
        # "n_jobs overridden to 1 by setting random_state": the price of reproducibility, said in the docs.
        warnings.simplefilter("ignore", UserWarning)
        coords_fit = reducer.fit_transform(X[fit_idx])
        coords = np.empty((n, n_components), dtype=np.float32)
        coords[fit_idx] = coords_fit
        notice = None
        if len(fit_idx) < n:
            rest = np.setdiff1d(np.arange(n), fit_idx)
            coords[rest] = reducer.transform(X[rest])
            notice = (f"UMAP was fitted on a random sample of {len(fit_idx):,} of the {n:,} occurrences (seed {seed}); "
                      f"the other {len(rest):,} were placed by UMAP's transform.")
    return ProjectionResult(coords, "umap", n_components, seed, len(fit_idx), notice,
                            {"n_neighbors": n_neighbors, "min_dist": min_dist, "metric": "cosine"})


def _project_tsne(X, n_components, seed, perplexity, max_fit) -> ProjectionResult:
    from sklearn.manifold import TSNE

    n = X.shape[0]
    fit_idx = _sample(n, max_fit, seed)
    m = len(fit_idx)
    tsne = TSNE(n_components=n_components, perplexity=perplexity, metric="cosine", init="pca", random_state=seed,
                method="barnes_hut" if n_components <= 3 else "exact")
    coords = np.empty((n, n_components), dtype=np.float32)
    coords[fit_idx] = tsne.fit_transform(X[fit_idx])
    notice = None
    if m < n:
        # t-SNE has no transform: put each remaining point at the mean position of its 5 nearest sampled points.
        from sklearn.neighbors import NearestNeighbors

        rest = np.setdiff1d(np.arange(n), fit_idx)
        nn = NearestNeighbors(n_neighbors=5, metric="cosine").fit(X[fit_idx])
        _, idx = nn.kneighbors(X[rest])
        coords[rest] = coords[fit_idx][idx].mean(axis=1)
        notice = (f"t-SNE was fitted on a random sample of {m:,} of the {n:,} occurrences (seed {seed}); the other "
                  f"{len(rest):,} were placed at the mean position of their 5 nearest sampled neighbours.")
    return ProjectionResult(coords, "tsne", n_components, seed, m, notice, {"perplexity": perplexity, "metric": "cosine"})


# ----------------------------------------------------------------------------------------------------------------
# Clustering
# ----------------------------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class ClusterResult:
    """Clusters of the occurrences.

    Attributes
    ----------
    labels : ndarray of shape (n_occurrences,), int
        Cluster of each occurrence, numbered 0..k-1 by decreasing size; -1 = HDBSCAN noise.
    k : int
        Number of clusters (noise excluded).
    silhouette : dict {k: score}
        Silhouette score for each k tried when k was chosen automatically; empty otherwise.
    method : str
    notice : str or None
        A sentence for the user (sampling, ignored k, ...).
    params : dict
        Parameters for the export manifest.
    """

    labels: np.ndarray
    k: int
    silhouette: dict = field(default_factory=dict)
    method: str = "kmeans"
    notice: str | None = None
    params: dict = field(default_factory=dict)


def _relabel_by_size(labels: np.ndarray) -> np.ndarray:
    """Renumber clusters 0..k-1 by decreasing size (ties by first occurrence); -1 stays -1."""
    labels = np.asarray(labels)
    out = np.full(labels.shape, -1, dtype=np.int64)
    ids = [c for c in pd.unique(labels) if c != -1]
    sizes = {c: int((labels == c).sum()) for c in ids}
    order = sorted(ids, key=lambda c: -sizes[c])  # stable sort keeps first-occurrence order for ties
    for new, old in enumerate(order):
        out[labels == old] = new
    return out


def _check_k(k, n: int) -> int:
    try:
        k = int(k)
    except (TypeError, ValueError):
        raise ConfigError(f"k must be a whole number or 'auto', got {k!r}.") from None
    if k < 1:
        raise ConfigError(f"k must be at least 1, got {k}.")
    if k > n:
        raise TooFewPointsError(f"Cannot make {k} clusters from {n} occurrences: k must be at most the number of "
                                f"occurrences.")
    return k


def _silhouette(X, labels, metric: str, seed: int) -> float:
    from sklearn.metrics import silhouette_score

    n_labels = len(np.unique(labels))
    if n_labels < 2 or n_labels >= len(labels):
        return float("nan")
    sample = SILHOUETTE_SAMPLE if len(labels) > SILHOUETTE_SAMPLE else None
    return float(silhouette_score(X, labels, metric=metric, sample_size=sample, random_state=seed))


def _kmeans(X, k, seed, n_init: int | None = None) -> np.ndarray:
    from sklearn.cluster import KMeans

    if n_init is None:
        # Several restarts are cheap on small sets and make the result less seed-dependent; big sets get fewer.
        n_init = 10 if X.shape[0] <= 20_000 else 3
    return KMeans(n_clusters=k, n_init=n_init, random_state=seed).fit_predict(X)


def _assign_to_centroids(X, fit_idx, fit_labels) -> np.ndarray:
    """Labels for all rows: the fitted sample keeps its labels, the others join the nearest centroid (cosine)."""
    n = X.shape[0]
    labels = np.full(n, -1, dtype=np.int64)
    labels[fit_idx] = fit_labels
    ids = np.unique(fit_labels[fit_labels >= 0])
    rest = np.setdiff1d(np.arange(n), fit_idx)
    if len(ids) and len(rest):
        Xs = X[fit_idx]
        cents = _unit(np.stack([Xs[fit_labels == c].mean(axis=0) for c in ids]))
        labels[rest] = ids[np.argmax(_unit(X[rest]) @ cents.T, axis=1)]
    return labels


def cluster_vectors(X, *, method: str = "kmeans", k="auto", k_range=(2, 10), random_state=0,
                    min_cluster_size: int | None = None, max_pairwise: int = MAX_PAIRWISE_POINTS) -> ClusterResult:
    """Cluster vectors (the full vectors, not a projection).

    Parameters
    ----------
    X : ndarray of shape (n_occurrences, dim)
        Vectors to cluster, usually prepared by :func:`preprocess` (k-means is Euclidean, so length-normalised
        vectors make it cosine-like).
    method : {"kmeans", "agglomerative", "hdbscan"}
        k-means (Euclidean, several seeded restarts); agglomerative with cosine distance and average linkage;
        HDBSCAN (Euclidean, which on unit vectors orders pairs as cosine does) — HDBSCAN chooses the number of
        clusters itself and marks noise as -1.
    k : int or "auto"
        Number of clusters, or "auto" to take the k in ``k_range`` with the highest silhouette score (cosine for
        agglomerative, Euclidean for k-means; on a seeded sample of :data:`SILHOUETTE_SAMPLE` points).
    k_range : (int, int)
        Inclusive range searched when ``k="auto"``; capped at n - 1.
    random_state : int
        Seed; the same seed gives the same labels.
    min_cluster_size : int, optional
        HDBSCAN only; default max(5, 2 % of the points).
    max_pairwise : int
        Agglomerative and HDBSCAN run on a seeded sample of at most this many points; the rest join the nearest
        cluster centroid.

    Returns
    -------
    ClusterResult
        ``labels`` of shape (n,), numbered by decreasing cluster size; ``k``; ``silhouette`` {k: score} when k was
        chosen automatically, else empty.
    """
    X = _as_matrix(X)
    n = X.shape[0]
    method = str(method).lower()
    if method not in CLUSTER_METHODS:
        raise ConfigError(f"Unknown clustering method {method!r}; choose one of {', '.join(CLUSTER_METHODS)}.")
    seed = _seed_int(random_state)
    if n < 2:
        raise TooFewPointsError(f"Clustering needs at least 2 occurrences; there are {n}.")
    with _threads(n):
        return _cluster(X, method, k, k_range, seed, min_cluster_size, max_pairwise)


def _cluster(X, method, k, k_range, seed, min_cluster_size, max_pairwise) -> ClusterResult:
    n = X.shape[0]
    if method == "hdbscan":
        return _hdbscan(X, k, seed, min_cluster_size, max_pairwise)

    auto = isinstance(k, str) and k.lower() == "auto"
    if auto:
        lo, hi = (int(v) for v in k_range)
        if lo < 2 or hi < lo:
            raise ConfigError(f"The k range must go from at least 2 upwards, got {lo}-{hi}.")
        if n < 3:
            raise TooFewPointsError(f"Choosing k by silhouette needs at least 3 occurrences; there are {n}.")
        hi = min(hi, n - 1)
        if lo > hi:
            raise TooFewPointsError(f"Choosing k between {lo} and {k_range[1]} needs at least {lo + 1} occurrences; "
                                    f"there are {n}.")
        ks = list(range(lo, hi + 1))
    else:
        ks = [_check_k(k, n)]

    fit_idx = np.arange(n)
    notice = None
    if method == "agglomerative" and n > max_pairwise:
        fit_idx = _sample(n, max_pairwise, seed)
        notice = (f"Agglomerative clustering ran on a random sample of {len(fit_idx):,} of the {n:,} occurrences "
                  f"(seed {seed}); the others joined the nearest cluster centroid.")
    Xf = X[fit_idx]

    candidates: dict[int, np.ndarray] = {}
    if method == "kmeans":
        for kk in ks:
            candidates[kk] = _kmeans(Xf, kk, seed)
        sil_metric = "euclidean"
    else:
        from scipy.cluster.hierarchy import fcluster, linkage

        # One tree, cut at every k: average linkage on cosine distances (scipy's linkage on the condensed distance
        # matrix is the same algorithm as sklearn's AgglomerativeClustering(metric="cosine", linkage="average"),
        # checked in the tests) — but auto-k needs the tree only once.
        tree = linkage(_unit(Xf).astype(np.float64), method="average", metric="cosine")
        for kk in ks:
            candidates[kk] = fcluster(tree, t=kk, criterion="maxclust") - 1
        sil_metric = "cosine"

    silhouette: dict[int, float] = {}
    if auto:
        for kk, lab in candidates.items():
            silhouette[kk] = _silhouette(Xf, lab, sil_metric, seed)
        finite = {kk: s for kk, s in silhouette.items() if np.isfinite(s)}
        best = max(finite, key=lambda kk: (finite[kk], -kk)) if finite else ks[0]
    else:
        best = ks[0]
    labels = candidates[best]
    if len(fit_idx) < n:
        labels = _assign_to_centroids(X, fit_idx, labels)
    labels = _relabel_by_size(labels)
    k_found = int(len(np.unique(labels[labels >= 0])))
    params = {"method": method, "k": "auto" if auto else int(ks[0]), "k_range": list(k_range) if auto else None,
              "random_state": seed}
    if method == "agglomerative" and k_found < best:
        extra = f"The tree could only be cut into {k_found} clusters (tied distances)."
        notice = f"{notice} {extra}" if notice else extra
    return ClusterResult(labels, k_found, silhouette, method, notice, params)


def _hdbscan(X, k, seed, min_cluster_size, max_pairwise) -> ClusterResult:
    from sklearn.cluster import HDBSCAN

    n = X.shape[0]
    notices = []
    if not (isinstance(k, str) and k.lower() == "auto") and k is not None:
        notices.append("HDBSCAN chooses the number of clusters itself; the k you gave was not used.")
    if min_cluster_size is None:
        min_cluster_size = max(5, int(round(0.02 * min(n, max_pairwise))))
    min_cluster_size = int(min_cluster_size)
    if min_cluster_size < 2:
        raise ConfigError("HDBSCAN's minimum cluster size must be at least 2.")
    fit_idx = _sample(n, max_pairwise, seed)
    if len(fit_idx) < min_cluster_size + 1:
        raise TooFewPointsError(f"HDBSCAN with minimum cluster size {min_cluster_size} needs more than "
                                f"{min_cluster_size} occurrences; there are {len(fit_idx)}.")
    # Brute-force neighbours are several times faster than trees on 300-1000-d vectors (measured: 1.3 s vs 4.6 s
    # for 5,000 x 384); the sample cap keeps the n^2 distance matrix small.
    model = HDBSCAN(min_cluster_size=min_cluster_size, algorithm="brute", copy=True)
    fit_labels = model.fit_predict(_unit(X[fit_idx]))
    if len(fit_idx) < n:
        notices.append(f"HDBSCAN ran on a random sample of {len(fit_idx):,} of the {n:,} occurrences (seed {seed}); "
                       f"the others joined the nearest cluster centroid.")
        labels = _assign_to_centroids(X, fit_idx, fit_labels)
    else:
        labels = fit_labels
    labels = _relabel_by_size(labels)
    k_found = int(len(np.unique(labels[labels >= 0])))
    if k_found == 0:
        notices.append("HDBSCAN found no cluster: every occurrence is noise. Try a smaller minimum cluster size.")
    n_noise = int((labels == -1).sum())
    if n_noise and k_found:
        notices.append(f"{n_noise:,} occurrences are noise (cluster -1).")
    return ClusterResult(labels, k_found, {}, "hdbscan", " ".join(notices) or None,
                         {"method": "hdbscan", "min_cluster_size": min_cluster_size, "random_state": seed})


# ----------------------------------------------------------------------------------------------------------------
# Scores against gold senses
# ----------------------------------------------------------------------------------------------------------------

def _gold_mask(labels_true) -> np.ndarray:
    s = pd.Series(labels_true, dtype="object")
    return (s.notna() & (s.astype(str).str.strip() != "")).to_numpy()


def contingency_table(labels_true, labels_pred, *, cluster_names: dict | None = None) -> pd.DataFrame:
    """Cluster x gold-label counts.

    Parameters
    ----------
    labels_true : array-like of shape (n,)
        Gold labels (missing values are left out).
    labels_pred : array-like of shape (n,)
        Cluster ids.
    cluster_names : dict {cluster id: name}, optional
        Row names; default the cluster ids.

    Returns
    -------
    DataFrame of shape (n_clusters, n_labels)
        Index = clusters (sorted), columns = labels (sorted naturally: "2" before "10").
    """
    y = np.asarray(pd.Series(labels_true, dtype="object"))
    c = np.asarray(labels_pred)
    if len(y) != len(c):
        raise ConfigError(f"{len(y)} gold labels but {len(c)} cluster labels.")
    mask = _gold_mask(y)
    table = pd.crosstab(pd.Series(c[mask], name="cluster"), pd.Series(y[mask].astype(str), name="label"))
    table = table.reindex(index=natural_sorted(table.index), columns=natural_sorted(table.columns))
    if cluster_names:
        table.index = [cluster_names.get(i, str(i)) for i in table.index]
        table.index.name = "cluster"
    return table


def purity(table) -> float:
    """Purity of a cluster x label contingency table: (1/N) * sum over clusters of the largest label count."""
    t = np.asarray(table, dtype=float)
    total = t.sum()
    return float(t.max(axis=1).sum() / total) if total else float("nan")


def inverse_purity(table) -> float:
    """Inverse purity: (1/N) * sum over labels of the largest cluster count (purity with the roles swapped)."""
    t = np.asarray(table, dtype=float)
    total = t.sum()
    return float(t.max(axis=0).sum() / total) if total else float("nan")


@dataclass(frozen=True)
class ClusterScores:
    """Agreement of clusters with gold senses (computed on the occurrences that have a gold label).

    ``purity_f`` is the harmonic mean of purity and inverse purity. Purity alone rises with k (k = n gives 1).
    """

    purity: float
    inverse_purity: float
    purity_f: float
    ari: float
    nmi: float
    v_measure: float
    n: int
    k: int
    n_labels: int
    contingency: pd.DataFrame = field(compare=False, repr=False, default=None)

    def as_dict(self) -> dict:
        return {k: getattr(self, k) for k in ("purity", "inverse_purity", "purity_f", "ari", "nmi", "v_measure",
                                              "n", "k", "n_labels")}


def cluster_scores(labels_true, labels_pred) -> ClusterScores:
    """Purity, inverse purity, their harmonic mean, ARI, NMI and V-measure.

    Occurrences without a gold label are left out. HDBSCAN noise (-1) counts as one cluster of its own.

    Parameters
    ----------
    labels_true : array-like of shape (n,)
    labels_pred : array-like of shape (n,)

    Raises
    ------
    TooFewPointsError
        Fewer than 2 labelled occurrences, or only one distinct gold label.
    """
    from sklearn.metrics import adjusted_rand_score, normalized_mutual_info_score, v_measure_score

    y = np.asarray(pd.Series(labels_true, dtype="object"))
    c = np.asarray(labels_pred)
    if len(y) != len(c):
        raise ConfigError(f"{len(y)} gold labels but {len(c)} cluster labels.")
    mask = _gold_mask(y)
    y, c = y[mask].astype(str), c[mask]
    if len(y) < 2:
        raise TooFewPointsError(f"Scoring clusters needs at least 2 occurrences with a gold label; there are {len(y)}.")
    n_labels = len(np.unique(y))
    if n_labels < 2:
        raise TooFewPointsError(f"All labelled occurrences have the same gold label ({str(y[0])!r}); cluster scores need "
                                f"at least two senses.")
    table = contingency_table(y, c)
    p, ip = purity(table), inverse_purity(table)
    f = 2 * p * ip / (p + ip) if p + ip else 0.0
    return ClusterScores(purity=p, inverse_purity=ip, purity_f=float(f), ari=float(adjusted_rand_score(y, c)),
                         nmi=float(normalized_mutual_info_score(y, c)), v_measure=float(v_measure_score(y, c)),
                         n=int(len(y)), k=int(len(np.unique(c))), n_labels=n_labels, contingency=table)


# ----------------------------------------------------------------------------------------------------------------
# Predicting known meanings
# ----------------------------------------------------------------------------------------------------------------

class NearestCentroidClassifier:
    """Nearest sense centroid by cosine (the CoarseWSD-20 1-NN method).

    A sense's centroid is the mean of its training vectors; an occurrence takes the sense whose centroid has the
    highest cosine similarity.

    Attributes
    ----------
    classes_ : ndarray of shape (n_senses,)
    centroids_ : ndarray of shape (n_senses, dim), unit length
    """

    def fit(self, X, y) -> "NearestCentroidClassifier":
        X = _as_matrix(X)
        y = np.asarray(y)
        self.classes_ = np.unique(y)
        self.centroids_ = _unit(np.stack([X[y == c].mean(axis=0) for c in self.classes_]))
        return self

    def decision_function(self, X) -> np.ndarray:
        """Cosine similarity of each row of X (n, dim) to each centroid: (n, n_senses)."""
        return _unit(_as_matrix(X)) @ self.centroids_.T

    def predict(self, X) -> np.ndarray:
        return self.classes_[np.argmax(self.decision_function(X), axis=1)]


def _logreg():
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    # Standardising first makes one regularisation strength (C=1) work for vectors of any scale.
    return make_pipeline(StandardScaler(), LogisticRegression(C=1.0, max_iter=2000))


@dataclass(frozen=True)
class ProbeResult:
    """How well the known meanings are predicted from the vectors.

    ``mode`` is "split" (fitted on train, scored on test) or "cv" (stratified k-fold, predictions pooled over folds).
    """

    centroid_accuracy: float
    centroid_macro_f1: float
    logreg_accuracy: float
    logreg_macro_f1: float
    mode: str
    n_train: int
    n_test: int
    n_splits: int | None = None
    labels: tuple = ()
    notice: str | None = None

    def as_dict(self) -> dict:
        return {k: getattr(self, k) for k in ("centroid_accuracy", "centroid_macro_f1", "logreg_accuracy",
                                              "logreg_macro_f1", "mode", "n_train", "n_test", "n_splits")}


def predict_senses(X, labels, *, split=None, n_splits: int = 5, random_state=0, logreg: bool = True) -> ProbeResult:
    """Accuracy and macro-F1 of nearest-sense-centroid and logistic-regression classifiers.

    Parameters
    ----------
    X : ndarray of shape (n_occurrences, dim)
    labels : array-like of shape (n_occurrences,)
        Gold senses; occurrences without one are left out.
    split : array-like of shape (n_occurrences,), optional
        "train"/"test" per occurrence: fit on train, score on test. Without it, stratified k-fold
        cross-validation (seeded shuffle), with predictions pooled over the folds.
    n_splits : int
        Folds for cross-validation (fewer when even the largest sense has fewer members). Senses with a single
        labelled occurrence are left out of cross-validation, with a notice.
    random_state : int
    logreg : bool
        Also fit logistic regression (NaN scores when False).
    """
    X = _as_matrix(X)
    with _threads(X.shape[0]):
        return _predict_senses(X, labels, split, n_splits, random_state, logreg)


def _predict_senses(X, labels, split, n_splits, random_state, logreg) -> ProbeResult:
    from sklearn.metrics import accuracy_score, f1_score
    from sklearn.model_selection import StratifiedKFold

    X = _as_matrix(X)
    y = np.asarray(pd.Series(labels, dtype="object"))
    if len(y) != X.shape[0]:
        raise ConfigError(f"{X.shape[0]} vectors but {len(y)} labels.")
    mask = _gold_mask(y)
    seed = _seed_int(random_state)

    def scores(y_true, pred_c, pred_l):
        nan = float("nan")
        return (float(accuracy_score(y_true, pred_c)), float(f1_score(y_true, pred_c, average="macro")),
                float(accuracy_score(y_true, pred_l)) if pred_l is not None else nan,
                float(f1_score(y_true, pred_l, average="macro")) if pred_l is not None else nan)

    if split is not None:
        sp = np.asarray(pd.Series(split, dtype="object").astype(str).str.strip().str.lower())
        if len(sp) != X.shape[0]:
            raise ConfigError(f"{X.shape[0]} vectors but {len(sp)} split values.")
        train = mask & (sp == "train")
        test = mask & (sp == "test")
        if not train.any() or not test.any():
            raise ConfigError("The split column must mark labelled occurrences as 'train' and as 'test'.")
        ytr, yte = y[train].astype(str), y[test].astype(str)
        if len(np.unique(ytr)) < 2:
            raise TooFewPointsError("The training occurrences have only one gold sense; classifiers need two.")
        pc = NearestCentroidClassifier().fit(X[train], ytr).predict(X[test])
        pl = _logreg().fit(X[train], ytr).predict(X[test]) if logreg else None
        unseen = sorted(set(yte) - set(ytr))
        notice = (f"{int(np.isin(yte, unseen).sum())} test occurrences have senses absent from train "
                  f"({', '.join(map(repr, unseen[:5]))}); they count as errors.") if unseen else None
        return ProbeResult(*scores(yte, pc, pl), mode="split", n_train=int(train.sum()), n_test=int(test.sum()),
                           labels=tuple(map(str, np.unique(ytr))), notice=notice)

    Xm, ym = X[mask], y[mask].astype(str)
    classes, counts = np.unique(ym, return_counts=True)
    # A sense seen once cannot be both trained on and tested: leave such senses out (and say so) rather than count
    # an error no classifier could avoid, or refuse the whole evaluation.
    rare = [(str(c), int(m)) for c, m in zip(classes, counts) if m < 2]
    kept = classes[counts >= 2]
    if len(kept) < 2:
        if len(classes) < 2:
            raise TooFewPointsError("Predicting known meanings needs at least two gold senses; "
                                    f"{'only ' + repr(str(classes[0])) + ' occurs' if len(classes) else 'none is given'}.")
        raise TooFewPointsError("Cross-validation needs at least two gold senses with 2 or more labelled occurrences "
                                f"each; there are {len(kept)}.")
    notice = None
    if rare:
        Xm, ym = Xm[np.isin(ym, kept)], ym[np.isin(ym, kept)]
        notice = (f"Left out of the classifiers: {len(rare)} sense{'s' if len(rare) > 1 else ''} with a single "
                  f"labelled occurrence ({', '.join(repr(c) for c, _ in rare[:5])}{', …' if len(rare) > 5 else ''}).")
    counts = counts[counts >= 2]
    # Stratified folds need no more folds than the largest sense has members; smaller senses then miss some test
    # folds, which StratifiedKFold handles (with a warning we silence).
    folds = max(2, min(int(n_splits), int(counts.max())))
    pc = np.empty(len(ym), dtype=object)
    pl = np.empty(len(ym), dtype=object) if logreg else None
    import warnings

    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="The least populated class")
        for tr, te in StratifiedKFold(n_splits=folds, shuffle=True, random_state=seed).split(Xm, ym):
            pc[te] = NearestCentroidClassifier().fit(Xm[tr], ym[tr]).predict(Xm[te])
            if logreg:
                pl[te] = _logreg().fit(Xm[tr], ym[tr]).predict(Xm[te])
    return ProbeResult(*scores(ym, pc.astype(str), pl.astype(str) if logreg else None), mode="cv",
                       n_train=int(len(ym)), n_test=int(len(ym)), n_splits=folds, labels=tuple(map(str, kept)),
                       notice=notice)


# ----------------------------------------------------------------------------------------------------------------
# Describing clusters
# ----------------------------------------------------------------------------------------------------------------

_WORD = re.compile(r"\w+(?:['’]\w+)?", re.UNICODE)


def context_windows(texts: Sequence[str], starts: Sequence[int], ends: Sequence[int], *, window: int = 10) -> list[str]:
    """The ``window`` words left and right of each occurrence, without the occurrence itself.

    Parameters
    ----------
    texts : sequence of str, length n
    starts, ends : sequences of int, length n
        Character span of each occurrence in its text.
    window : int
        Words taken on each side.
    """
    out = []
    for text, s, e in zip(texts, starts, ends):
        text = "" if text is None else str(text)
        left = _WORD.findall(text[: int(s)])[-window:] if window else []
        right = _WORD.findall(text[int(e):])[:window] if window else []
        out.append(" ".join(left + right))
    return out


def class_tfidf(docs: Sequence[str], labels, *, top_n: int = 10, stop_words="english", exclude: Iterable[str] = (),
                min_df: int = 1) -> pd.DataFrame:
    """The most distinctive words of each cluster by class-based TF-IDF (as in BERTopic's c-TF-IDF).

    All context windows of a cluster form one document; a word's score in cluster c is
    ``tf(word, c) * log(1 + A / f(word))`` with tf the word's share of the cluster's words, A the average number of
    words per cluster and f(word) its count over all clusters.

    Parameters
    ----------
    docs : sequence of str, length n
        Context window of each occurrence (see :func:`context_windows`).
    labels : array-like of shape (n,)
        Cluster of each occurrence.
    top_n : int
    stop_words : "english", list or None
        Stop words removed before counting (scikit-learn's English list by default).
    exclude : iterable of str
        Further words to drop, e.g. the target's forms.
    min_df : int
        Ignore words in fewer than this many windows.

    Returns
    -------
    DataFrame with columns cluster, rank, word, score, count (top_n rows per cluster at most).
    """
    from sklearn.feature_extraction.text import ENGLISH_STOP_WORDS, CountVectorizer

    labels = np.asarray(labels)
    if len(docs) != len(labels):
        raise ConfigError(f"{len(docs)} context windows but {len(labels)} cluster labels.")
    stops = set(ENGLISH_STOP_WORDS) if stop_words == "english" else set(stop_words or ())
    stops |= {w.lower() for w in exclude}
    cols = ["cluster", "rank", "word", "score", "count"]
    vec = CountVectorizer(lowercase=True, token_pattern=r"(?u)\b[^\W\d_][\w'’-]*\b", stop_words=sorted(stops) or None,
                          min_df=min_df)
    try:
        counts = vec.fit_transform([str(d) for d in docs])
    except ValueError:  # empty vocabulary: every window was stop words
        return pd.DataFrame(columns=cols)
    vocab = np.asarray(vec.get_feature_names_out())
    clusters = [c for c in pd.unique(labels)]
    clusters = sorted(clusters)
    per_class = np.vstack([np.asarray(counts[labels == c].sum(axis=0)).ravel() for c in clusters]).astype(float)
    words_per_class = per_class.sum(axis=1, keepdims=True)
    tf = per_class / np.maximum(words_per_class, 1)
    avg = words_per_class.mean()
    idf = np.log(1 + avg / np.maximum(per_class.sum(axis=0), 1))
    score = tf * idf
    rows = []
    for i, c in enumerate(clusters):
        order = np.argsort(-score[i], kind="stable")
        order = [j for j in order if per_class[i, j] > 0][:top_n]
        for r, j in enumerate(order, 1):
            rows.append((c, r, vocab[j], float(score[i, j]), int(per_class[i, j])))
    return pd.DataFrame(rows, columns=cols)


def nearest_to_centroids(X, labels, *, n: int = 5) -> pd.DataFrame:
    """The occurrences closest (cosine) to each cluster's centroid.

    Parameters
    ----------
    X : ndarray of shape (n_occurrences, dim)
    labels : array-like of shape (n_occurrences,)
    n : int
        Occurrences per cluster.

    Returns
    -------
    DataFrame with columns cluster, rank, index (row in X), similarity.
    """
    X = _unit(_as_matrix(X))
    labels = np.asarray(labels)
    rows = []
    for c in sorted(pd.unique(labels)):
        idx = np.flatnonzero(labels == c)
        cent = _unit(X[idx].mean(axis=0, keepdims=True))[0]
        sims = X[idx] @ cent
        order = np.argsort(-sims, kind="stable")[:n]
        for r, j in enumerate(order, 1):
            rows.append((c, r, int(idx[j]), float(sims[j])))
    return pd.DataFrame(rows, columns=["cluster", "rank", "index", "similarity"])


def cluster_names(labels, names: dict | None = None) -> np.ndarray:
    """Display name of each occurrence's cluster: the user's name, else "cluster c" ("noise" for -1).

    Parameters
    ----------
    labels : array-like of shape (n,)
    names : dict {cluster id: name}, optional

    Returns
    -------
    ndarray of shape (n,), object (str)
    """
    names = {int(k): str(v) for k, v in (names or {}).items() if str(v).strip()}
    labels = np.asarray(labels)
    lookup = {int(c): names.get(int(c), "noise" if int(c) == -1 else f"cluster {int(c)}") for c in np.unique(labels)}
    return np.array([lookup[int(c)] for c in labels], dtype=object)


def describe_clusters(X, labels, docs: Sequence[str] | None = None, *, names: dict | None = None, top_n: int = 8,
                      exclude: Iterable[str] = (), gold=None) -> pd.DataFrame:
    """One row per cluster: size, share, the distinctive words and (with gold labels) the majority sense.

    Parameters
    ----------
    X : ndarray of shape (n, dim)
    labels : array-like of shape (n,)
    docs : sequence of str, optional
        Context windows for the distinctive words.
    names : dict {cluster id: name}, optional
    top_n : int
    exclude : words left out of the distinctive words (the target's forms).
    gold : array-like of shape (n,), optional

    Returns
    -------
    DataFrame with columns cluster, name, size, share, words (comma-separated), and majority_label,
    majority_share when ``gold`` is given.
    """
    X = _as_matrix(X)
    labels = np.asarray(labels)
    clusters = sorted(pd.unique(labels))
    disp = cluster_names(clusters, names)
    words = {}
    if docs is not None:
        tf = class_tfidf(docs, labels, top_n=top_n, exclude=exclude)
        words = tf.groupby("cluster")["word"].apply(lambda s: ", ".join(s)).to_dict()
    rows = []
    for c, name in zip(clusters, disp):
        size = int((labels == c).sum())
        row = {"cluster": int(c), "name": name, "size": size, "share": size / len(labels), "words": words.get(c, "")}
        if gold is not None:
            g = pd.Series(np.asarray(pd.Series(gold, dtype="object"))[labels == c]).dropna().astype(str)
            if len(g):
                vc = g.value_counts()
                row["majority_label"], row["majority_share"] = vc.index[0], float(vc.iloc[0] / len(g))
            else:
                row["majority_label"], row["majority_share"] = None, float("nan")
        rows.append(row)
    return pd.DataFrame(rows)


# ----------------------------------------------------------------------------------------------------------------
# Model x layer comparison
# ----------------------------------------------------------------------------------------------------------------

def score_layers(vectors, available: Sequence[int], labels, *, layers=None, split=None, method: str = DEFAULT_METHOD,
                 k="gold", preprocessing: Preprocessing | None = None, random_state=0, logreg: bool = True,
                 model: str | None = None) -> pd.DataFrame:
    """Cluster scores and classifier scores for several layers of one embedding set.

    Parameters
    ----------
    vectors : ndarray of shape (n_occurrences, n_layers, dim)
    available : sequence of int
        Hidden-state index of each position on the layer axis.
    labels : array-like of shape (n_occurrences,)
        Gold senses (missing values allowed).
    layers : list of layer specs, optional
        Default: every stored layer.
    split : array-like of "train"/"test", optional
        Classifiers fitted on train and scored on test; clusters fitted on all occurrences and scored on test.
    method : clustering method.
    k : int, "auto" or "gold"
        "gold" = the number of gold senses.
    preprocessing : Preprocessing, optional
    random_state : int
    logreg : bool
    model : str, optional
        Written into the ``model`` column.

    Returns
    -------
    DataFrame with one row per layer: model, layer, k, purity, inverse_purity, purity_f, ari, nmi, v_measure,
    centroid_accuracy, centroid_macro_f1, logreg_accuracy, logreg_macro_f1, macro_f1 (= logreg_macro_f1), n.
    """
    gold = np.asarray(pd.Series(labels, dtype="object"))
    mask = _gold_mask(gold)
    if layers is None:
        layers = [int(a) for a in available]
    score_mask = mask
    if split is not None:
        sp = np.asarray(pd.Series(split, dtype="object").astype(str).str.strip().str.lower())
        score_mask = mask & (sp == "test")
    n_gold = len(np.unique(gold[mask].astype(str))) if mask.any() else 0
    rows = []
    for layer in layers:
        X = preprocess(layer_vectors(vectors, available, layer), preprocessing)
        kk = n_gold if (isinstance(k, str) and k == "gold") else k
        if isinstance(k, str) and k == "gold" and n_gold < 2:
            raise TooFewPointsError("k = number of gold senses needs at least two gold senses.")
        cl = cluster_vectors(X, method=method, k=kk, random_state=random_state)
        sc = cluster_scores(gold[score_mask], cl.labels[score_mask])
        pr = predict_senses(X, gold, split=split, random_state=random_state, logreg=logreg)
        rows.append({"model": model, "layer": layer_label(available, layer), "k": cl.k, "purity": sc.purity,
                     "inverse_purity": sc.inverse_purity, "purity_f": sc.purity_f, "ari": sc.ari, "nmi": sc.nmi,
                     "v_measure": sc.v_measure, "centroid_accuracy": pr.centroid_accuracy,
                     "centroid_macro_f1": pr.centroid_macro_f1, "logreg_accuracy": pr.logreg_accuracy,
                     "logreg_macro_f1": pr.logreg_macro_f1, "macro_f1": pr.logreg_macro_f1, "n": sc.n})
    return pd.DataFrame(rows)
