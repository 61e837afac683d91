"""Sense shares per period, with bootstrap intervals, first appearance and takeover."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Mapping, Sequence

import numpy as np
import pandas as pd

from analysis._util import finite_or_none
from analysis.errors import ConfigError
from analysis.shift.common import _NOISE_NAME, DEFAULT_CI, DEFAULT_N_BOOT, NOISE_LABEL, OnePeriodError
from analysis.shift.periods import Periods


# ---------------------------------------------------------------------------------------------------------------------
# Sense shares per period
# ---------------------------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class SenseShares:
    """Share of each sense cluster in each period, with bootstrap intervals.

    Attributes
    ----------
    periods : tuple of str
        Period names in time order.
    senses : tuple of int
        Cluster labels (−1 = noise, if present).
    sense_names : tuple of str
        Display names of the senses.
    counts : ndarray of shape (n_periods, n_senses), int
    shares : ndarray of shape (n_periods, n_senses)
        counts / period total (rows sum to 1; a period with no occurrences has NaN shares).
    ci_low, ci_high : ndarray of shape (n_periods, n_senses)
        Percentile bootstrap interval of each share (NaN without bootstrap).
    first_period : tuple of (str or None)
        Per sense, the first period where it has at least ``appear_min_count`` occurrences.
    largest_from : tuple of (str or None)
        Per sense, the first period where it is the largest sense (noise never counts as largest).
    n_bootstrap : int
    ci : float
    appear_min_count : int
    """

    periods: tuple[str, ...]
    senses: tuple[int, ...]
    sense_names: tuple[str, ...]
    counts: np.ndarray
    shares: np.ndarray
    ci_low: np.ndarray
    ci_high: np.ndarray
    first_period: tuple[str | None, ...]
    largest_from: tuple[str | None, ...]
    n_bootstrap: int
    ci: float
    appear_min_count: int = 1

    def to_frame(self) -> pd.DataFrame:
        """Tidy table: one row per (period, sense) with ``count``, ``share``, ``ci_low``, ``ci_high``, ``first``
        (the sense first appears here) and ``largest_from`` (it becomes the largest here)."""
        rows = []
        for i, p in enumerate(self.periods):
            for j, (s, name) in enumerate(zip(self.senses, self.sense_names)):
                rows.append({"period": p, "order": i, "sense": int(s), "sense_name": name,
                             "count": int(self.counts[i, j]), "share": float(self.shares[i, j]),
                             "ci_low": float(self.ci_low[i, j]), "ci_high": float(self.ci_high[i, j]),
                             "first": self.first_period[j] == p, "largest_from": self.largest_from[j] == p})
        return pd.DataFrame(rows)

    def to_dict(self) -> dict:
        out = {}
        for i, p in enumerate(self.periods):
            out[p] = {name: {"count": int(self.counts[i, j]), "share": finite_or_none(self.shares[i, j]),
                             "ci": [finite_or_none(self.ci_low[i, j]), finite_or_none(self.ci_high[i, j])]}
                      for j, name in enumerate(self.sense_names)}
        return {"by_period": out, "first_period": dict(zip(self.sense_names, self.first_period)),
                "largest_from": dict(zip(self.sense_names, self.largest_from)), "n_bootstrap": self.n_bootstrap,
                "ci": self.ci, "appear_min_count": self.appear_min_count}


def _sense_name(label: int, names: Mapping | Sequence | None) -> str:
    got = None
    if isinstance(names, Mapping):
        got = names.get(label, names.get(str(label)))
    elif names is not None and 0 <= label < len(names):
        got = names[label]
    if got not in (None, ""):
        return str(got)
    return _NOISE_NAME if label == NOISE_LABEL else f"cluster {label}"


def sense_shares(labels, periods: Periods, *, sense_names: Mapping[int, str] | Sequence[str] | None = None,
                 n_bootstrap: int = DEFAULT_N_BOOT, ci: float = DEFAULT_CI, seed=0,
                 appear_min_count: int = 1) -> SenseShares:
    """Share of each sense cluster per period, with bootstrap intervals, first appearance and takeover.

    Parameters
    ----------
    labels : array of shape (n_occurrences,), int
        Sense cluster per occurrence (−1 = noise), same row order as ``periods.codes``.
    periods : Periods
    sense_names : mapping label -> name or list indexed by label, optional
    n_bootstrap : int
        Bootstrap resamples per period (multinomial resampling of the period's occurrences).
    ci : float
    seed : int or Generator
    appear_min_count : int
        Occurrences a sense needs in a period to count as having appeared there (1 = literal first occurrence; a
        higher value ignores stray, possibly misclustered usages).

    Returns
    -------
    SenseShares
    """
    labels = np.asarray(labels)
    if labels.shape != periods.codes.shape:
        raise ConfigError(f"there are {labels.size} sense labels but {periods.codes.size} occurrences")
    labels = labels.astype(int)
    if not 0 < ci < 1:
        raise ConfigError(f"interval coverage must be between 0 and 1 (got {ci})")
    rng = np.random.default_rng(seed)
    inside = periods.codes >= 0
    senses = tuple(int(s) for s in np.unique(labels[inside]))
    if not senses:
        raise OnePeriodError("no occurrence has a period; there are no sense shares to show")
    col = {s: j for j, s in enumerate(senses)}
    P, K = periods.n_periods, len(senses)
    counts = np.zeros((P, K), dtype=int)
    for c, l in zip(periods.codes[inside], labels[inside]):
        counts[c, col[int(l)]] += 1
    totals = counts.sum(axis=1, keepdims=True)
    with np.errstate(divide="ignore", invalid="ignore"):
        shares = np.where(totals > 0, counts / np.where(totals > 0, totals, 1), np.nan)
    lo = np.full((P, K), np.nan)
    hi = np.full((P, K), np.nan)
    alpha = (1 - ci) / 2
    if n_bootstrap:
        for i in range(P):
            if totals[i, 0] == 0:
                continue
            draws = rng.multinomial(int(totals[i, 0]), shares[i], size=int(n_bootstrap)) / totals[i, 0]
            lo[i] = np.quantile(draws, alpha, axis=0)
            hi[i] = np.quantile(draws, 1 - alpha, axis=0)
    first = []
    largest = []
    for j, s in enumerate(senses):
        idx = np.flatnonzero(counts[:, j] >= max(1, appear_min_count))
        first.append(periods.names[idx[0]] if idx.size else None)
        found = None
        if s != NOISE_LABEL:
            for i in range(P):
                if totals[i, 0] == 0:
                    continue
                row = np.where(np.array(senses) == NOISE_LABEL, -1, counts[i])
                # Ties: a sense counts as largest only when no other sense has strictly more.
                if counts[i, j] > 0 and counts[i, j] == row.max():
                    found = periods.names[i]
                    break
        largest.append(found)
    names = tuple(_sense_name(s, sense_names) for s in senses)
    return SenseShares(periods=periods.names, senses=senses, sense_names=names, counts=counts, shares=shares,
                       ci_low=lo, ci_high=hi, first_period=tuple(first), largest_from=tuple(largest),
                       n_bootstrap=int(n_bootstrap), ci=float(ci), appear_min_count=int(appear_min_count))
