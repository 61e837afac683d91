"""The estimator :class:`LocalDimension` (deduplicate, neighbourhoods, pointwise LID) and a term's own LID."""

from __future__ import annotations

import warnings

import numpy as np

from analysis._util import as_matrix, finite_or_none
from analysis.dimension.twonn import DISCARD_FRACTION, global_twonn, local_twonn, nearest_neighbors
from analysis.errors import ConfigError, TooFewPointsError

ESTIMATORS = ("twonn", "mle", "lpca")
DEFAULT_NEIGHBORS = 128          # L of Ruppik et al.


# --------------------------------------------------------------------------------------------------------------------
# The estimator
# --------------------------------------------------------------------------------------------------------------------

def _check_matrix(X) -> np.ndarray:
    """``X`` as a finite 2-d array of vectors with at least 2 coordinates (its dtype kept); ConfigError otherwise."""
    X = as_matrix(X, dtype=None)
    if X.shape[1] < 2:
        raise ConfigError("intrinsic dimension needs vectors with at least 2 coordinates")
    return X


def deduplicate(X) -> tuple[np.ndarray, np.ndarray]:
    """Exact duplicate rows removed, first occurrences kept in their original order.

    Returns
    -------
    keep : ndarray of int of shape (n_unique,)
        Row index of each distinct vector's first occurrence.
    inverse : ndarray of int of shape (n_points,)
        For every row, its distinct vector's position in ``keep``.
    """
    X = np.ascontiguousarray(X)
    _, first, inverse = np.unique(X, axis=0, return_index=True, return_inverse=True)
    order = np.argsort(first)                  # np.unique sorts rows lexicographically; restore the original order
    rank = np.empty_like(order)
    rank[order] = np.arange(len(order))
    return first[order], rank[np.asarray(inverse).ravel()]


class LocalDimension:
    """Pointwise (local) intrinsic dimension of a point cloud.

    Parameters
    ----------
    n_neighbors : int, default 128
        L: each point's estimate comes from its L nearest neighbours (the point itself excluded, as in skdim).
    estimator : {"twonn", "mle", "lpca"}
        ``twonn``: TwoNN with ``discard_fraction`` in each neighbourhood (Ruppik et al.); ``mle``: skdim's
        Levina–Bickel/Haro maximum-likelihood estimate from the L neighbour distances; ``lpca``: skdim's local PCA
        (``ver="FO"``: eigenvalues above 5 % of the largest), integer-valued.
    discard_fraction : float, default 0.1
        TwoNN only (also used by the global TwoNN).
    global_estimate : bool, default True
        Also compute the global TwoNN of all distinct points (``global_dimension_``).

    Attributes
    ----------
    n_samples_ : int
        Rows of X.
    n_duplicates_ : int
        Rows that repeat an earlier row exactly and were removed before estimating.
    unique_index_ : ndarray of int of shape (n_unique,)
        Row of X of each distinct point.
    inverse_ : ndarray of int of shape (n_samples,)
        For each row, the position of its distinct point in ``unique_index_``.
    knn_ : ndarray of int of shape (n_unique, n_neighbors)
        Neighbourhoods, as indices into the distinct points.
    dimension_pw_ : ndarray of shape (n_unique,)
        Pointwise estimate of each distinct point.
    dimension_per_sample_ : ndarray of shape (n_samples,)
        The same, mapped back to every row: a duplicate gets its representative's value.
    n_zero_distances_ : int
        Neighbourhood members dropped by TwoNN because of a zero nearest-neighbour distance (0 after deduplication
        unless two distinct vectors are closer than floating point can tell).
    n_undefined_ : int
        Distinct points whose estimate is undefined (NaN); they are left out of the summary statistics.
    global_dimension_ : float
        Global TwoNN of the distinct points (NaN when ``global_estimate=False``).
    """

    def __init__(self, n_neighbors: int = DEFAULT_NEIGHBORS, estimator: str = "twonn",
                 discard_fraction: float = DISCARD_FRACTION, global_estimate: bool = True):
        self.n_neighbors = n_neighbors
        self.estimator = estimator
        self.discard_fraction = discard_fraction
        self.global_estimate = global_estimate

    def _check_params(self) -> int:
        if self.estimator not in ESTIMATORS:
            raise ConfigError(f"estimator must be one of {', '.join(ESTIMATORS)}, not {self.estimator!r}")
        try:
            L = int(self.n_neighbors)
        except (TypeError, ValueError):
            raise ConfigError(f"the number of neighbours L must be a whole number, not {self.n_neighbors!r}") from None
        if L < 3:
            raise ConfigError(f"the number of neighbours L must be at least 3, not {L}")
        return L

    def fit(self, X, y=None) -> "LocalDimension":
        """Estimate the pointwise dimension of each row of X.

        Parameters
        ----------
        X : array-like of shape (n_samples, dim)

        Raises
        ------
        TooFewPointsError
            When fewer than L + 1 distinct vectors remain after removing duplicates.
        """
        L = self._check_params()
        X = _check_matrix(X)
        keep, inverse = deduplicate(X)
        self.n_samples_ = int(X.shape[0])
        self.n_duplicates_ = int(X.shape[0] - len(keep))
        self.unique_index_, self.inverse_ = keep, inverse
        if len(keep) < L + 1:
            dup = f" after removing {self.n_duplicates_} exact duplicates" if self.n_duplicates_ else ""
            raise TooFewPointsError(
                f"local intrinsic dimension with L = {L} neighbours needs at least {L + 1} distinct vectors, but there "
                f"are only {len(keep)}{dup}; use a larger sample or a smaller L")
        Xu = np.asarray(X[keep], dtype=np.float64)
        dists, knn = nearest_neighbors(Xu, L)
        self.knn_ = knn
        self.n_zero_distances_ = 0
        if self.estimator == "twonn":
            pw, zeros = local_twonn(Xu, knn, discard_fraction=self.discard_fraction)
            self.n_zero_distances_ = int(zeros.sum())
        elif self.estimator == "mle":
            import skdim

            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                pw = skdim.id.MLE().fit(Xu, precomputed_knn_arrays=(dists, knn), n_neighbors=L).dimension_pw_
        else:
            import skdim

            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                pw = skdim.id.lPCA(verbose=False).fit_pw(Xu, precomputed_knn=knn, n_neighbors=L).dimension_pw_
        pw = np.asarray(pw, dtype=np.float64)
        pw[~np.isfinite(pw)] = np.nan
        self.dimension_pw_ = pw
        self.dimension_per_sample_ = pw[inverse]
        self.n_undefined_ = int(np.isnan(pw).sum())
        self.global_dimension_ = global_twonn(Xu, self.discard_fraction) if self.global_estimate else float("nan")
        return self

    def summary(self) -> dict:
        """Mean, median and standard deviation over the distinct points, the global TwoNN and the counts.

        Statistics are over distinct points (as in Ruppik et al., who deduplicate before estimating); undefined
        estimates are left out and counted in ``n_undefined``.
        """
        ok = self.dimension_pw_[np.isfinite(self.dimension_pw_)]
        if ok.size == 0:
            raise TooFewPointsError("no point got a defined local dimension estimate")
        return {"mean": float(ok.mean()), "median": float(np.median(ok)), "std": float(ok.std(ddof=1)) if ok.size > 1
                else 0.0, "global": finite_or_none(self.global_dimension_), "n_tokens": self.n_samples_,
                "n_duplicates": self.n_duplicates_, "n_unique": int(len(self.unique_index_)),
                "n_zero_distances": self.n_zero_distances_, "n_undefined": self.n_undefined_}


def occurrence_dimension(vectors, layer: int | None = None, *, n_neighbors: int = 20, estimator: str = "twonn"
                         ) -> LocalDimension:
    """LID of a term's own occurrence vectors (one layer of an embedding set).

    Parameters
    ----------
    vectors : EmbeddingSet, ndarray of shape (n_occurrences, n_layers, dim), or ndarray (n_occurrences, dim)
    layer : int, optional
        Hidden-state index for an EmbeddingSet (``es.layer(layer)``) or position along axis 1 of a 3-d array.
        Required unless ``vectors`` is already 2-d.
    n_neighbors : int, default 20
        L; a term rarely has hundreds of occurrences, so the default is smaller than the token-level 128.

    Returns
    -------
    LocalDimension, fitted; ``dimension_per_sample_`` holds one value per occurrence.
    """
    if hasattr(vectors, "layer") and callable(vectors.layer):
        if layer is None:
            raise ConfigError("choose a layer of the embedding set")
        X = vectors.layer(layer)
    else:
        X = np.asarray(vectors)
        if X.ndim == 3:
            if layer is None:
                raise ConfigError("choose a layer of the embedding set")
            X = X[:, layer]
    return LocalDimension(n_neighbors=n_neighbors, estimator=estimator).fit(np.asarray(X, dtype=np.float32))
