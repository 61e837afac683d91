"""Load a corpus file, folder or upload as a standard documents table."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from analysis.corpus.dwug import _dwug_from_frame, is_dwug, load_dwug
from analysis.corpus.formats import DWUG_COLUMNS, read_raw_table
from analysis.corpus.tables import ColumnSpec, standardize
from analysis.errors import CorpusError


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
