"""Many targets: each compared between its first and last period, and ranked by change."""

from __future__ import annotations

from typing import Mapping, Sequence

import numpy as np
import pandas as pd

from analysis.errors import ConfigError, SenseScopeError
from analysis.shift.analyse import ShiftResult, analyse_shift
from analysis.shift.common import (DEFAULT_CI, DEFAULT_N_BINS, DEFAULT_N_BOOT, DEFAULT_N_PERMUTATIONS, METRICS,
                                   MIN_PERIOD_COUNT, NOISE_LABEL, OnePeriodError)
from analysis.shift.labels import cluster_labels, labels_from_column
from analysis.shift.metrics import _as_matrix
from analysis.shift.periods import check_periods, make_periods


def shift_many(occurrences: pd.DataFrame, X, *, period_column: str | None = None, year_column: str | None = None,
               mode: str | None = None, n_bins: int = DEFAULT_N_BINS, edges=None, senses: str = "clusters",
               sense_column: str = "label", cluster_method: str = "kmeans", k="auto", k_range=(2, 10),
               n_permutations: int = DEFAULT_N_PERMUTATIONS, n_boot: int = DEFAULT_N_BOOT, ci: float = DEFAULT_CI,
               random_state: int = 0, metrics: Sequence[str] | None = None, progress=None,
               drop_thin_periods: bool = False, min_period_count: int = MIN_PERIOD_COUNT,
               how_to_drop: str = "leave such periods out"):
    """Change between the first and the last period for every target of a corpus (for ranking).

    Parameters
    ----------
    occurrences : DataFrame with n rows and a ``target`` column
    X : array of shape (n, dim)
        One vector per occurrence (one layer).
    period_column, year_column, mode, n_bins, edges
        See :func:`make_periods`; periods are made per target (so year bins follow each target's own years).
    senses : {"clusters", "column", "none"}
        Where the sense labels for JSD come from: clustering each target's usages (:func:`cluster_labels`), a column
        of the table (``sense_column``), or nowhere (no JSD).
    progress : callable(done, total, target), optional
    drop_thin_periods : bool
        Leave out each target's periods with fewer than ``min_period_count`` occurrences (as the Shift page's option
        does for one target) instead of skipping the target. Year bins follow each target's years, so a bin that is
        thin for one target may be full for another.
    min_period_count : int
        The threshold for ``drop_thin_periods`` (at least :data:`MIN_PERIOD_COUNT`, which the metrics need).
    how_to_drop : str
        End of the message for a target skipped for a thin period (see :func:`check_periods`).

    Returns
    -------
    ranking : DataFrame from :func:`rank_targets`
    results : dict target -> ShiftResult
    skipped : dict target -> reason (targets whose periods cannot be compared)
    """
    X = _as_matrix(X, n_expected=len(occurrences))
    if "target" not in occurrences.columns:
        raise ConfigError("the occurrences table has no target column; ranking needs several targets")
    if senses not in ("clusters", "column", "none"):
        raise ConfigError(f"unknown sense source {senses!r}; use clusters, column or none")
    if senses == "column" and sense_column not in occurrences.columns:
        raise ConfigError(f"there is no sense column {sense_column!r} in the occurrences table")
    targets = list(dict.fromkeys(occurrences["target"].astype(str)))
    results: dict[str, ShiftResult] = {}
    skipped: dict[str, str] = {}
    tcol = occurrences["target"].astype(str).to_numpy()
    for i, t in enumerate(targets):
        rows = np.flatnonzero(tcol == t)
        sub = occurrences.iloc[rows].reset_index(drop=True)
        try:
            per = make_periods(sub, period_column=period_column, year_column=year_column, mode=mode, n_bins=n_bins,
                               edges=edges)
            if drop_thin_periods:
                per = per.drop_small(max(int(min_period_count), MIN_PERIOD_COUNT))
            check_periods(per, how_to_drop=how_to_drop)
            labels = None
            if senses == "clusters":
                inside = per.codes >= 0
                labels = np.full(len(rows), NOISE_LABEL)
                labels[inside], _ = cluster_labels(X[rows][inside], method=cluster_method, k=k, k_range=k_range,
                                                   random_state=random_state)
            elif senses == "column":
                labels, _ = labels_from_column(sub[sense_column])
            results[t] = analyse_shift(X[rows], per, labels=labels, n_permutations=n_permutations, n_boot=n_boot,
                                       ci=ci, random_state=random_state, metrics=metrics, pairs="first_last")
        except SenseScopeError as exc:
            skipped[t] = str(exc)
        if progress is not None:
            progress(i + 1, len(targets), t)
    if not results:
        first = next(iter(skipped.items())) if skipped else ("", "no targets")
        raise OnePeriodError(f"no target could be compared across periods ({first[0]}: {first[1]})")
    return rank_targets(results), results, skipped

# ---------------------------------------------------------------------------------------------------------------------
# Many targets: ranking, gold scores, evaluation
# ---------------------------------------------------------------------------------------------------------------------
def rank_targets(results: Mapping[str, ShiftResult]) -> pd.DataFrame:
    """Rank targets by the change between their first and last period.

    Parameters
    ----------
    results : mapping target -> ShiftResult

    Returns
    -------
    DataFrame
        One row per target: ``target``, ``apd``, ``prt``, ``jsd`` (NaN without clusters), their p-values
        (``apd_p``...), ``first``, ``last``, ``n_first``, ``n_last`` and ``rank_<metric>`` (1 = most change), sorted
        by APD (largest first).
    """
    rows = []
    for target, res in results.items():
        first, last = res.periods.names[0], res.periods.names[-1]
        pr = res.pair(first, last)
        row = {"target": str(target), "first": first, "last": last, "n_first": pr.n_earlier, "n_last": pr.n_later}
        for m in METRICS:
            r = pr.metrics.get(m)
            row[m] = np.nan if r is None else r.value
            row[f"{m}_p"] = np.nan if r is None or r.p_value is None else r.p_value
        rows.append(row)
    cols = ["target", "apd", "prt", "jsd", "apd_p", "prt_p", "jsd_p", "first", "last", "n_first", "n_last"]
    df = pd.DataFrame(rows, columns=cols)
    for m in METRICS:
        df[f"rank_{m}"] = df[m].rank(ascending=False, method="min").astype("Int64")
    return df.sort_values(["apd", "target"], ascending=[False, True], kind="stable").reset_index(drop=True)
