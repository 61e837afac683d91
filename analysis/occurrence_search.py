"""Find occurrences: by text (a substring or a regular expression, in the context or in a metadata column) and by
meaning (the nearest neighbours of one occurrence in the full vector space of a layer).

Text search runs through :mod:`analysis.textsearch` (the ``regex`` engine with a wall-clock deadline), so no pattern,
however it backtracks, can hang a session: past the deadline the search stops with a clear message. A substring is
matched literally; either kind is case-insensitive unless asked otherwise. ``column="text"`` searches the whole text
the occurrence sits in (its context); any other column searches that column's values read as text (missing values
never match).

Neighbours are ranked by cosine similarity of the layer vectors (the mean of the layers a spec of
:mod:`analysis.layers` names), the occurrence itself left out; ties keep the row order, so the ranking is
reproducible. Nothing here is fitted: the projection on the page is only where the neighbours are drawn.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import regex as rx

from analysis import layers as L
from analysis import textsearch
from analysis._util import as_matrix, unit_rows
from analysis.corpus import kwic
from analysis.errors import ConfigError, CorpusError

CONTEXT = "text"


@dataclass
class SearchResult:
    """Which occurrences a search found: ``mask`` (n,) bool, ``lines`` (KWIC rows of the hits, with ``found``, the
    first match in a short context), and the query as given."""

    mask: np.ndarray
    lines: pd.DataFrame
    query: str
    column: str
    regex: bool

    @property
    def n(self) -> int:
        return int(self.mask.sum())

    @property
    def ids(self) -> list[int]:
        return [int(i) for i in self.lines["occurrence_id"]]


def searchable_columns(occ: pd.DataFrame) -> list[str]:
    """The columns a search can look in: the context first, then every metadata column."""
    skip = {"text", "start", "end", "occurrence_id"}
    return [CONTEXT] + [str(c) for c in occ.columns if c not in skip]


def compile_query(query: str, *, regex: bool = False, case_sensitive: bool = False):
    """The compiled pattern of a search; ConfigError for an empty query or an invalid regular expression."""
    query = query or ""
    if not query.strip():
        raise ConfigError("type something to search for")
    pattern = query if regex else rx.escape(query)
    try:
        return textsearch.compile_pattern(pattern, case_sensitive=case_sensitive)
    except CorpusError as exc:
        raise ConfigError(f"the search {query!r} is not a valid regular expression: {exc.__cause__ or exc}") from exc


def search_occurrences(occ: pd.DataFrame, query: str, *, column: str = CONTEXT, regex: bool = False,
                       case_sensitive: bool = False, width: int = 60, limit_s: float | None = None) -> SearchResult:
    """The occurrences whose context (or ``column``) matches ``query``; see the module notes."""
    if column != CONTEXT and column not in occ.columns:
        raise ConfigError(f"there is no column {column!r} to search in")
    pattern = compile_query(query, regex=regex, case_sensitive=case_sensitive)
    if column == CONTEXT:
        values = occ["text"].astype(str).tolist()
    else:
        col = occ[column]
        values = col.astype("object").where(col.notna(), "").astype(str).tolist()
    distinct = list(dict.fromkeys(values))  # each text is scanned once (many occurrences share a document)
    rows, starts, ends, _ = textsearch.search(pattern, distinct, query, limit_s=limit_s)
    first: dict[int, tuple[int, int]] = {}
    for r, s, e in zip(rows, starts, ends):
        first.setdefault(r, (s, e))
    index = {v: i for i, v in enumerate(distinct)}
    where = [first.get(index[v]) for v in values]
    mask = np.array([w is not None for w in where], dtype=bool)
    lines = _hit_lines(occ, values, where, mask, width)
    return SearchResult(mask=mask, lines=lines, query=query, column=column, regex=regex)


def _hit_lines(occ, values, where, mask, width) -> pd.DataFrame:
    pos = np.flatnonzero(mask)
    sub = occ.iloc[pos]
    parts = [kwic(t, int(s), int(e), width) for t, s, e in zip(sub["text"], sub["start"], sub["end"])]
    lines = pd.DataFrame(parts, columns=["left", "match", "right"])
    found = []
    for i in pos:
        s, e = where[i]
        left, match, right = kwic(values[i], s, e, 25)
        found.append(f"{left}[{match}]{right}")
    ids = sub["occurrence_id"].to_numpy() if "occurrence_id" in sub.columns else pos
    lines.insert(0, "occurrence_id", ids)
    lines["found"] = found
    for c in ("year", "period", "label", "doc_id"):
        if c in sub.columns:
            lines[c] = sub[c].to_numpy()
    return lines


# ------------------------------------------------------------------------------------------------------ neighbours
def layer_matrix(vectors, available, spec) -> np.ndarray:
    """float32 (n, dim) vectors of the layer(s) ``spec`` names (the mean of several), from (n, n_layers, dim)."""
    pos = L.positions(list(available), spec)
    V = np.asarray(vectors)
    if V.ndim != 3:
        raise ConfigError(f"the vectors must have shape (n, n_layers, dim), not {V.shape}")
    if len(pos) == 1:
        return np.asarray(V[:, pos[0], :], dtype=np.float32)
    return np.asarray(V[:, pos, :], dtype=np.float32).mean(axis=1)


def nearest_neighbours(X, index: int, *, k: int = 10) -> pd.DataFrame:
    """The ``k`` rows of ``X`` most similar by cosine to row ``index`` (itself left out): rank, index, similarity."""
    X = as_matrix(X, dtype=np.float32)
    n = len(X)
    if not 0 <= int(index) < n:
        raise ConfigError(f"there is no occurrence {index}; there are {n} (0..{n - 1})")
    if int(k) < 1:
        raise ConfigError(f"ask for at least 1 neighbour, not {k}")
    if n < 2:
        raise ConfigError("there is only one occurrence, so it has no neighbours")
    U = unit_rows(X, zero_ok=True)
    sims = U @ U[int(index)]
    sims[int(index)] = -np.inf
    k = min(int(k), n - 1)
    order = np.lexsort((np.arange(n), -sims))[:k]  # by similarity, ties in row order
    return pd.DataFrame({"rank": np.arange(1, k + 1), "index": order, "similarity": sims[order].astype(float)})


def neighbours_of(vectors, available, spec, index: int, *, k: int = 10) -> pd.DataFrame:
    """:func:`nearest_neighbours` in the space of the layer(s) ``spec`` names."""
    return nearest_neighbours(layer_matrix(vectors, available, spec), index, k=k)


def neighbour_lines(occ: pd.DataFrame, found: pd.DataFrame, *, width: int = 60,
                    extra: dict | None = None) -> pd.DataFrame:
    """The neighbours with their contexts: rank, similarity, occurrence_id, left, match, right (+ metadata, extra)."""
    sub = occ.iloc[found["index"].to_numpy()]
    parts = [kwic(t, int(s), int(e), width) for t, s, e in zip(sub["text"], sub["start"], sub["end"])]
    out = pd.DataFrame(parts, columns=["left", "match", "right"])
    out.insert(0, "occurrence_id", sub["occurrence_id"].to_numpy() if "occurrence_id" in sub.columns
               else found["index"].to_numpy())
    out.insert(0, "similarity", found["similarity"].to_numpy())
    out.insert(0, "rank", found["rank"].to_numpy())
    for c in ("year", "period", "label"):
        if c in sub.columns:
            out[c] = sub[c].to_numpy()
    for name, values in (extra or {}).items():
        out[name] = np.asarray(values, dtype=object)[found["index"].to_numpy()]
    return out
