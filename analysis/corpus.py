"""Load a corpus and find the occurrences of a target term as character spans.

A corpus file becomes a *documents* table with standard column names (``doc_id``, ``text`` and, when the user names
them, ``year``, ``period``, ``label``; every other column is kept as metadata). :func:`find_occurrences` turns it into
the *occurrences* table of ``docs/ARCHITECTURE.md``: one row per occurrence with its char span in its text.

Formats: CSV, TSV, JSONL, Parquet, plain text (one document per line, or documents separated by blank lines), UTF-8
with or without BOM. DWUG ``uses.csv`` files (tab-separated, no quoting, ``indexes_target_token`` = ``start:end``) load
as they are, one file or a folder of them; their sense clusters (``clusters/opt/<lemma>.csv`` in the DWUG layout) are
joined as gold labels, with DWUG's noise cluster -1 left unlabelled.

Nothing is altered silently: a negative or BC year keeps its sign, a non-integral character offset or a JSONL line
with a lone surrogate escape is refused with its row or line. Target searches have a time limit
(:mod:`analysis.textsearch`), and a labelled row with several hits keeps its first hit unless asked otherwise.
"""

from __future__ import annotations

import csv
import io
import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable

import numpy as np
import pandas as pd

from analysis._util import natural_key
from analysis.errors import ConfigError, CorpusError, NoOccurrencesError
# target_pattern and the time limits are re-exported: callers have always found them here
from analysis.textsearch import REGEX_DEADLINE_S, REGEX_S_PER_MB, compile_pattern, search  # noqa: F401
from analysis.textsearch import target_pattern  # noqa: F401

TEXT_SUFFIXES = {".txt", ".text"}
TABLE_SUFFIXES = {".csv", ".tsv", ".tab", ".jsonl", ".ndjson", ".parquet", ".pq"}
DWUG_COLUMNS = {"lemma", "context", "indexes_target_token", "identifier"}
_YEAR_RE = re.compile(r"(?<!\d)(\d{3,4})(?!\d)")
# A cell that is only a (signed) number is a year as it stands: "-500" is 500 BC, not 500.
_NUMBER_YEAR_RE = re.compile(r"^\s*([-\u2212+]?)(\d{1,4})(?:\.0*)?\s*$")
_BC_YEAR_RE = re.compile(r"(?<!\d)(\d{1,4})\s*(?:BCE?|B\.\s?C\.(?:\s?E\.)?)(?![A-Za-z])", re.IGNORECASE)
#: How a labelled row with several hits of the target is handled (see :func:`find_occurrences`).
LABELLED_HITS = ("first", "all")
# JSON escapes that may decode to a UTF-16 surrogate (only a lone one is an error: pairs decode to one character).
_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89a-fA-F]")


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


# ---------------------------------------------------------------------------------------------------------------- io
def _decode(raw: bytes, name: str) -> str:
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise CorpusError(f"{name} is not UTF-8 text (undecodable byte 0x{raw[exc.start]:02x} at byte {exc.start}); "
                          f"re-save it as UTF-8") from exc


def _is_dwug_header(first_line: str) -> bool:
    cols = set(first_line.rstrip("\r\n").split("\t"))
    return DWUG_COLUMNS <= cols


def read_raw_table(source, name: str = "file") -> pd.DataFrame:
    """Read a file (path or uploaded bytes) into a DataFrame of strings, choosing the parser from the name.

    ``source`` is a path, or bytes with ``name`` giving the original file name (for uploads).
    """
    if isinstance(source, (str, Path)):
        path = Path(source)
        name = path.name
        if not path.exists():
            raise CorpusError(f"corpus file {str(path)!r} does not exist")
        raw = path.read_bytes()
    else:
        raw = bytes(source)
    suffix = Path(name).suffix.lower()
    if not raw.strip():
        raise CorpusError(f"{name} is empty")
    if suffix in {".parquet", ".pq"}:
        try:
            df = pd.read_parquet(io.BytesIO(raw))
        except Exception as exc:
            raise CorpusError(f"{name} is not a readable Parquet file: {str(exc).splitlines()[0][:160]}") from exc
        return df
    text = _decode(raw, name)
    if suffix in TEXT_SUFFIXES or suffix == "":
        return _read_plain_text(text)
    if suffix not in TABLE_SUFFIXES:
        raise CorpusError(f"{name}: unknown file type {suffix!r} (use .csv, .tsv, .jsonl, .parquet or .txt)")
    first = text.split("\n", 1)[0]
    try:
        if _is_dwug_header(first):
            return pd.read_csv(io.StringIO(text), sep="\t", quoting=csv.QUOTE_NONE, dtype=str, keep_default_na=False,
                               na_values=[""])
        if suffix in {".jsonl", ".ndjson"}:
            return _read_jsonl(text, name)
        sep = "\t" if suffix in {".tsv", ".tab"} else ","
        return pd.read_csv(io.StringIO(text), sep=sep, dtype=str, keep_default_na=False, na_values=[""])
    except pd.errors.ParserError as exc:
        raise CorpusError(f"{name} is not a well-formed table: {str(exc).splitlines()[0][:160]}") from exc
    except pd.errors.EmptyDataError as exc:
        raise CorpusError(f"{name} has no columns") from exc


def _read_jsonl(text: str, name: str) -> pd.DataFrame:
    """One JSON object per line; a line that is not JSON, or that holds a lone surrogate escape, is refused."""
    rows = []
    for i, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as exc:
            raise CorpusError(f"{name} line {i} is not valid JSON: {exc.msg}") from exc
        # json.loads turns "\ud800" into a lone surrogate, which no UTF-8 step later (hashing, the tokenizer, a CSV
        # download) can encode: refuse it here, where the line is still known.
        if _SURROGATE_ESCAPE.search(line) and _has_surrogate(row):
            raise CorpusError(f"{name} line {i} holds a \\u escape of a lone UTF-16 surrogate (such as \\ud800), "
                              f"which is not a character; fix or remove that escape")
        rows.append(row)
    return pd.DataFrame(rows)


def _has_surrogate(obj) -> bool:
    if isinstance(obj, str):
        try:
            obj.encode("utf-8")
        except UnicodeEncodeError:
            return True
        return False
    if isinstance(obj, dict):
        return any(_has_surrogate(k) or _has_surrogate(v) for k, v in obj.items())
    if isinstance(obj, list):
        return any(_has_surrogate(v) for v in obj)
    return False


def _read_plain_text(text: str, split: str = "auto") -> pd.DataFrame:
    """One document per line, or per blank-line-separated block when the file has blank lines between paragraphs."""
    normalized = text.replace("\r\n", "\n").replace("\r", "\n")
    if split == "auto":
        split = "blank" if re.search(r"\n[ \t]*\n", normalized.strip()) else "lines"
    if split == "blank":
        docs = [re.sub(r"\s*\n\s*", " ", d).strip() for d in re.split(r"\n[ \t]*\n", normalized)]
    else:
        docs = [line.strip() for line in normalized.split("\n")]
    docs = [d for d in docs if d]
    return pd.DataFrame({"text": docs})


# ------------------------------------------------------------------------------------------------------------ corpus
def parse_years(values: pd.Series) -> pd.Series:
    """Year as a nullable integer from numbers or date strings, else <NA>: THE year rule of the project.

    "1836", "1836-05-01", "May 1836", "c. 1836", "1836?" -> 1836 (the first run of 3-4 digits in a text is its
    year: an approximate date counts as that year); a signed number keeps its sign ("-500" -> -500) and "500 BC" /
    "500 BCE" -> -500 (astronomical numbering is not applied: 1 BC is -1). A number that is not whole (1836.5), a
    boolean and a text without such digits ("n.d.") are not years. Missing values (None, NaN, NaT) stay <NA>.
    """
    def one(v):
        if v is None or v is pd.NA or v is pd.NaT or (isinstance(v, float) and np.isnan(v)):
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


def _dwug_labels(uses_path: Path, lemma: str) -> pd.DataFrame | None:
    """Sense clusters of a DWUG target, from ``<root>/clusters/opt/<lemma>.csv`` beside ``<root>/data/<lemma>/``."""
    for cand in (uses_path.parent.parent.parent / "clusters" / "opt" / f"{lemma}.csv",
                 uses_path.parent / "clusters.csv"):
        if cand.exists():
            lab = pd.read_csv(cand, sep="\t", dtype=str)
            if {"identifier", "cluster"} <= set(lab.columns):
                return lab
    return None


def load_dwug(path: str | Path) -> pd.DataFrame:
    """One DWUG ``uses.csv`` or a folder holding them (searched recursively) as a documents table with spans.

    Columns: doc_id (identifier), text (context), start, end (from indexes_target_token), target (lemma), year (date),
    period (grouping), label (sense cluster when the clusters file is found; -1 = noise is left empty), + the rest.
    """
    path = Path(path)
    files = sorted(path.rglob("uses.csv")) if path.is_dir() else [path]
    if not files:
        raise CorpusError(f"no DWUG uses.csv file under {str(path)!r}")
    frames = []
    for f in files:
        raw = read_raw_table(f)
        if not DWUG_COLUMNS <= set(raw.columns):
            raise CorpusError(f"{f} is not a DWUG uses.csv file (needs columns {', '.join(sorted(DWUG_COLUMNS))})")
        idx = raw["indexes_target_token"].str.split(":", n=1, expand=True)
        if idx.shape[1] != 2:
            raise CorpusError(f"{f}: indexes_target_token must look like start:end")
        raw = raw.assign(start=idx[0], end=idx[1])
        lemma = str(raw["lemma"].iloc[0])
        labels = _dwug_labels(f, lemma)
        if labels is not None:
            lab = labels.set_index("identifier")["cluster"]
            raw["cluster"] = raw["identifier"].map(lab)
            raw.loc[raw["cluster"] == "-1", "cluster"] = pd.NA
        frames.append(raw)
    raw = pd.concat(frames, ignore_index=True)
    spec = ColumnSpec(text="context", id="identifier", year="date", period="grouping",
                      label="cluster" if "cluster" in raw.columns else None, start="start", end="end")
    docs = standardize(raw, spec, name=str(path))
    docs = docs.rename(columns={"lemma": "target"})
    return docs


def is_dwug(path: str | Path) -> bool:
    path = Path(path)
    if path.is_dir():
        return any(path.rglob("uses.csv"))
    if path.suffix.lower() in {".csv", ".tsv"} and path.exists():
        with open(path, "rb") as fh:
            first = fh.readline().decode("utf-8-sig", errors="replace")
        return _is_dwug_header(first)
    return False


def load_corpus(source, spec: ColumnSpec | None = None, name: str | None = None) -> pd.DataFrame:
    """Load a corpus file, folder or uploaded bytes as a standard documents table.

    Parameters
    ----------
    source : path to a file or folder (DWUG), or bytes of an upload (then ``name`` gives its file name)
    spec : which columns mean what; for tables with ``start``/``end`` columns these are used as spans by default
    """
    spec = spec or ColumnSpec()
    if isinstance(source, (str, Path)):
        path = Path(source)
        if not path.exists():
            raise CorpusError(f"corpus {str(path)!r} does not exist")
        if is_dwug(path):
            return load_dwug(path)
        if path.is_dir():
            raise CorpusError(f"{str(path)!r} is a folder without DWUG uses.csv files; give a file")
        raw = read_raw_table(path)
        name = name or path.name
    else:
        name = name or "upload"
        raw = read_raw_table(source, name=name)
        if DWUG_COLUMNS <= set(map(str, raw.columns)):
            return _dwug_from_frame(raw, name)
    if spec.start is None and spec.end is None and {"start", "end"} <= set(map(str, raw.columns)):
        spec = ColumnSpec(**{**spec.__dict__, "start": "start", "end": "end"})
    return standardize(raw, spec, name=name)


def _dwug_from_frame(raw: pd.DataFrame, name: str) -> pd.DataFrame:
    idx = raw["indexes_target_token"].str.split(":", n=1, expand=True)
    raw = raw.assign(start=idx[0], end=idx[1])
    docs = standardize(raw, ColumnSpec(text="context", id="identifier", year="date", period="grouping",
                                       start="start", end="end"), name=name)
    return docs.rename(columns={"lemma": "target"})


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


def kwic(text: str, start: int, end: int, width: int = 60) -> tuple[str, str, str]:
    """Keyword in context: (left, match, right), each side cut to ``width`` characters at a word boundary."""
    left, match, right = text[max(0, start - width):start], text[start:end], text[end:end + width]
    if start - width > 0 and " " in left:
        left = "…" + left[left.index(" ") + 1:]
    if end + width < len(text) and " " in right:
        right = right[: right.rindex(" ")] + "…"
    return " ".join(left.split()) + (" " if left[-1:].isspace() else ""), match, \
        (" " if right[:1].isspace() else "") + " ".join(right.split())


def kwic_table(occ: pd.DataFrame, width: int = 60) -> pd.DataFrame:
    """A KWIC preview of an occurrences table: left, match, right plus the id and metadata columns."""
    parts = [kwic(t, s, e, width) for t, s, e in zip(occ["text"], occ["start"], occ["end"])]
    out = pd.DataFrame(parts, columns=["left", "match", "right"], index=occ.index)
    keep = [c for c in ("year", "period", "label", "doc_id", "occurrence_id") if c in occ.columns]
    return pd.concat([out, occ[keep]], axis=1)


def kwic_html(text: str, start: int, end: int, width: int = 60) -> str:
    """HTML-safe KWIC line with the target in bold (for plot hovers); the corpus text is escaped."""
    from analysis.plots._text import esc  # the one escaping Plotly decodes (it shows &quot; as it stands)

    left, match, right = kwic(text, start, end, width)
    return f"{esc(left)}<b>{esc(match)}</b>{esc(right)}"


def content_hash(occ: pd.DataFrame) -> str:
    """Hash of what encoding depends on: each occurrence's text and span (not metadata)."""
    import hashlib

    h = hashlib.sha256()
    for t, s, e in zip(occ["text"], occ["start"], occ["end"]):
        h.update(f"{int(s)}:{int(e)}:{len(t)}\x00".encode())
        h.update(t.encode("utf-8", "surrogatepass"))
        h.update(b"\x01")
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
