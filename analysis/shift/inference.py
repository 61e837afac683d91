"""Significance of a change between two periods: permutation tests and bootstrap intervals.

Every statistic is computed from group sums (sums of unit vectors for APD, of raw vectors for PRT, of one-hot sense
counts for JSD), so a permutation or a bootstrap resample costs one matrix product with a 0/1 indicator or a
multinomial weight matrix, in batches.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple, Sequence

import numpy as np

from analysis._util import as_matrix, unit_rows
from analysis.errors import ConfigError, TooFewPointsError
from analysis.shift.common import (DEFAULT_CI, DEFAULT_N_BOOT, DEFAULT_N_PERMUTATIONS, METRICS, MIN_PERIOD_COUNT,
                                   ThinPeriodError)
from analysis.shift.metrics import jsd_from_counts


@dataclass(frozen=True)
class Inference:
    """How a change is tested.

    Attributes
    ----------
    n_permutations : int
        Shuffles of the period labels (0 = no test). The same permutations serve all metrics.
    n_bootstrap : int
        Bootstrap resamples (0 = no interval).
    ci : float
        Interval coverage, e.g. 0.95.
    seed : int or numpy Generator
        Where the random draws come from (never the global numpy state).
    """

    n_permutations: int = DEFAULT_N_PERMUTATIONS
    n_bootstrap: int = DEFAULT_N_BOOT
    ci: float = DEFAULT_CI
    seed: int | np.random.Generator = 0

    def check(self) -> None:
        """A ConfigError for a coverage outside (0, 1) or a negative count."""
        if not 0 < self.ci < 1:
            raise ConfigError(f"interval coverage must be between 0 and 1 (got {self.ci})")
        if self.n_permutations < 0 or self.n_bootstrap < 0:
            raise ConfigError("the numbers of permutations and bootstrap resamples cannot be negative")


@dataclass(frozen=True)
class MetricResult:
    """One change metric between two periods.

    Attributes
    ----------
    value : float
    p_value : float or None
        Permutation p-value, (count(null ≥ value) + 1) / (n_permutations + 1); None when no test was run.
    n_permutations : int
    ci_low, ci_high : float or None
        Percentile bootstrap interval (coverage ``ci``); None when no bootstrap was run.
    n_bootstrap : int
    ci : float
    """

    value: float
    p_value: float | None
    n_permutations: int
    ci_low: float | None
    ci_high: float | None
    n_bootstrap: int
    ci: float

    def to_dict(self) -> dict:
        return {"value": self.value, "p_value": self.p_value, "n_permutations": self.n_permutations,
                "ci_low": self.ci_low, "ci_high": self.ci_high, "n_bootstrap": self.n_bootstrap, "ci": self.ci}


class _Sums(NamedTuple):
    """Group sums of m groups at once: ``unit`` (m, dim) of unit vectors, ``raw`` (m, dim) of raw vectors,
    ``counts`` (m, k) of one-hot sense labels or None, ``n`` (m,) group sizes."""

    unit: np.ndarray
    raw: np.ndarray
    counts: np.ndarray | None
    n: np.ndarray


class _Pair(NamedTuple):
    """The two periods' raw vectors ``A`` (n_a, dim), ``B`` (n_b, dim), their unit vectors ``UA``, ``UB``, and the
    one-hot sense labels ``C`` (n_a + n_b, k) of both, earlier first (None without JSD)."""

    A: np.ndarray
    B: np.ndarray
    UA: np.ndarray
    UB: np.ndarray
    C: np.ndarray | None


def _pair_stats(a: _Sums, b: _Sums) -> dict[str, np.ndarray]:
    """APD, PRT (and JSD with counts) of m pairs of groups from their sums, shape (m,) each.

    Sums are enough because APD = 1 − ⟨Ua/na, Ub/nb⟩ and PRT is scale-free."""
    out = {"apd": 1.0 - np.einsum("ij,ij->i", a.unit, b.unit) / (a.n * b.n)}
    dot = np.einsum("ij,ij->i", a.raw, b.raw)
    norm = np.linalg.norm(a.raw, axis=1) * np.linalg.norm(b.raw, axis=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        out["prt"] = 1.0 - dot / norm
    if a.counts is not None:
        out["jsd"] = jsd_from_counts(a.counts, b.counts)
    return out


def _batch_size(n: int) -> int:
    # Indicator matrices of (batch, n) float64: keep each under ~16 MB.
    return max(1, min(1000, 2_000_000 // max(n, 1)))


def _one_hot(labels_a, labels_b, n_a: int, n_b: int) -> np.ndarray:
    """(n_a + n_b, k) one-hot sense labels of the pooled usages; noise rows (−1) stay all zero, out of JSD."""
    la = np.asarray(labels_a, dtype=int)
    lb = np.asarray(labels_b, dtype=int)
    if la.shape != (n_a,) or lb.shape != (n_b,):
        raise ConfigError("there must be one sense label per usage in each period")
    lab = np.concatenate([la, lb])
    k = int(lab.max()) + 1 if (lab >= 0).any() else 0
    if k == 0 or not (la >= 0).any() or not (lb >= 0).any():
        raise TooFewPointsError("a period has no clustered (non-noise) occurrences; JSD is undefined")
    C = np.zeros((n_a + n_b, k))
    ok = lab >= 0
    C[np.flatnonzero(ok), lab[ok]] = 1.0
    return C


def _check_pair(A, B, metrics: Sequence[str], inference: Inference,
                has_labels: bool) -> tuple[np.ndarray, np.ndarray]:
    """The two periods' vectors as checked matrices; a clear error for anything the comparison cannot use."""
    A, B = as_matrix(A), as_matrix(B)
    if A.shape[1] != B.shape[1]:
        raise ConfigError(f"the two periods' vectors have different dimensions ({A.shape[1]} vs {B.shape[1]})")
    if min(len(A), len(B)) < MIN_PERIOD_COUNT:
        raise ThinPeriodError(f"each period needs at least {MIN_PERIOD_COUNT} occurrences (got {len(A)} and "
                              f"{len(B)})")
    unknown = [m for m in metrics if m not in METRICS]
    if unknown:
        raise ConfigError(f"unknown metric(s) {', '.join(unknown)}; choose among {', '.join(METRICS)}")
    inference.check()
    if "jsd" in metrics and not has_labels:
        raise ConfigError("JSD needs sense cluster labels for both periods")
    return A, B


def _permutation_exceedances(rng, d: _Pair, n_permutations: int, observed: dict,
                             metrics: Sequence[str]) -> dict[str, int]:
    """Per metric, how many of ``n_permutations`` random splits of the pooled usages (sizes kept) reach the observed
    value. A split is a random choice of which n_a usages are "earlier"; its group sums are a 0/1 indicator times the
    pooled vectors."""
    U, X, C = np.vstack([d.UA, d.UB]), np.vstack([d.A, d.B]), d.C
    n, n_a = len(U), len(d.A)
    n_b = n - n_a
    exceed = {m: 0 for m in metrics}
    tot = _Sums(U.sum(0), X.sum(0), None if C is None else C.sum(0), None)
    done = 0
    bs = _batch_size(n)
    while done < n_permutations:
        m = min(bs, n_permutations - done)
        order = rng.permuted(np.tile(np.arange(n), (m, 1)), axis=1)[:, :n_a]
        ind = np.zeros((m, n))
        np.put_along_axis(ind, order, 1.0, axis=1)
        sU, sX = ind @ U, ind @ X
        sC = None if C is None else ind @ C
        null = _pair_stats(_Sums(sU, sX, sC, np.full(m, n_a)),
                           _Sums(tot.unit - sU, tot.raw - sX, None if C is None else tot.counts - sC, np.full(m, n_b)))
        for met in metrics:
            # A tiny tolerance so that a null value equal to the observed one up to rounding counts as "≥".
            exceed[met] += int(np.sum(null[met] >= observed[met] - 1e-12))
        done += m
    return exceed


def _bootstrap_values(rng, d: _Pair, n_bootstrap: int, metrics: Sequence[str]) -> dict[str, np.ndarray]:
    """Per metric, its value on ``n_bootstrap`` resamples, each period resampled with replacement on its own
    (multinomial weights times the vectors give the resampled sums)."""
    n_a, n_b, C = len(d.A), len(d.B), d.C
    boot = {met: [] for met in metrics}
    done = 0
    bs = _batch_size(max(n_a, n_b))
    while done < n_bootstrap:
        m = min(bs, n_bootstrap - done)
        wa = rng.multinomial(n_a, np.full(n_a, 1.0 / n_a), size=m).astype(float)
        wb = rng.multinomial(n_b, np.full(n_b, 1.0 / n_b), size=m).astype(float)
        st = _pair_stats(_Sums(wa @ d.UA, wa @ d.A, None if C is None else wa @ C[:n_a], np.full(m, n_a)),
                         _Sums(wb @ d.UB, wb @ d.B, None if C is None else wb @ C[n_a:], np.full(m, n_b)))
        for met in metrics:
            boot[met].append(st[met])
        done += m
    return {met: np.concatenate(v) if v else np.array([]) for met, v in boot.items()}


def _interval(values: np.ndarray, ci: float) -> tuple[float | None, float | None]:
    """Percentile interval of the finite ``values`` with coverage ``ci``; (None, None) when there are none."""
    values = values[np.isfinite(values)]
    if not values.size:
        return None, None
    alpha = (1.0 - ci) / 2
    return float(np.quantile(values, alpha)), float(np.quantile(values, 1 - alpha))


def compare_periods(A, B, *, labels_a=None, labels_b=None, metrics: Sequence[str] = METRICS,
                    inference: Inference | None = None) -> dict[str, MetricResult]:
    """APD, PRT and JSD between two periods, each with a permutation p-value and a bootstrap interval.

    Parameters
    ----------
    A : array of shape (n_a, dim)
        Usage vectors of the earlier period.
    B : array of shape (n_b, dim)
        Usage vectors of the later period.
    labels_a, labels_b : array of shape (n_a,), (n_b,), int, optional
        Sense cluster of each usage (one clustering of all usages; −1 = noise). Needed for JSD.
    metrics : sequence of {"apd", "prt", "jsd"}
    inference : Inference, optional
        Permutations, bootstrap resamples, coverage and seed (default: :class:`Inference`'s defaults).

    Returns
    -------
    dict of str to MetricResult
        p = (count(null ≥ observed) + 1) / (n_permutations + 1) over shuffles of the period labels; the interval is
        the percentile bootstrap interval of each period resampled on its own.
    """
    inference = inference or Inference()
    A, B = _check_pair(A, B, metrics, inference, labels_a is not None and labels_b is not None)
    n_a, n_b = len(A), len(B)
    rng = np.random.default_rng(inference.seed)
    UA, UB = unit_rows(A), unit_rows(B)
    C = _one_hot(labels_a, labels_b, n_a, n_b) if "jsd" in metrics else None
    ca, cb = (None, None) if C is None else (C[:n_a].sum(0)[None], C[n_a:].sum(0)[None])
    obs = _pair_stats(_Sums(UA.sum(0)[None], A.sum(0)[None], ca, np.ones(1) * n_a),
                      _Sums(UB.sum(0)[None], B.sum(0)[None], cb, np.ones(1) * n_b))
    obs = {m: float(v[0]) for m, v in obs.items()}
    pair = _Pair(A, B, UA, UB, C)
    exceed = _permutation_exceedances(rng, pair, inference.n_permutations, obs, metrics)
    boot = _bootstrap_values(rng, pair, inference.n_bootstrap, metrics)
    out = {}
    for met in metrics:
        n_perm = inference.n_permutations
        p = (exceed[met] + 1) / (n_perm + 1) if n_perm else None
        lo, hi = _interval(boot[met], inference.ci) if inference.n_bootstrap else (None, None)
        out[met] = MetricResult(value=obs[met], p_value=p, n_permutations=int(n_perm), ci_low=lo, ci_high=hi,
                                n_bootstrap=int(inference.n_bootstrap), ci=float(inference.ci))
    return out
