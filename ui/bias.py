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


def battery_work(report, cache: B.EncodingCache, queries: list, levels: list, models: list, layers, pooling: dict,
                 unit: str, permutations: int, n_boot: int, seed: int, corpus: str | None):
    """Run the battery as a background job (ui/jobs.py): returns (results, skipped, params).

    ``models`` are loaded models (resolved on the page) or names (loaded here). Never calls Streamlit.
    """
    from analysis.encoder import load_model

    loaded = [m if not isinstance(m, str) else load_model(m or None) for m in models]
    results, skipped = B.run_bias(queries, loaded, levels=levels, layers=layers, pooling=pooling, unit=unit,
                                  permutations=permutations, n_bootstrap=n_boot, seed=seed, skip_unavailable=True,
                                  cache=cache, progress=lambda f, m: report(f, m))
    params = {"tests": [q.describe() for q in queries], "levels": levels, "models": [lm.describe() for lm in loaded],
              "layers": layers if layers is not None else "last", "permutations": permutations, "bootstrap": n_boot,
              "seed": seed, "unit": unit, "pooling": pooling, "corpus": corpus, "skipped": skipped}
    return results, skipped, params
