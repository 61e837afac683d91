"""Bias page: WEAT, SEAT and contextual word association tests across levels, models and layers."""

from __future__ import annotations

import streamlit as st

from ui import bias_sections as sections

st.title("Bias")
st.caption(
    "Does a model associate one group of target words (X, e.g. male names) with one set of attributes (A, e.g. career) "
    "and the other group (Y) with the other (B)? s(w, A, B) = mean cosine to A − mean cosine to B; the effect size "
    "d = (mean over X − mean over Y) / sample std over X∪Y; p = one-sided permutation test over re-partitions of X∪Y "
    "(exact up to the budget, else random permutations); the interval is a bootstrap of d. Levels: **word** — the "
    "word encoded alone (Caliskan et al. 2017, WEAT); **sentence** — the template sentence's vector (May et al. 2019, "
    "SEAT); **contextual** — the word's own vector inside each sentence, so each set holds occurrences (Tan & Celis "
    "2019).")


queries = sections.tests()
queries, use_corpus = sections.with_corpus(queries)
settings = sections.settings(queries)
results, params = sections.run(queries, use_corpus, settings)
sections.results(results, params, settings)
