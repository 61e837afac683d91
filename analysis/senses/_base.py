"""Defaults of the sense-cluster package and the helpers its modules share: thread limits, seeds, option checks."""

from __future__ import annotations

import dataclasses

import numpy as np

from analysis._util import renamed_options

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

#: Correlation clustering / Chinese Whispers: two occurrences count as the same sense when their cosine is above this
#: (a cosine of the prepared vectors, so it depends on the model and layer: the MiniLM cosines of one word's
#: occurrences lie around 0.6-0.95). The best of the CV grid for correlation clustering at the last layer
#: (``bench/cv_senses.py``); neither graph method beat k-means with the k = 1 test under CV.
DEFAULT_THRESHOLD = 0.875

#: Affinity propagation: the preference is this quantile of the word's pairwise cosine similarities (0.5 = median,
#: scikit-learn's own default; lower gives fewer clusters).
DEFAULT_PREFERENCE = 0.5

#: k-means / agglomerative with k = "auto": answer one cluster when the best silhouette over the k range is below
#: this (the k = 1 test; one threshold across words). The CLI, the Senses page and shift-rank's own senses use it;
#: ``cluster_vectors`` itself applies it only when asked (``min_silhouette=``), so other callers keep plain
#: silhouette over k >= 2. Chosen across words *and* models (BENCHMARKS.md, "A second, 12-layer model"): 0.15 was
#: the best of a leave-words-out CV with the packaged MiniLM alone (``bench/cv_senses.py``), but a silhouette's level
#: differs between models, and on the 12-layer all-mpnet-base-v2 0.15 gave 18 of 28 DWUG targets one sense (JSD rho
#: 0.08). 0.13 is the threshold a joint choice over both models picks on most halvings of the targets
#: (``bench/cv_models.py --shift``); on held-out halves it is within noise of 0.15 for MiniLM and far better for MPNet.
DEFAULT_MIN_SILHOUETTE: float | None = 0.13

#: Methods that find the number of clusters on the cosine-similarity graph (see :mod:`analysis.senses.graph`).
GRAPH_METHODS = ("affinity", "correlation", "chinese_whispers")

CLUSTER_METHODS = ("kmeans", "agglomerative", "hdbscan") + GRAPH_METHODS
PROJECTION_METHODS = ("umap", "pca", "tsne")

#: UMAP and t-SNE are fitted on a seeded sample of at most this many points; UMAP places the rest with
#: ``transform``, t-SNE (which has no transform) at the mean position of each point's nearest sampled neighbours.
MAX_FIT_POINTS = 10_000

#: Agglomerative clustering and HDBSCAN need all pairwise distances (n^2 memory); above this many points they run
#: on a seeded sample and the other points join the nearest cluster centroid (cosine). A notice says so.
MAX_PAIRWISE_POINTS = 5_000

#: k-means with k chosen by silhouette fits one model per k (and several restarts each); above this many points it is
#: fitted on a seeded sample of :data:`MAX_FIT_POINTS` and every other point joins the nearest centroid (cosine), as
#: the pairwise methods do. A notice says so. Below it, nothing changes (every benchmark in BENCHMARKS.md is below).
MAX_KMEANS_POINTS = 50_000

#: PCA above this many points is fitted on a seeded sample of this many and applied to all (the components of a
#: 100,000-point sample of a million differ from the full fit by far less than a pixel of the scatter).
MAX_PCA_FIT = 100_000

#: Silhouette scores (O(n^2)) are computed on a seeded sample of at most this many points.
SILHOUETTE_SAMPLE = 3_000
#: :func:`analysis.senses.clustering.stability`: pairs of subsample fits, and the rows it runs on at most.
STABILITY_PAIRS = 10
STABILITY_SAMPLE = 2_000


# ----------------------------------------------------------------------------------------------------------------
# Threads, seeds and options
# ----------------------------------------------------------------------------------------------------------------

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


def _seed_int(seed) -> int:
    """An int seed for libraries that want one (sklearn, umap): ``seed`` itself when it is an int, else an int drawn
    from ``np.random.default_rng(seed)`` (a Generator, a SeedSequence, or None for fresh entropy)."""
    if isinstance(seed, (int, np.integer)) and not isinstance(seed, bool):
        return int(seed)
    return int(np.random.default_rng(seed).integers(0, 2**31 - 1))


def _sample(n: int, size: int, seed) -> np.ndarray:
    """Sorted indices of a sample of ``size`` out of ``n`` drawn by ``np.random.default_rng(seed)`` (all indices
    when n <= size)."""
    if n <= size:
        return np.arange(n)
    return np.sort(np.random.default_rng(seed).choice(n, size=size, replace=False))


def _seed_alias(seed, aliases: dict, where: str):
    """``seed``, or the value of the old keyword ``random_state`` when a caller still passes it (it wins over
    ``seed``, with a DeprecationWarning); TypeError for any other keyword in ``aliases`` (the function's
    ``**aliases``), as Python gives."""
    aliases = renamed_options(aliases, where)
    given = aliases.pop("seed", None)
    if aliases:
        raise TypeError(f"{where}() got an unexpected keyword argument {next(iter(aliases))!r}")
    return seed if given is None else given


def _settings(cls, given, options: dict, where: str):
    """A ``cls`` settings dataclass: ``given`` (or the defaults) with ``options`` (its field names as keywords, and
    ``random_state`` as the old name of ``seed``) put in. TypeError for a keyword that is no field."""
    options = renamed_options(options, where)
    names = {f.name for f in dataclasses.fields(cls)}
    if bad := [k for k in options if k not in names]:
        raise TypeError(f"{where}() got an unexpected keyword argument {bad[0]!r}")
    base = cls() if given is None else given
    return dataclasses.replace(base, **options) if options else base
