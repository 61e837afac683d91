"""Streamlit caching in one place: models as shared resources, corpora and results as data.

Analysis functions carry no Streamlit decorators; these thin wrappers do. Embedding sets are not st.cache_data'd:
the on-disk store (analysis/store.py) is already content-addressed and opens memory-mapped in milliseconds.
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


@st.cache_data(show_spinner="Reading the corpus…", max_entries=8)
def load_corpus_bytes(data: bytes, name: str, spec: corpus_mod.ColumnSpec) -> pd.DataFrame:
    return corpus_mod.load_corpus(data, spec, name=name)


@st.cache_data(show_spinner=False, max_entries=8)
def raw_columns_bytes(data: bytes, name: str) -> list[str]:
    return [str(c) for c in corpus_mod.read_raw_table(data, name=name).columns]


@st.cache_data(show_spinner="Finding occurrences…", max_entries=16)
def occurrences(docs: pd.DataFrame, target: str | None, regex: bool, whole_word: bool,
                case_sensitive: bool) -> pd.DataFrame:
    return corpus_mod.find_occurrences(docs, target, regex=regex, whole_word=whole_word,
                                       case_sensitive=case_sensitive)
