"""The occurrences table: find a target in the documents (or use their given spans), hash, spans, counts."""

from __future__ import annotations

from typing import Iterable

import numpy as np
import pandas as pd

from analysis._util import natural_key
from analysis.errors import ConfigError, CorpusError, NoOccurrencesError
from analysis.textsearch import compile_pattern, search, target_pattern

#: How a labelled row with several hits of the target is handled (see :func:`find_occurrences`).
LABELLED_HITS = ("first", "all")


# -------------------------------------------------------------------------------------------------------- occurrences
def _first_hit_per_labelled_row(docs: pd.DataFrame, rows: list[int]) -> np.ndarray:
    """Mask over the hits (``rows`` = document row per hit) keeping every hit of an unlabelled row and only the
    first hit of a labelled one: a gold label is given to one sentence, not to each repetition of the word in it."""
    rows_a = np.asarray(rows, dtype=np.int64)
    if "label" not in docs.columns or not len(rows_a):
        return np.ones(len(rows_a), dtype=bool)
    label = docs["label"].astype("string")
    labelled = (label.notna() & (label.str.strip() != "")).fillna(False).to_numpy(dtype=bool)
    repeat = np.r_[False, rows_a[1:] == rows_a[:-1]]  # hits of one row are consecutive
    return ~(labelled[rows_a] & repeat)


def _given_spans(docs: pd.DataFrame, target: str | None) -> pd.DataFrame:
    """Occurrences from the corpus's own start/end columns (one per row), selected by the ``target`` column."""
    occ = docs.copy()
    if target and "target" in occ.columns:
        wanted = {t.strip() for t in target.split("|") if t.strip()}
        occ = occ[occ["target"].astype(str).isin(wanted)]
        if occ.empty:
            known = ", ".join(sorted(docs["target"].astype(str).unique(), key=natural_key)[:12])
            raise NoOccurrencesError(f"no occurrence of target {target!r}; the corpus has targets: {known}")
    elif "target" not in occ.columns:
        occ["target"] = target or "(given spans)"
    lengths = occ["text"].str.len().to_numpy()
    bad = (occ["start"].to_numpy() < 0) | (occ["end"].to_numpy() > lengths) | (occ["start"] >= occ["end"]).to_numpy()
    if bad.any():
        row = occ.iloc[int(np.flatnonzero(bad)[0])]
        raise CorpusError(f"span {row['start']}:{row['end']} of document {row['doc_id']!r} lies outside its text "
                          f"of {len(row['text'])} characters")
    occ["form"] = [t[s:e] for t, s, e in zip(occ["text"], occ["start"], occ["end"])]
    return occ


def find_occurrences(docs: pd.DataFrame, target: str | None = None, *, regex: bool = False, whole_word: bool = True,
                     case_sensitive: bool = False, labelled_hits: str = "first") -> pd.DataFrame:
    """The occurrences table: one row per occurrence, with ``occurrence_id``, ``start``, ``end``, ``form``.

    If ``docs`` already has ``start``/``end`` columns (DWUG, or a table that gives offsets), those spans are used and
    no search is done; ``target`` then selects rows by the ``target`` column (e.g. ``plane_nn``) when there is one.

    Parameters
    ----------
    labelled_hits : {"first", "all"}
        A row with a gold label and several hits of the target: keep only its first hit ("first", the default: the
        label was given to one use), or give the label to every hit ("all"). Rows without a label keep all their
        hits either way. How many hits were left out is in ``occ.attrs["labelled_hits_dropped"]``.

    A search stops with CorpusError when matching takes longer than ``analysis.textsearch.REGEX_DEADLINE_S`` seconds
    (plus ``REGEX_S_PER_MB`` per million characters).
    """
    if labelled_hits not in LABELLED_HITS:
        raise ConfigError(f"labelled_hits must be 'first' or 'all', not {labelled_hits!r}")
    dropped = 0
    if {"start", "end"} <= set(docs.columns):
        occ = _given_spans(docs, target)
    else:
        pattern = compile_pattern(target_pattern(target, regex=regex, whole_word=whole_word),
                                  case_sensitive=case_sensitive)
        rows, starts, ends, forms = search(pattern, docs["text"].to_numpy(), target)
        if not rows:
            raise NoOccurrencesError(f"the target {target!r} does not occur in the corpus ({len(docs)} documents"
                                     f"{', whole words only' if whole_word and not regex else ''})")
        keep = (_first_hit_per_labelled_row(docs, rows) if labelled_hits == "first"
                else np.ones(len(rows), dtype=bool))
        dropped = int((~keep).sum())
        occ = docs.iloc[np.asarray(rows)[keep]].copy()
        occ["start"] = np.asarray(starts)[keep]
        occ["end"] = np.asarray(ends)[keep]
        occ["form"] = [f for f, k in zip(forms, keep) if k]
        occ["target"] = target
    occ = occ.reset_index(drop=True)
    occ.insert(0, "occurrence_id", np.arange(len(occ)))
    first = ["occurrence_id", "doc_id", "target", "start", "end", "form", "text"]
    occ = occ[first + [c for c in occ.columns if c not in first]]
    occ.attrs["labelled_hits_dropped"] = dropped
    return occ


def content_hash(occ: pd.DataFrame) -> str:
    """Hash of what encoding depends on: each occurrence's text and span (not metadata)."""
    import hashlib

    # The bytes hashed are, per occurrence, "start:end:len(text)\0", the UTF-8 text (lone surrogates passed
    # through) and "\1". They are built as one string and encoded once: UTF-8 encodes code point by code point, so
    # the bytes are those of encoding each piece alone, and a million occurrences hash in a fraction of the time of
    # one update per piece (cache keys depend on these bytes: they must never change).
    h = hashlib.sha256()
    starts = np.asarray(occ["start"]).astype(np.int64).tolist()
    ends = np.asarray(occ["end"]).astype(np.int64).tolist()
    texts = occ["text"].tolist()
    step = 100_000  # bounded memory: one block of joined text at a time
    for lo in range(0, len(texts), step):
        block = "".join([f"{s}:{e}:{len(t)}\x00{t}\x01" for t, s, e in
                         zip(texts[lo:lo + step], starts[lo:lo + step], ends[lo:lo + step])])
        h.update(block.encode("utf-8", "surrogatepass"))
    return h.hexdigest()[:20]


def texts_and_spans(occ: pd.DataFrame) -> tuple[list[str], list[tuple[int, int, int]]]:
    """Distinct texts and (text index, start, end) spans for the encoder, so that each text is tokenised once."""
    index: dict[str, int] = {}
    texts: list[str] = []
    spans = []
    for t, s, e in zip(occ["text"], occ["start"], occ["end"]):
        i = index.get(t)
        if i is None:
            i = index[t] = len(texts)
            texts.append(t)
        spans.append((i, int(s), int(e)))
    return texts, spans


def count_order_key(value) -> tuple:
    """Order of the rows of a count table: natural (s2 before s10, 2 before 10), "(none)" (no value) last of all."""
    return (value == "(none)", natural_key(value))


def summarize(occ: pd.DataFrame) -> dict:
    """Counts for the Corpus page: occurrences, documents, forms, per-year/period/label counts."""
    out = {"occurrences": int(len(occ)), "documents": int(occ["doc_id"].nunique()),
           "forms": occ["form"].str.lower().value_counts().to_dict()}
    for col in ("period", "label"):
        if col in occ.columns:
            counts = occ[col].astype("string").fillna("(none)").value_counts()
            out[col] = {k: int(counts[k]) for k in sorted(counts.index, key=count_order_key)}
    if "year" in occ.columns:
        out["year_missing"] = int(occ["year"].isna().sum())
    return out


def iter_columns(df: pd.DataFrame) -> Iterable[str]:
    return [str(c) for c in df.columns]
