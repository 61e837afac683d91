"""One way in for every command that reads a term's occurrences: from a corpus index or from any corpus file.

:func:`select_occurrences` finds (and optionally samples) the occurrences of a target and counts all its hits,
whatever the source: a corpus index is queried out of core (only the sampled documents are read), a file or
folder is loaded with :func:`analysis.corpus.load_corpus`. The same seed gives the same rows from a file and from
its index.
"""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from analysis.corpus import ColumnSpec


@dataclass(frozen=True)
class Selection:
    """How occurrences are found and sampled (the CLI's ``--target``, ``--regex``, ``--sample``... options)."""

    target: str | None
    regex: bool = False
    whole_word: bool = True
    case_sensitive: bool = False
    labelled_hits: str = "first"
    sample: int | None = None
    per_period: bool = False
    seed: int = 0
    context_chars: int | None = None

    def search_options(self) -> dict:
        return dict(regex=self.regex, whole_word=self.whole_word, case_sensitive=self.case_sensitive,
                    labelled_hits=self.labelled_hits)


def select_occurrences(source, spec: ColumnSpec | None, selection: Selection) -> tuple[pd.DataFrame, dict]:
    """(occurrences table, counts) for ``selection`` in ``source`` (an index folder, or a corpus file or folder).

    ``counts`` is ``{"total", "documents", "per_year", "per_period"}`` over the whole corpus, however many rows the
    sample keeps.
    """
    from analysis.corpus_index import is_index

    if is_index(source):
        return _from_index(source, selection)
    return _from_corpus(source, spec, selection)


def _from_index(source, sel: Selection) -> tuple[pd.DataFrame, dict]:
    from analysis.corpus_index import query

    hits = query.find_hits(source, sel.target, **sel.search_options())
    occ = query.sample_occurrences(source, sel.target, n=sel.sample, per_period=sel.per_period, seed=sel.seed,
                                   context_chars=sel.context_chars, **sel.search_options())
    return occ, query.counts_of(hits)


def _from_corpus(source, spec: ColumnSpec | None, sel: Selection) -> tuple[pd.DataFrame, dict]:
    from analysis.corpus import find_occurrences, load_corpus
    from analysis.corpus_index import query

    occ = find_occurrences(load_corpus(source, spec), sel.target, **sel.search_options())
    counts = query.counts_of(occ, doc_key="doc_id")
    return sample_table(occ, sel), counts


def sample_table(occ: pd.DataFrame, sel: Selection) -> pd.DataFrame:
    """``occ`` (an occurrences table in memory) sampled and cut as ``sel`` says (the same rows as an index gives for
    the same seed), renumbered."""
    from analysis.corpus_index import query

    dropped = occ.attrs.get("labelled_hits_dropped", 0)
    occ = occ.iloc[query.choose(query.period_groups(occ), len(occ), sel.sample, sel.per_period, sel.seed)]
    occ = occ.reset_index(drop=True)
    occ["occurrence_id"] = range(len(occ))
    occ = query.cut_context(occ, sel.context_chars)
    occ.attrs["labelled_hits_dropped"] = dropped
    return occ


def load_documents(source, spec: ColumnSpec | None = None) -> pd.DataFrame:
    """The documents table of a corpus file or folder (:func:`analysis.corpus.load_corpus`) or of a whole corpus
    index (every document, read from its Parquet parts; the columns were fixed when the index was built, so ``spec``
    is not used). For commands that need all texts (bias ``--corpus``, ``dimension``, ``finetune``): an index of
    millions of paragraphs then takes as much memory as its texts."""
    from analysis.corpus import load_corpus
    from analysis.corpus_index import build, is_index, query
    from analysis.corpus_index.sources import ROW

    if not is_index(source):
        return load_corpus(source, spec)
    idx = query.open_index(source)
    con = build.connect()
    try:
        docs = con.execute("SELECT * FROM read_parquet(?)", [idx.files]).df()
    finally:
        con.close()
    docs = docs.sort_values(ROW).drop(columns=[ROW]).reset_index(drop=True)  # corpus order, no internal row
    if "year" in docs.columns:
        docs["year"] = docs["year"].astype("Int64")
    return docs
