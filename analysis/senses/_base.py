"""Shared settings and small helpers of the sense-cluster package: defaults, input checks, threads, seeds."""

from __future__ import annotations

import numpy as np

from analysis.errors import ConfigError, TooFewPointsError

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
