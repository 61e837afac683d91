"""Streamlit glue for the Bias page: the shared encoding cache and cached test loading.

The encoding cache (:class:`analysis.bias.EncodingCache`) is one object per server: vectors depend only on the model's
weights, the input and the pooling, so every session may reuse them; a battery run on the page encodes only inputs no
one has encoded before.
"""

from __future__ import annotations

import streamlit as st

from analysis import bias as B
from analysis import bias_tests as T


@st.cache_resource(show_spinner=False)
def encoding_cache() -> B.EncodingCache:
    return B.EncodingCache()


@st.cache_data(show_spinner=False)
def bundled_names(level: str | None = None) -> list[str]:
    return T.bundled_names(level)


@st.cache_resource(show_spinner=False, max_entries=256)
def bundled(name: str) -> B.WeatQuery:
    """A bundled test (frozen, so sharing between sessions is safe)."""
    return T.load_bundled(name)


def parse_words(text: str) -> list[str]:
    """Words typed one per line or separated by commas."""
    parts = [p.strip() for line in (text or "").splitlines() for p in line.split(",")]
    return [p for p in parts if p]


def parse_templates(text: str) -> list[str]:
    return [line.strip() for line in (text or "").splitlines() if line.strip()]
