"""Semantic shift over time: periods, sense shares per period, APD / PRT / JSD with significance, ranking.

Why this module exists
----------------------
Historians ask when a sense of a term appeared and when it became the dominant one; lexical semantic change research
ranks words by how much their usage changed between periods (SemEval-2020 Task 1, DWUG). Both questions are answered
here from an embedding set (one vector per occurrence) and a period for each occurrence, in pure numpy/scipy.

What is computed (see ``../shared/METHODS.md``)
----------------------------------------------
* **Periods** (:func:`make_periods`): the corpus's own period column, equal-width or equal-count year bins, or
  user-given edges. Rows without a parsable year are counted and left out (code ``-1``), never put into a period.
* **Sense shares** (:func:`sense_shares`): per period, the share of each sense cluster, with percentile bootstrap
  intervals (occurrences resampled within the period), the first period in which each sense occurs and the first in
  which it is the largest.
* **Change between two periods** (:func:`compare_periods`):

  - APD: mean cosine distance over all pairs (one usage from each period). Because the mean of all pairwise dot
    products equals the dot product of the means, APD = 1 − ⟨mean of unit vectors of A, mean of unit vectors of B⟩
    exactly, so it costs O(n·dim) instead of O(n_A·n_B·dim) and needs no chunking even for large periods.
  - PRT: cosine distance between the two periods' prototypes (mean raw usage vectors).
  - JSD: H((p+q)/2) − (H(p)+H(q))/2 of the two periods' distributions over the sense clusters (natural log, at most
    ln 2). The clusters are one clustering of all usages (the Senses page's, or :func:`cluster_labels`), so shares are
    comparable across all periods. Noise (label −1) is left out of JSD, as in DWUG's ``change_graded``.

  Each comes with a permutation test (the period labels of the two periods' pooled usages are shuffled, sizes kept,
  the same seeded permutations for all three metrics; p = (count(null ≥ observed) + 1) / (n + 1)) and a percentile
  bootstrap interval (each period resampled with replacement on its own). The interval shows sampling variability;
  for PRT and JSD it is biased upwards (resampling adds spurious differences between two estimated prototypes or
  distributions, so it may even lie above the observed value); read it together with the p-value.
* **Trajectory** (:func:`trajectory`): period prototypes in a PCA of the usages (a linear projection, so a prototype
  sits exactly at the centroid of its usages' points), and the occurrences most typical of each period (highest
  cosine similarity to its prototype).
* **Many targets** (:func:`rank_targets`, :func:`read_gold`, :func:`evaluate_ranking`): rank targets by the change
  between their first and last period; Spearman's rho against graded gold and accuracy against binary gold.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Mapping, Sequence

import numpy as np
import pandas as pd

from analysis._util import natural_key, natural_sorted
from analysis.errors import ConfigError, CorpusError, SenseScopeError, TooFewPointsError

# ---------------------------------------------------------------------------------------------------------------------
# Defaults (see BENCHMARKS.md, "Semantic shift", for the measurements behind them)
# ---------------------------------------------------------------------------------------------------------------------
#: Permutations per test. 999 makes the smallest attainable p exactly 0.001 and costs milliseconds per pair, because
#: a permutation only needs the sum of one group's vectors (a matrix product with a 0/1 indicator matrix).
DEFAULT_N_PERMUTATIONS = 999
#: Bootstrap resamples for intervals (percentile method).
DEFAULT_N_BOOT = 1000
#: Two-sided coverage of the bootstrap intervals.
DEFAULT_CI = 0.95
#: Vectors used for shift by default, as a layer spec of :func:`analysis.senses.resolve_layers`: the mean of the last
#: three hidden states (MiniLM: layers 4-6), the same default as the Senses page, so that clusters and shift metrics
#: see the same vectors, and one that carries over to models of any depth. On DWUG EN (bench/eval_shift.py,
#: BENCHMARKS.md) it is within sampling noise of the best single layer for APD and PRT; the embedding layer and the
#: first layers are clearly worse.
DEFAULT_LAYER: int | tuple[int, int] = (-3, -1)
#: A period with fewer occurrences than this gets a "too thin to trust" warning: at n = 30 a 50 % sense share has a
#: 95 % interval of about ±18 points.
THIN_PERIOD_COUNT = 30
#: The metrics need at least this many occurrences in every period (one usage has no spread, no bootstrap, and a
#: permutation test with it is nearly degenerate).
MIN_PERIOD_COUNT = 2
#: Default number of year bins.
DEFAULT_N_BINS = 4
#: Occurrences listed per period as the most typical (nearest the period's prototype).
DEFAULT_N_TYPICAL = 5
#: Binary change rule used for accuracy against binary gold (chosen a priori, not tuned on the gold): a target counts as
#: changed when its metric is above the mean of that metric over the evaluated targets. The alternative
#: "permutation" (changed when p < 0.05) is offered too, but with ~100 usages per period contextual vectors differ
#: significantly for almost every word (topic and style drift), so significance is not the same as sense change.
DEFAULT_BINARY_RULE = "mean"
BINARY_RULES = ("mean", "permutation")
METRICS = ("apd", "prt", "jsd")
METRIC_LABELS = {"apd": "APD (avg. pairwise cosine distance)", "prt": "PRT (cosine distance of prototypes)",
                 "jsd": "JSD of sense shares (nats)"}
PERIOD_MODES = ("column", "equal-width", "equal-count", "edges")

NOISE_LABEL = -1
_NOISE_NAME = "noise"


# ---------------------------------------------------------------------------------------------------------------------
# Errors
# ---------------------------------------------------------------------------------------------------------------------
class PeriodError(ConfigError):
    """Periods cannot be formed from the given column, bins or edges."""


class OnePeriodError(TooFewPointsError):
    """Fewer than two periods have occurrences, so there is nothing to compare."""


class ThinPeriodError(TooFewPointsError):
    """A period has fewer occurrences than the metrics need (0 or 1)."""


class GoldFileError(CorpusError):
    """A gold change-score file cannot be read."""


# ---------------------------------------------------------------------------------------------------------------------
# Periods
# ---------------------------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Periods:
    """Assignment of occurrences to ordered periods.

    Attributes
    ----------
    codes : ndarray of shape (n_occurrences,), int
        Index into ``names`` for each occurrence; ``-1`` = left out (no year/period, outside the edges, or in a period
        that was dropped).
    names : tuple of str
        Period names in time order.
    counts : tuple of int
        Occurrences per period (same order as ``names``).
    source : str
        How the periods were made: one of ``PERIOD_MODES``.
    column : str or None
        The column they came from.
    edges : tuple of float or None
        Bin edges for year bins (left-closed, the last bin also right-closed).
    n_missing : int
        Rows with an empty year/period value.
    n_unparsable : int
        Rows with a year value that is not a year (e.g. ``"n.d."``).
    n_out_of_range : int
        Rows with a year outside user-given edges.
    n_dropped : int
        Rows in periods removed by :meth:`drop_small`.
    warnings : tuple of str
        Plain-language warnings (thin periods, merged bins, left-out rows).
    """

    codes: np.ndarray
    names: tuple[str, ...]
    counts: tuple[int, ...]
    source: str
    column: str | None = None
    edges: tuple[float, ...] | None = None
    n_missing: int = 0
    n_unparsable: int = 0
    n_out_of_range: int = 0
    n_dropped: int = 0
    warnings: tuple[str, ...] = ()

    @property
    def n_periods(self) -> int:
        return len(self.names)

    @property
    def n_left_out(self) -> int:
        return int(np.sum(self.codes < 0))

    @property
    def n_assigned(self) -> int:
        return int(np.sum(self.codes >= 0))

    def mask(self, period: int | str) -> np.ndarray:
        """Boolean mask of the occurrences in one period (by index or name)."""
        return self.codes == self.index(period)

    def index(self, period: int | str) -> int:
        if isinstance(period, (int, np.integer)):
            if not 0 <= period < self.n_periods:
                raise ConfigError(f"period index {period} is out of range (there are {self.n_periods} periods)")
            return int(period)
        try:
            return self.names.index(str(period))
        except ValueError:
            raise ConfigError(f"there is no period named {period!r} (periods: {', '.join(self.names)})") from None

    def counts_frame(self) -> pd.DataFrame:
        """One row per period: ``period``, ``order``, ``count``, ``thin`` (below :data:`THIN_PERIOD_COUNT`)."""
        return pd.DataFrame({"period": list(self.names), "order": range(self.n_periods), "count": list(self.counts),
                             "thin": [c < THIN_PERIOD_COUNT for c in self.counts]})

    def drop_small(self, min_count: int = MIN_PERIOD_COUNT) -> "Periods":
        """A copy without the periods that have fewer than ``min_count`` occurrences (their rows are counted)."""
        keep = [i for i, c in enumerate(self.counts) if c >= min_count]
        if len(keep) == self.n_periods:
            return self
        remap = np.full(self.n_periods + 1, -1, dtype=int)
        for new, old in enumerate(keep):
            remap[old] = new
        codes = np.where(self.codes >= 0, remap[self.codes], -1)
        dropped = [self.names[i] for i in range(self.n_periods) if i not in keep]
        n_dropped = int(sum(self.counts[i] for i in range(self.n_periods) if i not in keep))
        note = (f"left out {len(dropped)} period(s) with fewer than {min_count} occurrences "
                f"({', '.join(dropped)}; {n_dropped} occurrences)")
        return Periods(codes=codes, names=tuple(self.names[i] for i in keep),
                       counts=tuple(self.counts[i] for i in keep), source=self.source, column=self.column,
                       edges=self.edges, n_missing=self.n_missing, n_unparsable=self.n_unparsable,
                       n_out_of_range=self.n_out_of_range, n_dropped=self.n_dropped + n_dropped,
                       warnings=self.warnings + (note,))

    def to_dict(self) -> dict:
        return {"source": self.source, "column": self.column, "names": list(self.names), "counts": list(self.counts),
                "edges": None if self.edges is None else [float(e) for e in self.edges],
                "n_missing": self.n_missing, "n_unparsable": self.n_unparsable,
                "n_out_of_range": self.n_out_of_range, "n_dropped": self.n_dropped, "warnings": list(self.warnings)}


# A year: optional sign, 1-4 digits, optionally followed by -MM or -MM-DD (ISO-like) or a time; "c. 1836" and
# "1836?" are NOT accepted: an uncertain date is the user's call, not ours.
_YEAR_RE = re.compile(r"^\s*(-?\d{1,4})(?:[-/.]\d{1,2}(?:[-/.]\d{1,2})?)?(?:[T ]\d{1,2}:\d{2}(?::\d{2})?\S*)?\s*$")


def parse_years(values: Sequence | pd.Series) -> tuple[np.ndarray, int, int]:
    """Turn a column of years or dates into float years.

    Parameters
    ----------
    values : sequence of length n
        ints, floats, strings such as ``"1836"`` or ``"1836-05-01"``, datetimes, or missing values.

    Returns
    -------
    years : ndarray of shape (n,), float
        The year, NaN where there is none.
    n_missing : int
        Empty values (None, NaN, "").
    n_unparsable : int
        Non-empty values that are not a year.
    """
    s = pd.Series(values, dtype=object) if not isinstance(values, pd.Series) else values
    if pd.api.types.is_datetime64_any_dtype(s):
        years = s.dt.year.astype("float64").to_numpy()
        return years, int(np.isnan(years).sum()), 0
    out = np.full(len(s), np.nan)
    n_missing = n_unparsable = 0
    for i, v in enumerate(s.tolist()):
        if v is None or (isinstance(v, float) and math.isnan(v)) or v is pd.NA or v is pd.NaT:
            n_missing += 1
        elif isinstance(v, (bool, np.bool_)):
            n_unparsable += 1
        elif isinstance(v, (int, np.integer)):
            out[i] = float(v)
        elif isinstance(v, (float, np.floating)):
            if math.isfinite(v):
                out[i] = float(v)
            else:
                n_unparsable += 1
        elif hasattr(v, "year") and isinstance(getattr(v, "year"), (int, np.integer)):
            out[i] = float(v.year)
        else:
            text = str(v).strip()
            if not text:
                n_missing += 1
                continue
            m = _YEAR_RE.match(text)
            if m is None:
                try:  # "1836.0" from a float column read as text
                    f = float(text)
                except ValueError:
                    f = math.nan
                if math.isfinite(f):
                    out[i] = f
                else:
                    n_unparsable += 1
            else:
                out[i] = float(m.group(1))
    return out, n_missing, n_unparsable


def _is_missing(v) -> bool:
    if v is None or v is pd.NA or v is pd.NaT:
        return True
    return isinstance(v, (float, np.floating)) and math.isnan(v)


def _is_integral(years: np.ndarray) -> bool:
    y = years[np.isfinite(years)]
    return bool(np.all(y == np.round(y)))


def _bin_names(edges: np.ndarray, integral: bool, closed_last: bool = True) -> list[str]:
    names = []
    last = len(edges) - 2 if closed_last else -1
    for i in range(len(edges) - 1):
        lo, hi = edges[i], edges[i + 1]
        if integral:
            first = int(math.ceil(lo))
            final = int(math.floor(hi)) if i == last else int(math.ceil(hi)) - 1
            names.append(str(first) if first == final else f"{first}–{final}")
        else:
            names.append(f"{lo:g}–{hi:g}")
    # Bins too narrow to hold a whole year could repeat a name; keep names unique so they work as keys.
    seen: dict[str, int] = {}
    for i, n in enumerate(names):
        if n in seen:
            names[i] = f"{n} ({i + 1})"
        seen[n] = i
    return names


def _assign_bins(years: np.ndarray, edges: np.ndarray) -> np.ndarray:
    """Bin index per year for left-closed bins whose last bin is also right-closed; -1 outside or NaN."""
    codes = np.full(len(years), -1, dtype=int)
    ok = np.isfinite(years) & (years >= edges[0]) & (years <= edges[-1])
    idx = np.searchsorted(edges, years[ok], side="right") - 1
    codes[ok] = np.minimum(idx, len(edges) - 2)  # the top edge itself belongs to the last bin
    return codes


def make_periods(occurrences: pd.DataFrame, *, period_column: str | None = None, year_column: str | None = None,
                 mode: str | None = None, n_bins: int = DEFAULT_N_BINS, edges: Sequence[float] | None = None,
                 order: Sequence[str] | None = None, thin_count: int = THIN_PERIOD_COUNT) -> Periods:
    """Assign each occurrence to a period.

    Parameters
    ----------
    occurrences : DataFrame with n rows
        The occurrences table (row order = embedding set order).
    period_column : str, optional
        A column whose values are the periods (e.g. DWUG ``grouping``). Used with ``mode="column"`` (the default when
        it is given).
    year_column : str, optional
        A column of years or dates, for ``mode`` ``"equal-width"`` (default when only this is given),
        ``"equal-count"`` or ``"edges"``.
    mode : {"column", "equal-width", "equal-count", "edges"}, optional
    n_bins : int
        Number of bins for the equal-width / equal-count modes.
    edges : sequence of float, optional
        Increasing bin edges for ``mode="edges"``; bins are [e0, e1), [e1, e2), ..., [e_{k-1}, e_k].
    order : sequence of str, optional
        Time order of the period names for ``mode="column"`` (default: numeric order if all names are numbers,
        otherwise by the median year of each period when ``year_column`` is given, otherwise alphabetical).
    thin_count : int
        Periods with fewer occurrences get a warning.

    Returns
    -------
    Periods
    """
    if mode is None:
        mode = "column" if period_column else ("edges" if edges is not None else "equal-width")
    if mode not in PERIOD_MODES:
        raise ConfigError(f"unknown period mode {mode!r}; choose one of {', '.join(PERIOD_MODES)}")
    cols = list(occurrences.columns)
    warnings: list[str] = []
    if mode == "column":
        if not period_column:
            raise PeriodError("choose a period column (or bin a year column instead)")
        if period_column not in occurrences.columns:
            raise PeriodError(f"column {period_column!r} is not in the occurrences table "
                              f"(columns: {', '.join(map(str, cols))})")
        raw = occurrences[period_column]
        text = pd.Series([None if _is_missing(v) else
                          (str(int(v)) if isinstance(v, (float, np.floating)) and float(v).is_integer()
                           else str(v).strip()) for v in raw.tolist()], index=raw.index, dtype=object)
        missing = text.isna() | (text == "")
        n_missing = int(missing.sum())
        present = sorted(set(text[~missing]))
        if not present:
            raise PeriodError(f"column {period_column!r} has no values; every row is empty")
        if order is not None:
            order = [str(o) for o in order]
            unknown = [p for p in present if p not in order]
            if unknown:
                raise PeriodError(f"the period order does not mention {', '.join(map(repr, unknown[:5]))}")
            names = [o for o in order if o in present]
        elif all(natural_key(p)[0] == 0 for p in present):  # all numbers: by value
            names = natural_sorted(present)
        elif year_column and year_column in occurrences.columns:
            years, _, _ = parse_years(occurrences[year_column])
            med = {p: np.nanmedian(years[(text == p).to_numpy()]) if np.isfinite(years[(text == p).to_numpy()]).any()
                   else np.inf for p in present}
            names = sorted(present, key=lambda p: (med[p], natural_key(p)))
        else:
            names = natural_sorted(present)  # "period 2" before "period 10"
        lookup = {n: i for i, n in enumerate(names)}
        codes = np.array([lookup.get(t, -1) if isinstance(t, str) else -1 for t in text], dtype=int)
        if n_missing:
            warnings.append(f"{n_missing} row(s) have no value in {period_column!r} and are left out")
        counts = tuple(int(np.sum(codes == i)) for i in range(len(names)))
        periods = Periods(codes=codes, names=tuple(names), counts=counts, source="column", column=period_column,
                          n_missing=n_missing)
        return _finish(periods, warnings, thin_count)

    if not year_column:
        raise PeriodError("choose a year column to bin (or use a period column)")
    if year_column not in occurrences.columns:
        raise PeriodError(f"column {year_column!r} is not in the occurrences table "
                          f"(columns: {', '.join(map(str, cols))})")
    years, n_missing, n_unparsable = parse_years(occurrences[year_column])
    finite = years[np.isfinite(years)]
    if finite.size == 0:
        raise PeriodError(f"none of the {len(years)} rows has a parsable year in column {year_column!r}")
    if n_missing:
        warnings.append(f"{n_missing} row(s) have no (parsable) year in {year_column!r} and are left out")
    if n_unparsable:
        warnings.append(f"{n_unparsable} row(s) have a value in {year_column!r} that is not a year and are left out")
    integral = _is_integral(years)
    lo, hi = float(finite.min()), float(finite.max())
    n_out = 0
    if mode == "edges":
        if edges is None or len(edges) < 2:
            raise PeriodError("give at least two bin edges (e.g. 1810, 1860, 2010)")
        e = np.asarray([float(x) for x in edges])
        if not np.all(np.isfinite(e)) or np.any(np.diff(e) <= 0):
            raise PeriodError(f"bin edges must be finite and strictly increasing; got {', '.join(f'{x:g}' for x in e)}")
        n_out = int(np.sum(np.isfinite(years) & ((years < e[0]) | (years > e[-1]))))
        if n_out:
            warnings.append(f"{n_out} row(s) have a year outside {e[0]:g}–{e[-1]:g} and are left out")
    else:
        if int(n_bins) < 2:
            raise PeriodError(f"use at least 2 bins (got {n_bins})")
        n_bins = int(n_bins)
        if lo == hi:
            left = n_missing + n_unparsable
            raise OnePeriodError(f"every dated row has the same year ({lo:g}); there is only one period"
                                 + (f" ({left} row(s) without a (parsable) year left out)" if left else ""))
        if mode == "equal-width":
            e = np.linspace(lo, hi, n_bins + 1)
            if integral:
                # Cut between whole years so that each year falls in exactly one bin and names are exact.
                e[1:-1] = np.ceil(e[1:-1])
                e = np.unique(e)
        else:  # equal-count: cut at quantiles of the years; all rows of one year stay in one bin.
            srt = np.sort(finite)
            cuts = [srt[min(len(srt) - 1, int(math.ceil(len(srt) * i / n_bins)))] for i in range(1, n_bins)]
            # The top edge lies just above the largest year so that a cut at that year still leaves it a bin.
            top = hi + 1 if integral else float(np.nextafter(hi, np.inf))
            e = np.unique(np.concatenate([[lo], cuts, [top]]))
            if len(e) - 1 < n_bins:
                warnings.append(f"only {len(e) - 1} equal-count bins are possible because many rows share a year "
                                f"(asked for {n_bins})")
    codes = _assign_bins(years, e)
    names = _bin_names(e, integral, closed_last=mode != "equal-count")
    counts = tuple(int(np.sum(codes == i)) for i in range(len(names)))
    periods = Periods(codes=codes, names=tuple(names), counts=counts, source=mode, column=year_column,
                      edges=tuple(float(x) for x in e), n_missing=n_missing, n_unparsable=n_unparsable,
                      n_out_of_range=n_out)
    return _finish(periods, warnings, thin_count)


def _finish(periods: Periods, warnings: list[str], thin_count: int) -> Periods:
    empty = [n for n, c in zip(periods.names, periods.counts) if c == 0]
    thin = [f"{n} ({c})" for n, c in zip(periods.names, periods.counts) if 0 < c < thin_count]
    if empty:
        warnings.append(f"period(s) with no occurrences: {', '.join(empty)}")
    if thin:
        warnings.append(f"period(s) with fewer than {thin_count} occurrences, too thin to trust: {', '.join(thin)}")
    return Periods(**{**periods.__dict__, "warnings": tuple(warnings)})


def periods_from_codes(codes: Sequence[int], names: Sequence[str], *, source: str = "column",
                       column: str | None = None) -> Periods:
    """Periods from integer codes (``-1`` = left out) and names; for tests and callers that made their own."""
    codes = np.asarray(codes, dtype=int)
    names = tuple(str(n) for n in names)
    if codes.size and (codes.max() >= len(names) or codes.min() < -1):
        raise ConfigError(f"period codes must be -1..{len(names) - 1}")
    counts = tuple(int(np.sum(codes == i)) for i in range(len(names)))
    return _finish(Periods(codes=codes, names=names, counts=counts, source=source, column=column,
                           n_missing=int(np.sum(codes < 0))), [], THIN_PERIOD_COUNT)


def check_periods(periods: Periods, *, min_count: int = MIN_PERIOD_COUNT,
                  how_to_drop: str = "leave such periods out") -> None:
    """Raise a clear error when the periods cannot be compared (fewer than two, or one with 0-1 occurrences).

    ``how_to_drop`` ends the thin-period message: the caller says how its user leaves thin periods out (the page's
    option, the CLI's ``--drop-thin-periods``)."""
    nonempty = [n for n, c in zip(periods.names, periods.counts) if c > 0]
    if len(nonempty) < 2:
        left = f"; {periods.n_left_out} row(s) without a period were left out" if periods.n_left_out else ""
        which = f"only 1 period ('{nonempty[0]}') has" if nonempty else "no period has"
        raise OnePeriodError(f"{which} occurrences; shift needs at least two{left}")
    small = [f"'{n}' ({c})" for n, c in zip(periods.names, periods.counts) if c < min_count]
    if small:
        raise ThinPeriodError(f"period(s) {', '.join(small)} have fewer than {min_count} occurrences; use fewer bins, "
                              f"other edges, or {how_to_drop}")


# ---------------------------------------------------------------------------------------------------------------------
# Vector helpers
# ---------------------------------------------------------------------------------------------------------------------
def _as_matrix(X, n_expected: int | None = None) -> np.ndarray:
    X = np.asarray(X, dtype=np.float64)
    if X.ndim != 2:
        raise ConfigError(f"vectors must be a 2-d array (n_occurrences, dim); got shape {X.shape}")
    if n_expected is not None and X.shape[0] != n_expected:
        raise ConfigError(f"there are {X.shape[0]} vectors but {n_expected} period assignments")
    if not np.all(np.isfinite(X)):
        raise ConfigError("some vectors contain NaN or infinite values")
    return X


def _unit(X: np.ndarray) -> np.ndarray:
    norms = np.linalg.norm(X, axis=1, keepdims=True)
    if np.any(norms == 0):
        raise ConfigError(f"{int(np.sum(norms == 0))} vector(s) are all zeros; cosine distance is undefined for them")
    return X / norms


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
    A, B = _unit(_as_matrix(A)), _unit(_as_matrix(B))
    return float(1.0 - A.mean(axis=0) @ B.mean(axis=0))


def prt(A, B) -> float:
    """Cosine distance between the prototypes (mean vectors) of two sets of usages, shapes (n_a, dim), (n_b, dim)."""
    a, b = _as_matrix(A).mean(axis=0), _as_matrix(B).mean(axis=0)
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


@dataclass(frozen=True)
class PairResult:
    """Change between an earlier and a later period.

    Attributes
    ----------
    earlier, later : str
        Period names.
    n_earlier, n_later : int
        Occurrences in each.
    consecutive : bool
        The two periods are neighbours in time.
    vs_first : bool
        ``earlier`` is the first period.
    metrics : dict of str to MetricResult
        Keys among ``"apd"``, ``"prt"``, ``"jsd"`` (``"jsd"`` only when sense labels were given).
    """

    earlier: str
    later: str
    n_earlier: int
    n_later: int
    consecutive: bool
    vs_first: bool
    metrics: Mapping[str, MetricResult]

    def to_dict(self) -> dict:
        out = {"earlier": self.earlier, "later": self.later, "n_earlier": self.n_earlier, "n_later": self.n_later,
               "consecutive": self.consecutive, "vs_first": self.vs_first}
        for name, m in self.metrics.items():
            out[name] = m.value
            out[f"{name}_p"] = m.p_value
            out[f"{name}_ci"] = [m.ci_low, m.ci_high]
        return out


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
    n_boot : int
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
    n_boot: int
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
            out[p] = {name: {"count": int(self.counts[i, j]), "share": _num(self.shares[i, j]),
                             "ci": [_num(self.ci_low[i, j]), _num(self.ci_high[i, j])]}
                      for j, name in enumerate(self.sense_names)}
        return {"by_period": out, "first_period": dict(zip(self.sense_names, self.first_period)),
                "largest_from": dict(zip(self.sense_names, self.largest_from)), "n_boot": self.n_boot,
                "ci": self.ci, "appear_min_count": self.appear_min_count}


def _num(x) -> float | None:
    x = float(x)
    return None if math.isnan(x) else x


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
                 n_boot: int = DEFAULT_N_BOOT, ci: float = DEFAULT_CI, random_state=0,
                 appear_min_count: int = 1) -> SenseShares:
    """Share of each sense cluster per period, with bootstrap intervals, first appearance and takeover.

    Parameters
    ----------
    labels : array of shape (n_occurrences,), int
        Sense cluster per occurrence (−1 = noise), same row order as ``periods.codes``.
    periods : Periods
    sense_names : mapping label -> name or list indexed by label, optional
    n_boot : int
        Bootstrap resamples per period (multinomial resampling of the period's occurrences).
    ci : float
    random_state : int or Generator
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
    rng = np.random.default_rng(random_state)
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
    if n_boot:
        for i in range(P):
            if totals[i, 0] == 0:
                continue
            draws = rng.multinomial(int(totals[i, 0]), shares[i], size=int(n_boot)) / totals[i, 0]
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
                       n_boot=int(n_boot), ci=float(ci), appear_min_count=int(appear_min_count))


# ---------------------------------------------------------------------------------------------------------------------
# Whole analysis for one target
# ---------------------------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class ShiftResult:
    """Everything the Shift page and ``shift.json`` show for one target.

    Attributes
    ----------
    periods : Periods
    pairs : tuple of PairResult
        Consecutive pairs and each period vs the first, in time order, without duplicates.
    shares : SenseShares or None
        None when no sense labels were given.
    params : dict
        The parameters (for the manifest).
    """

    periods: Periods
    pairs: tuple[PairResult, ...]
    shares: SenseShares | None
    params: dict = field(default_factory=dict)

    def pairs_frame(self) -> pd.DataFrame:
        """Tidy table: one row per (pair, metric) with ``earlier``, ``later``, ``later_order``, ``consecutive``,
        ``vs_first``, ``metric``, ``value``, ``p_value``, ``ci_low``, ``ci_high``, ``n_permutations``, ``n_boot``,
        ``n_earlier``, ``n_later``."""
        order = {n: i for i, n in enumerate(self.periods.names)}
        rows = []
        for pr in self.pairs:
            for name, m in pr.metrics.items():
                rows.append({"earlier": pr.earlier, "later": pr.later, "later_order": order[pr.later],
                             "consecutive": pr.consecutive, "vs_first": pr.vs_first, "metric": name,
                             "value": m.value, "p_value": m.p_value, "ci_low": m.ci_low, "ci_high": m.ci_high,
                             "n_permutations": m.n_permutations, "n_boot": m.n_boot, "n_earlier": pr.n_earlier,
                             "n_later": pr.n_later})
        return pd.DataFrame(rows)

    def metric_table(self) -> pd.DataFrame:
        """Wide table for display: one row per pair, columns per metric (value, p, interval)."""
        rows = []
        for pr in self.pairs:
            row = {"earlier": pr.earlier, "later": pr.later, "n": f"{pr.n_earlier} / {pr.n_later}",
                   "comparison": ", ".join([c for c, ok in (("consecutive", pr.consecutive), ("vs first", pr.vs_first))
                                            if ok])}
            for name, m in pr.metrics.items():
                row[name.upper()] = m.value
                row[f"{name.upper()} p"] = m.p_value
                row[f"{name.upper()} {int(round(m.ci * 100))}% CI"] = (
                    "" if m.ci_low is None else f"{m.ci_low:.3f} – {m.ci_high:.3f}")
            rows.append(row)
        return pd.DataFrame(rows)

    def pair(self, earlier: str, later: str) -> PairResult:
        for pr in self.pairs:
            if pr.earlier == earlier and pr.later == later:
                return pr
        raise ConfigError(f"no comparison of {earlier!r} with {later!r}")

    def to_dict(self) -> dict:
        return {"periods": self.periods.to_dict(), "pairs": [p.to_dict() for p in self.pairs],
                "shares": None if self.shares is None else self.shares.to_dict(), "params": dict(self.params)}


def period_pairs(n_periods: int) -> list[tuple[int, int, bool, bool]]:
    """(earlier, later, consecutive, vs_first) for consecutive pairs and each period vs the first, without repeats."""
    pairs = {}
    for j in range(1, n_periods):
        pairs[(j - 1, j)] = [True, j - 1 == 0]
        key = (0, j)
        if key in pairs:
            pairs[key][1] = True
        else:
            pairs[key] = [False, True]
    return [(a, b, c, f) for (a, b), (c, f) in sorted(pairs.items(), key=lambda kv: (kv[0][1], kv[0][0]))]


def analyse_shift(X, periods: Periods, *, labels=None, sense_names=None,
                  n_permutations: int = DEFAULT_N_PERMUTATIONS, n_boot: int = DEFAULT_N_BOOT, ci: float = DEFAULT_CI,
                  random_state: int = 0, metrics: Sequence[str] | None = None, appear_min_count: int = 1,
                  pairs: str = "all") -> ShiftResult:
    """Sense shares per period and APD / PRT / JSD between periods, with significance.

    Parameters
    ----------
    X : array of shape (n_occurrences, dim)
        One vector per occurrence (one layer of the embedding set), same row order as ``periods.codes``.
    periods : Periods
    labels : array of shape (n_occurrences,), int, optional
        Sense cluster per occurrence (one clustering of all usages, −1 = noise). Without it, no shares and no JSD.
    sense_names : mapping label -> name, optional
    n_permutations, n_boot, ci, random_state
        See :func:`compare_periods`. Each pair gets its own generator derived from ``random_state``, so a pair's
        result does not depend on which other pairs are computed.
    metrics : sequence of str, optional
        Default: APD and PRT, plus JSD when labels are given.
    appear_min_count : int
        See :func:`sense_shares`.
    pairs : {"all", "first_last"}
        "all": consecutive pairs and each vs the first; "first_last": only the first vs the last period (ranking).

    Returns
    -------
    ShiftResult
    """
    X = _as_matrix(X, n_expected=periods.codes.size)
    check_periods(periods)
    if metrics is None:
        metrics = METRICS if labels is not None else ("apd", "prt")
    if "jsd" in metrics and labels is None:
        raise ConfigError("JSD needs sense clusters; cluster the usages first (Senses page) or leave JSD out")
    if labels is not None:
        labels = np.asarray(labels).astype(int)
        if labels.shape != periods.codes.shape:
            raise ConfigError(f"there are {labels.size} sense labels but {periods.codes.size} occurrences")
    if pairs == "all":
        plan = period_pairs(periods.n_periods)
    elif pairs == "first_last":
        last = periods.n_periods - 1
        plan = [(0, last, last == 1, True)]
    else:
        raise ConfigError(f"unknown pairs {pairs!r}; use 'all' or 'first_last'")
    results = []
    for a, b, cons, first in plan:
        ma, mb = periods.codes == a, periods.codes == b
        seed = np.random.SeedSequence([int(random_state), a, b])
        ms = compare_periods(X[ma], X[mb], labels_a=None if labels is None else labels[ma],
                             labels_b=None if labels is None else labels[mb], n_permutations=n_permutations,
                             n_boot=n_boot, ci=ci, random_state=np.random.default_rng(seed), metrics=metrics)
        results.append(PairResult(earlier=periods.names[a], later=periods.names[b], n_earlier=int(ma.sum()),
                                  n_later=int(mb.sum()), consecutive=cons, vs_first=first, metrics=ms))
    shares = None
    if labels is not None:
        shares = sense_shares(labels, periods, sense_names=sense_names, n_boot=n_boot, ci=ci,
                              random_state=np.random.default_rng(np.random.SeedSequence([int(random_state), 10**6])),
                              appear_min_count=appear_min_count)
    params = {"n_permutations": int(n_permutations), "n_boot": int(n_boot), "ci": float(ci),
              "random_state": int(random_state), "metrics": list(metrics), "pairs": pairs,
              "appear_min_count": int(appear_min_count), "jsd_log": "natural",
              "permutation_p": "(count(null >= observed) + 1) / (n_permutations + 1)",
              "apd": "mean cosine distance over all cross-period pairs",
              "prt": "cosine distance between mean raw vectors", "jsd_noise": "label -1 left out"}
    return ShiftResult(periods=periods, pairs=tuple(results), shares=shares, params=params)


def cluster_labels(X, *, method: str = "kmeans", k="auto", k_range=(2, 10), random_state: int = 0):
    """Sense clusters of all usages for JSD, when the Senses page has not clustered them.

    The vectors are made unit length with the common mean removed (pinned here: this is the preparation
    ``bench/eval_shift.py`` measured, independent of the Senses page's own default) and clustered with
    :func:`analysis.senses.cluster_vectors` (k-means with k chosen by silhouette by default).

    Parameters
    ----------
    X : array of shape (n_occurrences, dim)

    Returns
    -------
    labels : ndarray of shape (n_occurrences,), int
    result : the ClusterResult (``k``, ``silhouette``, ``params``)
    """
    try:
        from analysis.senses import cluster_vectors, preprocess
    except ImportError as exc:  # the Senses module is a sibling issue; say so instead of silently skipping JSD
        raise ConfigError("sense clustering is not available (analysis.senses is missing); JSD needs it") from exc
    from analysis.senses import Preprocessing

    Z = preprocess(np.asarray(X, dtype=np.float32), Preprocessing(normalize=True, remove_mean=True, n_directions=0))
    res = cluster_vectors(Z, method=method, k=k, k_range=k_range, random_state=random_state)
    return np.asarray(res.labels, dtype=int), res


def labels_from_column(values) -> tuple[np.ndarray, dict[int, str]]:
    """Integer sense labels from a column of sense names (e.g. DWUG clusters or gold senses); empty = noise (−1).

    Returns
    -------
    labels : ndarray of shape (n,), int
        0..k-1 in order of decreasing frequency (ties by name), −1 where the value is missing.
    names : dict label -> the column's value
    """
    s = [None if _is_missing(v) or str(v).strip() == "" else str(v).strip() for v in list(values)]
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
# Trajectory and typical occurrences
# ---------------------------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Trajectory:
    """Period prototypes in the projection of the usages, and the most typical occurrences per period.

    Attributes
    ----------
    periods : tuple of str
    prototypes : ndarray of shape (n_periods, dim)
        Mean raw vector per period (NaN rows for empty periods).
    usage_xy : ndarray of shape (n_occurrences, 2)
        PCA coordinates of every occurrence (NaN for rows left out of the periods).
    prototype_xy : ndarray of shape (n_periods, 2)
        The prototypes in the same PCA (= the centroid of each period's points, PCA being linear).
    explained : tuple of float
        Variance ratio of the two components.
    typical : dict of str to ndarray of int
        Per period, occurrence indices (into the full table) of the most typical usages, most typical first.
    typical_similarity : dict of str to ndarray of float
        Their cosine similarity to the period's prototype.
    """

    periods: tuple[str, ...]
    prototypes: np.ndarray
    usage_xy: np.ndarray
    prototype_xy: np.ndarray
    explained: tuple[float, float]
    typical: Mapping[str, np.ndarray]
    typical_similarity: Mapping[str, np.ndarray]

    def prototype_frame(self) -> pd.DataFrame:
        return pd.DataFrame({"period": list(self.periods), "order": range(len(self.periods)),
                             "x": self.prototype_xy[:, 0], "y": self.prototype_xy[:, 1]})

    def typical_frame(self) -> pd.DataFrame:
        rows = []
        for p in self.periods:
            for rank, (i, s) in enumerate(zip(self.typical[p], self.typical_similarity[p]), start=1):
                rows.append({"period": p, "rank": rank, "occurrence_id": int(i), "similarity": float(s)})
        return pd.DataFrame(rows, columns=["period", "rank", "occurrence_id", "similarity"])


def trajectory(X, periods: Periods, *, n_typical: int = DEFAULT_N_TYPICAL) -> Trajectory:
    """Prototypes per period in a 2-d PCA of the usages, and the ``n_typical`` usages nearest each prototype.

    Parameters
    ----------
    X : array of shape (n_occurrences, dim)
    periods : Periods
    n_typical : int

    Returns
    -------
    Trajectory
    """
    X = _as_matrix(X, n_expected=periods.codes.size)
    inside = periods.codes >= 0
    if inside.sum() < 2:
        raise TooFewPointsError("fewer than two occurrences have a period; there is no trajectory to draw")
    Xi = X[inside]
    mean = Xi.mean(axis=0)
    # PCA by SVD of the centred usages (deterministic up to sign; the sign is fixed so the largest loading is positive).
    _, s, vt = np.linalg.svd(Xi - mean, full_matrices=False)
    comps = vt[:2]
    if comps.shape[0] < 2:
        comps = np.vstack([comps, np.zeros((2 - comps.shape[0], X.shape[1]))])
    signs = np.sign(comps[np.arange(comps.shape[0]), np.argmax(np.abs(comps), axis=1)])
    comps = comps * np.where(signs == 0, 1, signs)[:, None]
    var = np.concatenate([s ** 2, np.zeros(2)])
    total = var.sum()
    explained = (float(var[0] / total), float(var[1] / total)) if total > 0 else (0.0, 0.0)
    usage_xy = np.full((len(X), 2), np.nan)
    usage_xy[inside] = (Xi - mean) @ comps.T
    protos = np.full((periods.n_periods, X.shape[1]), np.nan)
    typical, sims = {}, {}
    for i, name in enumerate(periods.names):
        idx = np.flatnonzero(periods.codes == i)
        if idx.size == 0:
            typical[name], sims[name] = np.array([], dtype=int), np.array([])
            continue
        protos[i] = X[idx].mean(axis=0)
        Ui = _unit(X[idx])
        p = protos[i] / np.linalg.norm(protos[i])
        sim = Ui @ p
        top = np.argsort(-sim, kind="stable")[: max(0, int(n_typical))]
        typical[name], sims[name] = idx[top], sim[top]
    proto_xy = np.where(np.isnan(protos[:, :1]), np.nan, (np.nan_to_num(protos) - mean) @ comps.T)
    return Trajectory(periods=periods.names, prototypes=protos, usage_xy=usage_xy, prototype_xy=proto_xy,
                      explained=(explained[0], explained[1]), typical=typical, typical_similarity=sims)


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


@dataclass(frozen=True)
class Gold:
    """Gold change scores per target.

    Attributes
    ----------
    graded : dict of str to float or None
    binary : dict of str to int or None
    source : str
        File name(s) they came from.
    """

    graded: Mapping[str, float] | None
    binary: Mapping[str, int] | None
    source: str = ""

    def merged(self, other: "Gold") -> "Gold":
        return Gold(graded=self.graded if self.graded is not None else other.graded,
                    binary=self.binary if self.binary is not None else other.binary,
                    source=" + ".join(s for s in (self.source, other.source) if s))


def read_gold(path_or_text, *, kind: str = "auto", name: str | None = None) -> Gold:
    """Read gold change scores.

    Accepted formats: a two-column TSV ``target<TAB>score`` without header (SemEval-2020 Task 1 ``truth`` files;
    a file whose scores are all 0/1 integers is taken as binary gold, unless ``kind`` says otherwise), or DWUG
    ``stats_groupings.csv`` / ``stats.csv`` (tab-separated with a header holding ``lemma`` and ``change_graded`` and/or
    ``change_binary``; both are read).

    Parameters
    ----------
    path_or_text : path, or bytes/str contents (from an upload)
    kind : {"auto", "graded", "binary"}
    name : str, optional
        File name for messages when contents are given.

    Returns
    -------
    Gold
    """
    if kind not in ("auto", "graded", "binary"):
        raise ConfigError(f"unknown gold kind {kind!r}; use auto, graded or binary")
    if isinstance(path_or_text, bytes):
        text = path_or_text.decode("utf-8-sig", errors="replace")
        label = name or "uploaded gold file"
    elif isinstance(path_or_text, Path) or (isinstance(path_or_text, str) and "\n" not in path_or_text
                                             and "\t" not in path_or_text):
        path = Path(path_or_text)
        if not path.is_file():
            raise GoldFileError(f"gold file {str(path)!r} does not exist")
        text = path.read_text(encoding="utf-8-sig", errors="replace")
        label = name or path.name
    else:
        text, label = str(path_or_text), name or "gold text"
    lines = [ln for ln in text.splitlines() if ln.strip()]
    if not lines:
        raise GoldFileError(f"{label} is empty")
    header = [h.strip() for h in lines[0].split("\t")]
    if "lemma" in header and ("change_graded" in header or "change_binary" in header):
        rows = [ln.split("\t") for ln in lines[1:]]
        li = header.index("lemma")
        graded = binary = None
        if "change_graded" in header and kind in ("auto", "graded"):
            gi = header.index("change_graded")
            graded = {}
            for n, r in enumerate(rows, start=2):
                graded[r[li].strip()] = _parse_score(r[gi] if gi < len(r) else "", label, n)
        if "change_binary" in header and kind in ("auto", "binary"):
            bi = header.index("change_binary")
            binary = {}
            for n, r in enumerate(rows, start=2):
                binary[r[li].strip()] = _parse_binary(r[bi] if bi < len(r) else "", label, n)
        return Gold(graded=graded, binary=binary, source=label)
    scores: dict[str, float] = {}
    raw: dict[str, str] = {}
    for n, ln in enumerate(lines, start=1):
        parts = ln.strip().split("\t") if "\t" in ln else ln.split()
        if len(parts) != 2:
            raise GoldFileError(f"{label}, line {n}: expected 'target<TAB>score', got {ln.strip()[:60]!r}")
        t, s = parts[0].strip(), parts[1].strip()
        scores[t] = _parse_score(s, label, n)
        raw[t] = s
    is_binary = all(v in ("0", "1") for v in raw.values())
    if kind == "binary" or (kind == "auto" and is_binary):
        if not is_binary:
            raise GoldFileError(f"{label}: binary gold must hold only 0 and 1")
        return Gold(graded=None, binary={t: int(v) for t, v in raw.items()}, source=label)
    return Gold(graded=scores, binary=None, source=label)


def _parse_score(s: str, label: str, line: int) -> float:
    try:
        v = float(s)
    except ValueError:
        raise GoldFileError(f"{label}, line {line}: {s.strip()[:30]!r} is not a number") from None
    if not math.isfinite(v):
        raise GoldFileError(f"{label}, line {line}: the score is not a finite number")
    return v


def _parse_binary(s: str, label: str, line: int) -> int:
    v = _parse_score(s, label, line)
    if v not in (0.0, 1.0):
        raise GoldFileError(f"{label}, line {line}: binary change must be 0 or 1, got {s.strip()!r}")
    return int(v)


_POS_SUFFIX = re.compile(r"_[a-z]{2,3}$")


def match_targets(targets: Sequence[str], gold_keys: Sequence[str]) -> dict[str, str]:
    """Map targets to gold keys: exact match first, then with a POS suffix such as ``_nn`` stripped on either side
    (``plane_nn`` ↔ ``plane``), but only where that is unambiguous."""
    keys = set(gold_keys)
    out = {}
    stripped: dict[str, list[str]] = {}
    for k in keys:
        stripped.setdefault(_POS_SUFFIX.sub("", k), []).append(k)
    for t in targets:
        if t in keys:
            out[t] = t
            continue
        base = _POS_SUFFIX.sub("", t)
        cands = stripped.get(base, [])
        if len(cands) == 1:
            out[t] = cands[0]
    return out


@dataclass(frozen=True)
class Evaluation:
    """A ranking scored against gold.

    Attributes
    ----------
    spearman : dict of metric -> rho (NaN where not computable)
    spearman_p : dict of metric -> p-value of rho
    n_graded : int
        Targets with graded gold and a score.
    accuracy : dict of metric -> binary accuracy (empty without binary gold)
    n_binary : int
    binary_rule : str
    matched : dict target -> gold key
    unmatched_targets : tuple of str
    predicted_binary : dict metric -> dict target -> 0/1
    """

    spearman: Mapping[str, float]
    spearman_p: Mapping[str, float]
    n_graded: int
    accuracy: Mapping[str, float]
    n_binary: int
    binary_rule: str
    matched: Mapping[str, str]
    unmatched_targets: tuple[str, ...]
    predicted_binary: Mapping[str, Mapping[str, int]] = field(default_factory=dict)
    matched_graded: Mapping[str, str] = field(default_factory=dict)
    matched_binary: Mapping[str, str] = field(default_factory=dict)

    def gold_column(self, gold: "Gold", targets: Sequence[str]) -> list[float]:
        """Graded gold score of each target (NaN where there is none), for plots."""
        g = gold.graded or {}
        return [float(g[self.matched_graded[t]]) if t in self.matched_graded else float("nan") for t in targets]

    def spearman_json(self) -> dict:
        """The ``spearman.json`` of ``shift-rank``: ``{"apd": rho, "prt": rho, "jsd": rho, "n": targets}``."""
        return {m: _num(self.spearman.get(m, float("nan"))) for m in METRICS} | {"n": int(self.n_graded)}

    def to_dict(self) -> dict:
        return {"spearman": {m: _num(v) for m, v in self.spearman.items()},
                "spearman_p": {m: _num(v) for m, v in self.spearman_p.items()}, "n_graded": self.n_graded,
                "accuracy": {m: _num(v) for m, v in self.accuracy.items()}, "n_binary": self.n_binary,
                "binary_rule": self.binary_rule, "matched": dict(self.matched),
                "unmatched_targets": list(self.unmatched_targets)}


def binarise(scores: pd.Series, p_values: pd.Series | None = None, *, rule: str = DEFAULT_BINARY_RULE,
             alpha: float = 0.05) -> pd.Series:
    """Changed (1) / stable (0) per target: ``"mean"`` = score above the mean score of the given targets;
    ``"permutation"`` = permutation p-value below ``alpha``."""
    if rule == "mean":
        return (scores > scores.mean()).astype(int)
    if rule == "permutation":
        if p_values is None or p_values.isna().all():
            raise ConfigError("the 'permutation' binary rule needs permutation p-values (run with permutations)")
        return (p_values < alpha).astype(int)
    raise ConfigError(f"unknown binary rule {rule!r}; use one of {', '.join(BINARY_RULES)}")


def evaluate_ranking(ranking: pd.DataFrame, gold: Gold, *, binary_rule: str = DEFAULT_BINARY_RULE,
                     alpha: float = 0.05) -> Evaluation:
    """Spearman's rho of each metric against graded gold; accuracy against binary gold.

    Parameters
    ----------
    ranking : DataFrame from :func:`rank_targets`
    gold : Gold
    binary_rule : {"mean", "permutation"}
        How a metric becomes a changed/stable decision (see :data:`DEFAULT_BINARY_RULE`).
    alpha : float
        Significance level of the "permutation" rule.

    Returns
    -------
    Evaluation
    """
    from scipy.stats import spearmanr

    if gold.graded is None and gold.binary is None:
        raise GoldFileError("the gold file holds neither graded nor binary scores")
    targets = list(ranking["target"])
    # Matched separately: a graded file may say "plane" while a binary one says "plane_nn".
    mg = match_targets(targets, sorted(gold.graded)) if gold.graded is not None else {}
    mb = match_targets(targets, sorted(gold.binary)) if gold.binary is not None else {}
    matched = {**mb, **mg}
    if not matched:
        keys = sorted(set(gold.graded or {}) | set(gold.binary or {}))
        raise GoldFileError(f"no target matches the gold file's first column (targets: "
                            f"{', '.join(targets[:5])}; gold: {', '.join(keys[:5])})")
    unmatched = tuple(t for t in targets if t not in matched)
    rho, rho_p, acc, pred = {}, {}, {}, {}
    n_graded = n_binary = 0
    if gold.graded is not None:
        sub = ranking[ranking["target"].map(lambda t: t in mg)]
        g = sub["target"].map(lambda t: gold.graded[mg[t]]).astype(float)
        n_graded = len(sub)
        for m in METRICS:
            ok = sub[m].notna()
            if ok.sum() >= 3 and sub.loc[ok, m].nunique() > 1 and g[ok].nunique() > 1:
                r = spearmanr(sub.loc[ok, m], g[ok])
                rho[m], rho_p[m] = float(r.statistic), float(r.pvalue)
            else:
                rho[m], rho_p[m] = float("nan"), float("nan")
    if gold.binary is not None:
        sub = ranking[ranking["target"].map(lambda t: t in mb)]
        g = sub["target"].map(lambda t: gold.binary[mb[t]]).astype(int)
        n_binary = len(sub)
        for m in METRICS:
            ok = sub[m].notna()
            if ok.sum() == 0:
                continue
            b = binarise(sub.loc[ok, m], sub.loc[ok, f"{m}_p"], rule=binary_rule, alpha=alpha)
            acc[m] = float((b.to_numpy() == g[ok].to_numpy()).mean())
            pred[m] = dict(zip(sub.loc[ok, "target"], b.astype(int)))
    return Evaluation(spearman=rho, spearman_p=rho_p, n_graded=n_graded, accuracy=acc, n_binary=n_binary,
                      binary_rule=binary_rule, matched=matched, unmatched_targets=unmatched, predicted_binary=pred,
                      matched_graded=mg, matched_binary=mb)
