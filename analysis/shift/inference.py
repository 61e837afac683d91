"""Significance of a change between two periods: permutation tests and bootstrap intervals."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np

from analysis.errors import ConfigError, TooFewPointsError
from analysis.shift.common import (DEFAULT_CI, DEFAULT_N_BOOT, DEFAULT_N_PERMUTATIONS, METRICS, MIN_PERIOD_COUNT,
                                   ThinPeriodError)
from analysis.shift.metrics import _as_matrix, _unit, jsd_from_counts


# ---------------------------------------------------------------------------------------------------------------------
# Pairwise comparison with permutation test and bootstrap
# ---------------------------------------------------------------------------------------------------------------------
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
    n_boot : int
    ci : float
    """

    value: float
    p_value: float | None
    n_permutations: int
    ci_low: float | None
    ci_high: float | None
    n_boot: int
    ci: float

    def to_dict(self) -> dict:
        return {"value": self.value, "p_value": self.p_value, "n_permutations": self.n_permutations,
                "ci_low": self.ci_low, "ci_high": self.ci_high, "n_boot": self.n_boot, "ci": self.ci}

def _pair_stats(Ua: np.ndarray, Ub: np.ndarray, Ra: np.ndarray, Rb: np.ndarray, Ca: np.ndarray | None,
                Cb: np.ndarray | None, na: np.ndarray, nb: np.ndarray) -> dict[str, np.ndarray]:
    """Metrics from group sums. U*: sums of unit vectors (m, dim); R*: sums of raw vectors; C*: cluster counts (m, k);
    n*: group sizes (m,). Sums are enough because APD = 1 − ⟨Ua/na, Ub/nb⟩ and PRT is scale-free."""
    out = {"apd": 1.0 - np.einsum("ij,ij->i", Ua, Ub) / (na * nb)}
    dot = np.einsum("ij,ij->i", Ra, Rb)
    norm = np.linalg.norm(Ra, axis=1) * np.linalg.norm(Rb, axis=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        out["prt"] = 1.0 - dot / norm
    if Ca is not None:
        out["jsd"] = jsd_from_counts(Ca, Cb)
    return out


def _batch_size(n: int) -> int:
    # Indicator matrices of (batch, n) float64: keep each under ~16 MB.
    return max(1, min(1000, 2_000_000 // max(n, 1)))


def compare_periods(A, B, *, labels_a=None, labels_b=None, n_permutations: int = DEFAULT_N_PERMUTATIONS,
                    n_boot: int = DEFAULT_N_BOOT, ci: float = DEFAULT_CI, random_state=0,
                    metrics: Sequence[str] = METRICS) -> dict[str, MetricResult]:
    """APD, PRT and JSD between two periods, each with a permutation p-value and a bootstrap interval.

    Parameters
    ----------
    A : array of shape (n_a, dim)
        Usage vectors of the earlier period.
    B : array of shape (n_b, dim)
        Usage vectors of the later period.
    labels_a, labels_b : array of shape (n_a,), (n_b,), int, optional
        Sense cluster of each usage (one clustering of all usages; −1 = noise). Needed for JSD.
    n_permutations : int
        Shuffles of the period labels (0 = no test). The same permutations serve all metrics.
    n_boot : int
        Bootstrap resamples (0 = no interval).
    ci : float
        Interval coverage, e.g. 0.95.
    random_state : int or numpy Generator
    metrics : sequence of {"apd", "prt", "jsd"}

    Returns
    -------
    dict of str to MetricResult
    """
    A, B = _as_matrix(A), _as_matrix(B)
    if A.shape[1] != B.shape[1]:
        raise ConfigError(f"the two periods' vectors have different dimensions ({A.shape[1]} vs {B.shape[1]})")
    n_a, n_b = len(A), len(B)
    if min(n_a, n_b) < MIN_PERIOD_COUNT:
        raise ThinPeriodError(f"each period needs at least {MIN_PERIOD_COUNT} occurrences (got {n_a} and {n_b})")
    unknown = [m for m in metrics if m not in METRICS]
    if unknown:
        raise ConfigError(f"unknown metric(s) {', '.join(unknown)}; choose among {', '.join(METRICS)}")
    if not 0 < ci < 1:
        raise ConfigError(f"interval coverage must be between 0 and 1 (got {ci})")
    if n_permutations < 0 or n_boot < 0:
        raise ConfigError("the numbers of permutations and bootstrap resamples cannot be negative")
    want_jsd = "jsd" in metrics
    if want_jsd and (labels_a is None or labels_b is None):
        raise ConfigError("JSD needs sense cluster labels for both periods")
    rng = np.random.default_rng(random_state)
    UA, UB = _unit(A), _unit(B)
    X = np.vstack([A, B])
    U = np.vstack([UA, UB])
    n = n_a + n_b
    C = None
    if want_jsd:
        la = np.asarray(labels_a, dtype=int)
        lb = np.asarray(labels_b, dtype=int)
        if la.shape != (n_a,) or lb.shape != (n_b,):
            raise ConfigError("there must be one sense label per usage in each period")
        lab = np.concatenate([la, lb])
        k = int(lab.max()) + 1 if (lab >= 0).any() else 0
        if k == 0 or not (la >= 0).any() or not (lb >= 0).any():
            raise TooFewPointsError("a period has no clustered (non-noise) occurrences; JSD is undefined")
        C = np.zeros((n, k))
        ok = lab >= 0
        C[np.flatnonzero(ok), lab[ok]] = 1.0  # one-hot; noise rows stay all-zero so they drop out of JSD
    one = np.ones(1)
    obs = _pair_stats(UA.sum(0)[None], UB.sum(0)[None], A.sum(0)[None], B.sum(0)[None],
                      None if C is None else C[:n_a].sum(0)[None], None if C is None else C[n_a:].sum(0)[None],
                      one * n_a, one * n_b)
    obs = {m: float(v[0]) for m, v in obs.items()}

    # Permutation test: a permutation is a random choice of which n_a of the pooled usages are "earlier"; the group
    # sums are a matrix product of a 0/1 indicator with the pooled vectors.
    exceed = {m: 0 for m in metrics}
    totU, totX = U.sum(0), X.sum(0)
    totC = None if C is None else C.sum(0)
    done = 0
    bs = _batch_size(n)
    while done < n_permutations:
        m = min(bs, n_permutations - done)
        order = rng.permuted(np.tile(np.arange(n), (m, 1)), axis=1)[:, :n_a]
        ind = np.zeros((m, n))
        np.put_along_axis(ind, order, 1.0, axis=1)
        sU, sX = ind @ U, ind @ X
        sC = None if C is None else ind @ C
        null = _pair_stats(sU, totU - sU, sX, totX - sX, sC, None if C is None else totC - sC,
                           np.full(m, n_a), np.full(m, n_b))
        for met in metrics:
            # A tiny tolerance so that a null value equal to the observed one up to rounding counts as "≥".
            exceed[met] += int(np.sum(null[met] >= obs[met] - 1e-12))
        done += m

    # Bootstrap: each period resampled with replacement on its own; multinomial weights times the vectors give sums.
    boot = {met: [] for met in metrics}
    done = 0
    bs = _batch_size(max(n_a, n_b))
    while done < n_boot:
        m = min(bs, n_boot - done)
        wa = rng.multinomial(n_a, np.full(n_a, 1.0 / n_a), size=m).astype(float)
        wb = rng.multinomial(n_b, np.full(n_b, 1.0 / n_b), size=m).astype(float)
        st = _pair_stats(wa @ UA, wb @ UB, wa @ A, wb @ B, None if C is None else wa @ C[:n_a],
                         None if C is None else wb @ C[n_a:], np.full(m, n_a), np.full(m, n_b))
        for met in metrics:
            boot[met].append(st[met])
        done += m

    alpha = (1.0 - ci) / 2
    out = {}
    for met in metrics:
        p = (exceed[met] + 1) / (n_permutations + 1) if n_permutations else None
        if n_boot:
            values = np.concatenate(boot[met])
            values = values[np.isfinite(values)]
            lo, hi = ((float(np.quantile(values, alpha)), float(np.quantile(values, 1 - alpha))) if values.size
                      else (None, None))
        else:
            lo = hi = None
        out[met] = MetricResult(value=obs[met], p_value=p, n_permutations=int(n_permutations), ci_low=lo, ci_high=hi,
                                n_boot=int(n_boot), ci=float(ci))
    return out
