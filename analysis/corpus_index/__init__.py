"""Corpus index: ingest a corpus of millions of paragraphs once (Parquet parts written by DuckDB, plus a manifest),
then count and sample a target's occurrences without loading it into memory.

``build_index(sources, out_dir, spec)`` builds (see :mod:`.build` for the layout, resuming and atomicity);
``count_hits(index, target)`` and ``sample_occurrences(index, target, n=...)`` query (see :mod:`.query`).
"""

from analysis.corpus_index.build import build_index, is_index, read_manifest, verify
from analysis.corpus_index.query import Index, count_hits, fetch_documents, find_hits, open_index, sample_occurrences

__all__ = ["build_index", "is_index", "read_manifest", "verify", "Index", "count_hits", "fetch_documents",
           "find_hits", "open_index", "sample_occurrences"]
