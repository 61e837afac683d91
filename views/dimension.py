"""Dimension page: make domain-adapted checkpoints (background fine-tuning) and watch the local intrinsic dimension
of token embeddings change across checkpoints and layers (Ruppik et al. 2025)."""

from __future__ import annotations

import streamlit as st

from ui import dimension_sections as sections

st.title("Dimension")
st.caption("Local intrinsic dimension (LID) of token embeddings: a fixed, seeded sample of tokens from evaluation "
           "texts is embedded by each checkpoint at each layer, and each token's dimension is estimated by TwoNN "
           "among its L nearest neighbours (exact duplicate vectors removed and counted first). Ruppik et al. (2025) "
           "find that fine-tuning lowers the mean LID on in-domain text and leaves out-of-domain text mostly "
           "unchanged; a fall comes before gains, a plateau says training is exhausted.")


sections.finetune()
checkpoints, run_dir = sections.checkpoints()
texts = sections.eval_texts(run_dir)
res = sections.lid(checkpoints, texts)
sections.results(res)
sections.occurrences()
