"""Many targets: each compared between its first and last period, and ranked by change."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Mapping

import numpy as np
import pandas as pd

from analysis._util import as_matrix
from analysis.errors import ConfigError, SenseScopeError
from analysis.shift.analyse import ShiftResult, ShiftSettings, analyse_shift
from analysis.shift.common import METRICS, MIN_PERIOD_COUNT, NOISE_LABEL, OnePeriodError, with_fields
from analysis.senses._base import DEFAULT_MIN_SILHOUETTE
from analysis.shift.labels import cluster_labels, labels_from_column
from analysis.shift.periods import PeriodSpec, check_periods, make_periods



SENSE_SOURCES = ("clusters", "column", "none")


@dataclass(frozen=True)
class RankOptions:
    """The settings of :func:`shift_many`.

    Attributes
    ----------
    periods : PeriodSpec
        How each target's periods are made (per target, so year bins follow each target's own years).
    senses : {"clusters", "column", "none"}
        Where the sense labels for JSD come from: clustering each target's usages (:func:`cluster_labels`), a column
        of the table (``sense_column``), or nowhere (no JSD).
    sense_column : str
    cluster_method, k, k_range, min_silhouette
        The clustering for ``senses="clusters"`` (see :func:`cluster_labels`); it uses the seed of ``settings``.
    settings : ShiftSettings
        Permutations, bootstrap, coverage, seed and metrics; the pairs compared are always first vs last.
    drop_thin_periods : bool
        Leave out each target's periods with fewer than ``min_period_count`` occurrences (as the Shift page's option
        does for one target) instead of skipping the target. Year bins follow each target's years, so a bin that is
        thin for one target may be full for another.
    min_period_count : int
        The threshold for ``drop_thin_periods`` (at least :data:`MIN_PERIOD_COUNT`, which the metrics need).
    how_to_drop : str
        End of the message for a target skipped for a thin period (see :func:`check_periods`).
    """

    periods: PeriodSpec = PeriodSpec()
    senses: str = "clusters"
    sense_column: str = "label"
    cluster_method: str = "kmeans"
    k: int | str = "auto"
    k_range: tuple[int, int] = (2, 10)
    min_silhouette: float | None = DEFAULT_MIN_SILHOUETTE
    settings: ShiftSettings = ShiftSettings()
    drop_thin_periods: bool = False
    min_period_count: int = MIN_PERIOD_COUNT
    how_to_drop: str = "leave such periods out"

    @classmethod
    def build(cls, base: "RankOptions | None" = None, **fields) -> "RankOptions":
        """``base`` (or the defaults) with flat fields set: PeriodSpec fields go to ``periods``, ShiftSettings fields
        (and the old names ``n_boot``, ``random_state``) to ``settings``, the rest to the options themselves."""
        base = base or cls()
        period_names = {f.name for f in dataclasses.fields(PeriodSpec)}
        setting_names = {f.name for f in dataclasses.fields(ShiftSettings)} | {"n_boot", "random_state"}
        per = {k: v for k, v in fields.items() if k in period_names}
        sets = {k: v for k, v in fields.items() if k in setting_names}
        own = {k: v for k, v in fields.items() if k not in period_names and k not in setting_names}
        return dataclasses.replace(base, periods=dataclasses.replace(base.periods, **per),
                                   settings=with_fields(base.settings, sets), **own)

    def check(self, occurrences: pd.DataFrame) -> None:
        """A ConfigError when the table or the sense source cannot be used for ranking."""
        if "target" not in occurrences.columns:
            raise ConfigError("the occurrences table has no target column; ranking needs several targets")
        if self.senses not in SENSE_SOURCES:
            raise ConfigError(f"unknown sense source {self.senses!r}; use clusters, column or none")
        if self.senses == "column" and self.sense_column not in occurrences.columns:
            raise ConfigError(f"there is no sense column {self.sense_column!r} in the occurrences table")


def shift_many(occurrences: pd.DataFrame, X, options: RankOptions | None = None, *, progress=None, **fields):
    """Change between the first and the last period for every target of a corpus (for ranking).

    Parameters
    ----------
    occurrences : DataFrame with n rows and a ``target`` column
    X : array of shape (n, dim)
        One vector per occurrence (one layer).
    options : RankOptions, optional
    progress : callable(done, total, target), optional
    **fields
        Any field of :class:`RankOptions`, :class:`PeriodSpec` or :class:`ShiftSettings` by name
        (``period_column=``, ``n_permutations=``, ``drop_thin_periods=``...), set on top of ``options``.

    Returns
    -------
    ranking : DataFrame from :func:`rank_targets`
    results : dict target -> ShiftResult
    skipped : dict target -> reason (targets whose periods cannot be compared)
    """
    opts = RankOptions.build(options, **fields)
    X = as_matrix(X, n_rows=len(occurrences))
    opts.check(occurrences)
    targets = list(dict.fromkeys(occurrences["target"].astype(str)))
    results: dict[str, ShiftResult] = {}
    skipped: dict[str, str] = {}
    tcol = occurrences["target"].astype(str).to_numpy()
    for i, t in enumerate(targets):
        rows = np.flatnonzero(tcol == t)
        try:
            results[t] = _one_target(occurrences.iloc[rows].reset_index(drop=True), X[rows], opts)
        except SenseScopeError as exc:
            skipped[t] = str(exc)
        if progress is not None:
            progress(i + 1, len(targets), t)
    if not results:
        first = next(iter(skipped.items())) if skipped else ("", "no targets")
        raise OnePeriodError(f"no target could be compared across periods ({first[0]}: {first[1]})")
    return rank_targets(results), results, skipped


def _one_target(sub: pd.DataFrame, X: np.ndarray, opts: RankOptions) -> ShiftResult:
    """One target's first-vs-last comparison: its own periods, its own sense labels."""
    per = make_periods(sub, opts.periods)
    if opts.drop_thin_periods:
        per = per.drop_small(max(int(opts.min_period_count), MIN_PERIOD_COUNT))
    check_periods(per, how_to_drop=opts.how_to_drop)
    labels = None
    if opts.senses == "clusters":
        inside = per.codes >= 0
        labels = np.full(len(sub), NOISE_LABEL)
        labels[inside], _ = cluster_labels(X[inside], method=opts.cluster_method, k=opts.k, k_range=opts.k_range,
                                           seed=opts.settings.seed, min_silhouette=opts.min_silhouette)
    elif opts.senses == "column":
        labels, _ = labels_from_column(sub[opts.sense_column])
    return analyse_shift(X, per, labels=labels, settings=dataclasses.replace(opts.settings, pairs="first_last"))


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
