"""DWUG ``uses.csv`` files (one or a folder of them) with their sense clusters as gold labels."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from analysis.corpus.formats import DWUG_COLUMNS, _is_dwug_header, read_raw_table
from analysis.corpus.tables import ColumnSpec, standardize
from analysis.errors import CorpusError


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


def _dwug_from_frame(raw: pd.DataFrame, name: str) -> pd.DataFrame:
    idx = raw["indexes_target_token"].str.split(":", n=1, expand=True)
    raw = raw.assign(start=idx[0], end=idx[1])
    docs = standardize(raw, ColumnSpec(text="context", id="identifier", year="date", period="grouping",
                                       start="start", end="end"), name=name)
    return docs.rename(columns={"lemma": "target"})
