"""Streamlit caching in one place: models as shared resources, corpora and results as data.

Analysis functions carry no Streamlit decorators; these thin wrappers do. Embedding sets are not st.cache_data'd:
the on-disk store (analysis/store.py) is already content-addressed and opens memory-mapped in milliseconds.

Uploads are never cached server-wide: ``st.cache_data`` outlives the session that filled it, so a 50 MB upload
would stay in the server's memory (parsed, ~10× its size) after its visitor left. What is read from an upload is
kept in the session itself (:func:`per_session`), which Streamlit frees with the session.
"""

from __future__ import annotations

import pandas as pd
import streamlit as st

from analysis import corpus as corpus_mod
from analysis import encoder


@st.cache_resource(show_spinner="Loading the model…", max_entries=4)
def model(name: str | None):
    """A loaded model shared by all sessions (read-only in inference mode)."""
    return encoder.load_model(name)


@st.cache_data(show_spinner=False, max_entries=16)
def model_info(name: str | None) -> dict:
    return encoder.model_info(name)


@st.cache_data(show_spinner="Reading the corpus…", max_entries=8)
def load_corpus_path(path: str, spec: corpus_mod.ColumnSpec) -> pd.DataFrame:
    return corpus_mod.load_corpus(path, spec)


@st.cache_data(show_spinner=False, max_entries=16)
def raw_columns_path(path: str, stamp: tuple) -> list[str]:
    """Column names of a server-side table file; ``stamp`` (mtime, size) makes an edited file read again."""
    return [str(c) for c in corpus_mod.read_raw_table(path).columns]


@st.cache_data(show_spinner="Finding occurrences…", max_entries=16)
def occurrences(docs: pd.DataFrame, target: str | None, regex: bool, whole_word: bool,
                case_sensitive: bool, labelled_hits: str = "first") -> pd.DataFrame:
    """Occurrences of a server-side corpus (never call it with an upload's table: see :func:`per_session`)."""
    return find_occurrences(docs, target, regex, whole_word, case_sensitive, labelled_hits)


def find_occurrences(docs: pd.DataFrame, target: str | None, regex: bool, whole_word: bool, case_sensitive: bool,
                     labelled_hits: str = "first") -> pd.DataFrame:
    return corpus_mod.find_occurrences(docs, target, regex=regex, whole_word=whole_word,
                                       case_sensitive=case_sensitive, labelled_hits=labelled_hits)


def per_session(slot: str, key, fn, *args, spinner: str | None = None):
    """``fn(*args)``, remembered in this session only: one entry per ``slot``, reused while ``key`` is unchanged.

    For what is derived from an upload (its parsed table, columns, occurrences): the entry lives in
    ``st.session_state`` and goes with the session; a new key (another upload, column choice or target) replaces it,
    so a session holds at most one of each.
    """
    held = st.session_state.get(slot)
    if held is not None and held[0] == key:
        return held[1]
    st.session_state.pop(slot, None)  # free the old value before building the new one
    if spinner:
        with st.spinner(spinner):
            value = fn(*args)
    else:
        value = fn(*args)
    st.session_state[slot] = (key, value)
    return value


# ------------------------------------------------------------------------------------------------- corpus indexes
# Keyed by the index folder and its build id (``stamp``): a rebuilt index is read again. The hits of a target are
# also cached inside the index (``<index>/cache/``), so a count and the samples that follow scan the corpus once.
@st.cache_data(show_spinner=False, max_entries=8)
def index_manifest(path: str, mtime_ns: int) -> dict:
    """The manifest of a complete index (CorpusError when it is partial or corrupt); ``mtime_ns`` of its
    manifest.json makes a rebuilt index read again."""
    from analysis.corpus_index import read_manifest

    return read_manifest(path)


@st.cache_data(show_spinner="Counting the target over the whole index…", max_entries=32)
def index_counts(path: str, stamp: str, target: str, regex: bool, whole_word: bool, case_sensitive: bool,
                 labelled_hits: str) -> dict:
    from analysis.corpus_index import query

    return query.count_hits(path, target, regex=regex, case_sensitive=case_sensitive, whole_word=whole_word,
                            labelled_hits=labelled_hits)


@st.cache_data(show_spinner="Reading the sampled occurrences from the index…", max_entries=16)
def index_occurrences(path: str, stamp: str, selection) -> pd.DataFrame:
    """The occurrences of ``selection`` (an analysis.corpus_index.select.Selection) read from the index."""
    from analysis.corpus_index.select import select_occurrences

    return select_occurrences(path, None, selection)[0]
