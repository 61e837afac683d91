"""The change metrics between two sets of usages: APD, PRT and JSD."""

from __future__ import annotations

import numpy as np

from analysis._util import as_matrix, unit_rows
from analysis.errors import ConfigError, TooFewPointsError


def apd(A, B) -> float:
    """Average pairwise cosine distance between two sets of usages.

    Parameters
    ----------
    A : array of shape (n_a, dim)
    B : array of shape (n_b, dim)

    Returns
    -------
    float
        mean over i, j of 1 − cos(a_i, b_j), computed as 1 − ⟨mean(â), mean(b̂)⟩ (exact, O((n_a + n_b)·dim)).
    """
    A, B = unit_rows(as_matrix(A)), unit_rows(as_matrix(B))
    return float(1.0 - A.mean(axis=0) @ B.mean(axis=0))


def prt(A, B) -> float:
    """Cosine distance between the prototypes (mean vectors) of two sets of usages, shapes (n_a, dim), (n_b, dim)."""
    a, b = as_matrix(A).mean(axis=0), as_matrix(B).mean(axis=0)
    na, nb = np.linalg.norm(a), np.linalg.norm(b)
    if na == 0 or nb == 0:
        raise ConfigError("a period prototype is the zero vector; cosine distance is undefined")
    return float(1.0 - a @ b / (na * nb))


def _entropy(p: np.ndarray) -> np.ndarray:
    """Shannon entropy (nats) along the last axis; 0·log 0 = 0."""
    with np.errstate(divide="ignore", invalid="ignore"):
        t = np.where(p > 0, p * np.log(np.where(p > 0, p, 1.0)), 0.0)
    return -t.sum(axis=-1)


def jsd_from_counts(ca: np.ndarray, cb: np.ndarray) -> np.ndarray:
    """Jensen-Shannon divergence (natural log) between count vectors; shapes (..., k) -> (...)."""
    ca = np.asarray(ca, dtype=float)
    cb = np.asarray(cb, dtype=float)
    sa = ca.sum(axis=-1, keepdims=True)
    sb = cb.sum(axis=-1, keepdims=True)
    with np.errstate(divide="ignore", invalid="ignore"):
        p = np.where(sa > 0, ca / np.where(sa > 0, sa, 1), 0.0)
        q = np.where(sb > 0, cb / np.where(sb > 0, sb, 1), 0.0)
    out = _entropy((p + q) / 2) - (_entropy(p) + _entropy(q)) / 2
    return np.maximum(out, 0.0)  # rounding can give -1e-17


def jsd(labels_a, labels_b) -> float:
    """JSD (natural log) between the sense distributions of two periods, from cluster labels (noise −1 left out)."""
    la = np.asarray(labels_a, dtype=int)
    lb = np.asarray(labels_b, dtype=int)
    la, lb = la[la >= 0], lb[lb >= 0]
    if la.size == 0 or lb.size == 0:
        raise TooFewPointsError("a period has no clustered (non-noise) occurrences; JSD is undefined")
    k = int(max(la.max(), lb.max())) + 1
    return float(jsd_from_counts(np.bincount(la, minlength=k), np.bincount(lb, minlength=k)))
