"""The documents table: which columns mean what (ColumnSpec), the year rule, standard columns, offsets."""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np
import pandas as pd

from analysis._util import is_missing
from analysis.errors import CorpusError

_YEAR_RE = re.compile(r"(?<!\d)(\d{3,4})(?!\d)")
# A cell that is only a (signed) number is a year as it stands: "-500" is 500 BC, not 500.
_NUMBER_YEAR_RE = re.compile(r"^\s*([-\u2212+]?)(\d{1,4})(?:\.0*)?\s*$")
_BC_YEAR_RE = re.compile(r"(?<!\d)(\d{1,4})\s*(?:BCE?|B\.\s?C\.(?:\s?E\.)?)(?![A-Za-z])", re.IGNORECASE)


@dataclass(frozen=True)
class ColumnSpec:
    """Which columns of a table mean what. ``None`` = not present / not used."""

    text: str | None = None
    id: str | None = None
    year: str | None = None
    period: str | None = None
    label: str | None = None
    start: str | None = None
    end: str | None = None


# ------------------------------------------------------------------------------------------------------------ corpus
def parse_years(values: pd.Series) -> pd.Series:
    """Year as a nullable integer from numbers or date strings, else <NA>: THE year rule of the project.

    "1836", "1836-05-01", "May 1836", "c. 1836", "1836?" -> 1836 (the first run of 3-4 digits in a text is its
    year: an approximate date counts as that year); a signed number keeps its sign ("-500" -> -500) and "500 BC" /
    "500 BCE" -> -500 (astronomical numbering is not applied: 1 BC is -1). A number that is not whole (1836.5), a
    boolean and a text without such digits ("n.d.") are not years. Missing values (None, NaN, NaT) stay <NA>.
    """
    def one(v):
        if is_missing(v):
            return pd.NA
        if isinstance(v, (bool, np.bool_)):
            return pd.NA
        if isinstance(v, (int, np.integer)):
            return int(v)
        if isinstance(v, (float, np.floating)):
            return int(v) if float(v).is_integer() else pd.NA
        if hasattr(v, "year"):
            return int(v.year)
        text = str(v)
        m = _NUMBER_YEAR_RE.match(text)
        if m:
            return -int(m.group(2)) if m.group(1) in ("-", "\u2212") else int(m.group(2))
        if re.fullmatch(r"\s*[-\u2212+]?\d+\.\d+\s*", text):  # "1836.5": a number, as the float 1836.5, not whole
            return pd.NA
        m = _BC_YEAR_RE.search(text)
        if m:
            return -int(m.group(1))
        m = _YEAR_RE.search(text)
        return int(m.group(1)) if m else pd.NA
    return pd.Series([one(v) for v in values], index=values.index, dtype="Int64")


def standardize(df: pd.DataFrame, spec: ColumnSpec, name: str = "corpus") -> pd.DataFrame:
    """Rename the user's columns to the standard names; keep every other column as metadata."""
    if df.empty:
        raise CorpusError(f"{name} has no rows")
    df = df.copy()
    df.columns = [str(c) for c in df.columns]
    missing = [c for c in (spec.text, spec.id, spec.year, spec.period, spec.label, spec.start, spec.end)
               if c is not None and c not in df.columns]
    if missing:
        raise CorpusError(f"{name} has no column {missing[0]!r}; its columns are: {', '.join(df.columns[:20])}")
    text_col = spec.text
    if text_col is None:
        if "text" in df.columns:
            text_col = "text"
        else:
            raise CorpusError(f"{name}: say which column holds the text; columns are: {', '.join(df.columns[:20])}")
    out = pd.DataFrame(index=df.index)
    out["doc_id"] = df[spec.id].astype(str) if spec.id else [str(i) for i in range(len(df))]
    out["text"] = df[text_col].fillna("").astype(str)
    if spec.year:
        out["year"] = parse_years(df[spec.year])
    if spec.period:
        out["period"] = df[spec.period].astype("string")
    if spec.label:
        out["label"] = df[spec.label].astype("string")
    for key, col in (("start", spec.start), ("end", spec.end)):
        if col:
            out[key] = _offsets(df[col], col, name)
    used = {c for c in (spec.id, text_col, spec.year, spec.period, spec.label, spec.start, spec.end) if c}
    for c in df.columns:
        if c not in used and c not in out.columns:
            out[c] = df[c]
    if not out["text"].str.strip().any():
        raise CorpusError(f"{name}: column {text_col!r} holds no text")
    return out.reset_index(drop=True)


def _offsets(values: pd.Series, col: str, name: str) -> np.ndarray:
    """Character offsets as int64; a missing, non-numeric or non-integral value (``2.5``) is refused, not rounded."""
    num = pd.to_numeric(values, errors="coerce").astype(float).to_numpy()
    bad = ~np.isfinite(num)
    if bad.any():
        row = int(np.flatnonzero(bad)[0])
        raise CorpusError(f"{name}: column {col!r} row {row + 1} is not a character offset")
    frac = num != np.floor(num)
    if frac.any():
        row = int(np.flatnonzero(frac)[0])
        raise CorpusError(f"{name}: column {col!r} row {row + 1} holds {values.iloc[row]!r}, which is not a whole "
                          f"number; character offsets must be integers")
    return num.astype(np.int64)
