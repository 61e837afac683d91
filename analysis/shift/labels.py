"""Sense labels for shares and JSD: clusters of the usages, or a column of sense names."""

from __future__ import annotations

import numpy as np

from analysis._util import is_missing, natural_key
from analysis.errors import ConfigError
from analysis.senses._base import DEFAULT_MIN_SILHOUETTE
from analysis.shift.common import NOISE_LABEL


def cluster_labels(X, *, method: str = "kmeans", k="auto", k_range=(2, 10), seed=0,
                   min_silhouette: float | None = DEFAULT_MIN_SILHOUETTE):
    """Sense clusters of all usages for JSD, when the Senses page has not clustered them.

    The vectors are made unit length with the common mean removed (pinned here: this is the preparation
    ``bench/eval_shift.py`` measured, independent of the Senses page's own default) and clustered with
    :func:`analysis.senses.cluster_vectors` (k-means with k chosen by silhouette by default, and one cluster when
    even the best silhouette is below ``min_silhouette``: a stable word then has JSD 0 instead of a split along time).

    Parameters
    ----------
    X : array of shape (n_occurrences, dim)
    method, k, k_range, min_silhouette
        See :func:`analysis.senses.cluster_vectors`; ``min_silhouette`` defaults to the Senses default
        (:data:`analysis.senses.DEFAULT_MIN_SILHOUETTE`), None = never one cluster (the old behaviour).
    seed : int or numpy Generator

    Returns
    -------
    labels : ndarray of shape (n_occurrences,), int
    result : the ClusterResult (``k``, ``silhouette``, ``params``)
    """
    from analysis.senses import cluster_vectors

    res = cluster_vectors(jsd_vectors(X), method=method, k=k, k_range=k_range, seed=seed,
                          min_silhouette=min_silhouette)
    return np.asarray(res.labels, dtype=int), res


def jsd_vectors(X) -> np.ndarray:
    """The usages as :func:`cluster_labels` clusters them: unit length, the common mean removed (pinned here)."""
    try:
        from analysis.senses import Preprocessing, preprocess
    except ImportError as exc:  # the Senses module is a sibling issue; say so instead of silently skipping JSD
        raise ConfigError("sense clustering is not available (analysis.senses is missing); JSD needs it") from exc
    return preprocess(np.asarray(X, dtype=np.float32), Preprocessing(normalize=True, remove_mean=True, n_directions=0))


def labels_from_column(values) -> tuple[np.ndarray, dict[int, str]]:
    """Integer sense labels from a column of sense names (e.g. DWUG clusters or gold senses); empty = noise (−1).

    Returns
    -------
    labels : ndarray of shape (n,), int
        0..k-1 in order of decreasing frequency (ties by name), −1 where the value is missing.
    names : dict label -> the column's value
    """
    s = [None if is_missing(v) or str(v).strip() == "" else str(v).strip() for v in list(values)]
    counts: dict[str, int] = {}
    for v in s:
        if v is not None:
            counts[v] = counts.get(v, 0) + 1
    if not counts:
        raise ConfigError("the sense column has no values")
    order = sorted(counts, key=lambda v: (-counts[v], natural_key(v)))
    lookup = {v: i for i, v in enumerate(order)}
    labels = np.array([lookup[v] if v is not None else NOISE_LABEL for v in s], dtype=int)
    return labels, {i: v for v, i in lookup.items()}


def sense_info(source: str, k: int, *, method: str | None = None, k_choice=None, seed=None,
               silhouette: dict | None = None, notice: str | None = None, min_silhouette: float | None = None) -> dict:
    """How the sense labels were made, one schema for ``shift.json`` whoever writes it (page or CLI).

    ``source`` says where they came from (clusters made here, the Senses page, a column); ``k`` is the number of
    senses; the clustering's method, the k asked for (``k_choice``), its seed, its one-sense threshold
    (``min_silhouette``), silhouette per k and notice are None where the labels were not clustered here.
    """
    return {"source": source, "k": int(k), "method": method, "k_choice": k_choice, "seed": seed,
            "min_silhouette": min_silhouette,
            "silhouette": None if silhouette is None else {str(kk): round(float(v), 4) for kk, v in silhouette.items()},
            "notice": notice}
