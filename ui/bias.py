"""Streamlit glue for the Bias page: the shared encoding cache, cached test loading and the battery as a job.

The encoding cache (:class:`analysis.bias.EncodingCache`) is one object per server: vectors depend only on the model's
weights, the input and the pooling, so every session may reuse them; a battery run on the page encodes only inputs no
one has encoded before.
"""

from __future__ import annotations

import streamlit as st

from analysis import bias as B
from analysis.bias import sources as T


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


def battery_work(report, cache: B.EncodingCache, queries: list, levels: list, models: list, options: B.RunOptions,
                 corpus: str | None):
    """Run the battery as a background job (ui/jobs.py): returns (results, skipped, params).

    ``models`` are loaded models (resolved on the page) or names (loaded here); ``params`` is
    :func:`analysis.bias.run_parameters`, the manifest the CLI writes too. Never calls Streamlit.
    """
    from dataclasses import replace

    from analysis.encoder import load_model

    loaded = [m if not isinstance(m, str) else load_model(m or None) for m in models]
    options = replace(options, skip_unavailable=True)
    results, skipped = B.run_bias(queries, loaded, options, levels=levels, cache=cache,
                                  progress=lambda f, m: report(f, m))
    return results, skipped, B.run_parameters(queries, loaded, levels, options, corpus=corpus, skipped=skipped)
