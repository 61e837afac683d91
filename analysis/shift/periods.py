"""Periods: assigning occurrences to ordered periods from a period column or year bins."""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Sequence

import numpy as np
import pandas as pd

from analysis._util import natural_key, natural_sorted
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
