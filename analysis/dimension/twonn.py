"""TwoNN: pointwise in given neighbourhoods (vectorised), the neighbourhoods themselves, and the global estimate."""

from __future__ import annotations

import warnings

import numpy as np
from threadpoolctl import threadpool_limits

from analysis.errors import ConfigError

DISCARD_FRACTION = 0.1           # TwoNN's heuristic: drop the 10 % largest ratios r2/r1


# --------------------------------------------------------------------------------------------------------------------
# Pointwise TwoNN
# --------------------------------------------------------------------------------------------------------------------

def local_twonn(X, knn, *, discard_fraction: float = DISCARD_FRACTION, max_chunk_bytes: int = 64 << 20
                ) -> tuple[np.ndarray, np.ndarray]:
    """Pointwise TwoNN estimates, one per neighbourhood.

    For neighbourhood ``i`` (the points ``X[knn[i]]``), every member's distances r1, r2 to its first and second
    nearest neighbour *within the neighbourhood* give mu = r2 / r1; members with r1 = 0 (duplicates) are dropped and
    counted; the largest ``discard_fraction`` of the remaining N ratios are discarded; the estimate is the slope of the
    line through the origin fitted to (log mu, -log(1 - i/N)). This is skdim's ``TwoNN(method="linear")`` applied to
    each neighbourhood, i.e. ``fit_pw(X, precomputed_knn=knn)``.

    Parameters
    ----------
    X : array-like of shape (n_points, dim)
    knn : int array of shape (n_neighbourhoods, L)
        Row ``i`` lists the members of neighbourhood ``i`` (skdim's ``fit_pw`` uses each point's L nearest neighbours,
        the point itself excluded).
    discard_fraction : float in [0, 1)
    max_chunk_bytes : int
        Memory bound of the batched distance computation.

    Returns
    -------
    dimension : ndarray of shape (n_neighbourhoods,)
        NaN where fewer than two ratios are left.
    n_zero : ndarray of int of shape (n_neighbourhoods,)
        Members dropped because their nearest neighbour is at distance 0.
    """
    X = np.asarray(X, dtype=np.float64)
    knn = np.asarray(knn, dtype=np.intp)
    if knn.ndim != 2:
        raise ConfigError("neighbourhoods must be a 2-d array of point indices")
    n, L = knn.shape
    if L < 3:
        raise ConfigError(f"TwoNN needs neighbourhoods of at least 3 points, not {L}")
    if not 0 <= discard_fraction < 1:
        raise ConfigError(f"discard_fraction must be in [0, 1), not {discard_fraction}")
    dim = X.shape[1]
    out = np.full(n, np.nan)
    n_zero = np.zeros(n, dtype=np.int64)
    # The biggest temporaries are the (b, L, L) distance block and the (b, L, 2, dim) neighbour differences.
    chunk = max(1, int(max_chunk_bytes // (8 * L * max(L, 2 * dim))))
    rank = np.arange(1, L + 1, dtype=np.float64)
    rows = np.arange(L)
    # Each product is a tiny (L x dim) @ (dim x L): BLAS threads only add overhead (10x slower on a busy 2-core box).
    with threadpool_limits(limits=1, user_api="blas"):
        for s in range(0, n, chunk):
            P = X[knn[s:s + chunk]]                                   # (b, L, dim)
            b = P.shape[0]
            # Centre each neighbourhood so that the Gram-matrix shortcut keeps its precision.
            P = P - P.mean(axis=1, keepdims=True)
            sq = np.einsum("bld,bld->bl", P, P)
            D2 = sq[:, :, None] + sq[:, None, :] - 2.0 * np.matmul(P, np.ascontiguousarray(P.transpose(0, 2, 1)))
            D2[:, rows, rows] = np.inf                                # a point is not its own neighbour
            bi, li = np.arange(b)[:, None], rows[None, :]
            first = np.argmin(D2, axis=2)
            D2[bi, li, first] = np.inf
            second = np.argmin(D2, axis=2)
            # Recompute the two distances from coordinate differences: the shortcut could still turn a tiny distance
            # between distinct points into 0.
            d1 = np.sqrt(((P[bi, first] - P) ** 2).sum(axis=2))
            d2 = np.sqrt(((P[bi, second] - P) ** 2).sum(axis=2))
            r1, r2 = np.minimum(d1, d2), np.maximum(d1, d2)
            valid = r1 > 0
            n_zero[s:s + b] = (~valid).sum(axis=1)
            with np.errstate(divide="ignore", invalid="ignore"):
                logmu = np.where(valid, np.log(r2) - np.log(r1), np.inf)
            logmu.sort(axis=1)                                        # invalid ones (inf) go last
            N = valid.sum(axis=1).astype(np.float64)                  # (b,)
            # skdim: n_keep = int(N * (1 - discard_fraction)) of the smallest ratios, F_emp = i / N for i = 1..n_keep
            n_keep = np.floor(N * (1 - discard_fraction)).astype(np.int64)
            keep = rank[None, :] <= n_keep[:, None]
            with np.errstate(divide="ignore", invalid="ignore"):
                F = np.where(keep, rank[None, :] / N[:, None], 0.0)
                y = -np.log1p(-F)
                x = np.where(keep, logmu, 0.0)
                est = (x * y).sum(axis=1) / (x * x).sum(axis=1)
            est[n_keep < 2] = np.nan
            out[s:s + b] = est
    return out, n_zero


def nearest_neighbors(X, n_neighbors: int) -> tuple[np.ndarray, np.ndarray]:
    """Distances and indices of each point's ``n_neighbors`` nearest neighbours, the point itself excluded.

    The same call as skdim's ``get_nn`` (scikit-learn ``NearestNeighbors(...).kneighbors()``), so neighbourhoods match
    what ``fit_pw`` would use. Returns two arrays of shape (n_points, n_neighbors).
    """
    from sklearn.neighbors import NearestNeighbors

    nn = NearestNeighbors(n_neighbors=n_neighbors).fit(X)
    return nn.kneighbors(return_distance=True)



def global_twonn(X, discard_fraction: float = DISCARD_FRACTION) -> float:
    """Global TwoNN (skdim) of distinct points X of shape (n, dim); NaN if it cannot be estimated."""
    import skdim

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            return float(skdim.id.TwoNN(discard_fraction=discard_fraction).fit(X).dimension_)
        except ValueError:
            return float("nan")

