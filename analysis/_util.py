"""The few small helpers every analysis needs, written once.

Natural sort order for labels and names, what counts as a missing value, and JSON-safe cleaning of results (NaN/inf ->
None, numpy -> Python).
Anything bigger belongs in the package of the analysis that owns it.
"""

from __future__ import annotations

import math
import re
import warnings
from typing import Any, Iterable

import numpy as np
import pandas as pd

from analysis.errors import ConfigError

_DIGITS = re.compile(r"(\d+)")
#: Placeholder names that always sort last (missing values in count tables and legends).
_LAST = {"(none)", "(missing)", "noise"}


def is_missing(value: Any) -> bool:
    """True for a missing scalar: None, NaN (float or numpy), pandas' NA and NaT, numpy's NaT; any other object
    (a string, a number, a list or an array) is a value."""
    if value is None or value is pd.NA or value is pd.NaT:
        return True
    if isinstance(value, (float, np.floating)):
        return math.isnan(value)
    return isinstance(value, (np.datetime64, np.timedelta64)) and bool(np.isnat(value))


def natural_key(value: Any) -> tuple:
    """Sort key giving natural order: ``s2`` before ``s10``, ``2`` before ``10``, ``-1`` before ``0``.

    Numbers (also negative or decimal ones, such as DWUG cluster ids or years stored as text) sort by value before
    any text; text sorts by its runs of letters and digits, digits compared as numbers; placeholders such as
    ``(none)`` come last. Works on mixed types (ints, floats, strings, None).
    """
    if is_missing(value):
        return (3, (), "")
    text = str(value).strip()
    if text.lower() in _LAST:
        return (2, (), text)
    try:
        return (0, (float(text),), text)
    except ValueError:
        pass
    parts = tuple((0, int(p), "") if p.isdigit() else (1, 0, p.lower()) for p in _DIGITS.split(text) if p)
    return (1, parts, text)


def natural_sorted(values: Iterable) -> list:
    """``values`` in :func:`natural_key` order."""
    return sorted(values, key=natural_key)


def json_clean(obj: Any) -> Any:
    """A JSON-safe copy of ``obj``: NaN/inf -> None, numpy scalars and arrays -> Python, keys -> str, tuples -> lists."""
    if isinstance(obj, dict):
        return {str(k): json_clean(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple, set, frozenset)):
        return [json_clean(v) for v in obj]
    if isinstance(obj, np.ndarray):
        return [json_clean(v) for v in obj.tolist()]
    if isinstance(obj, (bool, np.bool_)):
        return bool(obj)
    if isinstance(obj, np.integer):
        return int(obj)
    if isinstance(obj, (float, np.floating)):
        return float(obj) if math.isfinite(float(obj)) else None
    return obj


def finite_or_none(x: Any) -> float | None:
    """``float(x)``, or None when it is missing, NaN or infinite (for JSON and tables)."""
    try:
        value = float(x)
    except (TypeError, ValueError):
        return None
    return value if math.isfinite(value) else None


def as_matrix(X, *, what: str = "vectors", dtype=np.float64, n_rows: int | None = None) -> np.ndarray:
    """``X`` as a finite, non-empty 2-D array (n_occurrences, dim) of ``dtype``; a clear error otherwise.

    ``n_rows`` checks the row count against what the caller pairs the rows with (periods, labels).
    """
    from analysis.errors import ConfigError, TooFewPointsError

    X = np.asarray(X, dtype=dtype)
    if X.ndim != 2:
        raise ConfigError(f"{what} must be a 2-D array of shape (n_occurrences, dim), not shape {X.shape}")
    if X.shape[0] == 0:
        raise TooFewPointsError("there are no occurrences to analyse")
    if n_rows is not None and X.shape[0] != n_rows:
        raise ConfigError(f"there are {X.shape[0]} {what} but {n_rows} rows to pair them with")
    if not all_finite(X):
        raise ConfigError(f"{what} contain NaN or infinite values")
    return X


def all_finite(X: np.ndarray, rows: int = 65_536) -> bool:
    """``np.isfinite(X).all()`` over blocks of rows: no boolean temporary the size of X (384 MB at a million MiniLM
    vectors, and fresh memory is what costs most on a busy or virtual machine)."""
    X = np.asarray(X)
    if X.ndim < 2 or X.shape[0] <= rows:
        return bool(np.isfinite(X).all())
    return all(bool(np.isfinite(X[lo:lo + rows]).all()) for lo in range(0, X.shape[0], rows))


def unit_rows(X: np.ndarray, *, what: str = "vectors", zero_ok: bool = False, copy: bool = True) -> np.ndarray:
    """Rows of ``X`` scaled to length 1 (for cosine similarity).

    An all-zero row has no direction: ConfigError, unless ``zero_ok`` (then it stays all zeros, similar to nothing).
    ``copy=False``: for read-only use, ``X`` itself is returned when its rows already have length 1 (within 1e-5),
    which saves a pass over a big set of prepared vectors.
    """
    from analysis.errors import ConfigError

    X = np.asarray(X)
    if X.ndim == 2 and X.dtype in (np.float32, np.float64):
        norms = np.sqrt(np.einsum("ij,ij->i", X, X))[:, None]  # no (n, dim) temporary of squares
    else:
        norms = np.linalg.norm(X, axis=1, keepdims=True)
    if not zero_ok and np.any(norms == 0):
        raise ConfigError(f"{int(np.sum(norms == 0))} of the {what} are all zeros; their cosine similarity is "
                          f"undefined")
    if not copy and np.all(np.abs(norms - 1.0) <= 1e-5):
        return X
    return X / np.maximum(norms, 1e-12)


#: Keyword names the analysis functions once took, and the names they take now (one of each in the whole package).
OLD_NAMES = {"random_state": "seed", "n_boot": "n_bootstrap"}


def renamed_options(options: dict, where: str) -> dict:
    """``options`` with the old keyword names of :data:`OLD_NAMES` replaced by the current ones; a
    DeprecationWarning names each old one used; ConfigError when both names are given."""
    out = dict(options)
    for old, new in OLD_NAMES.items():
        if old in out:
            if new in out:
                raise ConfigError(f"{where}: give {new} or its old name {old}, not both")
            warnings.warn(f"{where}: {old}= is the old name of {new}=", DeprecationWarning, stacklevel=3)
            out[new] = out.pop(old)
    return out
