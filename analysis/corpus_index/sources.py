"""Source files of a corpus index: which files a list of paths means, and their documents in bounded batches.

Every format :mod:`analysis.corpus` reads is read here too, but a file is never read whole: CSV/TSV through pandas'
chunked reader, JSONL line by line, Parquet by record batch, plain text by line or blank-line block (the same
auto-detection as :func:`analysis.corpus.load_corpus`, decided in a first pass that stops at the first blank line).
Each batch goes through :func:`analysis.corpus.standardize`, so the columns mean what they mean everywhere else.
``.gz`` and ``.zst`` files are decompressed as a stream. DWUG folders and ``uses.csv`` files (small) go through
:func:`analysis.corpus.load_dwug`.
"""

from __future__ import annotations

import gzip
import io
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import numpy as np
import pandas as pd

from analysis import corpus as corpus_mod
from analysis.corpus import ColumnSpec
from analysis.corpus.formats import parse_jsonl_line
from analysis.errors import CorpusError

COMPRESSED = {".gz": "gzip", ".zst": "zstd", ".zstd": "zstd"}
READABLE = corpus_mod.TABLE_SUFFIXES | corpus_mod.TEXT_SUFFIXES
#: Column names the occurrences table uses itself; a documents column of that name is kept as ``given_<name>``.
RESERVED = ("occurrence_id", "start", "end", "form", "target", "text_offset")
ROW = "_row"  # global row number of a document in the index (internal, never shown)


@dataclass(frozen=True)
class Source:
    path: Path
    kind: str  # "table" or "dwug"

    @property
    def suffix(self) -> str:
        return inner_suffix(self.path)

    @property
    def compression(self) -> str | None:
        return COMPRESSED.get(self.path.suffix.lower())


def inner_suffix(path: Path) -> str:
    """The format suffix of ``path`` under any compression suffix: ``a.csv.gz`` -> ``.csv``."""
    suffixes = [s.lower() for s in path.suffixes]
    if suffixes and suffixes[-1] in COMPRESSED:
        suffixes = suffixes[:-1]
    return suffixes[-1] if suffixes else ""


def list_sources(paths) -> list[Source]:
    """The files (in a stable order) that ``paths`` mean: files as given, folders searched recursively for readable
    files (hidden files and files of other types are passed over), a folder with DWUG ``uses.csv`` files as one
    DWUG source."""
    if isinstance(paths, (str, Path)):
        paths = [paths]
    out: list[Source] = []
    for raw in paths:
        path = Path(raw).expanduser()
        if not path.exists():
            raise CorpusError(f"corpus source {str(raw)!r} does not exist")
        if path.is_dir():
            out.extend(_folder_sources(path))
        elif corpus_mod.is_dwug(path):
            out.append(Source(path, "dwug"))
        else:
            if inner_suffix(path) not in READABLE and inner_suffix(path) != "":
                raise CorpusError(f"{str(path)!r}: unknown file type {inner_suffix(path)!r} (use .csv, .tsv, .jsonl, "
                                  f".parquet or .txt, optionally .gz or .zst compressed)")
            out.append(Source(path, "table"))
    if not out:
        raise CorpusError(f"no corpus files found in {', '.join(map(str, paths))}")
    seen, unique = set(), []
    for s in out:
        key = s.path.resolve()
        if key not in seen:
            seen.add(key)
            unique.append(s)
    return unique


def _folder_sources(folder: Path) -> list[Source]:
    if corpus_mod.is_dwug(folder):
        return [Source(folder, "dwug")]
    files = []
    for p in sorted(folder.rglob("*"), key=lambda q: str(q.relative_to(folder))):
        rel = p.relative_to(folder)
        if any(part.startswith(".") for part in rel.parts) or not p.is_file() or _inside_index(p, folder):
            continue
        if inner_suffix(p) in READABLE:
            files.append(Source(p, "table"))
    return files


def _inside_index(path: Path, top: Path) -> bool:
    """True for files of a corpus index (or an unfinished one) found while searching a folder for sources."""
    for parent in path.parents:
        if (parent / ".sensescope-corpus-index").exists():
            return True
        if parent == top:
            return False
    return False


def source_size(source: Source) -> int:
    if source.path.is_dir():
        return sum(p.stat().st_size for p in source.path.rglob("*") if p.is_file())
    return source.path.stat().st_size


def fingerprint(source: Source) -> dict:
    """What a finished part is checked against on a rerun: the file's absolute path, size and modification time."""
    st = source.path.stat()
    return {"path": str(source.path.resolve()), "kind": source.kind, "size": source_size(source),
            "mtime_ns": st.st_mtime_ns}


# ------------------------------------------------------------------------------------------------------- streams
class _Counting(io.RawIOBase):
    """Raw file wrapper that remembers how many (compressed) bytes were read, for the progress bar."""

    def __init__(self, fh):
        self.fh, self.pos = fh, 0

    def readable(self):
        return True

    def readinto(self, b):
        n = self.fh.readinto(b)
        self.pos += n or 0
        return n

    def close(self):
        self.fh.close()
        super().close()


def open_binary(source: Source) -> tuple[io.BufferedIOBase, _Counting]:
    raw = _Counting(open(source.path, "rb"))
    if source.compression == "gzip":
        return gzip.GzipFile(fileobj=io.BufferedReader(raw), mode="rb"), raw
    if source.compression == "zstd":
        import zstandard

        reader = zstandard.ZstdDecompressor().stream_reader(io.BufferedReader(raw), read_across_frames=True)
        return io.BufferedReader(reader), raw
    return io.BufferedReader(raw), raw


def open_text(source: Source, newline=None):
    binary, raw = open_binary(source)
    return io.TextIOWrapper(binary, encoding="utf-8-sig", errors="strict", newline=newline), raw


# ------------------------------------------------------------------------------------------------------- batches
def iter_raw_batches(source: Source, spec: ColumnSpec, batch_rows: int) -> Iterator[tuple[pd.DataFrame, int]]:
    """(raw batch of rows, compressed bytes read so far) for one table source, before standardizing."""
    suffix = source.suffix
    if suffix in {".parquet", ".pq"}:
        yield from _parquet_batches(source, batch_rows)
    elif suffix in {".jsonl", ".ndjson"}:
        yield from _jsonl_batches(source, batch_rows)
    elif suffix in {".csv", ".tsv", ".tab"}:
        yield from _csv_batches(source, "\t" if suffix in {".tsv", ".tab"} else ",", batch_rows)
    else:
        yield from _text_batches(source, batch_rows)


def _csv_batches(source, sep, batch_rows):
    fh, raw = open_text(source, newline="")
    with fh:
        try:
            reader = pd.read_csv(fh, sep=sep, dtype=str, keep_default_na=False, na_values=[""], chunksize=batch_rows)
            for chunk in reader:
                yield chunk, raw.pos
        except pd.errors.ParserError as exc:
            raise CorpusError(f"{source.path} is not a well-formed table: {str(exc).splitlines()[0][:160]}") from exc
        except pd.errors.EmptyDataError as exc:
            raise CorpusError(f"{source.path} is empty or has no columns") from exc


def _jsonl_batches(source, batch_rows):
    fh, raw = open_text(source)
    rows, columns = [], None
    with fh:
        for i, line in enumerate(fh, 1):
            row = parse_jsonl_line(line, i, str(source.path))
            if row is None:
                continue
            if not isinstance(row, dict):
                raise CorpusError(f"{source.path} line {i} is not a JSON object")
            rows.append(row)
            if len(rows) >= batch_rows:
                columns = yield from _emit_jsonl(rows, columns, source, raw)
                rows = []
    if rows:
        yield from _emit_jsonl(rows, columns, source, raw)


def _emit_jsonl(rows, columns, source, raw):
    df = pd.DataFrame(rows)
    if columns is not None:
        new = [c for c in df.columns if c not in columns]
        if new:
            raise CorpusError(f"{source.path}: key {new[0]!r} appears only after line-batch boundaries, not in the "
                              f"first lines of the file; give every line the same keys")
        df = df.reindex(columns=columns)
    yield df, raw.pos
    return list(df.columns)


def _parquet_batches(source, batch_rows):
    import pyarrow.parquet as pq

    tmp = None
    try:
        path = source.path
        if source.compression:
            tmp = tempfile.NamedTemporaryFile(suffix=".parquet", delete=False)
            binary, _ = open_binary(source)
            with binary, tmp:
                shutil.copyfileobj(binary, tmp, 1 << 20)
            path = Path(tmp.name)
        try:
            pf = pq.ParquetFile(path)
            total, done = max(pf.metadata.num_rows, 1), 0
            for batch in pf.iter_batches(batch_size=batch_rows):
                done += batch.num_rows
                yield batch.to_pandas(), int(source_size(source) * done / total)
        except Exception as exc:  # pyarrow raises several types for a damaged file
            if isinstance(exc, CorpusError):
                raise
            raise CorpusError(f"{source.path} is not a readable Parquet file: "
                              f"{str(exc).splitlines()[0][:160]}") from exc
    finally:
        if tmp is not None:
            Path(tmp.name).unlink(missing_ok=True)


def _text_mode(source) -> str:
    """"blank" when a blank line separates two non-blank lines (documents are paragraphs), else "lines" — the rule
    of :func:`analysis.corpus._read_plain_text`, found in a first pass that stops at the first such blank line."""
    fh, _ = open_text(source)
    seen, blank = False, False
    with fh:
        for line in fh:
            if line.strip(" \t\n") == "":
                blank = blank or seen
            elif line.strip():
                if blank:
                    return "blank"
                seen = True
    return "lines"


def _text_batches(source, batch_rows):
    mode = _text_mode(source)
    fh, raw = open_text(source)
    lines, docs = [], 0
    with fh:
        for line in fh:
            lines.append(line)
            if mode == "lines":
                docs += 1
            elif line.strip(" \t\n") == "":
                docs += 1
            if docs >= batch_rows and (mode == "lines" or line.strip(" \t\n") == ""):
                df = corpus_mod._read_plain_text("".join(lines), split=mode)
                if len(df):
                    yield df, raw.pos
                lines, docs = [], 0
    if lines:
        df = corpus_mod._read_plain_text("".join(lines), split=mode)
        if len(df):
            yield df, raw.pos


def dwug_documents(source: Source) -> pd.DataFrame:
    """A DWUG folder or uses.csv as documents; its own spans and lemma are kept as ``given_*`` metadata."""
    return corpus_mod.load_dwug(source.path)


# --------------------------------------------------------------------------------------------------- standardize
def standardize_batch(raw: pd.DataFrame, spec: ColumnSpec, name: str, first_row: int) -> pd.DataFrame:
    """One batch as documents (via :func:`analysis.corpus.standardize`), with the index's fixed column types.

    ``doc_id`` is the global row number when no id column is named (as :func:`~analysis.corpus.load_corpus` numbers
    the rows of one file), columns the occurrences table uses itself are renamed ``given_<name>``, and metadata is
    stored as text so that every part of the index has one schema.
    """
    text_col = spec.text or "text"
    blank = text_col in raw.columns and not raw[text_col].fillna("").astype(str).str.strip().any()
    if blank:  # standardize refuses a table without text; one batch of empty rows is not that
        raw = raw.copy()
        raw.iloc[0, list(raw.columns).index(text_col)] = "x"
    docs = corpus_mod.standardize(raw, spec, name=name)
    if blank:
        docs.loc[docs.index[0], "text"] = ""
    return normalize(docs, spec.id is None, first_row)


def normalize(docs: pd.DataFrame, number_ids: bool, first_row: int) -> pd.DataFrame:
    docs = docs.rename(columns={c: f"given_{c}" for c in RESERVED if c in docs.columns})
    rows = np.arange(first_row, first_row + len(docs), dtype=np.int64)
    out = pd.DataFrame({ROW: rows})
    out["doc_id"] = [str(r) for r in rows] if number_ids else docs["doc_id"].astype(str).to_numpy()
    out["text"] = docs["text"].astype(str).to_numpy()
    for col in docs.columns:
        if col in ("doc_id", "text"):
            continue
        if col == "year":
            out[col] = pd.array(docs[col], dtype="Int64")
        else:
            values = docs[col]
            out[col] = values.where(values.isna(), values.astype(str)).astype("string").to_numpy()
    return out
