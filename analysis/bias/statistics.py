"""The statistics of an association test (pure numpy): s(w, A, B), d, permutation p, bootstrap interval, Holm."""

from __future__ import annotations

import itertools
import math
import threading
import warnings
from dataclasses import dataclass, replace
from typing import Sequence

import numpy as np

from analysis._util import as_matrix, unit_rows
from analysis.errors import ConfigError, TooFewPointsError

DEFAULT_PERMUTATIONS = 100_000
DEFAULT_BOOTSTRAP = 2_000


def association(W: np.ndarray, A: np.ndarray, B: np.ndarray) -> np.ndarray:
    """s(w, A, B) = mean_a cos(w, a) - mean_b cos(w, b) for every row w of W.

    Parameters
    ----------
    W : ndarray of shape (n_w, dim)
    A : ndarray of shape (n_a, dim)
    B : ndarray of shape (n_b, dim)

    Returns
    -------
    ndarray of shape (n_w,)
    """
    Wn, An, Bn = (unit_rows(as_matrix(M, what=what), what=what) for M, what in ((W, "W"), (A, "A"), (B, "B")))
    if not (Wn.shape[1] == An.shape[1] == Bn.shape[1]):
        raise ConfigError("W, A and B must have the same vector dimension")
    return (Wn @ An.T).mean(axis=1) - (Wn @ Bn.T).mean(axis=1)


def effect_size(s_x: np.ndarray, s_y: np.ndarray) -> float:
    """d = (mean_X s - mean_Y s) / std_{X∪Y} s with ddof = 1; NaN when every s is equal."""
    s_x, s_y = np.asarray(s_x, float), np.asarray(s_y, float)
    sd = np.concatenate([s_x, s_y]).std(ddof=1)
    if not sd > 0:
        return float("nan")
    return float((s_x.mean() - s_y.mean()) / sd)


def _units(s_x: np.ndarray, s_y: np.ndarray, groups_x=None, groups_y=None):
    """Collapse items into permutation units.

    s_x, s_y : (n_x, L) and (n_y, L) association values (L = number of columns, e.g. layers).
    Returns sums (n_units, L), sumsq (n_units, L), counts (n_units,), k = number of X units. Without groups each item
    is its own unit. Groups are labels; X and Y units are kept apart even when a label occurs in both.
    """
    def collapse(s, groups):
        if groups is None:
            return s, s ** 2, np.ones(len(s))
        groups = np.asarray(groups)
        if len(groups) != len(s):
            raise ConfigError("groups must have one label per item")
        labels, inv = np.unique(groups, return_inverse=True)
        sums = np.zeros((len(labels), s.shape[1]))
        sq = np.zeros_like(sums)
        np.add.at(sums, inv, s)
        np.add.at(sq, inv, s ** 2)
        return sums, sq, np.bincount(inv, minlength=len(labels)).astype(float)

    sx, qx, cx = collapse(s_x, groups_x)
    sy, qy, cy = collapse(s_y, groups_y)
    return np.vstack([sx, sy]), np.vstack([qx, qy]), np.concatenate([cx, cy]), len(cx)


def _mean_diff(sums, counts, idx, total_s, total_c):
    """Difference of item means between the units in idx (each row: the k units of one X-part) and the rest.

    sums : (n_units, L); counts : (n_units,); idx : (m, k) unit indices. Returns (m, L)."""
    # One gather per column keeps memory at (m, k) instead of (m, k, L).
    SX = np.stack([col[idx].sum(axis=1) for col in sums.T], axis=1)
    if np.all(counts == 1):
        CX = float(idx.shape[1])
    else:
        CX = counts[idx].sum(axis=1)[:, None]
    return SX / CX - (total_s - SX) / (total_c - CX)


_PARTS_CACHE: dict[tuple, np.ndarray] = {}
_PARTS_LOCK = threading.Lock()
_PARTS_MAX_BYTES = 256 * 2 ** 20


def _seed_key(seed):
    """A hashable identity of a reproducible seed (int or SeedSequence), or None when there is none."""
    if isinstance(seed, (int, np.integer)) and not isinstance(seed, bool):
        return ("int", int(seed))
    if isinstance(seed, np.random.SeedSequence) and seed.entropy is not None:
        return ("seq", str(seed.entropy), tuple(seed.spawn_key), seed.pool_size)
    return None


def _random_parts(n: int, k: int, permutations: int, seed, chunk: int) -> np.ndarray:
    """The X-parts (first k entries) of ``permutations`` random permutations of range(n): ndarray (permutations, k).

    Drawn in chunks with ``rng.permuted`` (true permutations, without replacement) from
    ``np.random.default_rng(seed)``. The last draw is kept when the seed is reproducible, so that the tests of
    a battery with the same sizes and seed reuse it: the numbers are exactly those of a fresh draw, only faster.
    """
    key = _seed_key(seed)
    key = None if key is None else (key, n, k, permutations, chunk)
    if key is not None:
        with _PARTS_LOCK:
            hit = _PARTS_CACHE.get(key)
        if hit is not None:
            return hit
    rng = np.random.default_rng(seed)
    # int16 indices shuffle ~40 % faster than int32 (less memory traffic); both give exact permutations.
    base = np.arange(n, dtype=np.int16 if n < 2 ** 15 else np.int32)
    step = max(1, min(chunk, 4_000_000 // n))
    out = np.empty((permutations, k), dtype=base.dtype)
    for lo in range(0, permutations, step):
        m = min(step, permutations - lo)
        # rng.permuted shuffles each row independently.
        out[lo:lo + m] = rng.permuted(np.broadcast_to(base, (m, n)), axis=1)[:, :k]
    if key is not None and out.nbytes <= _PARTS_MAX_BYTES:
        with _PARTS_LOCK:
            _PARTS_CACHE.clear()  # one entry: batteries are run in order of size, so the last one is the useful one
            _PARTS_CACHE[key] = out
    return out


def n_partitions(n: int, k: int) -> int:
    """Number of ways to choose the k X-units out of n."""
    return math.comb(int(n), int(k))


def permutation_pvalue(s_x, s_y, *, groups_x=None, groups_y=None, permutations: int = DEFAULT_PERMUTATIONS,
                       seed=None, chunk: int = 10_000) -> tuple[np.ndarray | float, int, bool]:
    """One-sided permutation p-value of mean_X s - mean_Y s being this large under random re-partitions of X∪Y.

    The units (items, or groups of items when ``groups_*`` are given) of X∪Y are split into parts of the observed
    sizes in every possible way when there are at most ``permutations`` such partitions (exact test; p = share of
    partitions whose statistic is >= the observed one, the observed partition included), otherwise in
    ``permutations`` random ways drawn as true permutations from ``np.random.default_rng(seed)`` and
    p = (count + 1) / (permutations + 1).

    Parameters
    ----------
    s_x : ndarray of shape (n_x,) or (n_x, L) — s(w, A, B) of the X items, one column per layer
    s_y : ndarray of shape (n_y,) or (n_y, L)
    groups_x, groups_y : optional labels of shape (n_x,), (n_y,) — items with one label move together
    permutations : the budget: exact enumeration up to this many partitions, else this many random permutations

    Returns
    -------
    p : float, or ndarray of shape (L,) when 2-d input was given (the same partitions serve every column)
    n : number of partitions enumerated (exact) or random permutations drawn
    exact : whether the enumeration was complete
    """
    s_x, s_y = np.asarray(s_x, float), np.asarray(s_y, float)
    one_d = s_x.ndim == 1
    if one_d:
        s_x, s_y = s_x[:, None], s_y[:, None]
    permutations = int(permutations)
    if permutations < 1:
        raise ConfigError("the number of permutations must be at least 1")
    sums, _, counts, k = _units(s_x, s_y, groups_x, groups_y)
    n = len(counts)
    if k < 1 or n - k < 1:
        raise TooFewPointsError("both target sets need at least one item for a permutation test")
    total_s, total_c = sums.sum(axis=0), counts.sum()
    observed = _mean_diff(sums, counts, np.arange(k)[None, :], total_s, total_c)[0]
    tol = 1e-12 * (1.0 + np.abs(observed))
    hits = np.zeros(s_x.shape[1], dtype=np.int64)
    n_total = n_partitions(n, k)
    if n_total <= permutations:
        combos = itertools.combinations(range(n), k)
        chunk = max(1, min(chunk, 2_000_000 // max(1, k)))
        done = 0
        while done < n_total:
            m = min(chunk, n_total - done)
            idx = np.fromiter(itertools.chain.from_iterable(itertools.islice(combos, m)), dtype=np.int64,
                              count=m * k).reshape(m, k)
            hits += (_mean_diff(sums, counts, idx, total_s, total_c) >= observed - tol).sum(axis=0)
            done += m
        p = hits / n_total
        n_used, exact = n_total, True
    else:
        parts = _random_parts(n, k, permutations, seed, chunk)
        for lo in range(0, permutations, chunk):
            hits += (_mean_diff(sums, counts, parts[lo:lo + chunk], total_s, total_c) >= observed - tol).sum(axis=0)
        p = (hits + 1) / (permutations + 1)
        n_used, exact = permutations, False
    return (float(p[0]) if one_d else p), n_used, exact


def _d_from_units(SX, CX, QX, SY, CY, QY):
    """Effect size from per-sample unit aggregates (arrays broadcast over bootstrap draws and columns)."""
    S, C, Q = SX + SY, CX + CY, QX + QY
    var = (Q - S ** 2 / C) / (C - 1)
    with np.errstate(invalid="ignore", divide="ignore"):
        d = (SX / CX - SY / CY) / np.sqrt(var)
    return np.where(var > 1e-24, d, np.nan)


def bootstrap_ci(s_x, s_y, *, groups_x=None, groups_y=None, n_bootstrap: int = DEFAULT_BOOTSTRAP,
                 confidence: float = 0.95, seed=None) -> tuple[np.ndarray | float, np.ndarray | float]:
    """Percentile bootstrap interval for d, resampling units within X and within Y with replacement.

    Shapes as in :func:`permutation_pvalue`. Returns (low, high), floats or arrays of shape (L,); NaN when
    ``n_bootstrap`` is 0.
    """
    s_x, s_y = np.asarray(s_x, float), np.asarray(s_y, float)
    one_d = s_x.ndim == 1
    if one_d:
        s_x, s_y = s_x[:, None], s_y[:, None]
    if not 0 < confidence < 1:
        raise ConfigError(f"confidence must lie between 0 and 1, not {confidence}")
    if n_bootstrap <= 0:
        nan = np.full(s_x.shape[1], np.nan)
        return (float("nan"), float("nan")) if one_d else (nan, nan)
    sums, sq, counts, k = _units(s_x, s_y, groups_x, groups_y)
    n = len(counts)
    rng = np.random.default_rng(seed)
    ix = rng.integers(0, k, size=(n_bootstrap, k))
    iy = k + rng.integers(0, n - k, size=(n_bootstrap, n - k))
    d = _d_from_units(sums[ix].sum(1), counts[ix].sum(1)[:, None], sq[ix].sum(1),
                      sums[iy].sum(1), counts[iy].sum(1)[:, None], sq[iy].sum(1))
    alpha = (1 - confidence) / 2
    with warnings.catch_warnings():  # an all-NaN column (constant s) gives NaN bounds, which is the answer
        warnings.simplefilter("ignore", RuntimeWarning)
        lo, hi = np.nanquantile(d, [alpha, 1 - alpha], axis=0)
    return (float(lo[0]), float(hi[0])) if one_d else (lo, hi)


def holm(pvalues: Sequence[float]) -> np.ndarray:
    """Holm's step-down adjusted p-values (family-wise error), in the input order; NaNs are left out and kept."""
    p = np.asarray(pvalues, dtype=float)
    out = np.full(p.shape, np.nan)
    ok = np.flatnonzero(np.isfinite(p))
    m = len(ok)
    if m == 0:
        return out
    order = ok[np.argsort(p[ok], kind="stable")]
    adj = np.minimum(1.0, (m - np.arange(m)) * p[order])
    out[order] = np.maximum.accumulate(adj)
    return out


@dataclass(frozen=True, eq=False)
class WeatStatistics:
    """The statistics of one test on one set of vectors (arrays have one entry per column, e.g. per layer)."""

    effect_size: np.ndarray      # (L,)
    p_value: np.ndarray          # (L,)
    ci_low: np.ndarray           # (L,)
    ci_high: np.ndarray          # (L,)
    n_permutations: int
    exact: bool
    s_x: np.ndarray              # (n_x, L) s(w, A, B) of the X items
    s_y: np.ndarray              # (n_y, L)


@dataclass(frozen=True)
class WeatSettings:
    """How the statistics of a test are computed.

    permutations : exact enumeration up to this many partitions, else this many Monte Carlo permutations
    n_bootstrap : bootstrap draws for the interval of d (0 = no interval)
    confidence : coverage of the percentile interval
    seed : int, ``np.random.SeedSequence``, ``np.random.Generator`` or None (fresh entropy); an int or SeedSequence
        gives the same numbers on every call
    """

    permutations: int = DEFAULT_PERMUTATIONS
    n_bootstrap: int = DEFAULT_BOOTSTRAP
    confidence: float = 0.95
    seed: object = None


def _two_streams(seed):
    """Seeds of two independent random streams (the permutations, the bootstrap) from one ``seed``.

    An int, SeedSequence or None is split into two child SeedSequences (a SeedSequence is copied first, so the same
    one gives the same children on every call); a Generator serves both, in turn.
    """
    if isinstance(seed, np.random.Generator):
        return seed, seed
    if isinstance(seed, np.random.SeedSequence):
        seq = np.random.SeedSequence(seed.entropy, spawn_key=seed.spawn_key, pool_size=seed.pool_size)
    else:
        seq = np.random.SeedSequence(seed)
    return tuple(seq.spawn(2))


def weat_from_associations(s_x, s_y, settings: WeatSettings | None = None, *, groups_x=None, groups_y=None,
                           **overrides) -> WeatStatistics:
    """Effect size d, permutation p-value and bootstrap interval of d, per column, from s(w, A, B) values.

    ``s_x``, ``s_y`` have shape (n_x, L) and (n_y, L) (or 1-d); ``groups_*`` label items that move together (see
    :func:`permutation_pvalue`). ``settings`` (a :class:`WeatSettings`), with any of its fields given as keywords
    (``permutations=``, ``n_bootstrap=``, ``confidence=``, ``seed=``) taking precedence.
    """
    cfg = replace(settings or WeatSettings(), **overrides)
    s_x, s_y = np.asarray(s_x, float), np.asarray(s_y, float)
    if s_x.ndim == 1:
        s_x, s_y = s_x[:, None], s_y[:, None]
    if len(s_x) < 1 or len(s_y) < 1 or len(s_x) + len(s_y) < 3:
        raise TooFewPointsError("an association test needs at least one item in each target set and three in all")
    # d is over items whatever the permutation unit; computed directly (two-pass std) for accuracy.
    d = np.array([effect_size(s_x[:, j], s_y[:, j]) for j in range(s_x.shape[1])])
    # The same seed drives the permutations and (from a child stream) the bootstrap, so results are reproducible and
    # a test gives the same numbers whether it runs alone or inside a battery.
    perm_seed, boot_seed = _two_streams(cfg.seed)
    p, n_used, exact = permutation_pvalue(s_x, s_y, groups_x=groups_x, groups_y=groups_y,
                                          permutations=cfg.permutations, seed=perm_seed)
    lo, hi = bootstrap_ci(s_x, s_y, groups_x=groups_x, groups_y=groups_y, n_bootstrap=cfg.n_bootstrap,
                          confidence=cfg.confidence, seed=boot_seed)
    return WeatStatistics(np.atleast_1d(d), np.atleast_1d(p), np.atleast_1d(lo), np.atleast_1d(hi), n_used, exact,
                          s_x, s_y)


def weat(X, Y, A, B, settings: WeatSettings | None = None, *, groups_x=None, groups_y=None,
         **overrides) -> WeatStatistics:
    """WEAT on vectors: the statistics of :func:`weat_from_associations` for s(x, A, B) and s(y, A, B).

    Parameters
    ----------
    X, Y : ndarray of shape (n_x, dim), (n_y, dim) — target items (words, sentences or occurrences)
    A, B : ndarray of shape (n_a, dim), (n_b, dim) — attribute items
    settings, overrides : a :class:`WeatSettings` and/or its fields as keywords (permutations, n_bootstrap,
        confidence, seed)
    groups_x, groups_y : optional word labels of the items; given, whole words are re-partitioned (see module doc)
    """
    return weat_from_associations(association(X, A, B), association(Y, A, B), settings, groups_x=groups_x,
                                  groups_y=groups_y, **overrides)
