"""Periods: assigning occurrences to ordered periods from a period column or year bins."""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from typing import Sequence

import numpy as np
import pandas as pd

from analysis._util import is_missing, natural_key, natural_sorted
from analysis.corpus import parse_years
from analysis.errors import ConfigError
from analysis.shift.common import (DEFAULT_N_BINS, MIN_PERIOD_COUNT, PERIOD_MODES, THIN_PERIOD_COUNT,
                                   OnePeriodError, PeriodError, ThinPeriodError)


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


def year_values(values: Sequence | pd.Series) -> tuple[np.ndarray, int, int]:
    """Years of a column as floats, by the project's one year rule (:func:`analysis.corpus.parse_years`).

    Parameters
    ----------
    values : sequence of length n
        ints, floats, strings such as ``"1836"``, ``"1836-05-01"`` or ``"c. 1836"``, datetimes, or missing values.

    Returns
    -------
    years : ndarray of shape (n,), float
        The year, NaN where there is none.
    n_missing : int
        Empty values (None, NaN, NaT, "").
    n_unparsable : int
        Non-empty values that are not a year (``"n.d."``, ``1836.5``).
    """
    s = values if isinstance(values, pd.Series) else pd.Series(list(values), dtype=object)
    years = parse_years(s).to_numpy(dtype="float64", na_value=np.nan)
    empty = np.array([is_missing(v) or (isinstance(v, str) and not v.strip()) for v in s.tolist()], dtype=bool)
    return years, int(empty.sum()), int((np.isnan(years) & ~empty).sum())


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


@dataclass(frozen=True)
class PeriodSpec:
    """How to make periods (see :func:`make_periods`).

    Attributes
    ----------
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
        otherwise by the median year of each period when ``year_column`` is given, otherwise natural order).
    thin_count : int
        Periods with fewer occurrences get a warning.
    """

    period_column: str | None = None
    year_column: str | None = None
    mode: str | None = None
    n_bins: int = DEFAULT_N_BINS
    edges: Sequence[float] | None = None
    order: Sequence[str] | None = None
    thin_count: int = THIN_PERIOD_COUNT

    def resolved_mode(self) -> str:
        """The mode, defaulted from the columns given; a ConfigError for an unknown one."""
        mode = self.mode
        if mode is None:
            mode = "column" if self.period_column else ("edges" if self.edges is not None else "equal-width")
        if mode not in PERIOD_MODES:
            raise ConfigError(f"unknown period mode {mode!r}; choose one of {', '.join(PERIOD_MODES)}")
        return mode


def make_periods(occurrences: pd.DataFrame, spec: PeriodSpec | None = None, **fields) -> Periods:
    """Assign each occurrence to a period: the values of a period column, or bins of a year column.

    Parameters
    ----------
    occurrences : DataFrame with n rows
        The occurrences table (row order = embedding set order).
    spec : PeriodSpec, optional
    **fields
        :class:`PeriodSpec` fields (``period_column=``, ``year_column=``, ``mode=``, ``n_bins=``, ``edges=``,
        ``order=``, ``thin_count=``), given instead of or on top of ``spec``.

    Returns
    -------
    Periods
        Rows without a period value or a year inside the bins get code -1 and are counted by reason.
    """
    spec = replace(spec or PeriodSpec(), **fields)
    mode = spec.resolved_mode()
    if mode == "column":
        periods, warnings = _column_periods(occurrences, spec)
    else:
        periods, warnings = _year_periods(occurrences, spec, mode)
    return _finish(periods, warnings, spec.thin_count)


def _column(occurrences: pd.DataFrame, name: str | None, what: str) -> pd.Series:
    if not name:
        raise PeriodError(what)
    if name not in occurrences.columns:
        raise PeriodError(f"column {name!r} is not in the occurrences table "
                          f"(columns: {', '.join(map(str, occurrences.columns))})")
    return occurrences[name]


def _column_periods(occurrences: pd.DataFrame, spec: PeriodSpec) -> tuple[Periods, list[str]]:
    """Periods = the distinct values of ``spec.period_column`` (integral floats read as whole numbers)."""
    raw = _column(occurrences, spec.period_column, "choose a period column (or bin a year column instead)")
    text = pd.Series([None if is_missing(v) else
                      (str(int(v)) if isinstance(v, (float, np.floating)) and float(v).is_integer()
                       else str(v).strip()) for v in raw.tolist()], index=raw.index, dtype=object)
    missing = text.isna() | (text == "")
    n_missing = int(missing.sum())
    present = sorted(set(text[~missing]))
    if not present:
        raise PeriodError(f"column {spec.period_column!r} has no values; every row is empty")
    names = _column_order(present, text, occurrences, spec)
    lookup = {n: i for i, n in enumerate(names)}
    codes = np.array([lookup.get(t, -1) if isinstance(t, str) else -1 for t in text], dtype=int)
    warnings = [f"{n_missing} row(s) have no value in {spec.period_column!r} and are left out"] if n_missing else []
    counts = tuple(int(np.sum(codes == i)) for i in range(len(names)))
    return Periods(codes=codes, names=tuple(names), counts=counts, source="column", column=spec.period_column,
                   n_missing=n_missing), warnings


def _column_order(present: list[str], text: pd.Series, occurrences: pd.DataFrame, spec: PeriodSpec) -> list[str]:
    """Time order of period names: the given order, else by value (all numbers), else by median year, else natural."""
    if spec.order is not None:
        order = [str(o) for o in spec.order]
        unknown = [p for p in present if p not in order]
        if unknown:
            raise PeriodError(f"the period order does not mention {', '.join(map(repr, unknown[:5]))}")
        return [o for o in order if o in present]
    if all(natural_key(p)[0] == 0 for p in present):  # all numbers: by value
        return natural_sorted(present)
    if spec.year_column and spec.year_column in occurrences.columns:
        years, _, _ = year_values(occurrences[spec.year_column])
        med = {p: np.nanmedian(years[(text == p).to_numpy()]) if np.isfinite(years[(text == p).to_numpy()]).any()
               else np.inf for p in present}
        return sorted(present, key=lambda p: (med[p], natural_key(p)))
    return natural_sorted(present)  # "period 2" before "period 10"


def _year_periods(occurrences: pd.DataFrame, spec: PeriodSpec, mode: str) -> tuple[Periods, list[str]]:
    """Periods = bins of the years in ``spec.year_column`` (equal-width, equal-count or given edges)."""
    column = _column(occurrences, spec.year_column, "choose a year column to bin (or use a period column)")
    years, n_missing, n_unparsable = year_values(column)
    if not np.isfinite(years).any():
        raise PeriodError(f"none of the {len(years)} rows has a parsable year in column {spec.year_column!r}")
    warnings = []
    if n_missing:
        warnings.append(f"{n_missing} row(s) have no (parsable) year in {spec.year_column!r} and are left out")
    if n_unparsable:
        warnings.append(f"{n_unparsable} row(s) have a value in {spec.year_column!r} that is not a year and are "
                        f"left out")
    integral = _is_integral(years)
    n_out = 0
    if mode == "edges":
        e = _given_edges(spec.edges)
        n_out = int(np.sum(np.isfinite(years) & ((years < e[0]) | (years > e[-1]))))
        if n_out:
            warnings.append(f"{n_out} row(s) have a year outside {e[0]:g}–{e[-1]:g} and are left out")
    else:
        e = _computed_edges(years, spec.n_bins, mode, integral, n_left=n_missing + n_unparsable, warnings=warnings)
    codes = _assign_bins(years, e)
    names = _bin_names(e, integral, closed_last=mode != "equal-count")
    counts = tuple(int(np.sum(codes == i)) for i in range(len(names)))
    return Periods(codes=codes, names=tuple(names), counts=counts, source=mode, column=spec.year_column,
                   edges=tuple(float(x) for x in e), n_missing=n_missing, n_unparsable=n_unparsable,
                   n_out_of_range=n_out), warnings


def _given_edges(edges: Sequence[float] | None) -> np.ndarray:
    if edges is None or len(edges) < 2:
        raise PeriodError("give at least two bin edges (e.g. 1810, 1860, 2010)")
    e = np.asarray([float(x) for x in edges])
    if not np.all(np.isfinite(e)) or np.any(np.diff(e) <= 0):
        raise PeriodError(f"bin edges must be finite and strictly increasing; got {', '.join(f'{x:g}' for x in e)}")
    return e


def _computed_edges(years: np.ndarray, n_bins: int, mode: str, integral: bool, *, n_left: int,
                    warnings: list[str]) -> np.ndarray:
    """Edges of ``n_bins`` equal-width bins over the year range, or equal-count bins at quantiles of the years."""
    if int(n_bins) < 2:
        raise PeriodError(f"use at least 2 bins (got {n_bins})")
    n_bins = int(n_bins)
    finite = years[np.isfinite(years)]
    lo, hi = float(finite.min()), float(finite.max())
    if lo == hi:
        raise OnePeriodError(f"every dated row has the same year ({lo:g}); there is only one period"
                             + (f" ({n_left} row(s) without a (parsable) year left out)" if n_left else ""))
    if mode == "equal-width":
        e = np.linspace(lo, hi, n_bins + 1)
        if integral:
            # Cut between whole years so that each year falls in exactly one bin and names are exact.
            e[1:-1] = np.ceil(e[1:-1])
            e = np.unique(e)
        return e
    # equal-count: cut at quantiles of the years; all rows of one year stay in one bin.
    srt = np.sort(finite)
    cuts = [srt[min(len(srt) - 1, int(math.ceil(len(srt) * i / n_bins)))] for i in range(1, n_bins)]
    # The top edge lies just above the largest year so that a cut at that year still leaves it a bin.
    top = hi + 1 if integral else float(np.nextafter(hi, np.inf))
    e = np.unique(np.concatenate([[lo], cuts, [top]]))
    if len(e) - 1 < n_bins:
        warnings.append(f"only {len(e) - 1} equal-count bins are possible because many rows share a year "
                        f"(asked for {n_bins})")
    return e


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
