"""Sense induction on the cosine-similarity graph of the occurrences: the number of senses comes from the data.

Three methods, each of which may answer "one sense" (k = 1):

- **correlation clustering** (:func:`correlation_clusters`): every pair of occurrences is an edge of weight
  ``cos(i, j) - threshold`` (positive: the two look like the same sense, negative: different senses); the partition
  maximises the summed weight inside clusters (equivalently, minimises the disagreements). It is NP-hard, so the
  search is the usual one: a randomised pivot start (KwikCluster) improved by moving single occurrences to the
  cluster they agree with most (or to a new cluster of their own) until no move helps, best of a few seeded
  restarts. DWUG's gold sense clusters are correlation clusters of human judgments; LSCDBenchmark uses it for WSI.
- **Chinese Whispers** (:func:`chinese_whispers`, Biemann 2006): the graph keeps the edges with ``cos > threshold``
  (weighted by the cosine); every occurrence repeatedly takes the label with the largest summed edge weight among
  its neighbours, in a seeded random order, until the labels settle.
- **affinity propagation** (:func:`affinity_clusters`, Frey & Dueck 2007; scikit-learn) on the cosine similarities,
  with the preference set to a quantile of the word's pairwise similarities (0.5 = the median, scikit-learn's default;
  lower quantiles give fewer exemplars).

Clusters smaller than ``min_size`` then join the cluster whose centroid is most similar (cosine); when no cluster
reaches ``min_size``, all occurrences form one cluster. All functions take unit-length rows (or any rows: they are
normalised) and return labels 0..k-1 in no particular order (``cluster_vectors`` renumbers them by size).
"""

from __future__ import annotations

import warnings

import numpy as np

from analysis._util import unit_rows
from analysis.errors import ConfigError

#: Local-search sweeps and restarts of correlation clustering; Chinese Whispers iterations.
MAX_SWEEPS = 30
RESTARTS = 3
CW_ITERATIONS = 30


def cosine_matrix(X) -> np.ndarray:
    """(n, n) cosine similarities of the rows of X (float64, diagonal 1)."""
    U = unit_rows(np.asarray(X, dtype=np.float64), zero_ok=True)
    return np.clip(U @ U.T, -1.0, 1.0)


def check_threshold(threshold) -> float:
    """A cosine threshold in (-1, 1); ConfigError otherwise."""
    try:
        t = float(threshold)
    except (TypeError, ValueError):
        raise ConfigError(f"The similarity threshold must be a number between -1 and 1, got {threshold!r}.") from None
    if not -1.0 < t < 1.0:
        raise ConfigError(f"The similarity threshold must lie between -1 and 1, got {t}.")
    return t


def check_quantile(q) -> float:
    """An affinity-propagation preference quantile in [0, 1]; ConfigError otherwise."""
    try:
        q = float(q)
    except (TypeError, ValueError):
        raise ConfigError(f"The preference quantile must be a number between 0 and 1, got {q!r}.") from None
    if not 0.0 <= q <= 1.0:
        raise ConfigError(f"The preference quantile must lie between 0 and 1, got {q}.")
    return q


# ----------------------------------------------------------------------------------------------------------------
# Correlation clustering
# ----------------------------------------------------------------------------------------------------------------

def _pivot(W: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """KwikCluster: a random unassigned pivot takes every unassigned occurrence it agrees with (weight > 0)."""
    n = W.shape[0]
    labels = np.full(n, -1, dtype=np.int64)
    c = 0
    for i in rng.permutation(n):
        if labels[i] >= 0:
            continue
        members = (labels < 0) & (W[i] > 0)
        members[i] = True
        labels[members] = c
        c += 1
    return labels


def _local_search(W: np.ndarray, labels: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Move single occurrences to the cluster with the largest summed weight to them (a new, empty cluster counts 0)
    while some move increases the objective."""
    n = W.shape[0]
    labels = labels.copy()
    for _ in range(MAX_SWEEPS):
        moved = 0
        size = n  # label ids stay below n: a free id is always available for a new cluster
        for i in rng.permutation(n):
            gains = np.bincount(labels, weights=W[i], minlength=size)
            own = labels[i]
            gains[own] -= W[i, i]
            best = int(np.argmax(gains))
            if gains[best] <= 0.0 and gains[own] < 0.0:
                used = np.zeros(size, dtype=bool)
                used[labels] = True
                best = int(np.flatnonzero(~used)[0]) if not used.all() else own
                if best != own:
                    labels[i] = best
                    moved += 1
                continue
            if best != own and gains[best] > gains[own] + 1e-12:
                labels[i] = best
                moved += 1
        if not moved:
            break
    return labels


def _objective(W: np.ndarray, labels: np.ndarray) -> float:
    """Summed weight of the pairs inside clusters."""
    same = labels[:, None] == labels[None, :]
    return float((W * same).sum() - np.trace(W)) / 2.0


def correlation_clusters(X, threshold: float, *, seed: int = 0, restarts: int = RESTARTS) -> np.ndarray:
    """Correlation clusters of the rows of X on the signed graph ``cos - threshold`` (see the module docstring)."""
    t = check_threshold(threshold)
    W = cosine_matrix(X) - t
    np.fill_diagonal(W, 0.0)
    rng = np.random.default_rng(seed)
    best, best_obj = None, -np.inf
    for _ in range(max(1, int(restarts))):
        labels = _local_search(W, _pivot(W, rng), rng)
        obj = _objective(W, labels)
        if obj > best_obj + 1e-12:
            best, best_obj = labels, obj
    return _compact(best)


# ----------------------------------------------------------------------------------------------------------------
# Chinese Whispers
# ----------------------------------------------------------------------------------------------------------------

def chinese_whispers(X, threshold: float, *, seed: int = 0, iterations: int = CW_ITERATIONS) -> np.ndarray:
    """Chinese Whispers labels of the rows of X on the graph of pairs with cosine above ``threshold``."""
    t = check_threshold(threshold)
    S = cosine_matrix(X)
    W = np.where(S > t, S, 0.0)
    np.fill_diagonal(W, 0.0)
    n = W.shape[0]
    labels = np.arange(n)
    rng = np.random.default_rng(seed)
    has_edge = W.any(axis=1)
    for _ in range(int(iterations)):
        changed = 0
        for i in rng.permutation(n):
            if not has_edge[i]:
                continue
            votes = np.bincount(labels, weights=W[i], minlength=n)
            best = int(np.argmax(votes))
            if best != labels[i] and votes[best] > votes[labels[i]]:
                labels[i] = best
                changed += 1
        if not changed:
            break
    return _compact(labels)


# ----------------------------------------------------------------------------------------------------------------
# Affinity propagation
# ----------------------------------------------------------------------------------------------------------------

def affinity_clusters(X, quantile: float, *, seed: int = 0) -> tuple[np.ndarray, bool]:
    """Affinity-propagation labels of the rows of X on cosine similarities, preference = the ``quantile`` of the
    pairwise similarities; (labels, converged). When it does not converge every row gets label 0."""
    from sklearn.cluster import AffinityPropagation
    from sklearn.exceptions import ConvergenceWarning

    q = check_quantile(quantile)
    S = cosine_matrix(X)
    n = S.shape[0]
    off = S[~np.eye(n, dtype=bool)]
    pref = float(np.quantile(off, q)) if off.size else 0.0
    model = AffinityPropagation(affinity="precomputed", preference=pref, damping=0.9, max_iter=1000,
                                convergence_iter=50, random_state=seed)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        labels = model.fit_predict(S)
    if len(model.cluster_centers_indices_) == 0 or (labels < 0).any():
        return np.zeros(n, dtype=np.int64), False
    return _compact(labels), True


# ----------------------------------------------------------------------------------------------------------------
# Shared
# ----------------------------------------------------------------------------------------------------------------

def _compact(labels: np.ndarray) -> np.ndarray:
    """Labels renumbered 0..k-1 (order of first appearance)."""
    _, inv = np.unique(np.asarray(labels), return_inverse=True)
    return inv.astype(np.int64)


def merge_small(X, labels: np.ndarray, min_size: int) -> np.ndarray:
    """Clusters of fewer than ``min_size`` members join the kept cluster with the most similar centroid (cosine);
    when none is big enough, all rows form one cluster."""
    labels = _compact(labels)
    ids, counts = np.unique(labels, return_counts=True)
    keep = ids[counts >= int(min_size)]
    if len(keep) == 0:
        return np.zeros(len(labels), dtype=np.int64)
    if len(keep) == len(ids):
        return labels
    U = unit_rows(np.asarray(X, dtype=np.float32), zero_ok=True)
    cents = unit_rows(np.stack([U[labels == c].mean(axis=0) for c in keep]), zero_ok=True)
    small = ~np.isin(labels, keep)
    out = labels.copy()
    out[small] = keep[np.argmax(U[small] @ cents.T, axis=1)]
    return _compact(out)


def default_min_size(n: int) -> int:
    """The smallest cluster kept by default: 2 % of the occurrences, at least 3 (and at most n)."""
    return int(min(max(3, round(0.02 * n)), max(n, 1)))
