"""Reading corpus files: bytes to text, the table formats (CSV, TSV, JSONL, Parquet) and plain text."""

from __future__ import annotations

import csv
import io
import json
import re
from pathlib import Path

import pandas as pd

from analysis.errors import CorpusError

TEXT_SUFFIXES = {".txt", ".text"}
TABLE_SUFFIXES = {".csv", ".tsv", ".tab", ".jsonl", ".ndjson", ".parquet", ".pq"}
DWUG_COLUMNS = {"lemma", "context", "indexes_target_token", "identifier"}
# JSON escapes that may decode to a UTF-16 surrogate (only a lone one is an error: pairs decode to one character).
_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89a-fA-F]")


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


def parse_jsonl_line(line: str, i: int, name: str):
    """The JSON value of line ``i`` of ``name`` (None for a blank line); CorpusError naming the line when it is not
    JSON or holds a lone surrogate escape."""
    if not line.strip():
        return None
    try:
        row = json.loads(line)
    except json.JSONDecodeError as exc:
        raise CorpusError(f"{name} line {i} is not valid JSON: {exc.msg}") from exc
    # json.loads turns "\ud800" into a lone surrogate, which no UTF-8 step later (hashing, the tokenizer, a CSV
    # download) can encode: refuse it here, where the line is still known.
    if _SURROGATE_ESCAPE.search(line) and _has_surrogate(row):
        raise CorpusError(f"{name} line {i} holds a \\u escape of a lone UTF-16 surrogate (such as \\ud800), "
                          f"which is not a character; fix or remove that escape")
    return row


def _read_jsonl(text: str, name: str) -> pd.DataFrame:
    """One JSON object per line; a line that is not JSON, or that holds a lone surrogate escape, is refused."""
    rows = [row for i, line in enumerate(text.splitlines(), 1)
            if (row := parse_jsonl_line(line, i, name)) is not None]
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
