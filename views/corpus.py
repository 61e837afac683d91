"""Corpus page: choose a corpus, its columns and the target; preview occurrences; compute embeddings."""

from __future__ import annotations

import streamlit as st

from ui import corpus_sections as sections

st.title("Corpus")
st.caption("Load a corpus, choose the target term, preview its occurrences in context and compute their contextual "
           "embeddings (cached on disk, so the next time is instant).")

raw_columns, manifest = sections.source()
docs = sections.documents(raw_columns, manifest)
sections.target(docs)
occ = sections.occurrences(manifest)
sections.labelled_hits(occ)
sections.preview(occ, manifest)
sections.model_and_embeddings()
