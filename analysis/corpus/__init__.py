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

# Every name the single module analysis/corpus.py had is re-exported here (private ones too: other modules
# and tests use them), so `from analysis.corpus import X` and `corpus.X` keep working.
from analysis.corpus.formats import (DWUG_COLUMNS, TABLE_SUFFIXES, TEXT_SUFFIXES, _SURROGATE_ESCAPE, _decode,
                                     _has_surrogate, _is_dwug_header, _read_jsonl, _read_plain_text,
                                     read_raw_table)  # noqa: F401
from analysis.corpus.tables import (ColumnSpec, _BC_YEAR_RE, _NUMBER_YEAR_RE, _YEAR_RE, _offsets,
                                    parse_years, standardize)  # noqa: F401
from analysis.corpus.dwug import _dwug_from_frame, _dwug_labels, is_dwug, load_dwug  # noqa: F401
from analysis.corpus.load import load_corpus  # noqa: F401
from analysis.corpus.occurrences import (LABELLED_HITS, _first_hit_per_labelled_row, _given_spans,
                                         content_hash, count_order_key, find_occurrences, iter_columns,
                                         summarize, texts_and_spans)  # noqa: F401
from analysis.corpus.kwic import kwic, kwic_html, kwic_table  # noqa: F401
# target_pattern and the time limits are re-exported: callers have always found them here
from analysis.textsearch import REGEX_DEADLINE_S, REGEX_S_PER_MB, compile_pattern, search  # noqa: F401
from analysis.textsearch import target_pattern  # noqa: F401
