"""Counting and sampling a target's occurrences over a corpus index, without reading the corpus into memory.

A target keeps the rules of :func:`analysis.corpus.find_occurrences` (``a|b`` = whole words, case-insensitive unless
asked; or a regular expression). DuckDB does a coarse filter first — a document can only hold a hit if it contains
one of the forms (``contains`` when case matters, an RE2 ``(?i)`` alternation otherwise, with the dotted/dotless i
that Python's ``regex`` folds together and RE2 does not spelled out) — and the exact spans are then found in Python
with :func:`analysis.textsearch.search`, the function ``find_occurrences`` uses, on the candidate rows only. A regular
expression target has no safe RE2 equivalent (``\\w`` and ``\\b`` are ASCII-only in RE2, lookarounds are missing), so
every document is searched in Python.

The hits of a search (document row, span, year, period) are cached in ``<index>/cache/`` so that a count followed by
a sample (the Corpus page's frequency chart, then its KWIC preview) scans the corpus once.
"""

from __future__ import annotations

import hashlib
import os
import re
from pathlib import Path

import numpy as np
import pandas as pd

from analysis import corpus as corpus_mod
from analysis.corpus import count_order_key
from analysis.corpus_index import build
from analysis.corpus_index.sources import ROW
from analysis.errors import ConfigError, NoOccurrencesError
from analysis.textsearch import compile_pattern, search, target_pattern

SCAN_ROWS = 20_000  # candidate documents handed to Python at a time
_FOLD_I = "[iI\u0130\u0131]"  # Python's regex folds İ with i and ı with I (simple case folding); RE2 does not


class Index:
    """An opened, verified index: its folder, manifest and part files."""

    def __init__(self, path):
        self.path = Path(path)
        self.manifest = build.read_manifest(self.path)
        self.files = [str(self.path / f["path"]) for f in self.manifest["files"]]
        self.columns = list(self.manifest["columns"])

    def has(self, col: str) -> bool:
        return col in self.columns


def open_index(index) -> Index:
    return index if isinstance(index, Index) else Index(index)


# ---------------------------------------------------------------------------------------------------------- filter
def coarse_filter(target: str, *, regex: bool, whole_word: bool, case_sensitive: bool) -> tuple[str, list] | None:
    """SQL condition on ``text`` (and its parameters) true for every document that can hold a hit; None = all."""
    if regex:
        return None
    forms = sorted({f.strip() for f in target.split("|") if f.strip()}, key=len, reverse=True)
    if case_sensitive:
        return " OR ".join(["contains(text, ?)"] * len(forms)), forms
    body = "|".join("".join(_FOLD_I if ch in "iI\u0130\u0131" else re.escape(ch) for ch in f) for f in forms)
    return "regexp_matches(text, ?)", [f"(?i)(?:{body})"]


# ------------------------------------------------------------------------------------------------------------ hits
def find_hits(index, target: str, *, regex: bool = False, whole_word: bool = True, case_sensitive: bool = False,
              labelled_hits: str = "first", cache: bool = True) -> pd.DataFrame:
    """Every hit in the corpus as a table of ``row`` (document), ``start``, ``end`` and, when the index has them,
    ``year`` and ``period``; sorted by row and start. Same hits as ``find_occurrences`` on the whole corpus."""
    if labelled_hits not in corpus_mod.LABELLED_HITS:
        raise ConfigError(f"labelled_hits must be 'first' or 'all', not {labelled_hits!r}")
    idx = open_index(index)
    pattern_text = target_pattern(target, regex=regex, whole_word=whole_word)
    pattern = compile_pattern(pattern_text, case_sensitive=case_sensitive)
    key = hashlib.sha256(repr((idx.manifest["build_id"], pattern_text, case_sensitive, labelled_hits))
                         .encode()).hexdigest()[:20]
    cached = idx.path / "cache" / f"hits-{key}.parquet"
    if cache and cached.exists():
        try:
            return pd.read_parquet(cached)
        except Exception:  # a damaged cache file is recomputed, never trusted
            pass
    hits = _scan(idx, pattern, target, coarse_filter(target, regex=regex, whole_word=whole_word,
                                                     case_sensitive=case_sensitive), labelled_hits)
    if cache:
        _save_cache(hits, cached)
    return hits


def _scan(idx: Index, pattern, target, condition, labelled_hits) -> pd.DataFrame:
    cols = [ROW, "text"] + [c for c in ("year", "period", "label") if idx.has(c)]
    con = build.connect()
    parts = []
    try:
        rel = con.read_parquet(idx.files)
        where, params = condition if condition else ("TRUE", [])
        sql = f"SELECT {', '.join(cols)} FROM rel WHERE {where}"
        reader = con.sql(sql, params=params or None).to_arrow_reader(SCAN_ROWS)
        for batch in reader:
            parts.append(_batch_hits(batch.to_pandas(), pattern, target, labelled_hits))
    finally:
        con.close()
    meta = [c for c in ("year", "period") if idx.has(c)]
    empty = pd.DataFrame({"row": pd.Series(dtype="int64"), "start": pd.Series(dtype="int64"),
                          "end": pd.Series(dtype="int64"), **{c: pd.Series(dtype="object") for c in meta}})
    hits = pd.concat([p for p in parts if len(p)] or [empty], ignore_index=True)
    if "year" in hits:
        hits["year"] = hits["year"].astype("Int64")
    if "period" in hits:
        hits["period"] = hits["period"].astype("string")
    return hits.sort_values(["row", "start"], kind="stable").reset_index(drop=True)


def _batch_hits(docs: pd.DataFrame, pattern, target, labelled_hits) -> pd.DataFrame:
    texts = docs["text"].to_numpy()
    rows, starts, ends, _forms = search(pattern, texts, target)
    if not rows:
        return pd.DataFrame()
    keep = (corpus_mod._first_hit_per_labelled_row(docs, rows) if labelled_hits == "first"
            else np.ones(len(rows), dtype=bool))
    at = np.asarray(rows)[keep]
    out = pd.DataFrame({"row": docs[ROW].to_numpy()[at], "start": np.asarray(starts)[keep],
                        "end": np.asarray(ends)[keep]})
    for col in ("year", "period"):
        if col in docs.columns:
            out[col] = docs[col].to_numpy()[at]
    return out


def _save_cache(hits: pd.DataFrame, path: Path) -> None:
    try:
        path.parent.mkdir(exist_ok=True)
        tmp = path.with_name(f"{path.name}.{os.getpid()}.tmp")
        hits.to_parquet(tmp, index=False)
        os.replace(tmp, path)
    except OSError:  # a read-only index is searched again next time
        pass


# ---------------------------------------------------------------------------------------------------------- counts
def counts_of(hits: pd.DataFrame, doc_key: str = "row") -> dict:
    """{"total", "documents", "per_year", "per_period"} of a hits or occurrences table (years in numeric order,
    periods in natural order, missing values under "(none)")."""
    out = {"total": int(len(hits)), "documents": int(hits[doc_key].nunique()) if len(hits) else 0,
           "per_year": {}, "per_period": {}}
    if "year" in hits.columns:
        years = hits["year"].astype("Int64")
        vc = years.value_counts(dropna=False)
        known = sorted(int(y) for y in vc.index if not pd.isna(y))
        out["per_year"] = {str(y): int(vc[y]) for y in known}
        if years.isna().any():
            out["per_year"]["(none)"] = int(years.isna().sum())
    if "period" in hits.columns:
        vc = hits["period"].astype("string").fillna("(none)").value_counts()
        out["per_period"] = {str(k): int(vc[k]) for k in sorted(vc.index, key=count_order_key)}
    return out


def count_hits(index, target: str, regex: bool = False, case_sensitive: bool = False, *, whole_word: bool = True,
               labelled_hits: str = "first") -> dict:
    """Hits of ``target`` over the whole index: ``{"total", "documents", "per_year", "per_period"}``."""
    return counts_of(find_hits(index, target, regex=regex, whole_word=whole_word, case_sensitive=case_sensitive,
                               labelled_hits=labelled_hits))


# -------------------------------------------------------------------------------------------------------- sampling
def choose(groups: pd.Series | None, total: int, n: int | None, per_period: bool, seed: int) -> np.ndarray:
    """Sorted positions of the hits to keep: all (``n`` None), a seeded uniform sample of ``n``, or with
    ``per_period`` up to ``n`` from each group (``groups`` gives each hit's group; missing = its own group)."""
    if n is None:
        return np.arange(total)
    if n < 1:
        raise ConfigError(f"the sample size must be at least 1, not {n}")
    rng = np.random.default_rng(seed)
    if not per_period:
        return np.sort(rng.choice(total, size=min(n, total), replace=False))
    if groups is None:
        raise ConfigError("sampling per period needs a period or year column; name one with --period-column or "
                          "--year-column")
    keys = groups.astype("string").fillna("(none)").to_numpy()
    picked = []
    for key in sorted(set(keys), key=count_order_key):
        members = np.flatnonzero(keys == key)
        picked.append(members if len(members) <= n else rng.choice(members, size=n, replace=False))
    return np.sort(np.concatenate(picked)) if picked else np.arange(0)


def period_groups(table: pd.DataFrame) -> pd.Series | None:
    """What "per period" groups by: the period column, else the year, else nothing."""
    for col in ("period", "year"):
        if col in table.columns:
            return table[col]
    return None


def cut_context(occ: pd.DataFrame, context_chars: int | None) -> pd.DataFrame:
    """Each text cut to ``context_chars`` characters either side of its span, spans shifted to match; the cut's
    position in the full text is kept as ``text_offset``."""
    if context_chars is None:
        return occ
    if context_chars < 0:
        raise ConfigError(f"context_chars must be 0 or more, not {context_chars}")
    occ = occ.copy()
    lo = np.maximum(occ["start"].to_numpy(dtype=np.int64) - context_chars, 0)
    hi = occ["end"].to_numpy(dtype=np.int64) + context_chars
    occ["text"] = [t[a:b] for t, a, b in zip(occ["text"], lo, hi)]
    occ["start"] = occ["start"].to_numpy(dtype=np.int64) - lo
    occ["end"] = occ["end"].to_numpy(dtype=np.int64) - lo
    occ["text_offset"] = lo
    return occ


def sample_occurrences(index, target: str, n: int | None = None, per_period: bool = False, seed: int = 0,
                       context_chars: int | None = None, *, regex: bool = False, case_sensitive: bool = False,
                       whole_word: bool = True, labelled_hits: str = "first") -> pd.DataFrame:
    """The occurrences table (docs/ARCHITECTURE.md) of a seeded uniform sample of ``n`` hits (all with ``n`` None;
    up to ``n`` per period with ``per_period``), in corpus order; only the sampled documents are read."""
    idx = open_index(index)
    hits = find_hits(idx, target, regex=regex, whole_word=whole_word, case_sensitive=case_sensitive,
                     labelled_hits=labelled_hits)
    if hits.empty:
        raise NoOccurrencesError(f"the target {target!r} does not occur in the corpus ({idx.manifest['documents']} "
                                 f"documents{', whole words only' if whole_word and not regex else ''})")
    chosen = hits.iloc[choose(period_groups(hits), len(hits), n, per_period, seed)].reset_index(drop=True)
    docs = fetch_documents(idx, chosen["row"].unique())
    occ = docs.set_index(ROW).loc[chosen["row"].to_numpy()].reset_index(drop=True)
    occ["start"] = chosen["start"].to_numpy()
    occ["end"] = chosen["end"].to_numpy()
    occ["form"] = [t[s:e] for t, s, e in zip(occ["text"], occ["start"], occ["end"])]
    occ["target"] = target
    occ.insert(0, "occurrence_id", np.arange(len(occ)))
    first = ["occurrence_id", "doc_id", "target", "start", "end", "form", "text"]
    occ = occ[first + [c for c in occ.columns if c not in first]]
    return cut_context(occ, context_chars)


def fetch_documents(index, rows) -> pd.DataFrame:
    """The documents with these row numbers (every column, plus the internal row number), reading only the part
    files that hold them; each file is filtered on its row range so DuckDB skips the other row groups."""
    idx = open_index(index)
    rows = np.sort(np.asarray(rows, dtype=np.int64))
    starts = np.array([f["first_row"] for f in idx.manifest["files"]], dtype=np.int64)
    which = np.searchsorted(starts, rows, side="right") - 1
    con = build.connect()
    frames = []
    try:
        for f in np.unique(which):
            wanted = rows[which == f].tolist()
            rel = con.read_parquet(idx.files[f])
            sql = f"SELECT * FROM rel WHERE {ROW} IN ({', '.join(map(str, wanted))})"
            frames.append(con.execute(sql).df())
    finally:
        con.close()
    docs = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=[ROW, *idx.columns])
    if "year" in docs.columns:
        docs["year"] = docs["year"].astype("Int64")
    for col in docs.columns:
        if col not in (ROW, "year"):
            docs[col] = docs[col].astype("string") if col not in ("doc_id", "text") else docs[col].astype(str)
    return docs


# ------------------------------------------------------------------------------------------------ frequency, cost
def frequency_table(counts: dict, stats: dict, by: str = "year") -> pd.DataFrame:
    """Hits of a target per year (or period) beside the corpus's size there: one row per value with ``hits``,
    ``documents`` and ``words`` (of the whole corpus in that year), ``per_million_words`` and
    ``per_thousand_documents``. ``counts`` is :func:`counts_of`'s output, ``stats`` the index manifest's ``stats``
    (documents and words per year / period, counted when the index was built). Years in numeric order; values with
    no hit keep a row with 0 hits, so a chart shows the gaps."""
    hits = dict(counts.get(f"per_{by}") or {})
    sizes = dict(stats.get(f"per_{by}") or {})
    order = sorted(set(hits) | set(sizes), key=count_order_key)  # years by value, "(none)" last
    rows = []
    for k in order:
        size = sizes.get(k, {})
        docs, words, n = int(size.get("documents", 0)), int(size.get("words", 0)), int(hits.get(k, 0))
        rows.append({by: k, "hits": n, "documents": docs, "words": words,
                     "per_million_words": n / words * 1e6 if words else np.nan,
                     "per_thousand_documents": n / docs * 1e3 if docs else np.nan})
    return pd.DataFrame(rows, columns=[by, "hits", "documents", "words", "per_million_words",
                                       "per_thousand_documents"])


#: Encoding throughput of the packaged all-MiniLM-L6-v2 measured on the 2-core dev CPU (bench/embed.py, BENCHMARKS.md:
#: 7,042 tokens/s on DWUG usages, all layers kept) and the characters per word-piece token of English usages (4.35 on
#: the bundled demo). An estimate, not a promise: other models, machines and languages differ.
MEASURED_TOKENS_PER_S = 7_000
CHARS_PER_TOKEN = 4.35


def embedding_cost(n_occurrences: int, mean_chars: float, *, max_tokens: int = 512,
                   tokens_per_s: float = MEASURED_TOKENS_PER_S) -> dict:
    """Estimated time to embed ``n_occurrences`` texts of ``mean_chars`` characters: ``{"tokens_per_text",
    "seconds", "text"}`` (e.g. "~4 min"). A text longer than the model's window (``max_tokens``) is cut to it."""
    per_text = min(max(1.0, mean_chars / CHARS_PER_TOKEN) + 2, float(max_tokens))  # + [CLS] and [SEP]
    seconds = n_occurrences * per_text / tokens_per_s
    if seconds < 60:
        text = f"~{max(1, round(seconds))} s"
    elif seconds < 3600:
        text = f"~{round(seconds / 60)} min"
    else:
        text = f"~{seconds / 3600:.1f} h"
    return {"tokens_per_text": per_text, "seconds": seconds, "text": text}
